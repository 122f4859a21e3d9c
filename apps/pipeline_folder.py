"""Pipeline folders: what training exports (`rae train export`), a folder that samples on its own.

`pipeline.json` (rae_spec's PipelineConfig, read by PipelineConfig.load) names, relative to the folder, the
model folders `dit`, `decoder` (and `guide`, `encoder`: a folder or an encoder preset name), the latent
`stats` (safetensors with `var` and optionally `mean`) and the sampling settings; `class_names` label the
classes.
"""

from __future__ import annotations

from pathlib import Path

from rae_spec.configs import (
    PIPELINE_FILE,
    DecoderConfig,
    EncoderConfig,
    PipelineConfig,
    RAEConfig,
    StatsConfig,
    from_json,
)
from rae_spec.state_dict import folder_config

from .errors import UserError
from .pipeline import WEIGHT_NAMES, SamplingPipeline, Weights, check_compatible, dit_from_path
from .registry import Registry


def is_pipeline_folder(path: str | Path) -> bool:
    return (Path(path) / PIPELINE_FILE).is_file()


def _model_folder(folder: Path, what: str, cls: type) -> Weights:
    cfg = folder / "config.json"
    if not cfg.is_file():
        raise UserError(f"the pipeline's {what} folder {folder} has no config.json")
    config = from_json(cfg.read_text())
    if not isinstance(config, cls):
        raise UserError(f"{cfg} describes a {type(config).__name__}, not a {cls.__name__}")
    weights = next((folder / n for n in WEIGHT_NAMES if (folder / n).is_file()), None)
    if weights is None:
        raise UserError(f"the pipeline's {what} folder {folder} has no model.safetensors")
    return Weights(config, weights, str(weights))


def _encoder(spec: str | None, folder: Path, registry: Registry) -> EncoderConfig | None:
    if spec is None:
        return None
    if spec in registry.models:
        return registry.model(spec).config
    path = folder / spec
    if not (path / "config.json").is_file():
        raise UserError(f"the pipeline's encoder {spec!r} is neither an encoder preset nor a folder with config.json")
    return folder_config(path)


def pipeline_from_folder(folder: str | Path, registry: Registry) -> SamplingPipeline:
    """The SamplingPipeline a pipeline folder describes."""
    folder = Path(folder).expanduser().resolve()
    spec = PipelineConfig.load(folder)
    notes = []
    dit = dit_from_path(folder / spec.dit)
    decoder = _model_folder(folder / spec.decoder, "decoder", DecoderConfig)
    d = decoder.config
    encoder = _encoder(spec.encoder, folder, registry)
    if encoder is None:  # decoding only needs the encoder's pixel mean/std
        notes.append("the pipeline names no encoder: decoding with the ImageNet pixel mean and std")
        encoder = EncoderConfig(kind="mae", hidden_size=d.latent_dim, num_layers=1, num_heads=1, patch_size=1,
                                image_size=d.grid_size, intermediate_size=d.latent_dim)
    input_size = spec.encoder_input_size or d.grid_size * encoder.patch_size
    rae = RAEConfig(encoder=encoder, decoder=d, encoder_input_size=int(input_size))
    stats = None
    if spec.stats:
        path = folder / spec.stats
        if not path.is_file():
            raise UserError(f"the pipeline's stats file {path} does not exist")
        stats = Weights(StatsConfig(*rae.latent_shape[:2]), path, str(path))
    guide = dit_from_path(folder / spec.guide) if spec.guide else None
    names = spec.class_names
    if names is not None and len(names) != dit.config.num_classes:
        notes.append(f"the pipeline's {len(names)} class names do not cover the DiT's {dit.config.num_classes} "
                     "classes: ignoring them")
        names = None
    return check_compatible(SamplingPipeline(
        dit=dit, decoder=decoder, stats=stats, guide=guide, rae=rae, sampler=spec.sampler, guidance=spec.guidance,
        shift=spec.transport.time_dist_shift, source={"model": str(folder)}, notes=tuple(notes),
        class_names=tuple(names) if names else None))
