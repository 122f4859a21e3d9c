"""Resolved pipelines: every model's config and local file, whatever the user named (a preset, a model
folder, a reference YAML). Engines load from these; provenance is recorded from them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rae_spec.configs import (
    DIT_CONFIGS,
    GuidanceConfig,
    RAEConfig,
    SamplerConfig,
    from_json,
)

from .errors import UserError
from .hub import Store
from .registry import Registry


@dataclass(frozen=True)
class Weights:
    """One model: its config, the local file (or folder) holding its weights, and where it came from."""

    config: Any
    path: Path | None  # None: no file (rae doctor then runs random weights of the same shapes)
    origin: str  # "repo/filename" for hub files, else the path as the user gave it


@dataclass(frozen=True)
class SamplingPipeline:
    """Everything `rae sample` needs: DiT (+ guide), decoder, stats, and the procedure."""

    dit: Weights
    decoder: Weights
    stats: Weights | None
    guide: Weights | None
    rae: RAEConfig
    sampler: SamplerConfig
    guidance: GuidanceConfig
    shift: float
    source: dict[str, Any] = field(default_factory=dict)  # {"preset": name} / {"config": path} / ...
    notes: tuple[str, ...] = ()  # things the user should know about how the input was read
    class_names: tuple[str, ...] | None = None  # labels of the DiT's classes (None: ImageNet for 1000)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return tuple(self.dit.config.latent_shape)

    @property
    def num_classes(self) -> int:
        return self.dit.config.num_classes

    def weights(self) -> dict[str, Weights]:
        out = {"dit": self.dit, "guide": self.guide, "decoder": self.decoder, "stats": self.stats}
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class AutoencoderPipeline:
    """Everything `rae reconstruct` needs: encoder, decoder, stats."""

    encoder: Weights
    decoder: Weights
    stats: Weights | None
    rae: RAEConfig
    source: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def weights(self) -> dict[str, Weights]:
        out = {"encoder": self.encoder, "decoder": self.decoder, "stats": self.stats}
        return {k: v for k, v in out.items() if v is not None}


def check_compatible(pipe: SamplingPipeline) -> SamplingPipeline:
    """The DiT must produce the latents the decoder reads, and the guide must match the DiT."""
    dit = pipe.dit.config
    if tuple(dit.latent_shape) != tuple(pipe.rae.latent_shape):
        raise UserError(f"the DiT works on latents {tuple(dit.latent_shape)} but the autoencoder's are "
                        f"{tuple(pipe.rae.latent_shape)}; they do not belong together")
    if pipe.guide is not None:
        g = pipe.guide.config
        if tuple(g.latent_shape) != tuple(dit.latent_shape) or g.num_classes != dit.num_classes:
            raise UserError(f"the guidance model (latents {tuple(g.latent_shape)}, {g.num_classes} classes) does "
                            f"not match the DiT (latents {tuple(dit.latent_shape)}, {dit.num_classes} classes)")
    if pipe.guidance.active and pipe.guidance.method == "autoguidance" and pipe.guide is None:
        raise UserError("autoguidance needs a guidance model, and this pipeline has none; use --guidance cfg "
                        "or --guidance none")
    if pipe.guidance.active and pipe.guidance.method == "cfg" and dit.null_label is None:
        raise UserError("classifier-free guidance needs a DiT trained with label dropout (class_dropout_prob > 0); "
                        "use --guidance none")
    return pipe


def preset_weights(registry: Registry, store: Store, name: str, *, download: bool = True,
                   hint: str = "") -> Weights:
    """The Weights of a model preset, fetching its file(s) when allowed."""
    preset = registry.model(name)
    hint = hint or f"run `rae download {name}`"
    # Every file (an HF repo's or a diffusers repo's config.json too); the last one holds the tensors.
    paths = [store.get(preset.repo, f, download=download, hint=hint) for f in preset.files]
    if preset.diffusers:  # config.json against the preset now, before a backend starts
        from rae_convert.diffusers import check_folder

        check_folder(paths[-1], preset.config)
    return Weights(preset.config, paths[-1], f"{preset.repo}/{preset.files[-1]}")


def from_preset(registry: Registry, store: Store, name: str, *, download: bool = True) -> SamplingPipeline:
    p = registry.pipeline(name)
    hint = f"run `rae download {name}`"
    get = lambda m: preset_weights(registry, store, m, download=download, hint=hint)  # noqa: E731
    rae = registry.rae_config(p.encoder, p.decoder, p.encoder_input_size)
    return check_compatible(SamplingPipeline(
        dit=get(p.dit), decoder=get(p.decoder), stats=get(p.stats) if p.stats else None,
        guide=get(p.guide) if p.guide else None, rae=rae, sampler=p.sampler, guidance=p.guidance,
        shift=p.transport.time_dist_shift, source={"preset": name}))


def autoencoder_from_preset(registry: Registry, store: Store, name: str, *,
                            download: bool = True) -> AutoencoderPipeline:
    ae = registry.autoencoder(name)
    hint = f"run `rae download {name}`"
    get = lambda m: preset_weights(registry, store, m, download=download, hint=hint)  # noqa: E731
    rae = registry.rae_config(ae.encoder, ae.decoder, ae.encoder_input_size)
    stats, notes = get(ae.stats) if ae.stats else None, []
    if stats is not None and registry.model(ae.stats).diffusers:
        from rae_convert.diffusers import read_stats

        if not read_stats(stats.path)[0]:  # reconstruction does not need them: normalizing is undone when decoding
            notes.append(f"{stats.origin} carries no latent statistics; reconstructing without them gives the same "
                         "images")
            stats = None
    return AutoencoderPipeline(encoder=get(ae.encoder), decoder=get(ae.decoder), stats=stats, rae=rae,
                               source={"autoencoder": name}, notes=tuple(notes))


# ------------------------------------------------------------------------------------------ --model


WEIGHT_NAMES = ("model.safetensors", "diffusion_pytorch_model.safetensors", "model.pt", "stage2_model.pt",
                "ema.pt", "pytorch_model.bin")


def dit_from_path(path: str | Path) -> Weights:
    """A DiT given as a folder (config.json + weights) or a checkpoint file with config.json beside it."""
    path = Path(path).expanduser()
    if not path.exists():
        raise UserError(f"--model {path} does not exist")
    folder = path if path.is_dir() else path.parent
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise UserError(f"{folder} has no config.json; a model folder holds config.json (a DiTDHConfig or "
                        "LightningDiTConfig, as rae writes it) and the weights")
    try:
        config = from_json(cfg_file.read_text())
    except (json.JSONDecodeError, ValueError, TypeError) as e:
        raise UserError(f"{cfg_file} is not an rae model config: {' '.join(str(e).split())}") from e
    if not isinstance(config, DIT_CONFIGS):
        raise UserError(f"{cfg_file} describes a {type(config).__name__}, not a diffusion transformer "
                        "(DiTDHConfig or LightningDiTConfig)")
    if path.is_dir():
        weights = next((path / n for n in WEIGHT_NAMES if (path / n).is_file()), None)
        if weights is None:
            candidates = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.pt"))
            if len(candidates) != 1:
                raise UserError(f"{path} holds {len(candidates) or 'no'} weight files; expected model.safetensors "
                                "(or one .pt / .safetensors file); pass the file itself")
            weights = candidates[0]
        path = weights
    return Weights(config, path, str(path))


def with_dit(pipe: SamplingPipeline, dit: Weights, model_arg: str) -> SamplingPipeline:
    """The pipeline with another DiT (e.g. one you trained); guidance drops to none if it cannot apply."""
    notes = list(pipe.notes)
    guide, guidance = pipe.guide, pipe.guidance
    if guide is not None and (tuple(guide.config.latent_shape) != tuple(dit.config.latent_shape)
                              or guide.config.num_classes != dit.config.num_classes):
        notes.append("the preset's guidance model does not fit this DiT: sampling without guidance")
        guide, guidance = None, GuidanceConfig("none")
    source = {**pipe.source, "model": model_arg}
    return check_compatible(dataclasses.replace(pipe, dit=dit, guide=guide, guidance=guidance, source=source,
                                                notes=tuple(notes)))
