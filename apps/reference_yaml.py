"""Reference YAMLs for the CLI: what rae_spec.reference_yaml reads from the blocks, with the files they
name found (or fetched) through the Store.

Paths: a local file or folder (relative paths are looked up from the current folder, then from the
YAML's folder and each folder above it), `hf://org/repo/path` or `org/repo/path` for a file on the hub,
`org/repo` for an HF model folder, and `models/<path>` for a file of nyu-visionx/RAE-collections (the
reference's README downloads that collection into models/). Hub files come from the Store (cache or
models folder), so everything works offline once downloaded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rae_spec.configs import ConfigError, DecoderConfig, EncoderConfig, RAEConfig, StatsConfig, read_json_object
from rae_spec.hf import encoder_config_from_hf
from rae_spec.presets import MODELS
from rae_spec.reference_yaml import (
    ReferenceConfig,
    Stage1,
    builtin_decoder_size,
    decoder_config,
    decoder_config_json,
    hub_file,
    load_yaml,
)

from .errors import MissingFileError, UserError
from .hub import Store
from .pipeline import AutoencoderPipeline, SamplingPipeline, Weights, check_compatible

ENCODER_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
__all__ = ["Resolver", "autoencoder_pipeline", "load_yaml", "sampling_pipeline"]


# ------------------------------------------------------------------------------------------------ paths


class Resolver:
    """Turns the config's path strings into local files, fetching hub files through the Store."""

    def __init__(self, config_path: Path, store: Store, download: bool):
        self.config_path = config_path.resolve()
        self.store = store
        self.download = download
        self.notes: list[str] = []

    def hint(self) -> str:
        return f"run `rae download --config {self.config_path}`"

    def _bases(self) -> Iterator[Path]:
        yield Path.cwd()
        yield from [self.config_path.parent, *self.config_path.parent.parents]

    def local(self, value: str) -> Path | None:
        p = Path(value).expanduser()
        if p.is_absolute():
            return p if p.exists() else None
        for base in self._bases():
            if (base / p).exists():
                return base / p
        return None

    def file(self, value: Any, what: str) -> tuple[Path, str]:
        """(local path, origin) of a file named by a path or a hub reference."""
        if not isinstance(value, str) or not value:
            raise UserError(f"{what} must be a path, got {value!r}")
        local = self.local(value)
        if local is not None:
            if not local.is_file():
                raise UserError(f"{what} {value!r} is a folder, not a checkpoint file")
            return local, value
        repo, filename = hub_file(value) or (None, "")
        if repo is None:
            raise UserError(f"{what} {value!r} is not a local file (looked in {Path.cwd()} and beside the config) "
                            "and not a hub file (hf://org/repo/path)")
        try:
            path = self.store.get(repo, filename, download=self.download, hint=self.hint())
        except MissingFileError as e:
            if value.startswith("hf://"):
                raise
            raise MissingFileError(f"{what} {value!r} is not a local file (looked in {Path.cwd()} and beside the "
                                   f"config); read as a hub file: {e}") from e
        return path, f"{repo}/{filename}"

    def folder_json(self, value: Any, name: str, what: str) -> dict[str, Any]:
        """A JSON file (config.json, preprocessor_config.json) of a local folder or an HF repo id."""
        if not isinstance(value, str) or not value:
            raise UserError(f"{what} must be a folder or a hub id, got {value!r}")
        local = self.local(value)
        if local is not None:
            if not (local / name).is_file():
                raise UserError(f"{what} {value!r} has no {name}")
            return read_json_object(local / name)
        if value.startswith((".", "/", "~")) or value.count("/") != 1:
            raise UserError(f"{what} {value!r} is neither a local folder nor a hub model id (org/name)")
        return read_json_object(self.store.get(value, name, download=self.download, hint=self.hint()))

    def weights_in(self, value: str, what: str) -> tuple[Path, str]:
        """The weights file of an HF model folder or repo id (model.safetensors, else pytorch_model.bin)."""
        local = self.local(value)
        if local is not None:
            for name in ENCODER_WEIGHTS:
                if (local / name).is_file():
                    return local / name, str(local / name)
            raise UserError(f"{what} {value!r} has no {' or '.join(ENCODER_WEIGHTS)}")
        path = self.store.get(value, ENCODER_WEIGHTS[0], download=self.download, hint=self.hint())
        return path, f"{value}/{ENCODER_WEIGHTS[0]}"


# ------------------------------------------------------------------------------------------------ stage 1


def _stage1(ref: ReferenceConfig, r: Resolver, need_encoder_weights: bool
            ) -> tuple[RAEConfig, Weights, Weights | None, Weights | None]:
    """(RAEConfig, decoder, stats, encoder weights or None) from the stage_1 block."""
    s1 = ref.stage1()
    encoder = _encoder_config(r, s1.encoder_weights, s1.encoder_config_path, s1.encoder.reference_weights_param)
    if encoder.kind != s1.encoder.kind:
        raise UserError(f"stage_1 encoder_cls {s1.encoder.reference_class} expects a {s1.encoder.kind} model, but "
                        f"{s1.encoder_weights!r} is {encoder.kind}")
    tokens = s1.tokens(encoder.patch_size)
    decoder = _decoder_config(s1, r, encoder.hidden_size, tokens)
    rae = RAEConfig(encoder=encoder, decoder=decoder, encoder_input_size=s1.encoder_input_size, eps=s1.eps)
    if s1.decoder_weights is None:
        raise UserError("stage_1.params.pretrained_decoder_path is not set: there are no decoder weights to use")
    dec_path, dec_origin = r.file(s1.decoder_weights, "stage_1.params.pretrained_decoder_path")
    stats = None
    if s1.stats is not None:
        s_path, s_origin = r.file(s1.stats, "stage_1.params.normalization_stat_path")
        stats = Weights(StatsConfig(*rae.latent_shape[:2]), s_path, s_origin)
    enc_weights = None
    if need_encoder_weights:
        e_path, e_origin = r.weights_in(s1.encoder_weights, s1.encoder_weights_param)
        enc_weights = Weights(encoder, e_path, e_origin)
    return rae, Weights(decoder, dec_path, dec_origin), stats, enc_weights


