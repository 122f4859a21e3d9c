"""Released artifacts and the sampling setups that use them. A preset is data: where the file lives on
the hub, and the config that its tensors must match.

Paths inside `nyu-visionx/RAE-collections` are those the reference configs reference (reference-spec
§4.1). Entries marked `verified=False` come from issue threads or ports, not from the configs.

The same RAEs (and DINOv2-S and DINOv2-L ones) are also released in diffusers' format, one repo each
(`DIFFUSERS_RAES`): each repo is one autoencoder preset whose encoder, decoder and stats model presets
(`<name>.encoder`, `.decoder`, `.stats`) are parts of its single file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .configs import (
    SIGLIP_MEAN,
    SIGLIP_STD,
    DecoderConfig,
    DiTDHConfig,
    EncoderConfig,
    GuidanceConfig,
    RAEConfig,
    SamplerConfig,
    StatsConfig,
    TransportConfig,
    vit_decoder,
)
from .hf import DIFFUSERS_WEIGHTS

RAE_REPO = "nyu-visionx/RAE-collections"
# The kinds of model preset and the config class each holds (a presets file's new models name one).
KIND_CONFIGS: dict[str, type] = {"encoder": EncoderConfig, "decoder": DecoderConfig, "stats": StatsConfig,
                                 "dit": DiTDHConfig}


@dataclass(frozen=True)
class ModelPreset:
    """One released file (or HF model repo) and the config it holds.

    kind: a key of KIND_CONFIGS. `filename` is None for an HF encoder repo, whose
    `config.json` + `model.safetensors` are fetched together, and DIFFUSERS_WEIGHTS for one part (the
    kind) of a whole RAE in a diffusers AutoencoderRAE repo, whose config.json comes with it and is checked
    against `config` when loading. `local` (with repo "local") is a path inside this package for models
    that ship with it; `local_path` finds it.
    """

    name: str
    kind: str
    config: Any
    repo: str
    filename: str | None = None
    description: str = ""
    verified: bool = True
    local: str | None = None

    @property
    def files(self) -> tuple[str, ...]:
        """Every file the model needs, the one holding its tensors last."""
        if self.filename is None:
            return ("config.json", "model.safetensors")
        if self.filename == DIFFUSERS_WEIGHTS:
            return ("config.json", DIFFUSERS_WEIGHTS)
        return (self.filename,)

    @property
    def diffusers(self) -> bool:
        """Part of a whole RAE saved by diffusers (the file also holds the other parts)."""
        return self.filename == DIFFUSERS_WEIGHTS


@dataclass(frozen=True)
class AutoencoderPreset:
    """An RAE usable for reconstruction: its encoder, decoder and stats model presets, and the input size.

    `source` says where the files come from and, for an RAE released both in nyu-visionx/RAE-collections and
    in a diffusers repo, why this preset reads that one.
    """

    name: str
    encoder: str
    decoder: str
    stats: str | None
    encoder_input_size: int
    description: str = ""
    source: str = ""


@dataclass(frozen=True)
class PipelinePreset:
    """A complete sampling setup: which models, and the published sampler / guidance settings. `local`
    names a pipeline folder (pipeline.json + model folders) shipped inside this package."""

    name: str
    dit: str
    decoder: str
    stats: str
    encoder: str
    encoder_input_size: int
    sampler: SamplerConfig
    guidance: GuidanceConfig
    transport: TransportConfig
    guide: str | None = None
    description: str = ""
    reported: str = ""
    local: str | None = None
    models: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        names = [self.dit, self.decoder, self.stats, self.encoder] + ([self.guide] if self.guide else [])
        object.__setattr__(self, "models", tuple(names))

    def rae_config(self) -> RAEConfig:
        return RAEConfig(encoder=MODELS[self.encoder].config, decoder=MODELS[self.decoder].config,
                         encoder_input_size=self.encoder_input_size)

    def sampling_models(self) -> tuple[str, ...]:
        """Models sampling needs: everything except the encoder."""
        return tuple(m for m in self.models if m != self.encoder)


# ------------------------------------------------------------------------------------------- encoders

DINOV2_B = EncoderConfig(kind="dinov2", hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072,
                         patch_size=14, image_size=518, hf_repo="facebook/dinov2-with-registers-base")
DINOV2_S = EncoderConfig(kind="dinov2", hidden_size=384, num_layers=12, num_heads=6, intermediate_size=1536,
                         patch_size=14, image_size=518, hf_repo="facebook/dinov2-with-registers-small")
DINOV2_L = EncoderConfig(kind="dinov2", hidden_size=1024, num_layers=24, num_heads=16, intermediate_size=4096,
                         patch_size=14, image_size=518, hf_repo="facebook/dinov2-with-registers-large")
SIGLIP2_B = EncoderConfig(kind="siglip2", hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072,
                          patch_size=16, image_size=256, num_register_tokens=0, hidden_act="gelu_tanh",
                          image_mean=SIGLIP_MEAN, image_std=SIGLIP_STD, hf_repo="google/siglip2-base-patch16-256")
MAE_B = EncoderConfig(kind="mae", hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072,
                      patch_size=16, image_size=224, num_register_tokens=0, layer_norm_eps=1e-12,
                      hf_repo="facebook/vit-mae-base")

# ------------------------------------------------------------------------------------------- digits demo
# A tiny pipeline trained on CPU by bench/digits_e2e.py on sklearn's 8x8 digits (upscaled to 32 px), with
# a RANDOM-INIT encoder (not pretrained). Its files ship inside this package (LOCAL_DATA/digits-demo).

LOCAL_DATA = "presets_data"
DIGITS_ENCODER = EncoderConfig(kind="dinov2", hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                               patch_size=8, image_size=32)
DIGITS_DECODER = DecoderConfig(hidden_size=96, num_layers=3, num_heads=4, intermediate_size=256, latent_dim=32,
                               num_patches=16, patch_size=8)
DIGITS_DIT = DiTDHConfig(input_size=4, patch_size=1, in_channels=32, hidden_size=(64, 128), depth=(4, 1),
                         num_heads=(4, 4), num_classes=10, class_dropout_prob=0.1)
DIGITS_SAMPLER = SamplerConfig(mode="ode", method="euler", num_steps=50)
DIGITS_GUIDANCE = GuidanceConfig("cfg", 2.0, 0.0, 1.0)

# ------------------------------------------------------------------------------------------- DiTs

DITDH_XL = dict(hidden_size=(1152, 2048), depth=(28, 2), num_heads=(16, 16))
DITDH_S = dict(hidden_size=(384, 2048), depth=(12, 2), num_heads=(6, 16))


# ------------------------------------------------------------------------------------------- diffusers repos
# The RAEs released in diffusers' AutoencoderRAE format (the repos diffusers' AutoencoderRAE documentation lists
# [X]): config.json + diffusion_pytorch_model.safetensors holding encoder, ViT-XL decoder (trained with noise tau
# 0.8: "n08") and latent statistics. name: (repo, encoder, encoder input size, statistics carry a mean,
# description). What each repo's config.json says is unverified [U] (the hub was not reachable): every load
# checks it against these configs and names the fields that differ. DINOv2-B's statistics have no mean [C]; for
# the others a file without one is read as mean 0 (the reference's rule), so either reading loads.
# The same RAE from nyu-visionx/RAE-collections is the preset without "-diffusers" (see AUTOENCODERS).

DIFFUSERS_RAES: dict[str, tuple[str, EncoderConfig, int, bool, str]] = {
    "dinov2-b-diffusers": ("nyu-visionx/RAE-dinov2-wReg-base-ViTXL-n08", DINOV2_B, 224, False,
                           "DINOv2-B RAE, ViT-XL decoder, 256 px"),
    "dinov2-b-512-diffusers": ("nyu-visionx/RAE-dinov2-wReg-base-ViTXL-n08-i512", DINOV2_B, 448, False,
                               "DINOv2-B RAE, ViT-XL decoder, 512 px"),
    "dinov2-s": ("nyu-visionx/RAE-dinov2-wReg-small-ViTXL-n08", DINOV2_S, 224, True,
                 "DINOv2-S RAE (384-channel latents), ViT-XL decoder, 256 px"),
    "dinov2-l": ("nyu-visionx/RAE-dinov2-wReg-large-ViTXL-n08", DINOV2_L, 224, True,
                 "DINOv2-L RAE (1024-channel latents), ViT-XL decoder, 256 px"),
    "siglip2-b-diffusers": ("nyu-visionx/RAE-siglip2-base-p16-i256-ViTXL-n08", SIGLIP2_B, 256, True,
                            "SigLIP2-B RAE, ViT-XL decoder, 256 px"),
    "mae-b-diffusers": ("nyu-visionx/RAE-mae-base-p16-ViTXL-n08", MAE_B, 256, True,
                        "MAE-B RAE, ViT-XL decoder, 256 px"),
}
DIFFUSERS_PARTS = ("encoder", "decoder", "stats")


def diffusers_rae(name: str) -> RAEConfig:
    """The RAEConfig of a diffusers repo preset: its encoder (read from the repo's file, so no `hf_repo`) and
    the ViT-XL decoder with 16-pixel patches fitted to the encoder's token grid."""
    _, encoder, size, _, _ = DIFFUSERS_RAES[name]
    grid = size // encoder.patch_size
    decoder = vit_decoder("XL", encoder.hidden_size, grid * grid)
    return RAEConfig(encoder=replace(encoder, hf_repo=None), decoder=decoder, encoder_input_size=size)


def _models() -> dict[str, ModelPreset]:
    presets: list[ModelPreset] = []

    def enc(name, cfg, desc):
        presets.append(ModelPreset(name, "encoder", cfg, cfg.hf_repo, None, desc))

    enc("dinov2-b-reg", DINOV2_B, "DINOv2-B with 4 registers (the default RAE encoder)")
    enc("dinov2-s-reg", DINOV2_S, "DINOv2-S with 4 registers")
    enc("dinov2-l-reg", DINOV2_L, "DINOv2-L with 4 registers")
    enc("siglip2-b", SIGLIP2_B, "SigLIP2-B/16 at 256 px (vision tower)")
    enc("mae-b", MAE_B, "MAE ViT-B/16 (encoder)")

    def dec(name, path, tokens, desc, verified=True):
        presets.append(ModelPreset(name, "decoder", vit_decoder("XL", 768, tokens), RAE_REPO, path, desc, verified))

    base = "decoders/dinov2/wReg_base"
    dec("decoder-dinov2-b-xl-256", f"{base}/ViTXL_n08/model.pt", 256, "ViT-XL decoder for DINOv2-B, noise tau 0.8")
    dec("decoder-dinov2-b-xl-512", f"{base}/ViTXL_n08_i512/model.pt", 1024,
        "ViT-XL decoder for DINOv2-B at 512 px, noise tau 0.8")
    dec("decoder-dinov2-b-xl-256-n0", f"{base}/ViTXL/model.pt", 256, "ViT-XL decoder, no noise augmentation", False)
    dec("decoder-dinov2-b-xl-256-n05", f"{base}/ViTXL_n05/model.pt", 256, "ViT-XL decoder, noise tau 0.5", False)
    dec("decoder-dinov2-b-xl-256-n10", f"{base}/ViTXL_n10/model.pt", 256, "ViT-XL decoder, noise tau 1.0", False)
    dec("decoder-siglip2-b-xl-256", "decoders/siglip2/base_p16_i256/ViTXL_n08/model.pt", 256,
        "ViT-XL decoder for SigLIP2-B, noise tau 0.8")
    dec("decoder-mae-b-xl-256", "decoders/mae/base_p16/ViTXL_n08/model.pt", 256,
        "ViT-XL decoder for MAE-B, noise tau 0.8")

    def stats(name, path, grid, has_mean, desc):
        presets.append(ModelPreset(name, "stats", StatsConfig(768, grid, has_mean), RAE_REPO, path, desc))

    stats("stats-dinov2-b-256", "stats/dinov2/wReg_base/imagenet1k/stat.pt", 16, False,
          "DINOv2-B latent variance on ImageNet-1k at 256 px (no mean)")
    stats("stats-dinov2-b-512", "stats/dinov2/wReg_base/imagenet1k_512/stat.pt", 32, False,
          "DINOv2-B latent variance on ImageNet-1k at 512 px (no mean)")
    stats("stats-siglip2-b-256", "stats/siglip2/base_p16_i256/ImageNet1k/stat.pt", 16, True,
          "SigLIP2-B latent mean/var on ImageNet-1k")
    stats("stats-mae-b-256", "stats/mae/base_p16/ImageNet1k/stat.pt", 16, True, "MAE-B latent mean/var on ImageNet-1k")

    def dit(name, path, sizes, input_size, desc):
        presets.append(ModelPreset(name, "dit", DiTDHConfig(input_size=input_size, **sizes), RAE_REPO, path, desc))

    def local(name, kind, cfg, path, desc):
        presets.append(ModelPreset(name, kind, cfg, "local", None, desc, local=f"{LOCAL_DATA}/digits-demo/{path}"))

    local("digits-demo-encoder", "encoder", DIGITS_ENCODER, "encoder", "random-init (not pretrained) DINOv2-style "
          "ViT encoder of the digits demo")
    local("digits-demo-decoder", "decoder", DIGITS_DECODER, "decoder", "ViT decoder of the digits demo (32 px)")
    local("digits-demo-stats", "stats", StatsConfig(32, 4, True), "stats.safetensors",
          "latent mean/var of the digits demo")
    local("digits-demo-dit", "dit", DIGITS_DIT, "dit", "DiT^DH of the digits demo (10 classes)")

    for name, (repo, _, _, has_mean, desc) in DIFFUSERS_RAES.items():
        rae = diffusers_rae(name)
        stats_cfg = StatsConfig(rae.encoder.hidden_size, rae.latent_grid, has_mean)
        for part, cfg in zip(DIFFUSERS_PARTS, (rae.encoder, rae.decoder, stats_cfg), strict=True):
            presets.append(ModelPreset(f"{name}.{part}", part, cfg, repo, DIFFUSERS_WEIGHTS,
                                       f"{part} of the {desc} (part of the diffusers repo's one file)"))

    d = "DiTs/Dinov2/wReg_base"
    dit("dit-dh-xl-256", f"{d}/ImageNet256/DiTDH-XL/stage2_model.pt", DITDH_XL, 16,
        "DiT^DH-XL on DINOv2-B latents, 256 px")
    dit("dit-dh-s-256-guidance", f"{d}/ImageNet256/DiTDH-S_ep14/stage2_model.pt", DITDH_S, 16,
        "DiT^DH-S, epoch 14: the autoguidance guide at 256 px")
    dit("dit-dh-xl-512", f"{d}/ImageNet512/DiTDH-XL_ep400/stage2_model.pt", DITDH_XL, 32,
        "DiT^DH-XL on DINOv2-B latents, 512 px (epoch 400)")
    dit("dit-dh-s-512-guidance", f"{d}/ImageNet512/DiTDH-S_ep20/stage2_model.pt", DITDH_S, 32,
        "DiT^DH-S, epoch 20: the autoguidance guide at 512 px")
    return {p.name: p for p in presets}


MODELS: dict[str, ModelPreset] = _models()


def _pipelines() -> dict[str, PipelinePreset]:
    euler50 = SamplerConfig(mode="ode", method="euler", num_steps=50)
    t256 = TransportConfig(time_dist_shift_dim=768 * 16 * 16)
    t512 = TransportConfig(time_dist_shift_dim=768 * 32 * 32)
    items = [
        PipelinePreset("dit-dh-xl-256-ag", dit="dit-dh-xl-256", guide="dit-dh-s-256-guidance",
                       decoder="decoder-dinov2-b-xl-256", stats="stats-dinov2-b-256", encoder="dinov2-b-reg",
                       encoder_input_size=224, sampler=euler50, transport=t256,
                       guidance=GuidanceConfig("autoguidance", 1.42, 0.0, 1.0),
                       description="DiT^DH-XL 256 px with autoguidance (DiTDHXL-DINOv2-B_AG.yaml)",
                       reported="FID 1.13 (paper, with guidance)"),
        PipelinePreset("dit-dh-xl-256", dit="dit-dh-xl-256", decoder="decoder-dinov2-b-xl-256",
                       stats="stats-dinov2-b-256", encoder="dinov2-b-reg", encoder_input_size=224, sampler=euler50,
                       transport=t256, guidance=GuidanceConfig("cfg", 1.0, 0.0, 1.0),
                       description="DiT^DH-XL 256 px, unguided (DiTDHXL-DINOv2-B.yaml)",
                       reported="FID 1.51 (paper, without guidance)"),
        PipelinePreset("dit-dh-xl-512-ag", dit="dit-dh-xl-512", guide="dit-dh-s-512-guidance",
                       decoder="decoder-dinov2-b-xl-512", stats="stats-dinov2-b-512", encoder="dinov2-b-reg",
                       encoder_input_size=448, sampler=euler50, transport=t512,
                       guidance=GuidanceConfig("autoguidance", 1.5, 0.0, 1.0),
                       description="DiT^DH-XL 512 px with autoguidance (DiTDH-XL_DINOv2-B_decXL_AG.yaml)",
                       reported="FID 1.13 (paper, with guidance)"),
        PipelinePreset("digits-demo", dit="digits-demo-dit", decoder="digits-demo-decoder", stats="digits-demo-stats",
                       encoder="digits-demo-encoder", encoder_input_size=32, sampler=DIGITS_SAMPLER,
                       transport=TransportConfig(time_dist_shift_dim=512, time_dist_shift_base=512),
                       guidance=DIGITS_GUIDANCE, local=f"{LOCAL_DATA}/digits-demo",
                       description="sklearn digits 0-9 at 32 px, trained on a CPU by bench/digits_e2e.py "
                                   "(random-init encoder); works offline, ships with the package",
                       reported="99 % of its samples classified as their digit by a classifier 97 % accurate "
                                "on real digits (bench/digits_e2e.py)"),
    ]
    return {p.name: p for p in items}


PIPELINES: dict[str, PipelinePreset] = _pipelines()
DEFAULT_PIPELINE = "dit-dh-xl-256-ag"


def _autoencoders() -> dict[str, AutoencoderPreset]:
    def shared(decoder: str) -> bool:
        return any(p.decoder == decoder for p in PIPELINES.values())

    def original(name: str, encoder: str, decoder: str, stats: str, size: int, desc: str) -> AutoencoderPreset:
        why = ("the sampling pipelines load this decoder and these statistics, so after `rae download` reconstruction "
               "only adds the encoder; " if shared(decoder) else "")
        source = (f"nyu-visionx/RAE-collections (decoder, stat.pt) and {MODELS[encoder].repo} (encoder): the original "
                  f"files. Also released in diffusers' format as {name}-diffusers; this preset reads the originals "
                  f"because {why}stat.pt holds the variance exactly, where the diffusers file stores sqrt(var + 1e-5)")
        return AutoencoderPreset(name, encoder, decoder, stats, size, desc, source)

    items = [
        original("dinov2-b", "dinov2-b-reg", "decoder-dinov2-b-xl-256", "stats-dinov2-b-256", 224,
                 "DINOv2-B RAE, ViT-XL decoder, 256 px (the default)"),
        original("dinov2-b-512", "dinov2-b-reg", "decoder-dinov2-b-xl-512", "stats-dinov2-b-512", 448,
                 "DINOv2-B RAE, ViT-XL decoder, 512 px"),
        original("siglip2-b", "siglip2-b", "decoder-siglip2-b-xl-256", "stats-siglip2-b-256", 256,
                 "SigLIP2-B RAE, ViT-XL decoder, 256 px"),
        original("mae-b", "mae-b", "decoder-mae-b-xl-256", "stats-mae-b-256", 256, "MAE-B RAE, ViT-XL decoder, 256 px"),
    ]
    twins = {f"{a.name}-diffusers": a for a in items}
    for name, (repo, _, size, _, desc) in DIFFUSERS_RAES.items():
        one_file = f"{repo} in diffusers' format: encoder, decoder and statistics in one file"
        if name in twins:
            twin = twins[name]
            why = (f"the same RAE from the original files is {twin.name}"
                   + (" (whose decoder and statistics the sampling pipelines use)" if shared(twin.decoder) else "")
                   + "; this one is a single download with no separate encoder repo")
        else:
            why = ("its only source: the path of this decoder inside nyu-visionx/RAE-collections is not verified "
                   "(reference-spec 4.1)")
        items.append(AutoencoderPreset(name, f"{name}.encoder", f"{name}.decoder", f"{name}.stats", size, desc,
                                       f"{one_file}; {why}"))
    return {a.name: a for a in items}


# RAE autoencoders usable for reconstruction (`rae reconstruct --autoencoder NAME`).
AUTOENCODERS: dict[str, AutoencoderPreset] = _autoencoders()


def local_path(preset: str | Any) -> Path | None:
    """Where a preset that ships inside this package (its `local` path) lies on disk; None for other presets.
    `preset` is a preset, or the name of a built-in model or pipeline preset."""
    if isinstance(preset, str):
        name, preset = preset, MODELS.get(preset) or PIPELINES.get(preset)
        if preset is None:
            raise KeyError(f"unknown preset {name!r}")
    local = getattr(preset, "local", None)
    return Path(__file__).resolve().parent / local if local else None


def get_model(name: str) -> ModelPreset:
    if name not in MODELS:
        raise KeyError(f"unknown model preset {name!r}; known: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def get_pipeline(name: str) -> PipelinePreset:
    if name not in PIPELINES:
        raise KeyError(f"unknown pipeline preset {name!r}; known: {', '.join(sorted(PIPELINES))}")
    return PIPELINES[name]
