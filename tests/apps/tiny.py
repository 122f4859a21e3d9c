"""Tiny random models written in the released file formats, with weights drawn from numpy (so the same
seed gives the same files on every torch version), an HF-cache builder laid out exactly like
huggingface_hub's, and a reference-style sampling YAML pointing at the files.

Layouts written (reference-spec §4): the DiT as a raw state dict, the guide as {'ema': ..., 'model': ...},
the decoder as a raw state dict without `trainable_cls_token`, stat.pt as {'mean': None, 'var': ...},
the encoder as an HF folder (config.json, preprocessor_config.json, model.safetensors).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np

from rae_spec.configs import DecoderConfig, DiTDHConfig, EncoderConfig, RAEConfig, StatsConfig, to_dict
from rae_spec.parameters import BUFFERS, expected_parameters

C, GRID, PATCH = 32, 4, 14  # latent channels, latent grid, encoder patch
ENCODER = EncoderConfig(kind="dinov2", hidden_size=C, num_layers=1, num_heads=2, intermediate_size=64,
                        patch_size=PATCH, image_size=70, hf_repo="facebook/dinov2-with-registers-base")
DECODER = DecoderConfig(hidden_size=48, num_layers=2, num_heads=2, intermediate_size=64, latent_dim=C,
                        num_patches=GRID * GRID, patch_size=4)  # 16 px images
RAE = RAEConfig(encoder=ENCODER, decoder=DECODER, encoder_input_size=GRID * PATCH)
DIT = DiTDHConfig(input_size=GRID, in_channels=C, hidden_size=(32, 48), depth=(2, 1), num_heads=(2, 2))
GUIDE = DiTDHConfig(input_size=GRID, in_channels=C, hidden_size=(16, 48), depth=(1, 1), num_heads=(2, 2))
STATS = StatsConfig(C, GRID, has_mean=False)
# The other two released RAEs (reconstruction only): SigLIP2 and MAE towers, with mean-and-var stats.
SIGLIP = EncoderConfig(kind="siglip2", hidden_size=C, num_layers=1, num_heads=2, intermediate_size=64, patch_size=4,
                       image_size=12, num_register_tokens=0, hidden_act="gelu_tanh", image_mean=(0.5, 0.5, 0.5),
                       image_std=(0.5, 0.5, 0.5), hf_repo="google/siglip2-base-patch16-256")
MAE = EncoderConfig(kind="mae", hidden_size=C, num_layers=1, num_heads=2, intermediate_size=64, patch_size=4,
                    image_size=20, num_register_tokens=0, layer_norm_eps=1e-12, hf_repo="facebook/vit-mae-base")
OTHER_ENCODERS = {"siglip2-b": (SIGLIP, "decoders/siglip2/base_p16_i256/ViTXL_n08/model.pt",
                                "stats/siglip2/base_p16_i256/ImageNet1k/stat.pt"),
                  "mae-b": (MAE, "decoders/mae/base_p16/ViTXL_n08/model.pt", "stats/mae/base_p16/ImageNet1k/stat.pt")}
SHIFT_DIM = C * GRID * GRID * 48  # shift sqrt(6): above 1, as the reference requires


def _fixed_tables(config) -> dict[str, np.ndarray]:
    """Tables the modules compute (sin-cos, RoPE): taken from rae_torch so the files hold exact values."""
    from rae_torch import build_model

    sd = build_model(config).state_dict()
    return {k: v.numpy() for k, v in sd.items() if k.split(".")[-1] in BUFFERS or k.split(".")[-1]
            in ("pos_embed", "decoder_pos_embed")}


def random_weights(config, seed: int) -> dict[str, np.ndarray]:
    """Every tensor of the official file for `config`, random (fan-in scaled) except the fixed tables."""
    rng = np.random.default_rng(seed)
    fixed = _fixed_tables(config) if not isinstance(config, EncoderConfig) else {}
    out = {}
    for k, shape in expected_parameters(config).items():
        if k in fixed:
            out[k] = fixed[k].astype(np.float32)
            continue
        leaf = k.split(".")[-1]
        if len(shape) >= 2:
            scale = 1.0 / math.sqrt(math.prod(shape[1:]))
            if "embedding_table" in k or "position" in k or "token" in k:
                scale = 0.5
            value = rng.standard_normal(shape) * scale
        elif leaf == "W":
            value = rng.standard_normal(shape)
        elif "norm" in k and leaf == "weight" or leaf.startswith("lambda"):
            value = 1.0 + 0.1 * rng.standard_normal(shape)
        else:
            value = 0.05 * rng.standard_normal(shape)
        out[k] = value.astype(np.float32)
    return out


def _torch(sd: dict[str, np.ndarray]):
    import torch

    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}


def write_released(root: Path, seed: int = 0) -> dict[str, Path]:
    """The five released artifacts under `root`, in the repo layout of nyu-visionx/RAE-collections
    (files) and of facebook/dinov2-with-registers-base (encoder folder). Returns their paths."""
    import torch
    from safetensors.numpy import save_file

    root = Path(root)
    paths = {
        "dit": root / "DiTs/Dinov2/wReg_base/ImageNet256/DiTDH-XL/stage2_model.pt",
        "guide": root / "DiTs/Dinov2/wReg_base/ImageNet256/DiTDH-S_ep14/stage2_model.pt",
        "decoder": root / "decoders/dinov2/wReg_base/ViTXL_n08/model.pt",
        "stats": root / "stats/dinov2/wReg_base/imagenet1k/stat.pt",
        "encoder": root / "encoder",
        "decoder_config": root / "decoder_config",
    }
    for p in paths.values():
        (p if p.suffix == "" else p.parent).mkdir(parents=True, exist_ok=True)
    torch.save(_torch(random_weights(DIT, seed + 1)), paths["dit"])
    guide = _torch(random_weights(GUIDE, seed + 2))
    torch.save({"ema": guide, "model": {k: v + 1 for k, v in guide.items()}, "step": 14}, paths["guide"])
    dec = random_weights(DECODER, seed + 3)
    del dec["trainable_cls_token"]  # allowed to be missing: decodes with a zero CLS token
    torch.save(_torch(dec), paths["decoder"])
    var = np.random.default_rng(seed + 4).uniform(0.5, 2.0, (1, *STATS.shape)).astype(np.float32)
    torch.save({"mean": None, "var": torch.from_numpy(var)}, paths["stats"])
    save_file(random_weights(ENCODER, seed + 5), str(paths["encoder"] / "model.safetensors"))
    (paths["encoder"] / "config.json").write_text(json.dumps(hf_encoder_json(ENCODER), indent=2))
    (paths["encoder"] / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR, indent=2))
    (paths["decoder_config"] / "config.json").write_text(json.dumps(decoder_json(DECODER), indent=2))
    return paths


def write_other_autoencoders(root: Path, seed: int = 10) -> dict[str, dict[str, Path]]:
    """SigLIP2 and MAE RAEs: {name: {"encoder": folder, "decoder": file, "stats": file}} under `root`."""
    import torch
    from safetensors.numpy import save_file

    out = {}
    for k, (name, (enc, dec_path, stats_path)) in enumerate(OTHER_ENCODERS.items()):
        paths = {"encoder": root / name, "decoder": root / dec_path, "stats": root / stats_path}
        for p in paths.values():
            (p if p.suffix == "" else p.parent).mkdir(parents=True, exist_ok=True)
        weights = random_weights(enc, seed + 3 * k)
        if enc.kind == "siglip2":
            weights["text_model.embeddings.token_embedding.weight"] = np.zeros((4, enc.hidden_size), np.float32)
        save_file(weights, str(paths["encoder"] / "model.safetensors"))
        (paths["encoder"] / "config.json").write_text(json.dumps(hf_encoder_json(enc), indent=2))
        torch.save(_torch(random_weights(DECODER, seed + 3 * k + 1)), paths["decoder"])
        rng = np.random.default_rng(seed + 3 * k + 2)
        stats = {"mean": rng.standard_normal(STATS.shape).astype(np.float32),
                 "var": rng.uniform(0.5, 2.0, STATS.shape).astype(np.float32)}
        torch.save(_torch(stats), paths["stats"])
        out[name] = paths
    return out


def hf_encoder_json(e: EncoderConfig) -> dict:
    if e.kind == "siglip2":
        return {"model_type": "siglip", "vision_config": {
            "hidden_size": e.hidden_size, "intermediate_size": e.intermediate_size, "num_hidden_layers": e.num_layers,
            "num_attention_heads": e.num_heads, "image_size": e.image_size, "patch_size": e.patch_size,
            "hidden_act": "gelu_pytorch_tanh", "layer_norm_eps": 1e-6}, "text_config": {}}
    if e.kind == "mae":
        return {"model_type": "vit_mae", "hidden_size": e.hidden_size, "num_hidden_layers": e.num_layers,
                "num_attention_heads": e.num_heads, "intermediate_size": e.intermediate_size,
                "image_size": e.image_size, "patch_size": e.patch_size, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
                "qkv_bias": True, "mask_ratio": 0.75}
    return {"model_type": "dinov2_with_registers", "architectures": ["Dinov2WithRegistersModel"],
            "hidden_size": e.hidden_size, "num_hidden_layers": e.num_layers, "num_attention_heads": e.num_heads,
            "mlp_ratio": e.intermediate_size // e.hidden_size, "patch_size": e.patch_size, "image_size": e.image_size,
            "num_register_tokens": 4, "layer_norm_eps": 1e-6, "hidden_act": "gelu", "qkv_bias": True,
            "layerscale_value": 1.0, "use_swiglu_ffn": False, "num_channels": 3, "drop_path_rate": 0.0,
            "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "initializer_range": 0.02}


PREPROCESSOR = {"image_processor_type": "BitImageProcessor", "image_mean": [0.485, 0.456, 0.406],
                "image_std": [0.229, 0.224, 0.225], "do_normalize": True, "do_rescale": True,
                "rescale_factor": 1 / 255, "do_resize": True, "size": {"shortest_edge": 256},
                "do_center_crop": True, "crop_size": {"height": 224, "width": 224}, "resample": 3,
                "do_convert_rgb": True}


def decoder_json(d: DecoderConfig) -> dict:
    return {"model_type": "vit_mae", "architectures": ["ViTMAEForPreTraining"],
            "decoder_hidden_size": d.hidden_size, "decoder_num_hidden_layers": d.num_layers,
            "decoder_num_attention_heads": d.num_heads, "decoder_intermediate_size": d.intermediate_size,
            "hidden_act": "gelu", "layer_norm_eps": 1e-12, "hidden_size": 768, "num_hidden_layers": 12,
            "num_attention_heads": 12, "intermediate_size": 3072, "image_size": 224, "patch_size": "SHOULD BE RELOADED",
            "num_channels": 3, "qkv_bias": True, "mask_ratio": 0.75, "hidden_dropout_prob": 0.0,
            "attention_probs_dropout_prob": 0.0, "initializer_range": 0.02, "norm_pix_loss": False}


def _dit_params(c: DiTDHConfig) -> dict:
    return {"input_size": c.input_size, "patch_size": c.patch_size, "in_channels": c.in_channels,
            "hidden_size": list(c.hidden_size), "depth": list(c.depth), "num_heads": list(c.num_heads),
            "mlp_ratio": c.mlp_ratio, "class_dropout_prob": c.class_dropout_prob, "num_classes": c.num_classes,
            "use_qknorm": c.use_qknorm, "use_swiglu": c.use_swiglu, "use_rope": c.use_rope,
            "use_rmsnorm": c.use_rmsnorm, "wo_shift": c.wo_shift, "use_pos_embed": c.use_pos_embed}


def sampling_yaml(paths: dict[str, Path], *, method: str = "autoguidance", scale: float = 1.42,
                  t_min: float = 0.0, t_max: float = 1.0, num_steps: int = 50, sampling_method: str = "euler",
                  dashed: bool = True, encoder: str | None = None) -> dict:
    """A sampling config in the reference's schema pointing at the tiny files."""
    enc = encoder or str(paths["encoder"])
    g = {"method": method, "scale": scale, ("t-min" if dashed else "t_min"): t_min,
         ("t-max" if dashed else "t_max"): t_max}
    if method == "autoguidance":
        g["guidance_model"] = {"target": "stage2.models.DDT.DiTwDDTHead", "params": _dit_params(GUIDE),
                               "ckpt": str(paths["guide"])}
    return {
        "stage_1": {"target": "stage1.RAE", "params": {
            "encoder_cls": "Dinov2withNorm", "encoder_config_path": enc, "encoder_input_size": RAE.encoder_input_size,
            "encoder_params": {"dinov2_path": enc, "normalize": True},
            "decoder_config_path": str(paths["decoder_config"]), "decoder_patch_size": DECODER.patch_size,
            "pretrained_decoder_path": str(paths["decoder"]),
            "noise_tau": 0.0, "reshape_to_2d": True, "normalization_stat_path": str(paths["stats"])}},
        "stage_2": {"target": "stage2.models.DDT.DiTwDDTHead", "params": _dit_params(DIT), "ckpt": str(paths["dit"])},
        "transport": {"params": {"path_type": "Linear", "prediction": "velocity", "time_dist_type": "uniform"}},
        "sampler": {"mode": "ODE", "params": {"sampling_method": sampling_method, "num_steps": num_steps,
                                              "atol": 1e-6, "rtol": 1e-3, "reverse": False}},
        "guidance": g,
        "misc": {"latent_size": list(DIT.latent_shape), "num_classes": DIT.num_classes,
                 "time_dist_shift_dim": SHIFT_DIM, "time_dist_shift_base": 4096},
    }


