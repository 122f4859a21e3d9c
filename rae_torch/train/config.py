"""Training configs: dataclasses read from YAML (ours), or from the reference's training YAMLs
(`reference_config.py` maps those onto these).

One file holds one run: which stage, the frozen pieces it needs, the data, the optimizer and schedule,
and the run settings (batch, precision, parallelism, cadence). Unknown keys are errors that name the
allowed ones, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rae_spec import yaml_files
from rae_spec.configs import ConfigError, GuidanceConfig, SamplerConfig, TransportConfig


@dataclass
class DataConfig:
    """An ImageFolder (one subfolder per class, sorted names = labels 0..K-1) and its preprocessing.

    Stage 2 and stats use the ADM center crop to `image_size` plus a horizontal flip (`flip`); stage 1
    resizes the short side to `resize` (default 1.5 x image_size, 384 at 256) and takes a random crop.
    `cache` points stage 2 at a latent cache (see latent_cache.py) instead of the images.
    """

    path: str = ""
    image_size: int = 256
    flip: bool = True
    resize: int | None = None
    num_workers: int = 4
    cache: str | None = None

    @property
    def stage1_resize(self) -> int:
        return self.resize if self.resize is not None else int(self.image_size * 1.5)


@dataclass
class OptimConfig:
    """AdamW (the reference's optimizer for every stage). `fused`: None picks fused kernels on CUDA."""

    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.0
    eps: float = 1e-8
    fused: bool | None = None


@dataclass
class ScheduleConfig:
    """Learning rate per optimizer step: warmup (a ramp from zero, or constant) up to the warmup end,
    then linear or cosine decay from `base_lr` to `final_lr` at the decay end, constant afterwards.
    Durations in epochs, or in steps where `*_steps` is set (steps win)."""

    type: Literal["constant", "linear", "cosine"] = "constant"
    warmup_epochs: float = 0.0
    warmup_steps: int | None = None
    decay_end_epoch: float | None = None
    decay_end_steps: int | None = None
    base_lr: float | None = None
    final_lr: float | None = None
    warmup_from_zero: bool = False


@dataclass
class RunConfig:
    """How the run executes. `global_batch_size` counts samples per optimizer step over all ranks and
    micro-batches; each rank runs global_batch_size / (world_size * grad_accum_steps) at a time."""

    global_batch_size: int = 256
    grad_accum_steps: int = 1
    epochs: float | None = None
    max_steps: int | None = None
    seed: int = 0
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    tf32: bool = True
    compile: bool = False
    compile_mode: str | None = None
    compile_backend: str = "inductor"
    parallel: Literal["ddp", "fsdp"] = "ddp"
    ema_decay: float = 0.9995
    clip_grad: float | None = 1.0
    log_every: int = 100
    checkpoint_every: int = 1000
    checkpoint_every_epochs: float | None = None
    keep_checkpoints: int = 2
    stop_check_every: int = 10
    sample_every: int = 0
    sample_count: int = 8
    progress: bool = True
    tensorboard: bool = True
    wandb: bool = False
    wandb_project: str = "rae"
    deterministic: bool = False


@dataclass
class Stage2Config:
    """DiT^DH / LightningDiT training on normalized RAE latents (reference-spec 6.2).

    model: a DiT preset name or a config mapping (type DiTDHConfig | LightningDiTConfig). encoder: a
    preset name, an HF repo id in the local hub cache, or a model folder. stats: stat.pt / safetensors
    (None: no normalization). decoder (optional, for sample grids): a model folder, a preset, or a
    checkpoint file whose config `decoder_config` gives (a size B/L/XL or a mapping). transport: None
    derives the time shift from the model's latent size C*H*W.
    """

    output_dir: str = "runs/stage2"
    model: Any = "dit-dh-xl-256"
    encoder: str | None = "dinov2-b-reg"
    encoder_input_size: int = 224
    stats: str | None = None
    stats_eps: float = 1e-5
    decoder: str | None = None
    decoder_config: Any = None
    transport: TransportConfig | None = None
    sampler: SamplerConfig = field(default_factory=lambda: SamplerConfig(num_steps=50))
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: RunConfig = field(default_factory=RunConfig)


@dataclass
class LossConfig:
    """Stage-1 loss weights and start points (epochs; `*_steps` override). Defaults: the reference."""

    perceptual_weight: float = 1.0
    disc_weight: float = 0.75
    lpips_start_epoch: float = 0.0
    disc_start_epoch: float = 8.0
    disc_update_start_epoch: float = 6.0
    lpips_start_steps: int | None = None
    disc_start_steps: int | None = None
    disc_update_start_steps: int | None = None
    max_d_weight: float = 1e4
    disc_updates: int = 1
    disc_loss: Literal["hinge", "vanilla"] = "hinge"
    gen_loss: Literal["vanilla"] = "vanilla"


@dataclass
class LPIPSConfig:
    """LPIPS(VGG16). `vgg_weights`: torchvision's vgg16 ImageNet state dict; `lin_weights`: the LPIPS
    v0.1 `vgg.pth` (1x1 'lin' layers). None looks in the usual caches. `random_init` is for tests."""

    vgg_weights: str | None = None
    lin_weights: str | None = None
    random_init: bool = False


@dataclass
class DiscConfig:
    """The DINO discriminator: a frozen ViT backbone (DINO ViT-S/8 by default) and trainable heads.
    The backbone sizes can be shrunk for tests; `input_size` is the side images are resized to."""

    backbone: str | None = None
    recipe: str = "S_8"
    embed_dim: int | None = None
    depth: int | None = None
    num_heads: int | None = None
    patch_size: int | None = None
    input_size: int = 224
    key_depths: tuple[int, ...] = (2, 5, 8, 11)
    ks: int = 9
    norm_type: Literal["bn", "gn"] = "bn"
    spectral_norm: bool = True
    norm_eps: float = 1e-6
    aug_prob: float = 1.0
    cutout: float = 0.0
    random_init: bool = False


@dataclass
class Stage1Config:
    """Decoder training (reference-spec 6.1): frozen encoder, ViT decoder, L1 + LPIPS + GAN.

    decoder: a size (B, L, XL: the reference's ViT decoders, fitted to the encoder), a DecoderConfig
    mapping, or a folder holding a decoder config.json. init_decoder: weights to start from.
    """

    output_dir: str = "runs/stage1"
    encoder: str | None = "dinov2-b-reg"
    encoder_input_size: int = 224
    decoder: Any = "XL"
    init_decoder: str | None = None
    noise_tau: float = 0.8
    data: DataConfig = field(default_factory=lambda: DataConfig(flip=False))
    loss: LossConfig = field(default_factory=LossConfig)
    lpips: LPIPSConfig = field(default_factory=LPIPSConfig)
    disc: DiscConfig = field(default_factory=DiscConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(
        type="cosine", warmup_epochs=1.0, decay_end_epoch=16.0, final_lr=2e-5, warmup_from_zero=True))
    disc_optim: OptimConfig = field(default_factory=OptimConfig)
    disc_schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(
        type="cosine", warmup_epochs=1.0, decay_end_epoch=16.0, final_lr=2e-5, warmup_from_zero=True))
    train: RunConfig = field(default_factory=lambda: RunConfig(
        global_batch_size=512, epochs=16, ema_decay=0.9978, clip_grad=None))