def _encoder_config(r: Resolver, weights_path: str, config_path: str, weights_key: str) -> EncoderConfig:
    """The architecture from the weights' config.json, the pixel mean/std from the processor config (as the
    reference reads them); a released encoder's hub id that cannot be fetched falls back to its preset."""
    try:
        arch = r.folder_json(weights_path, "config.json", f"stage_1 encoder_params.{weights_key}")
        pre = r.folder_json(config_path, "preprocessor_config.json",
                            "stage_1.params.encoder_config_path (the source of the image mean and std)")
    except MissingFileError:
        known = [m.config for m in MODELS.values() if m.kind == "encoder" and m.config.hf_repo == weights_path]
        if not known or weights_path != config_path:
            raise
        r.notes.append(f"{weights_path} is not downloaded: using its built-in config (preset)")
        return known[0]
    try:
        return encoder_config_from_hf(arch, pre, hf_repo=weights_path if "/" in weights_path else None)
    except ValueError as e:
        raise UserError(f"stage_1 encoder config: {e}") from e


def _decoder_config(s1: Stage1, r: Resolver, latent_dim: int, tokens: int) -> DecoderConfig:
    value = s1.decoder_config_path
    try:
        raw = r.folder_json(value, "config.json", "stage_1.params.decoder_config_path")
    except UserError:
        size = builtin_decoder_size(value)
        if size is None:
            raise
        r.notes.append(f"decoder_config_path {value!r} is not here; using the reference's ViT-{size} decoder "
                       "config (built in)")
        raw = decoder_config_json(size)
    return decoder_config(raw, latent_dim=latent_dim, num_patches=tokens, patch_size=s1.decoder_patch_size)


# ------------------------------------------------------------------------------------------------ stage 2


def _dit(dit, r: Resolver) -> Weights:
    if dit.ckpt is None:
        raise UserError(f"{dit.what} has no ckpt: there are no weights to sample with")
    path, origin = r.file(dit.ckpt, f"{dit.what}.ckpt")
    return Weights(dit.config, path, origin)


# ------------------------------------------------------------------------------------------------ API


@contextlib.contextmanager
def _values_of(path: Path) -> Iterator[None]:
    """Interpreting the YAML's values: a value of the wrong type or form (a mapping where a number belongs,
    a word where a size belongs) surfaces as a TypeError / ValueError somewhere in the reading; it is the
    file's fault, so it becomes a UserError naming the file."""
    try:
        yield
    except (UserError, ConfigError):
        raise
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as e:
        raise UserError(f"config {path} has a value of the wrong type or form: {' '.join(str(e).split())[:200]}") \
            from e


def sampling_pipeline(path: str | Path, store: Store, *, download: bool = True) -> SamplingPipeline:
    """Everything a reference sampling YAML means, with its files found (or fetched)."""
    path = Path(path)
    with _values_of(path):
        return _sampling_pipeline(path, store, download)


def _sampling_pipeline(path: Path, store: Store, download: bool) -> SamplingPipeline:
    ref = _read(path)
    r = Resolver(path, store, download)
    rae, decoder, stats, _ = _stage1(ref, r, need_encoder_weights=False)
    dit = _dit(ref.stage2(), r)
    g = ref.guidance()
    guide = _dit(g.guide, r) if g.guided and g.guide is not None else None
    sampler = ref.sampler()
    ref.check_classes(dit.config)
    shift = ref.shift(tuple(dit.config.latent_shape))
    return check_compatible(SamplingPipeline(
        dit=dit, decoder=decoder, stats=stats, guide=guide, rae=rae, sampler=sampler, guidance=g.config(),
        shift=shift, source={"config": str(path.resolve())}, notes=tuple(ref.notes + r.notes)))


def autoencoder_pipeline(path: str | Path, store: Store, *, download: bool = True) -> AutoencoderPipeline:
    """The RAE of a reference YAML's stage_1 block, encoder weights included."""
    path = Path(path)
    with _values_of(path):
        ref = _read(path)
        r = Resolver(path, store, download)
        rae, decoder, stats, encoder = _stage1(ref, r, need_encoder_weights=True)
    assert encoder is not None
    return AutoencoderPipeline(encoder=encoder, decoder=decoder, stats=stats, rae=rae,
                               source={"config": str(path.resolve())}, notes=tuple(ref.notes + r.notes))


def _read(path: Path) -> ReferenceConfig:
    if not path.is_file():
        raise UserError(f"config {path} does not exist")
    return ReferenceConfig.load(path)
