"""The state-dict contract: which tensors (name -> shape, PyTorch layout) a config's checkpoint holds.

`expected_parameters(config)` lists the keys of the *official* file for that config, in state-dict
order, exactly as the released checkpoints (and the HF encoder files) spell them. Some of those keys
are never used by RAE (the encoders' final-LayerNorm affine, DINOv2's mask token, SigLIP's pooling
head); `unused_parameters(config)` names them: a file may hold or lack them, and loaders drop them.
`model_parameters(config)` is what our modules hold, in both backends: expected minus unused.
"""

from __future__ import annotations

from typing import Any

from .configs import DecoderConfig, DiTDHConfig, EncoderConfig, LightningDiTConfig, RAEConfig, StatsConfig

Shape = tuple[int, ...]


def linear(out: dict, name: str, n_out: int, n_in: int, bias: bool = True) -> None:
    out[f"{name}.weight"] = (n_out, n_in)
    if bias:
        out[f"{name}.bias"] = (n_out,)


def norm(out: dict, name: str, dim: int, bias: bool = True) -> None:
    out[f"{name}.weight"] = (dim,)
    if bias:
        out[f"{name}.bias"] = (dim,)


def vit_mae_layer(out: dict, pre: str, D: int, F: int, qkv_bias: bool = True) -> None:
    """The keys of one HF ViT / ViT-MAE layer (the MAE encoder's and the RAE decoder's layers)."""
    for n in ("query", "key", "value"):
        linear(out, f"{pre}.attention.attention.{n}", D, D, qkv_bias)
    linear(out, f"{pre}.attention.output.dense", D, D)
    linear(out, f"{pre}.intermediate.dense", F, D)
    linear(out, f"{pre}.output.dense", D, F)
    norm(out, f"{pre}.layernorm_before", D)
    norm(out, f"{pre}.layernorm_after", D)


# ---------------------------------------------------------------------------------------------- decoder


def _decoder(c: DecoderConfig) -> dict[str, Shape]:
    D = c.hidden_size
    out: dict[str, Shape] = {
        "decoder_pos_embed": (1, c.num_patches + 1, D),
        "trainable_cls_token": (1, 1, D),
    }
    linear(out, "decoder_embed", D, c.latent_dim)
    for i in range(c.num_layers):
        vit_mae_layer(out, f"decoder_layers.{i}", D, c.intermediate_size)
    norm(out, "decoder_norm", D)
    linear(out, "decoder_pred", c.patch_size**2 * c.num_channels, D)
    return out


# ---------------------------------------------------------------------------------------------- DiTs


def swiglu_hidden(width: int, mlp_ratio: float) -> int:
    """int(2/3 * int(width * mlp_ratio)), no rounding to a multiple (5461 for width 2048)."""
    return int(2 / 3 * int(width * mlp_ratio))


