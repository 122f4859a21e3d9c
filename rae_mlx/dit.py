"""DiT^DH (`DiTwDDTHead`) and the plain LightningDiT, velocity models on RAE latents, in MLX.

DiT^DH runs a DiT body of width D_enc over the noisy latent (tokens s, conditioned per sample on
c = SiLU(t_emb + y_emb)), then a wide, shallow head of width D_dec over a second embedding of the same
latent (tokens x, RoPE only), conditioned *per token* on s' = proj(SiLU(t_emb + s)).
Latents are NCHW (B, C, H, W) in and out, like rae_torch; a half-precision model takes float32 latents
and returns the velocity in the input's dtype.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from rae_spec.configs import DiTDHConfig, LightningDiTConfig
from rae_spec.guidance import combine
from rae_spec.tables import sincos_2d

from .layers import DiTBlock, FinalLayer, LabelEmbedder, PatchEmbed, RoPE2D, TimestepEmbedder, as_array, unpatchify
from .sampling import OPS


def _blocks(cfg, widths_heads) -> list[DiTBlock]:
    return [DiTBlock(d, h, cfg.mlp_ratio, cfg.use_qknorm, cfg.use_swiglu, cfg.use_rmsnorm, cfg.wo_shift)
            for d, h in widths_heads]


FIXED = ["pos_embed", "W", "freqs_cos", "freqs_sin"]  # tables the reference never trains


def _zero(layer: nn.Linear) -> None:
    layer.weight = mx.zeros_like(layer.weight)
    layer.bias = mx.zeros_like(layer.bias)


def _init_common(model) -> None:
    """The reference's training-from-scratch init of the special layers (shared by both DiTs)."""
    xavier = nn.init.glorot_uniform()
    embedders = [model.x_embedder] + ([model.s_embedder] if "s_embedder" in model else [])
    for emb in embedders:
        w = emb.proj.weight
        emb.proj.weight = xavier(mx.zeros((w.shape[0], w.size // w.shape[0]))).reshape(w.shape)
        emb.proj.bias = mx.zeros_like(emb.proj.bias)
    table = model.y_embedder.embedding_table
    table.weight = mx.random.normal(table.weight.shape) * 0.02
    for layer in (model.t_embedder.mlp[0], model.t_embedder.mlp[2]):
        layer.weight = mx.random.normal(layer.weight.shape) * 0.02
    for block in model.blocks:
        _zero(block.adaLN_modulation[1])
    _zero(model.final_layer.adaLN_modulation[1])
    _zero(model.final_layer.linear)
    model.freeze(keys=FIXED, strict=False)


def _drop_ids(ids):
    return None if ids is None else as_array(ids)


def _inputs(model, x, t, y):
    x, t, y = as_array(x), as_array(t), as_array(y)
    return x.dtype, x.astype(model.dtype), t.astype(mx.float32), y


class DiTDH(nn.Module):
    def __init__(self, config: DiTDHConfig):
        super().__init__()
        self.config = c = config
        De, Dd = c.hidden_size
        he, hd = c.num_heads
        self.pos_embed = mx.array(sincos_2d(De, c.grid_size))[None] if c.use_pos_embed else None
        self.x_embedder = PatchEmbed(c.in_channels, Dd, c.patch_size)
        self.s_embedder = PatchEmbed(c.in_channels, De, c.patch_size)
        self.s_projector = nn.Linear(De, Dd) if De != Dd else nn.Identity()
        self.t_embedder = TimestepEmbedder(De)
        self.y_embedder = LabelEmbedder(c.num_classes, De, c.class_dropout_prob)
        self.final_layer = FinalLayer(Dd, c.patch_size**2 * c.in_channels, c.use_rmsnorm)
        if c.use_rope:
            self.enc_feat_rope = RoPE2D(De // he, c.grid_size)
            self.dec_feat_rope = RoPE2D(Dd // hd, c.grid_size)
        else:
            self.enc_feat_rope = self.dec_feat_rope = None
        self.blocks = _blocks(c, [(De, he)] * c.depth[0] + [(Dd, hd)] * c.depth[1])
        self.initialize_weights()
        self.eval()

    def initialize_weights(self) -> None:
        """Training-from-scratch init of the reference (MLX Linear defaults elsewhere); fixed tables frozen."""
        _init_common(self)

    @property
    def dtype(self) -> mx.Dtype:
        """The compute dtype (that of the embedders, which are never quantized)."""
        return self.x_embedder.proj.weight.dtype

    def __call__(self, x, t, y, force_drop_ids=None) -> mx.array:
        """Velocity for latents x (B, C, H, W) at flow times t (B,) with labels y (B,). `force_drop_ids`
        (B,), 1 = use the null class, lets a trainer decide the class dropout itself."""
        c = self.config
        out_dtype, x, t, y = _inputs(self, x, t, y)
        t_emb = self.t_embedder(t)
        y_emb = self.y_embedder(y, self.training, _drop_ids(force_drop_ids))
        cond = nn.silu(t_emb + y_emb)

        s = self.s_embedder(x)
        if self.pos_embed is not None:
            s = s + self.pos_embed.astype(s.dtype)
        for block in self.blocks[: c.depth[0]]:
            s = block(s, cond, self.enc_feat_rope)
        s = self.s_projector(nn.silu(t_emb[:, None] + s))

        h = self.x_embedder(x)
        for block in self.blocks[c.depth[0]:]:
            h = block(h, s, self.dec_feat_rope)
        h = self.final_layer(h, s)
        return unpatchify(h, c.in_channels, c.patch_size).astype(out_dtype)

    # Reference-compatible guidance entry points (doubled-batch semantics of `DiTwDDTHead`). The
    # samplers use `rae_mlx.sampling.guided_velocity`, which does the same work without waste.

    def forward_with_cfg(self, x, t, y, cfg_scale: float, cfg_interval=(0.0, 1.0)) -> mx.array:
        """x, t, y are [cond half; null half]; only x's first half is read (as in the reference)."""
        x, t = as_array(x), as_array(t)
        half = x[: x.shape[0] // 2]
        out = self(mx.concatenate([half, half]), t, y)
        cond, uncond = mx.split(out, 2)
        guided = combine(OPS, t[: t.shape[0] // 2], cond, uncond, cfg_scale, cfg_interval)
        return mx.concatenate([guided, guided])

    def forward_with_autoguidance(self, x, t, y, cfg_scale: float, additional_model_forward,
                                  cfg_interval=(0.0, 1.0)) -> mx.array:
        main = self(x, t, y)
        guide = additional_model_forward(x, t, y)
        return combine(OPS, as_array(t), main, guide, cfg_scale, cfg_interval)


class LightningDiT(nn.Module):
    """One DiT stack with conditioning c = t_emb + y_emb (no extra SiLU, unlike DiT^DH)."""

    def __init__(self, config: LightningDiTConfig):
        super().__init__()
        self.config = c = config
        D = c.hidden_size
        self.pos_embed = mx.array(sincos_2d(D, c.grid_size))[None]
        self.x_embedder = PatchEmbed(c.in_channels, D, c.patch_size)
        self.t_embedder = TimestepEmbedder(D)
        self.y_embedder = LabelEmbedder(c.num_classes, D, c.class_dropout_prob)
        self.feat_rope = RoPE2D(D // c.num_heads, c.grid_size) if c.use_rope else None
        self.blocks = _blocks(c, [(D, c.num_heads)] * c.depth)
        self.final_layer = FinalLayer(D, c.patch_size**2 * c.out_channels, c.use_rmsnorm)
        self.initialize_weights()
        self.eval()

    def initialize_weights(self) -> None:
        """Xavier-uniform Linear layers with zero bias first (as the reference), then the special cases."""
        xavier = nn.init.glorot_uniform()
        for _, m in self.named_modules():
            if isinstance(m, nn.Linear):
                m.weight = xavier(m.weight)
                m.bias = mx.zeros_like(m.bias)
        _init_common(self)

    @property
    def dtype(self) -> mx.Dtype:
        return self.x_embedder.proj.weight.dtype

    def __call__(self, x, t, y, force_drop_ids=None) -> mx.array:
        c = self.config
        out_dtype, x, t, y = _inputs(self, x, t, y)
        h = self.x_embedder(x) + self.pos_embed.astype(x.dtype)
        cond = self.t_embedder(t) + self.y_embedder(y, self.training, _drop_ids(force_drop_ids))
        for block in self.blocks:
            h = block(h, cond, self.feat_rope)
        out = unpatchify(self.final_layer(h, cond), c.out_channels, c.patch_size).astype(out_dtype)
        return out[:, : c.in_channels] if c.learn_sigma else out


def build_dit(config: DiTDHConfig | LightningDiTConfig) -> DiTDH | LightningDiT:
    if isinstance(config, DiTDHConfig):
        return DiTDH(config)
    if isinstance(config, LightningDiTConfig):
        return LightningDiT(config)
    raise TypeError(f"not a DiT config: {type(config).__name__}")
