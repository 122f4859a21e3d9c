"""Reading every kind of source file into official key names, torch-free.

- torch zip pickles (`model.pt`, `stat.pt`, `stage2_model.pt`, training checkpoints): rae_convert.torch_pickle;
- safetensors files (torch layout unless their metadata says `layout: mlx`);
- HF model folders (config.json + model.safetensors, e.g. an encoder);
- our model folders (config.json with a rae_spec `type` + model.safetensors, any layout);
- diffusers `AutoencoderRAE` folders (config.json + diffusion_pytorch_model.safetensors). Checked against
  diffusers 0.42.1's save_pretrained output (tests/fixtures/diffusers_rae): the encoder's transformers keys sit
  under `encoder.` (development versions wrapped them as `encoder.model.`), the decoder's under `decoder.`
  with diffusers' `Attention` names (`attention.to_q`, ..., `attention.to_out.0`; the reference's
  `attention.attention.query`, ... also accepted), and `decoder_pos_embed` is not stored (it is recomputed,
  with the reference's integer positions: diffusers' own table equals it only at a 16 x 16 latent grid).
  Encoder keys written by transformers >= 5 (`attention.q_proj`, ...) are mapped by their kind's record
  (rae_spec.encoders).
  Latent statistics come as buffers `_latent_mean` / `_latent_var` (the reference's mean / var) or
  `_latents_mean` / `_latents_std` (std = sqrt(var + 1e-5), converted back as var = std^2 - 1e-5).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rae_spec.configs import ConfigError, DecoderConfig, RAEConfig, StatsConfig, from_json
from rae_spec.encoders import encoder_kind
from rae_spec.hf import encoder_config_from_hf, load_encoder_config
from rae_spec.state_dict import CheckpointError, unwrap_state_dict
from rae_spec.tables import sincos_2d

from . import safetensors_io, torch_pickle

DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"
DIFFUSERS_ATTENTION = {"to_q": "attention.query", "to_k": "attention.key", "to_v": "attention.value",
                       "to_out.0": "output.dense"}


@dataclass
class Source:
    """A source's tensors (official key names), in `layout`, plus what was found beside them."""

    path: Path                  # the file read
    kind: str                   # torch-pickle | safetensors | hf-folder | rae-folder | diffusers-rae
    tensors: dict[str, np.ndarray]
    layout: str = "torch"
    metadata: dict[str, str] = field(default_factory=dict)
    config: Any = None          # the config stored beside the weights, if any
    stats: dict[str, np.ndarray] | None = None  # latent statistics carried by the source (diffusers)
    notes: list[str] = field(default_factory=list)

    def sha256(self) -> str:
        h = hashlib.sha256()
        with open(self.path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 24), b""):
                h.update(chunk)
        return h.hexdigest()


def _read_file(path: Path) -> tuple[Any, dict[str, str]]:
    if path.suffix == ".safetensors":
        try:
            return safetensors_io.read(path)
        except safetensors_io.SafetensorsError as e:
            raise CheckpointError(str(e)) from e
    try:
        return torch_pickle.load(path), {}
    except torch_pickle.UnsafeGlobalError as e:
        raise CheckpointError(str(e)) from e
    except torch_pickle.TorchPickleError as e:
        raise CheckpointError(str(e)) from e


def read_stats_object(obj: Any, path: Path) -> dict[str, np.ndarray]:
    """{'mean'?, 'var'?} from a stat.pt-style dict (either may be None or absent)."""
    if not isinstance(obj, dict) or not any(k in obj for k in ("mean", "var")):
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{path} is not a latent statistics file: expected keys 'mean' and/or 'var', "
                              f"found {keys}")
    return {k: np.asarray(obj[k], dtype=np.float32) for k in ("mean", "var") if obj.get(k) is not None}


def open_source(src: str | Path) -> Source:
    """Read `src` (a file or a folder) without torch."""
    src = Path(src)
    if not src.exists():
        raise CheckpointError(f"{src} does not exist")
    if src.is_dir():
        return _open_folder(src)
    obj, metadata = _read_file(src)
    kind = "safetensors" if src.suffix == ".safetensors" else "torch-pickle"
    layout = metadata.get("layout", "torch")
    if isinstance(obj, dict) and set(obj) <= {"mean", "var"}:  # stat.pt (mean may be None)
        return Source(src, kind, read_stats_object(obj, src), layout, metadata)
    return Source(src, kind, unwrap_state_dict(obj, src), layout, metadata)