def _dit_block(out: dict, pre: str, D: int, heads: int, cfg: Any) -> None:
    if cfg.use_rmsnorm:
        out[f"{pre}.norm1.weight"] = (D,)
        out[f"{pre}.norm2.weight"] = (D,)
    linear(out, f"{pre}.attn.qkv", 3 * D, D)
    if cfg.use_qknorm:
        norm(out, f"{pre}.attn.q_norm", D // heads, bias=not cfg.use_rmsnorm)
        norm(out, f"{pre}.attn.k_norm", D // heads, bias=not cfg.use_rmsnorm)
    linear(out, f"{pre}.attn.proj", D, D)
    if cfg.use_swiglu:
        H = swiglu_hidden(D, cfg.mlp_ratio)
        linear(out, f"{pre}.mlp.w12", 2 * H, D)
        linear(out, f"{pre}.mlp.w3", D, H)
    else:
        H = int(D * cfg.mlp_ratio)
        linear(out, f"{pre}.mlp.fc1", H, D)
        linear(out, f"{pre}.mlp.fc2", D, H)
    linear(out, f"{pre}.adaLN_modulation.1", (4 if cfg.wo_shift else 6) * D, D)


def _embedders(out: dict, cfg: Any, D_t: int) -> None:
    out["t_embedder.W"] = (256,)
    linear(out, "t_embedder.mlp.0", D_t, 512)
    linear(out, "t_embedder.mlp.2", D_t, D_t)
    rows = cfg.num_classes + (1 if cfg.class_dropout_prob > 0 else 0)
    out["y_embedder.embedding_table.weight"] = (rows, D_t)


def _final_layer(out: dict, cfg: Any, D: int, out_channels: int) -> None:
    if cfg.use_rmsnorm:
        out["final_layer.norm_final.weight"] = (D,)
    linear(out, "final_layer.linear", cfg.patch_size**2 * out_channels, D)
    linear(out, "final_layer.adaLN_modulation.1", 2 * D, D)


def _ditdh(c: DiTDHConfig) -> dict[str, Shape]:
    De, Dd = c.hidden_size
    he, hd = c.num_heads
    p, C, N = c.patch_size, c.in_channels, c.num_tokens
    out: dict[str, Shape] = {}
    if c.use_pos_embed:
        out["pos_embed"] = (1, N, De)
    out["x_embedder.proj.weight"] = (Dd, C, p, p)
    out["x_embedder.proj.bias"] = (Dd,)
    out["s_embedder.proj.weight"] = (De, C, p, p)
    out["s_embedder.proj.bias"] = (De,)
    if De != Dd:
        linear(out, "s_projector", Dd, De)
    _embedders(out, c, De)
    _final_layer(out, c, Dd, C)
    if c.use_rope:
        for name, width, heads in (("enc_feat_rope", De, he), ("dec_feat_rope", Dd, hd)):
            out[f"{name}.freqs_cos"] = (N, width // heads)
            out[f"{name}.freqs_sin"] = (N, width // heads)
    for i in range(c.depth[0] + c.depth[1]):
        body = i < c.depth[0]
        _dit_block(out, f"blocks.{i}", De if body else Dd, he if body else hd, c)
    return out


def _lightning_dit(c: LightningDiTConfig) -> dict[str, Shape]:
    D, p, C, N = c.hidden_size, c.patch_size, c.in_channels, c.num_tokens
    out: dict[str, Shape] = {"pos_embed": (1, N, D), "x_embedder.proj.weight": (D, C, p, p),
                             "x_embedder.proj.bias": (D,)}
    _embedders(out, c, D)
    if c.use_rope:
        out["feat_rope.freqs_cos"] = (N, D // c.num_heads)
        out["feat_rope.freqs_sin"] = (N, D // c.num_heads)
    for i in range(c.depth):
        _dit_block(out, f"blocks.{i}", D, c.num_heads, c)
    _final_layer(out, c, D, c.out_channels)
    return out


def _stats(c: StatsConfig) -> dict[str, Shape]:
    out: dict[str, Shape] = {}
    if c.has_mean:
        out["mean"] = c.shape
    out["var"] = c.shape
    return out


# ---------------------------------------------------------------------------------------------- API


def expected_parameters(config: Any) -> dict[str, Shape]:
    """{name: shape} of the official checkpoint for `config`, in state-dict order (PyTorch layout).
    Encoders: their kind's record (rae_spec.encoders) holds the manifest.

    For an RAEConfig the encoder keys are prefixed `encoder.` and the decoder keys `decoder.` (our
    RAE module's layout).
    """
    if isinstance(config, EncoderConfig):
        return config.record.manifest(config)
    if isinstance(config, DecoderConfig):
        return _decoder(config)
    if isinstance(config, DiTDHConfig):
        return _ditdh(config)
    if isinstance(config, LightningDiTConfig):
        return _lightning_dit(config)
    if isinstance(config, StatsConfig):
        return _stats(config)
    if isinstance(config, RAEConfig):
        out = {f"encoder.{k}": v for k, v in expected_parameters(config.encoder).items()}
        out.update({f"decoder.{k}": v for k, v in expected_parameters(config.decoder).items()})
        return out
    raise TypeError(f"no parameter manifest for {type(config).__name__}")


def unused_parameters(config: Any) -> set[str]:
    """Keys an official file may hold that the model never uses (safe to drop, safe to be absent)."""
    if isinstance(config, EncoderConfig):
        prefixes = config.record.unused
        return {k for k in expected_parameters(config) if any(k == p or (p.endswith(".") and k.startswith(p))
                                                               for p in prefixes)}
    if isinstance(config, RAEConfig):
        return {f"encoder.{k}" for k in unused_parameters(config.encoder)}
    return set()


def optional_parameters(config: Any) -> set[str]:
    """Used keys that a file may lack, with the reference's fallback: a decoder without
    `trainable_cls_token` decodes with a zero CLS token (the official loader is non-strict)."""
    if isinstance(config, DecoderConfig):
        return {"trainable_cls_token"}
    if isinstance(config, RAEConfig):
        return {"decoder.trainable_cls_token"}
    return set()


def model_parameters(config: Any) -> dict[str, Shape]:
    """{name: shape} our modules hold (both backends, PyTorch layout): expected minus unused."""
    unused = unused_parameters(config)
    return {k: v for k, v in expected_parameters(config).items() if k not in unused}


BUFFERS = ("freqs_cos", "freqs_sin")  # RoPE tables: persistent buffers, not parameters
# Tensors that stay float32 in half-precision models: tables whose precision matters (RoPE angles, the random
# Fourier frequencies of the time embedding).
KEEP_FLOAT32 = ("freqs_cos", "freqs_sin", "t_embedder.W")


def keeps_float32(key: str) -> bool:
    return any(key.endswith(s) for s in KEEP_FLOAT32)

FIXED = ("pos_embed", "decoder_pos_embed", "W")  # parameters with requires_grad=False in the reference


def parameter_count(config: Any, trainable_only: bool = False) -> int:
    """Values in the reference module's `parameters()` (all tensors of the official file except the
    RoPE buffers); trainable_only also drops the fixed tables (pos tables, the time embedding's W)."""
    total = 0
    for k, shape in expected_parameters(config).items():
        leaf = k.split(".")[-1]
        if leaf in BUFFERS or (trainable_only and leaf in FIXED):
            continue
        n = 1
        for s in shape:
            n *= s
        total += n
    return total
