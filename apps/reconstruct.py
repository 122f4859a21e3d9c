"""`rae reconstruct`: encode images with an RAE and decode them again; report PSNR and SSIM."""

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
from .images import center_crop, load_rgb, psnr, save_png, ssim, to_uint8
from .metadata import file_record, same_job, sha256
from .options import backend_options, debug_option, models_dir_option, output_options, presets_option
from .pipeline import autoencoder_from_preset
from .progress import Phases, bar
from .registry import load_registry

DEFAULT_OUTPUT = "{name}-recon.png"
RECORD_FORMAT = "rae-reconstruct/1"


@click.command("reconstruct", epilog="""
\b
Examples:
  rae reconstruct cat.png                                  DINOv2-B RAE, writes cat-recon.png
  rae reconstruct photos/*.jpg --autoencoder siglip2-b --output recon/{name}.png
  rae reconstruct cat.png --save-latents                   also writes cat-recon.npy (normalized latents)
  rae reconstruct cat.png --autoencoder dinov2-l           DINOv2-L RAE from its diffusers-format repo
  rae reconstruct cat.png --config configs/stage1/pretrained/DINOv2-B.yaml
""")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--autoencoder", default=None,
              help=f"RAE to use: {', '.join(AUTOENCODERS)} [default: dinov2-b] (`rae info` describes them).")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A reference YAML whose stage_1 block describes the RAE.")
@click.option("-o", "--output", default=DEFAULT_OUTPUT, show_default=True,
              help="Reconstruction path; {name} is the input's file name without extension, {index} its position.")
@click.option("--save-latents", is_flag=True, help="Also write each image's normalized latents as .npy beside it.")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True, help="Images per forward pass.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files (without it, only this command's own "
              "earlier outputs for the same inputs are replaced).")
@backend_options
@models_dir_option
@presets_option
@output_options
@debug_option
def reconstruct(images: tuple[Path, ...], autoencoder: str | None, config: Path | None, output: str,
                save_latents: bool, batch_size: int, overwrite: bool, backend: str, dtype: str | None,
                quantize: str | None, models_dir: Path | None, presets_file: Path | None, verbose: bool,
                quiet: bool) -> None:
    """Encode and decode IMAGE... with a representation autoencoder.

    Each image is center-cropped to the decoder's size (the ADM crop of the reference's evaluation),
    encoded, decoded, and written as an 8-bit PNG; PSNR (dB) and SSIM against the crop are printed.
    """
    echo = lambda m: click.echo(m, err=True)  # noqa: E731
    if autoencoder is not None and config is not None:
        raise UserError("give --autoencoder or --config, not both")
    targets = _targets(output, images)
    source = {"config": str(config.resolve())} if config is not None else {"autoencoder": autoencoder or "dinov2-b"}
    for image, target in zip(images, targets, strict=True):  # before anything is downloaded or loaded
        job = {"format": RECORD_FORMAT, "input": str(image), "source": source}
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
    crops = [np.asarray(center_crop(p, size), dtype=np.uint8) for p in pictures]

    engine = make_engine(choose_backend(backend), dtype or "float32", int(quantize) if quantize else None, echo)
    why = f" (auto: {auto_reason(engine.name, engine.device)})" if backend == "auto" else ""
    echo(f"backend: {engine.name} on {engine.device}, {engine.dtype}{why}")
    for note in pipe.notes:
        echo(f"note: {note}")
    phases = Phases(engine, verbose, echo)
    with phases("load"):
        engine.load_autoencoder(pipe)
    files = {role: file_record(w) for role, w in pipe.weights().items()}
    progress = bar(len(crops), "reconstructing", quiet or len(crops) == 1, unit="image")
    for start in range(0, len(crops), batch_size):
        batch = np.stack(crops[start: start + batch_size]).astype(np.float32).transpose(0, 3, 1, 2) / np.float32(255)
        with phases("encode"):
            latents = engine.encode(batch)
        with phases("decode"):
            recon = to_uint8(engine.decode(latents))
        for j, image in enumerate(recon):
            i = start + j
            p, s = psnr(crops[i], image), ssim(crops[i], image)
            record = {"format": RECORD_FORMAT, "rae_version": __version__, "input": str(images[i]),
                      "input_sha256": sha256(images[i]), "source": pipe.source, "files": files,
                      "rae": to_dict(pipe.rae), "psnr": p, "ssim": s, **engine.describe()}
            save_png(targets[i], image, {"rae": json.dumps(record, sort_keys=True), "Software": f"rae {__version__}"})
            if save_latents:
                with atomic_path(targets[i].with_suffix(".npy")) as tmp, open(tmp, "wb") as f:
                    np.save(f, latents[j].astype(np.float32))
            progress.write(f"{images[i]}  PSNR {p:6.2f} dB  SSIM {s:.4f}  -> {targets[i]}", file=None)
            progress.update(1)
    progress.close()
    if verbose:
        for line in phases.summary():
            echo(f"total {line}")


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

