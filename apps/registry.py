"""The presets the CLI knows: rae_spec's released models and pipelines, plus an optional presets file.

A presets file (`--presets FILE` or RAE_PRESETS) is JSON that adds presets or changes existing ones
field by field, e.g. to name your own trained models, or to point the released preset names at other
files or configs (the tests point them at tiny random models this way):

    {"models": {"dit-dh-xl-256": {"config": {"hidden_size": [64, 96], "depth": [2, 1]}},
                "my-dit": {"kind": "dit", "repo": "./weights", "filename": "ep-0000100.pt",
                           "config": {"type": "DiTDHConfig", "input_size": 16}}},
     "pipelines": {"my-pipeline": {"dit": "my-dit", "decoder": "decoder-dinov2-b-xl-256", ...}},
     "autoencoders": {"my-ae": {"encoder": "dinov2-b-reg", "decoder": "...", "stats": "...",
                                "encoder_input_size": 224, "description": "..."}},
     "default_pipeline": "my-pipeline"}

`config` entries update the existing config's fields (or build a new one from its "type" / the kind);
a `repo` that starts with "." or "/" is a local folder (relative to the presets file).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rae_spec
from rae_spec.configs import (
    ConfigError,
    GuidanceConfig,
    RAEConfig,
    SamplerConfig,
    TransportConfig,
    from_dict,
    read_json_object,
    to_dict,
)
from rae_spec.presets import KIND_CONFIGS, ModelPreset, PipelinePreset, local_path
from rae_spec.presets import AutoencoderPreset as Autoencoder

from .errors import UserError

PRESETS_ENV = "RAE_PRESETS"


@dataclass(frozen=True)
class Registry:
    models: dict[str, ModelPreset]
    pipelines: dict[str, PipelinePreset]
    autoencoders: dict[str, Autoencoder]
    default_pipeline: str = rae_spec.DEFAULT_PIPELINE
    source: Path | None = None
    notes: tuple[str, ...] = field(default=())

    def model(self, name: str) -> ModelPreset:
        return self.models[self._known(name, self.models, "model preset")]

    def pipeline(self, name: str) -> PipelinePreset:
        return self.pipelines[self._known(name, self.pipelines, "pipeline preset")]

    def autoencoder(self, name: str) -> Autoencoder:
        return self.autoencoders[self._known(name, self.autoencoders, "autoencoder")]

    def rae_config(self, encoder: str, decoder: str, encoder_input_size: int) -> RAEConfig:
        return RAEConfig(encoder=self.model(encoder).config, decoder=self.model(decoder).config,
                         encoder_input_size=encoder_input_size)

    def kind_of(self, name: str) -> str | None:
        """'pipeline', 'autoencoder' or 'model' for a known name, else None."""
        for kind, table in (("pipeline", self.pipelines), ("autoencoder", self.autoencoders), ("model", self.models)):
            if name in table:
                return kind
        return None

    @staticmethod
    def _known(name: str, table: dict, what: str) -> str:
        if name in table:
            return name
        close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(table))}"
        raise UserError(f"unknown {what} {name!r}{hint} (`rae info` lists them)")


def _as_local_repo(preset: ModelPreset) -> ModelPreset:
    """A model shipped inside the package as a local-folder repo: (folder, model.safetensors) for a model
    folder, (parent, name) for a file, so finding and loading it works like any other preset."""
    path = local_path(preset)
    if path is None:
        return preset
    repo, filename = (path, "model.safetensors") if path.suffix == "" else (path.parent, path.name)
    return dataclasses.replace(preset, repo=str(repo), filename=filename)


def builtin() -> Registry:
    models = {name: _as_local_repo(m) for name, m in rae_spec.MODELS.items()}
    return Registry(models, dict(rae_spec.PIPELINES), dict(rae_spec.AUTOENCODERS))


def load_registry(presets_file: str | Path | None = None) -> Registry:
    """The built-in presets updated by `presets_file` (default: $RAE_PRESETS, if set)."""
    presets_file = presets_file or os.environ.get(PRESETS_ENV) or None
    registry = builtin()
    if not presets_file:
        return registry
    path = Path(presets_file).expanduser()
    data = read_json_object(path, "presets file")
    unknown = set(data) - {"models", "pipelines", "autoencoders", "default_pipeline"}
    if unknown:
        raise UserError(f"presets file {path}: unknown sections {sorted(unknown)}; "
                        "allowed: models, pipelines, autoencoders, default_pipeline")
    try:
        return _apply(registry, data, path)
    except (ConfigError, TypeError, ValueError) as e:
        raise UserError(f"presets file {path}: {' '.join(str(e).split())}") from e


def _apply(reg: Registry, data: dict[str, Any], path: Path) -> Registry:
    models, pipelines, aes = dict(reg.models), dict(reg.pipelines), dict(reg.autoencoders)
    for name, spec in (data.get("models") or {}).items():
        models[name] = _model(name, models.get(name), dict(spec), path.parent)
    for name, spec in (data.get("pipelines") or {}).items():
        pipelines[name] = _pipeline(name, pipelines.get(name), dict(spec))
    for name, spec in (data.get("autoencoders") or {}).items():
        old = dataclasses.asdict(aes[name]) if name in aes else {"name": name, "stats": None}
        aes[name] = Autoencoder(**{**old, **spec, "name": name})
    default = data.get("default_pipeline", reg.default_pipeline)
    new = Registry(models, pipelines, aes, default, path)
    for p in pipelines.values():  # every reference must name a known model
        for m in p.models:
            new.model(m)
    for a in aes.values():
        for m in (a.encoder, a.decoder, a.stats):
            if m:
                new.model(m)
    new.pipeline(default)
    return new


def _config(old: Any, value: dict[str, Any], cls: type | None) -> Any:
    if old is not None and "type" not in value:
        return from_dict({**to_dict(old), **value})
    return from_dict(value, None if "type" in value else cls)


def _model(name: str, old: ModelPreset | None, spec: dict[str, Any], base: Path) -> ModelPreset:
    kind = spec.get("kind", old.kind if old else None)
    if kind not in KIND_CONFIGS:
        raise ValueError(f"model {name!r} needs a kind: one of {sorted(KIND_CONFIGS)}")
    if "config" in spec:
        spec["config"] = _config(old.config if old else None, dict(spec["config"]), KIND_CONFIGS[kind])
    elif old is None:
        raise ValueError(f"new model {name!r} needs a config")
    repo = spec.get("repo")
    if isinstance(repo, str) and (repo.startswith(".") or repo.startswith("~")):
        spec["repo"] = str((base / Path(repo).expanduser()).resolve())
    if old is None:
        if "repo" not in spec:
            raise ValueError(f"new model {name!r} needs a repo (hub id or local folder)")
        return ModelPreset(name=name, **spec)
    return dataclasses.replace(old, **spec)


def _pipeline(name: str, old: PipelinePreset | None, spec: dict[str, Any]) -> PipelinePreset:
    for key, cls in (("sampler", SamplerConfig), ("guidance", GuidanceConfig), ("transport", TransportConfig)):
        if key in spec:
            spec[key] = _config(getattr(old, key) if old else None, dict(spec[key]), cls)
    if old is None:
        defaults = {"sampler": SamplerConfig(), "guidance": GuidanceConfig(), "transport": TransportConfig()}
        return PipelinePreset(name=name, **{**defaults, **spec})
    return dataclasses.replace(old, **spec)