def _open_folder(folder: Path) -> Source:
    cfg_file = folder / "config.json"
    raw = json.loads(cfg_file.read_text()) if cfg_file.is_file() else {}
    if raw.get("_class_name") == "AutoencoderRAE" or (folder / DIFFUSERS_WEIGHTS).is_file():
        return _open_diffusers(folder, raw)
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"{folder} has no model.safetensors (or {DIFFUSERS_WEIGHTS})")
    tensors, metadata = _read_file(weights)
    if "type" in raw:
        config = from_json(cfg_file.read_text())
        source = Source(weights, "rae-folder", tensors, metadata.get("layout", "torch"), metadata, config)
        if metadata.get("quantization", "none") not in ("", "none"):
            source.kind = "rae-folder (quantized)"
        if (folder / "stats.safetensors").is_file():
            stats, _ = _read_file(folder / "stats.safetensors")
            source.stats = {k: v for k, v in stats.items() if k in ("mean", "var")}
        return source
    config = load_encoder_config(folder) if raw else None
    return Source(weights, "hf-folder", tensors, "torch", metadata, config)


# ---------------------------------------------------------------------------------------------- diffusers


def _diffusers_key(key: str, kind: str) -> str | None:
    """Official RAE-module key for a diffusers AutoencoderRAE key (None: not a model tensor). The encoder is
    the transformers model itself (`encoder.<HF keys>`, diffusers 0.42) or wrapped (`encoder.model.<HF keys>`,
    earlier development versions)."""
    if key.startswith("decoder."):
        for short, full in DIFFUSERS_ATTENTION.items():
            key = key.replace(f".attention.{short}.", f".attention.{full}.")
        return key
    if key.startswith("encoder."):
        rest = key[len("encoder."):]
        if rest.startswith("model."):
            rest = rest[len("model."):]
        prefix = encoder_kind(kind).weight_prefix
        if prefix and not rest.startswith(prefix):
            rest = prefix + rest
        return "encoder." + rest
    return None


def _diffusers_stats(tensors: dict[str, np.ndarray], raw: dict, notes: list[str]) -> dict[str, np.ndarray] | None:
    def pick(*names):
        for n in names:
            if n in tensors:
                return np.asarray(tensors[n], dtype=np.float32)
            if raw.get(n.lstrip("_")) is not None:
                return np.asarray(raw[n.lstrip("_")], dtype=np.float32)
        return None

    mean, var = pick("_latent_mean"), pick("_latent_var")
    if mean is None and var is None:
        mean, std = pick("_latents_mean"), pick("_latents_std")
        if mean is not None and mean.size == 1 and float(mean.ravel()[0]) == 0.0:
            mean = None  # diffusers' placeholder for "no mean"
        if std is not None and std.size == 1 and float(std.ravel()[0]) == 1.0:
            std = None
        if std is not None:
            var = std.astype(np.float64) ** 2 - 1e-5
            var = var.astype(np.float32)
            notes.append("latent variance recovered from diffusers' latents_std as std^2 - 1e-5 (float rounding "
                         "of about 1e-7 relative)")
    out = {k: v for k, v in (("mean", mean), ("var", var)) if v is not None}
    return out or None


