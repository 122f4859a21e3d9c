"""Finding the pretrained pieces training needs: the frozen encoder, a decoder and latent stats (stage-2
sample grids), LPIPS' VGG16 and 'lin' weights, and the DINO discriminator backbone.

Each comes from a local path, a preset, a hub file reference (`models/<path>` of the reference's YAMLs,
`hf://org/repo/path`), or the torch hub cache. Preset and hub files are found through the same Store as
the `rae` CLI: the Hugging Face cache, or the plain models folder of `--models-dir` / RAE_MODELS_DIR.
Nothing is downloaded here (every rank would race for it); a missing file raises MissingWeightsError
saying where we looked and how to get it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import torch
from rae_apps.hub import MODELS_DIR_ENV, Store
from torch import nn

from rae_spec.configs import DecoderConfig, EncoderConfig, from_dict, vit_decoder
from rae_spec.presets import MODELS, RAE_REPO
from rae_spec.reference_yaml import hub_file

from ..checkpoint import CheckpointError, load_model, load_stats, read_checkpoint, unwrap_state_dict


class MissingWeightsError(FileNotFoundError):
    """Pretrained weights are not on this machine; the message says where we looked and what to do."""


def store():
    """The CLI's file store (rae_apps.hub.Store): the models folder of RAE_MODELS_DIR, else the HF cache."""
    return Store(os.environ.get(MODELS_DIR_ENV) or None)


def hub_cached(repo: str, filename: str) -> Path | None:
    """The local path of `filename` of hub repo `repo` (models folder or HF cache), or None."""
    return store().find(repo, filename)


def _hub_hint(repo: str, files: str) -> str:
    s = store()
    where = f" into {s.models_dir}/{repo}/" if s.models_dir is not None else ""
    return (f"`rae download` (presets) or `huggingface-cli download {repo} {files}`{where} (on a machine with "
            f"internet; it fills the {s.location})")


def _hub_reference(spec: str) -> Path | None:
    """A file named `models/<path>` / `hf://org/repo/path` / `org/repo/path`, found in the store."""
    ref = hub_file(spec) if not spec.startswith((".", "/", "~")) else None
    return hub_cached(*ref) if ref is not None else None


def cached_files(repo: str, files: tuple[str, ...]) -> Path | None:
    """The local path of the last of `files` (the one holding the tensors), when all of them (an HF or
    diffusers repo's config.json too) are in the store; else None."""
    found = [hub_cached(repo, f) for f in files]
    return found[-1] if all(found) else None


def cached_preset(preset) -> Path | None:
    return cached_files(preset.repo, preset.files)


def _preset_hint(preset) -> str:
    return _hub_hint(preset.repo, " ".join(preset.files))


def load_encoder(spec: str) -> tuple[nn.Module, EncoderConfig]:
    """The frozen encoder from a model folder, an encoder preset name, or an HF repo id in the store."""
    path = Path(spec)
    if path.is_dir():
        module = load_model(path)
        return module, module.config
    preset = MODELS.get(spec)
    if preset is not None and preset.kind != "encoder":
        raise MissingWeightsError(f"{spec!r} is a {preset.kind} preset, not an encoder")
    repo = preset.repo if preset is not None else spec
    if "/" not in repo:
        known = ", ".join(n for n, p in MODELS.items() if p.kind == "encoder")
        raise MissingWeightsError(f"encoder {spec!r} is neither a folder nor a known encoder preset ({known})")
    files = preset.files if preset is not None else ("config.json", "model.safetensors")
    weights = cached_files(repo, files)
    if weights is None:
        raise MissingWeightsError(
            f"encoder {spec!r} ({repo}) is not in the {store().location}. Get it with "
            f"{_hub_hint(repo, ' '.join(files))}, or set `encoder:` to a local folder holding "
            "config.json and model.safetensors.")
    module = load_model(weights, preset.config) if preset is not None else load_model(weights.parent)
    return module, module.config


