"""`rae convert`: checkpoints between the official files, torch layout and MLX layout (rae_convert)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from rae_spec.configs import from_json
from rae_spec.files import check_output_folder

from .errors import UserError
from .hub import Store, human_size
from .info import matching_presets, tensor_shapes
from .options import debug_option, models_dir_option, presets_option
from .pipeline import preset_weights
from .registry import Registry, load_registry


@click.command("convert", epilog="""
\b
Examples:
  rae convert dit-dh-xl-256 dit-dh-xl-256-mlx              a preset's file (from the HF cache) -> MLX folder
  rae convert stage2_model.pt out/ --dtype bfloat16 --verify
  rae convert model.pt dec-q4/ --model decoder-dinov2-b-xl-256 --quantize 4
  rae convert dit-dh-xl-256-mlx back/ --to torch           an MLX folder back to torch layout
  rae convert stage2_model.pt out/ --dry-run               print the plan, write nothing
  rae convert dinov2-s dinov2-s-mlx                        a diffusers-format autoencoder -> one RAE folder
""")
@click.argument("src")
@click.argument("dst", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--to", "target", type=click.Choice(["mlx", "torch"]), default="mlx", show_default=True,
              help="Layout to write (MLX: conv kernels OHWI; torch: OIHW, as released).")
@click.option("--model", "model_preset", default=None,
              help="Model preset whose config the file holds [default: found from its tensor shapes].")
@click.option("--config-json", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A rae config.json describing the file (instead of --model).")
@click.option("--config", "reference_config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A reference YAML: the file is its stage_2 model (or its guidance model, when the file's "
                   "tensors fit that one). Training checkpoints ({'model', 'ema', ...}) convert their EMA weights.")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default=None,
              help="Cast floating tensors [default: as stored].")
@click.option("--quantize", type=click.Choice(["4", "8"]), default=None,
              help="Quantize the linear layers to 4 or 8 bits (MLX layout only).")
@click.option("--dry-run", is_flag=True, help="Check everything and print the plan; write nothing.")
@click.option("--verify", is_flag=True, help="Run the converted model in torch and MLX and print the difference "
              "(fails on NaN / Inf or a relative difference above 1e-3).")
@click.option("--overwrite", is_flag=True, help="Replace the files of an existing DST folder.")
@models_dir_option
@presets_option
@debug_option
def convert(src: str, dst: Path | None, target: str, model_preset: str | None, config_json: Path | None,
            reference_config: Path | None, dtype: str | None, quantize: str | None, dry_run: bool, verify: bool,
            overwrite: bool, models_dir: Path | None, presets_file: Path | None) -> None:
    """Convert SRC (a checkpoint file, a model folder, a model preset name, or a diffusers-format autoencoder
    preset) into the model folder DST (config.json + model.safetensors with provenance in its header, and
    stats.safetensors for a whole RAE), every tensor checked first."""
    try:
        from rae_convert import convert_file
        from rae_convert import verify as verify_folder
    except ImportError as e:
        raise UserError("rae convert needs rae_convert, which ships with rae-mlx's MLX extra: "
                        "pip install 'rae-mlx[mlx]'") from e
    if sum(x is not None for x in (model_preset, config_json, reference_config)) > 1:
        raise UserError("give one of --model, --config-json and --config")
    if quantize is not None and target != "mlx":
        raise UserError("--quantize writes MLX layout only (drop --to torch)")
    if verify and dry_run:
        raise UserError("--verify needs the converted files: drop --dry-run")
    if dst is not None and not dry_run:
        check_output_folder(dst, overwrite=overwrite, what="conversion folder")  # before any download or work
    registry = load_registry(presets_file)
    if reference_config is not None:
        path = Path(src).expanduser()
        if not path.exists():
            raise UserError(f"{src} does not exist (with --config, SRC is a checkpoint file)")
        config = _reference_dit(reference_config, path)
    else:
        path, config = _source(src, registry, Store(models_dir, log=lambda m: click.echo(m, err=True)),
                               model_preset, config_json)
    named = not Path(src).expanduser().exists()  # a preset: name the folder after it
    dst = dst or Path(f"{src if named else path.stem if path.is_file() else path.name}-{target}")
    plan = convert_file(path, dst, config, target, dtype=dtype, quantize=int(quantize) if quantize else None,
                        dry_run=dry_run, overwrite=overwrite)
    if dry_run:
        click.echo(plan.describe())
        return
    for name in sorted(p.name for p in dst.iterdir() if not p.name.startswith(".")):
        click.echo(f"wrote {dst / name} ({human_size((dst / name).stat().st_size)})")
    if verify:
        report = verify_folder(dst)
        click.echo(str(report))
        report.check(dst)


def _whole_autoencoder(registry: Registry, store: Store, name: str) -> tuple[Path, Any]:
    """(file, RAEConfig) of an autoencoder whose encoder, decoder and stats are parts of one diffusers file."""
    a = registry.autoencoder(name)
    models = [registry.model(m) for m in (a.encoder, a.decoder, a.stats) if m]
    if not all(m.diffusers and (m.repo, m.filename) == (models[0].repo, models[0].filename) for m in models):
        raise UserError(f"{name} is made of separate files; convert its models one by one: "
                        + ", ".join(f"rae convert {m}" for m in (a.encoder, a.decoder, a.stats) if m))
    weights = preset_weights(registry, store, a.encoder)
    return weights.path, registry.rae_config(a.encoder, a.decoder, a.encoder_input_size)


def _reference_dit(yaml_path: Path, path: Path) -> Any:
    """The DiT config a reference YAML gives the file: stage_2's, or the guidance model's when only that
    one fits the file's tensors (read as the reference's loader does: the 'ema' entry when there is one)."""
    from rae_spec.parameters import model_parameters
    from rae_spec.reference_yaml import ReferenceConfig

    if not yaml_path.is_file():
        raise UserError(f"config {yaml_path} does not exist")
    ref = ReferenceConfig.load(yaml_path)
    candidates = [ref.stage2()]
    g = ref.block("guidance", required=False)
    if isinstance(g.get("guidance_model"), dict):
        candidates.append(ref.dit(g["guidance_model"], "guidance.guidance_model"))
    if len(candidates) == 1 or path.is_dir():
        return candidates[0].config
    shapes = tensor_shapes(path)
    fits = [d for d in candidates if all(shapes.get(k) == v for k, v in model_parameters(d.config).items())]
    return (fits or candidates)[0].config


def _source(src: str, registry: Registry, store: Store, model_preset: str | None,
            config_json: Path | None) -> tuple[Path, Any]:
    """(path, config or None when the source carries its own) for a file, a folder or a preset name."""
    path = Path(src).expanduser()
    if not path.exists():
        if src in registry.models:
            weights = preset_weights(registry, store, src)
            return weights.path, weights.config
        if src in registry.autoencoders:
            return _whole_autoencoder(registry, store, src)
        if src in registry.pipelines:
            models = ", ".join(registry.pipelines[src].sampling_models())
            raise UserError(f"{src} is a pipeline preset; convert its models one at a time ({models})")
        raise UserError(f"{src} is neither a file, a folder nor a model preset (`rae info` lists the presets)")
    if config_json is not None:
        try:
            return path, from_json(config_json.read_text())
        except (ValueError, TypeError) as e:
            raise UserError(f"{config_json} is not an rae config: {' '.join(str(e).split())}") from e
    if model_preset is not None:
        return path, registry.model(model_preset).config
    if path.is_dir():
        return path, None  # a model folder carries its config
    configs = {id(registry.model(m).config): registry.model(m).config for m in
               matching_presets(tensor_shapes(path), registry)}
    distinct = list({repr(c): c for c in configs.values()}.values())
    if len(distinct) != 1:
        what = "no preset" if not distinct else "several presets with different configs"
        raise UserError(f"{path}: its tensors match {what}; name its config with --model PRESET or --config-json")
    return path, distinct[0]
