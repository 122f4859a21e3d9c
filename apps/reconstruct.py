"""`rae reconstruct`: encode images with an RAE and decode them again; report PSNR and SSIM.

Two ways to feed an image, each the reference's own (PREPROCESS):
- crop: the ADM center crop to the decoder's size, as the reference's evaluation (stage1_sample_ddp.py)
  and stage-2 training see ImageNet; written 8-bit by truncation, as that evaluation quantizes.
- stretch: the whole image, resized by the encoder's own bicubic resize to its square input (non-square
  images are stretched), as src/stage1_sample.py does; written 8-bit with rounding, as torchvision's
  save_image (which that script uses) writes it.
`--config` (a reference YAML) defaults to stretch, so its output is what stage1_sample.py gives for the same
YAML and image; presets default to crop.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import click
import numpy as np

from rae_spec.configs import to_dict
from rae_spec.files import atomic_path, check_output
from rae_spec.presets import AUTOENCODERS

from . import __version__, reference_yaml
from .engines import auto_reason, choose_backend, make_engine
from .errors import UserError
from .hub import Store
from .images import center_crop, load_rgb, psnr, save_png, ssim, stretch, to_uint8, to_uint8_rounded
from .metadata import file_record, same_job, sha256
from .options import backend_options, debug_option, models_dir_option, output_options, presets_option
from .pipeline import autoencoder_from_preset
from .progress import Phases, bar
from .registry import load_registry

DEFAULT_OUTPUT = "{name}-recon.png"
RECORD_FORMAT = "rae-reconstruct/1"
PREPROCESS = {
    "crop": "the ADM center crop to the decoder's size (the reference's evaluation); 8-bit by truncation",
    "stretch": "the whole image to the encoder's own bicubic resize, stretching non-square images "
               "(src/stage1_sample.py); 8-bit rounded, as torchvision's save_image",
}


@click.command("reconstruct", epilog="""
\b
Examples:
  rae reconstruct cat.png                                  DINOv2-B RAE, writes cat-recon.png
  rae reconstruct photos/*.jpg --autoencoder siglip2-b --output recon/{name}.png
  rae reconstruct cat.png --save-latents                   also writes cat-recon.npy (normalized latents)
  rae reconstruct cat.png --autoencoder dinov2-l           DINOv2-L RAE from its diffusers-format repo
  rae reconstruct cat.png --config configs/stage1/pretrained/DINOv2-B.yaml     what src/stage1_sample.py gives
  rae reconstruct cat.png --config DINOv2-B.yaml --preprocess crop   the evaluation's center crop instead
""")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--autoencoder", default=None,
              help=f"RAE to use: {', '.join(AUTOENCODERS)} [default: dinov2-b] (`rae info` describes them).")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A reference YAML whose stage_1 block describes the RAE.")
@click.option("-o", "--output", default=DEFAULT_OUTPUT, show_default=True,
              help="Reconstruction path; {name} is the input's file name without extension, {index} its position.")
@click.option("--preprocess", type=click.Choice(list(PREPROCESS)), default=None,
              help="crop: " + PREPROCESS["crop"] + ". stretch: " + PREPROCESS["stretch"]
                   + ". [default: stretch with --config, else crop]")
@click.option("--save-latents", is_flag=True, help="Also write each image's normalized latents as .npy beside it.")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True, help="Images per forward pass.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files (without it, only this command's own "
              "earlier outputs for the same inputs are replaced).")
@click.option("--allow-nonfinite", is_flag=True, help="Write reconstructions even when the latents or pixels are NaN "
              "or Inf; by default that stops the command with an error.")
@backend_options
@models_dir_option
@presets_option
@output_options
@debug_option
def reconstruct(images: tuple[Path, ...], autoencoder: str | None, config: Path | None, output: str,
                preprocess: str | None, save_latents: bool, batch_size: int, overwrite: bool, allow_nonfinite: bool,
                backend: str, dtype: str | None, quantize: str | None, models_dir: Path | None,
                presets_file: Path | None, verbose: bool, quiet: bool) -> None:
    """Encode and decode IMAGE... with a representation autoencoder.

    Each image is fed as the reference does (--preprocess: the evaluation's ADM center crop to the
    decoder's size, or, the default with --config, the whole image stretched by the encoder's own resize
    as src/stage1_sample.py), encoded, decoded, and written as an 8-bit PNG; PSNR (dB) and SSIM against a
    comparison image of the output's size are printed (stderr says which image that is).
    """
    echo = lambda m: click.echo(m, err=True)  # noqa: E731
    if autoencoder is not None and config is not None:
        raise UserError("give --autoencoder or --config, not both")
    preprocess = preprocess or ("stretch" if config is not None else "crop")
    targets = _targets(output, images)
    source = {"config": str(config.resolve())} if config is not None else {"autoencoder": autoencoder or "dinov2-b"}
    for image, target in zip(images, targets, strict=True):  # before anything is downloaded or loaded
        job = {"format": RECORD_FORMAT, "input": str(image), "source": source, "preprocess": preprocess}
        ours = lambda p, job=job: same_job(p, job)  # noqa: E731 - our own earlier output of this job
        check_output(target, overwrite=overwrite, replaceable=ours, what="reconstruction")
        if save_latents:
            check_output(target.with_suffix(".npy"), overwrite=overwrite, what="latents file",
                         replaceable=lambda p, t=target, ours=ours: t.is_file() and ours(t))
    pictures = [load_rgb(p) for p in images]  # fail on a non-image before loading any model
    store = Store(models_dir, log=echo)
    if config is not None:
        pipe = reference_yaml.autoencoder_pipeline(config, store)
    else:
        pipe = autoencoder_from_preset(load_registry(presets_file), store, autoencoder or "dinov2-b")
    size = pipe.rae.image_size
    if preprocess == "crop":
        inputs = [np.asarray(center_crop(p, size), dtype=np.uint8) for p in pictures]
        references, quantize_output = inputs, to_uint8
        compared = f"the {size}x{size} ADM center crop of each input (what the model was fed)"
    else:
        inputs = [np.asarray(p, dtype=np.uint8) for p in pictures]
        references, quantize_output = [stretch(p, size) for p in pictures], to_uint8_rounded
        compared = (f"each input resized (stretched) to {size}x{size} with Pillow's bicubic filter; the model "
                    f"was fed the whole image at its own size")

    engine = make_engine(choose_backend(backend), dtype or "float32", int(quantize) if quantize else None, echo)
    why = f" (auto: {auto_reason(engine.name, engine.device)})" if backend == "auto" else ""
    echo(f"backend: {engine.name} on {engine.device}, {engine.dtype}{why}")
    for note in pipe.notes:
        echo(f"note: {note}")
    phases = Phases(engine, verbose, echo)
    with phases("load"):
        engine.load_autoencoder(pipe)
    files = {role: file_record(w) for role, w in pipe.weights().items()}
    progress = bar(len(inputs), "reconstructing", quiet or len(inputs) == 1, unit="image")
    for batch in _batches(inputs, batch_size):
        pixels = np.stack([inputs[i] for i in batch]).astype(np.float32).transpose(0, 3, 1, 2) / np.float32(255)
        with phases("encode"):
            latents = engine.encode(pixels)
        names = [images[i] for i in batch]
        _finite(latents, "latents", names, allow_nonfinite, echo)
        with phases("decode"):
            decoded = engine.decode(latents)
        _finite(decoded, "decoded pixels", names, allow_nonfinite, echo)
        recon = quantize_output(decoded)
        for j, (i, image) in enumerate(zip(batch, recon, strict=True)):
            p, s = psnr(references[i], image), ssim(references[i], image)
            record = {"format": RECORD_FORMAT, "rae_version": __version__, "input": str(images[i]),
                      "input_sha256": sha256(images[i]), "source": pipe.source, "files": files,
                      "rae": to_dict(pipe.rae), "preprocess": preprocess, "compared_with": compared,
                      "psnr": p, "ssim": s, **engine.describe()}
            save_png(targets[i], image, {"rae": json.dumps(record, sort_keys=True), "Software": f"rae {__version__}"})
            if save_latents:
                with atomic_path(targets[i].with_suffix(".npy")) as tmp, open(tmp, "wb") as f:
                    np.save(f, latents[j].astype(np.float32))
            progress.write(f"{images[i]}  PSNR {p:6.2f} dB  SSIM {s:.4f}  -> {targets[i]}", file=None)
            progress.update(1)
    progress.close()
    echo(f"note: preprocess {preprocess}: {PREPROCESS[preprocess]}")
    echo(f"note: PSNR / SSIM compare with {compared}")
    if verbose:
        for line in phases.summary():
            echo(f"total {line}")


def _batches(images: list[np.ndarray], batch_size: int) -> list[list[int]]:
    """Indices of consecutive images of one size, at most batch_size at a time (stretched inputs keep
    their own sizes, and a batch needs one)."""
    out: list[list[int]] = []
    for i, image in enumerate(images):
        if out and len(out[-1]) < batch_size and images[out[-1][0]].shape == image.shape:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def _finite(array: np.ndarray, what: str, names, allow: bool, echo) -> None:
    """Stop when encoding or decoding produced NaN / Inf (a black or garbled image otherwise)."""
    bad = [str(n) for n, row in zip(names, array.reshape(len(array), -1), strict=True) if not np.isfinite(row).all()]
    if not bad:
        return
    message = f"the {what} of {', '.join(bad)[:200]} hold NaN or Inf values (the weights or the dtype overflow)"
    if not allow:
        raise UserError(message + "; nothing was written for them (--allow-nonfinite writes them anyway)")
    echo(f"warning: {message}; writing them anyway (--allow-nonfinite)")


def _targets(template: str, images: tuple[Path, ...]) -> list[Path]:
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as e:
        raise UserError(f"--output {template!r} is not a valid template: {e}") from e
    if fields - {"name", "index"}:
        raise UserError(f"--output {template!r} has unknown placeholders {sorted(fields - {'name', 'index'})}; "
                        "use {name} and {index}")
    out = []
    for i, image in enumerate(images):
        path = Path(template.format(name=image.stem, index=i)).expanduser()
        if path.suffix.lower() != ".png":
            raise UserError(f"--output {template!r}: reconstructions are written as PNG, so the name must end in .png")
        out.append(path)
    if len(set(out)) < len(out):
        raise UserError(f"--output {template!r} gives several images the same file name; add {{index}}")
    for image, target in zip(images, out, strict=True):
        if target.exists() and target.resolve() == image.resolve():
            raise UserError(f"--output would overwrite the input {image}")
    return out