@dataclass
class StatsRunConfig:
    """Per-position latent mean/var over a dataset (the stat.pt format), exact and distributed.

    flips: 'random' (the reference: one seeded flip per image), 'both' (each image and its mirror), or
    'none'. `num_samples` limits the images used (None: all)."""

    output: str = "stats/stat.pt"
    encoder: str | None = "dinov2-b-reg"
    encoder_input_size: int = 224
    data: DataConfig = field(default_factory=DataConfig)
    flips: Literal["random", "both", "none"] = "random"
    batch_size: int = 64
    num_samples: int | None = None
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    tf32: bool = False
    seed: int = 0
    progress: bool = True


@dataclass
class CacheConfig:
    """Encode a dataset once (both flips) into sharded safetensors for stage 2 (latent_cache.py).
    Raw (un-normalized) latents are stored; `dtype` trades disk for precision."""

    output_dir: str = "cache/latents"
    encoder: str | None = "dinov2-b-reg"
    encoder_input_size: int = 224
    data: DataConfig = field(default_factory=DataConfig)
    batch_size: int = 64
    shard_size: int = 4096
    dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    tf32: bool = False
    num_samples: int | None = None
    progress: bool = True


STAGES: dict[str, type] = {"stage1": Stage1Config, "stage2": Stage2Config, "stats": StatsRunConfig,
                           "cache": CacheConfig}


# ------------------------------------------------------------------------------------------- building