def decoder_config(spec: Any, encoder: EncoderConfig, encoder_input_size: int, image_size: int) -> DecoderConfig:
    """A DecoderConfig from a size name (B, L, XL), a mapping, a DecoderConfig or a folder with config.json,
    fitted to the encoder's token grid and width."""
    grid = encoder_input_size // encoder.patch_size
    if isinstance(spec, DecoderConfig):
        return spec
    if isinstance(spec, dict):
        return from_dict(spec, DecoderConfig)
    if isinstance(spec, str) and spec.upper() in ("B", "L", "XL"):
        if image_size % grid:
            raise MissingWeightsError(f"image size {image_size} is not a multiple of the {grid}x{grid} token grid")
        return vit_decoder(spec.upper(), encoder.hidden_size, grid * grid, image_size // grid)
    path = Path(str(spec))
    if (path / "config.json").is_file():
        import json

        from rae_spec.hf import decoder_config_from_json

        raw = json.loads((path / "config.json").read_text())
        if raw.get("type") == "DecoderConfig":
            return from_dict(raw, DecoderConfig)
        return decoder_config_from_json(raw, encoder.hidden_size, grid * grid, image_size // grid)
    raise MissingWeightsError(f"decoder {spec!r}: expected a size (B, L, XL), a DecoderConfig mapping, or a "
                              "folder holding a decoder config.json")


def load_decoder(spec: str, config: DecoderConfig | None = None) -> nn.Module:
    """A trained decoder from a model folder, a decoder preset (hub cache), or a checkpoint file plus its
    config (see `decoder_config`)."""
    path = Path(spec)
    if path.is_dir():
        return load_model(path)
    preset = MODELS.get(spec)
    if preset is not None:
        found = cached_preset(preset)
        if found is None:
            raise MissingWeightsError(f"decoder preset {spec!r} ({preset.repo}/{preset.files[-1]}) is not in the "
                                      f"{store().location}; get it with {_preset_hint(preset)}")
        return load_model(found, preset.config)
    if not path.is_file():
        path = _hub_reference(spec) or path
    if not path.is_file():
        raise MissingWeightsError(f"decoder {spec!r} is neither a folder, a decoder preset, a file, nor a hub file "
                                  f"in the {store().location}")
    if config is None:
        raise MissingWeightsError(f"decoder file {spec} needs its config: set decoder_config (B, L, XL or a mapping)")
    return load_model(path, config)


def load_latent_stats(spec: str | None, shape: tuple[int, int, int]):
    """(mean, var) for normalization from a stat.pt / safetensors path or a stats preset; (None, None)
    when `spec` is None."""
    if spec is None:
        return None, None
    path = Path(spec)
    if not path.is_file():
        preset = MODELS.get(spec)
        found = cached_preset(preset) if preset is not None and preset.kind == "stats" else None
        found = found or _hub_reference(spec)
        if found is None:
            hint = (f" Get it with {_preset_hint(preset)}." if preset is not None else
                    f" Looked for a local file and in the {store().location}; compute it with "
                    "`python -m rae_torch.train stats --config ...`.")
            raise MissingWeightsError(f"latent statistics {spec!r} not found.{hint}")
        path = found
    return load_stats(path, shape)


# ----------------------------------------------------------------------------------- GAN / LPIPS pieces

VGG16_FILE = "vgg16-397923af.pth"
DINO_DISC_FILE = "discs/dino_vit_small_patch8_224.pth"


def _first_existing(candidates: list[Path | None]) -> Path | None:
    return next((p for p in candidates if p is not None and p.is_file()), None)


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        return unwrap_state_dict(read_checkpoint(path), path)
    except CheckpointError as e:
        raise MissingWeightsError(str(e)) from e


def vgg16_weights(explicit: str | None) -> dict[str, torch.Tensor]:
    """torchvision's VGG16 ImageNet state dict ('features.N.weight' keys), from `explicit` or the torch
    hub cache."""
    hub = Path(torch.hub.get_dir()) / "checkpoints" / VGG16_FILE
    found = _first_existing([Path(explicit) if explicit else None, hub])
    if found is None:
        raise MissingWeightsError(
            f"LPIPS needs torchvision's VGG16 ImageNet weights ({VGG16_FILE}); looked at "
            f"{explicit or '(lpips.vgg_weights unset)'} and {hub}. Download "
            f"https://download.pytorch.org/models/{VGG16_FILE} into {hub.parent} or set lpips.vgg_weights; "
            "or set loss.perceptual_weight: 0 to train without LPIPS.")
    return {k: v for k, v in _state_dict(found).items() if k.startswith("features.")}


def lpips_lin_weights(explicit: str | None) -> dict[str, torch.Tensor]:
    """The LPIPS v0.1 VGG 'lin' layers ('lin{i}.model.1.weight'), from `explicit`, ~/.cache/rae/lpips,
    or an installed `lpips` package."""
    candidates: list[Path | None] = [Path(explicit) if explicit else None,
                                     Path(os.path.expanduser("~/.cache/rae/lpips/vgg.pth"))]
    spec = importlib.util.find_spec("lpips")
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "weights" / "v0.1" / "vgg.pth")
    found = _first_existing(candidates)
    if found is None:
        raise MissingWeightsError(
            "LPIPS needs its VGG 'lin' weights (vgg.pth, md5 d507d7349b931f0638a25a48a722f98a); looked at "
            + ", ".join(str(p) for p in candidates if p is not None)
            + ". `pip install lpips` ships them, or set lpips.lin_weights.")
    return _state_dict(found)


def dino_backbone_weights(explicit: str | None) -> dict[str, torch.Tensor]:
    """The DINO ViT-S/8 state dict of the discriminator (timm / DINO key names)."""
    candidates = [Path(explicit) if explicit else None, Path("models") / DINO_DISC_FILE, hub_cached(RAE_REPO,
                                                                                                   DINO_DISC_FILE)]
    found = _first_existing(candidates)
    if found is None:
        raise MissingWeightsError(
            f"the discriminator needs the DINO ViT-S/8 backbone ({DINO_DISC_FILE}); looked at "
            f"{explicit or '(disc.backbone unset)'}, models/{DINO_DISC_FILE} and {RAE_REPO} in the "
            f"{store().location}. "
            f"Get it with {_hub_hint(RAE_REPO, DINO_DISC_FILE)} or set disc.backbone; or set loss.disc_weight: 0 "
            "to train without the GAN.")
    return _state_dict(found)