def diffusers_config(raw: dict, tensors: dict[str, np.ndarray]) -> RAEConfig:
    """An RAEConfig for a diffusers AutoencoderRAE folder, from its config.json and its tensor shapes."""
    try:
        record = encoder_kind(raw.get("encoder_type", raw.get("encoder_cls", "dinov2")))
    except ConfigError as e:
        raise CheckpointError(f"unsupported diffusers encoder type: {e}") from None
    enc = {k[len("encoder."):]: v for k, v in tensors.items() if k.startswith("encoder.")}
    fc1_names = ("layer.0.mlp.fc1.weight", "layers.0.mlp.fc1.weight", "layer.0.intermediate.dense.weight")
    fc1 = next((v for k, v in enc.items() if k.endswith(fc1_names)), None)
    hidden = int(raw.get("encoder_hidden_size", fc1.shape[1] if fc1 is not None else 768))
    layers = int(raw.get("encoder_num_hidden_layers", 0) or len({k.split(".")[2] for k in enc
                                                                    if ".layer." in k or ".layers." in k}))
    patch = int(raw.get("encoder_patch_size", record.hf_defaults["patch_size"]))
    pos = next((v for k, v in enc.items() if k.endswith("position_embeddings") or
                k.endswith("position_embedding.weight")), None)
    rows = pos.shape[-2] if pos is not None else None
    grid = math.isqrt(rows - int(record.cls_token)) if rows else None  # the table has a CLS row with a CLS token

    def buffer(name: str) -> list[float] | None:  # float32 buffers -> the short decimals they were made from
        return [float(str(np.float32(v))) for v in np.asarray(tensors[name]).ravel()] if name in tensors else None

    mean = raw.get("encoder_norm_mean") or buffer("encoder_mean")
    std = raw.get("encoder_norm_std") or buffer("encoder_std")
    hf = {"model_type": record.hf_model_types[0], "hidden_size": hidden, "num_hidden_layers": layers,
          "num_attention_heads": hidden // 64, "patch_size": patch,
          "intermediate_size": int(fc1.shape[0]) if fc1 is not None else 4 * hidden}
    if grid:
        hf["image_size"] = grid * patch
    pre = {k: v for k, v in (("image_mean", mean), ("image_std", std)) if v is not None}
    encoder = encoder_config_from_hf(hf, pre or None)
    input_size = int(raw.get("encoder_input_size", 224))
    tokens = (input_size // patch) ** 2
    decoder = DecoderConfig(
        hidden_size=int(raw.get("decoder_hidden_size", 512)), num_layers=int(raw.get("decoder_num_hidden_layers", 8)),
        num_heads=int(raw.get("decoder_num_attention_heads", 16)),
        intermediate_size=int(raw.get("decoder_intermediate_size", 2048)), latent_dim=hidden, num_patches=tokens,
        patch_size=int(raw.get("patch_size", 16)), num_channels=int(raw.get("num_channels", 3)))
    return RAEConfig(encoder=encoder, decoder=decoder, encoder_input_size=input_size,
                     noise_tau=float(raw.get("noise_tau", 0.0)), reshape_to_2d=bool(raw.get("reshape_to_2d", True)))


def _open_diffusers(folder: Path, raw: dict) -> Source:
    weights = folder / DIFFUSERS_WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{folder} looks like a diffusers AutoencoderRAE folder but has no {DIFFUSERS_WEIGHTS}")
    tensors, metadata = _read_file(weights)
    config = diffusers_config(raw, tensors)
    notes: list[str] = []
    if float(raw.get("scaling_factor", 1.0)) != 1.0:
        notes.append(f"diffusers scaling_factor {raw['scaling_factor']} is not part of the reference model and is "
                     "dropped")
    mapped = {}
    for key, value in tensors.items():
        new = _diffusers_key(key, config.encoder.kind)
        if new is not None:
            mapped[new] = value
    if "decoder.decoder_pos_embed" not in mapped:  # a non-persistent buffer in diffusers: recomputed there too
        d = config.decoder
        mapped["decoder.decoder_pos_embed"] = sincos_2d(d.hidden_size, d.grid_size, cls_token=True)[None]
        notes.append("decoder_pos_embed is not stored by diffusers; recomputed as the reference's fixed sin-cos "
                     "table")
        if d.grid_size != 16:
            notes.append(f"diffusers scales the table's positions by 16/{d.grid_size} (its base_size), unlike the "
                         "reference; this model follows the reference, so it differs from diffusers' own outputs")
    return Source(weights, "diffusers-rae", mapped, "torch", metadata, config, _diffusers_stats(tensors, raw, notes),
                  notes)


def stats_config(stats: dict[str, np.ndarray]) -> StatsConfig:
    ref = stats.get("var", stats.get("mean"))
    shape = ref.shape[-3:] if ref.ndim >= 3 else (ref.size, 1, 1)
    return StatsConfig(channels=int(shape[0]), grid_size=int(shape[-1]), has_mean="mean" in stats)