def _strip_optional(hint: Any) -> tuple[Any, bool]:
    """(inner type, allows None) for `X | None`."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return (args[0] if len(args) == 1 else hint), type(None) in typing.get_args(hint)
    return hint, False


def _convert(value: Any, hint: Any, where: str, base: Any = None) -> Any:
    """`value` as type `hint`; a mapping for a dataclass field is applied on top of `base` (the field's
    default), so a partial section keeps the stage's own defaults for the keys it leaves out."""
    inner, nullable = _strip_optional(hint)
    if value is None:
        if nullable or inner is Any:
            return None
        raise ConfigError(f"{where} may not be null")
    if inner is Any:
        return value
    if dataclasses.is_dataclass(inner) and isinstance(inner, type):
        if isinstance(value, inner):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        if inner.__module__.startswith("rae_spec"):
            from rae_spec.configs import from_dict, to_dict

            merged = {**to_dict(base), **value} if isinstance(base, inner) else value
            return from_dict(merged, inner)
        return build(inner, value, where, base if isinstance(base, inner) else None)
    origin = typing.get_origin(inner)
    if origin is Literal:
        if value not in typing.get_args(inner):
            raise ConfigError(f"{where} must be one of {list(typing.get_args(inner))}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        args = typing.get_args(inner)
        item = args[0] if args else Any
        return tuple(_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if inner is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        try:
            return float(value)  # YAML reads '2e-4' as a string
        except ValueError as e:
            raise ConfigError(f"{where} must be a number, got {value!r}") from e
    if inner is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if inner is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if inner is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return str(value)
    return value


def _default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def build(cls: type, data: dict[str, Any] | None, where: str = "", base: Any = None) -> Any:
    """Instantiate dataclass `cls` from a plain mapping (on top of `base` when given), converting and
    checking each field."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown {where or cls.__name__} keys {unknown}; allowed: {list(fields)}")
    kwargs = {}
    for k, v in data.items():
        default = getattr(base, k) if base is not None else _default(fields[k])
        kwargs[k] = _convert(v, hints[k], f"{where}.{k}" if where else k, default)
    return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)


def to_plain(config: Any) -> Any:
    """Dataclass -> YAML-ready plain data (tuples as lists); rae_spec configs keep their type tag."""
    if dataclasses.is_dataclass(config):
        if type(config).__module__.startswith("rae_spec"):
            from rae_spec.configs import to_dict

            return to_dict(config)
        return {f.name: to_plain(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (list, tuple)):
        return [to_plain(v) for v in config]
    if isinstance(config, dict):
        return {k: to_plain(v) for k, v in config.items()}
    return config


def set_dotted(data: dict[str, Any], assignment: str) -> None:
    """Apply 'a.b.c=value' (value parsed as YAML) to nested plain data."""
    if "=" not in assignment:
        raise ConfigError(f"an override must look like key.sub=value, got {assignment!r}")
    key, raw = assignment.split("=", 1)
    value = yaml_files.loads(raw, f"--set {key}")
    node = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {key}: {part} is not a mapping")
    node[parts[-1]] = value


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML config as plain data: rae_spec's reader (yaml.SafeLoader, OmegaConf's float spellings and
    `${a.b}` interpolation, as the reference's configs use them)."""
    from rae_spec.reference_yaml import load_yaml

    return load_yaml(path)


def load_config(stage: str, path: str | Path | None = None, overrides: typing.Sequence[str] = (),
                data: dict[str, Any] | None = None) -> Any:
    """The config for `stage` from a YAML file (ours or a reference training YAML) or plain data, with
    'key.sub=value' overrides applied on top."""
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; one of {sorted(STAGES)}")
    raw = dict(data) if data is not None else (read_yaml(path) if path is not None else {})
    from .reference_config import is_reference_config, map_reference_config  # rae_spec.reference_yaml's reading

    if is_reference_config(raw):
        raw = map_reference_config(stage, raw)
    declared = raw.pop("stage", None)
    if declared is not None and declared != stage:
        raise ConfigError(f"{path or 'config'} is a {declared} config, not {stage}")
    for assignment in overrides:
        set_dotted(raw, assignment)
    return build(STAGES[stage], raw, stage)


def dump_config(config: Any) -> str:
    import yaml

    stage = next((name for name, cls in STAGES.items() if isinstance(config, cls)), None)
    plain = {"stage": stage, **to_plain(config)}
    return yaml.safe_dump(plain, sort_keys=False)