def write_yaml(path: Path, config: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# ------------------------------------------------------------------------------------- HF cache layout


def hub_cache_put(cache: Path, repo: str, files: dict[str, Path], commit: str | None = None) -> Path:
    """Store files in `cache` as huggingface_hub does: models--org--name/blobs/<hash>,
    refs/main -> commit, snapshots/<commit>/<path> -> relative symlink to the blob. Returns the snapshot."""
    folder = Path(cache) / f"models--{repo.replace('/', '--')}"
    commit = commit or hashlib.sha1(repo.encode()).hexdigest()
    (folder / "blobs").mkdir(parents=True, exist_ok=True)
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    snapshot = folder / "snapshots" / commit
    for name, src in files.items():
        data = Path(src).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        blob = folder / "blobs" / digest
        if not blob.exists():
            blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


def presets_override() -> dict:
    """A presets file that keeps the released preset names and files but gives them the tiny configs."""
    dit, guide = to_dict(DIT), to_dict(GUIDE)
    models = {
        "dit-dh-xl-256": {"config": dit}, "dit-dh-s-256-guidance": {"config": guide},
        "decoder-dinov2-b-xl-256": {"config": to_dict(DECODER)}, "stats-dinov2-b-256": {"config": to_dict(STATS)},
        "dinov2-b-reg": {"config": to_dict(ENCODER)},
    }
    transport = {"time_dist_shift_dim": SHIFT_DIM}
    pipelines = {name: {"encoder_input_size": RAE.encoder_input_size, "transport": transport}
                 for name in ("dit-dh-xl-256-ag", "dit-dh-xl-256")}
    aes = {"dinov2-b": {"encoder_input_size": RAE.encoder_input_size}}
    for name, (enc, _, _) in OTHER_ENCODERS.items():
        models[name] = {"config": to_dict(enc)}
        models[f"decoder-{name}-xl-256"] = {"config": to_dict(DECODER)}
        models[f"stats-{name}-256"] = {"config": to_dict(StatsConfig(C, GRID, has_mean=True))}
        aes[name] = {"encoder_input_size": GRID * enc.patch_size}
    return {"models": models, "pipelines": pipelines, "autoencoders": aes}


def digest(paths: dict[str, Path]) -> str:
    """sha256 over every tensor (name, dtype, shape, bytes) of the written artifacts: the same files were
    fed to the reference when the golden images were made."""
    import torch
    from safetensors.numpy import load_file

    h = hashlib.sha256()

    def add(prefix: str, tensors: dict) -> None:
        for k in sorted(tensors):
            v = tensors[k]
            if isinstance(v, dict):
                add(f"{prefix}{k}.", v)
            elif v is not None and hasattr(v, "shape"):
                a = v.numpy() if hasattr(v, "numpy") else np.asarray(v)
                h.update(f"{prefix}{k}|{a.dtype}|{a.shape}".encode())
                h.update(np.ascontiguousarray(a).tobytes())

    for role in ("dit", "guide", "decoder", "stats"):
        add(f"{role}.", torch.load(paths[role], map_location="cpu", weights_only=True))
    add("encoder.", load_file(str(paths["encoder"] / "model.safetensors")))
    for name in ("encoder/config.json", "encoder/preprocessor_config.json", "decoder_config/config.json"):
        h.update(json.dumps(json.loads((paths["encoder"].parent / name).read_text()), sort_keys=True).encode())
    return h.hexdigest()
