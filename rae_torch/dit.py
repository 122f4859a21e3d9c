"""DiT^DH (`DiTwDDTHead`) and the plain LightningDiT, velocity models on RAE latents.

DiT^DH runs a DiT body of width D_enc over the noisy latent (tokens s, conditioned per sample on
c = SiLU(t_emb + y_emb)), then a wide, shallow head of width D_dec over a second embedding of the same
latent (tokens x, RoPE only), conditioned *per token* on s' = proj(SiLU(t_emb + s)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rae_spec.configs import DiTDHConfig, LightningDiTConfig
from rae_spec.guidance import combine
from rae_spec.tables import sincos_2d

from .layers import DiTBlock, FinalLayer, LabelEmbedder, PatchEmbed, RoPE2D, TimestepEmbedder, unpatchify
from .sampling import OPS


def _blocks(cfg, widths_heads) -> nn.ModuleList:
    return nn.ModuleList(
        DiTBlock(d, h, cfg.mlp_ratio, cfg.use_qknorm, cfg.use_swiglu, cfg.use_rmsnorm, cfg.wo_shift)
        for d, h in widths_heads
    )


def _init_dit(model: nn.Module, embedders: tuple[PatchEmbed, ...]) -> None:
    """Special cases shared by both DiTs: patch embedders initialized like a Linear (Xavier on the
    flattened kernel), label table and time MLP N(0, 0.02), adaLN and output layers zero."""
    for emb in embedders:
        nn.init.xavier_uniform_(emb.proj.weight.data.view(emb.proj.weight.shape[0], -1))
        nn.init.zeros_(emb.proj.bias)
    nn.init.normal_(model.y_embedder.embedding_table.weight, std=0.02)
    nn.init.normal_(model.t_embedder.mlp[0].weight, std=0.02)
    nn.init.normal_(model.t_embedder.mlp[2].weight, std=0.02)
    for block in model.blocks:
        nn.init.zeros_(block.adaLN_modulation[-1].weight)
        nn.init.zeros_(block.adaLN_modulation[-1].bias)
    for layer in (model.final_layer.adaLN_modulation[-1], model.final_layer.linear):
        nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)


class DiTDH(nn.Module):
    def __init__(self, config: DiTDHConfig):
        super().__init__()
        self.config = c = config
        De, Dd = c.hidden_size
        he, hd = c.num_heads
        if c.use_pos_embed:
            self.pos_embed = nn.Parameter(torch.from_numpy(sincos_2d(De, c.grid_size))[None], requires_grad=False)
        else:
            self.pos_embed = None
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

    def initialize_weights(self) -> None:
        """Training-from-scratch init of the reference (PyTorch Linear defaults elsewhere)."""
        _init_dit(self, (self.x_embedder, self.s_embedder))

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor,
                force_drop_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Velocity for latents x (B, C, H, W) at flow times t (B,) with labels y (B,).
        x may stay float32 for a half-precision model: it is cast on entry and the velocity cast back.

        `force_drop_ids` (B,), 1 = replace the label by the null class, lets a trainer decide the class
        dropout itself (per-sample seeded) instead of the label embedder's own draw in train mode."""
        c = self.config
        out_dtype, x = x.dtype, x.to(self.x_embedder.proj.weight.dtype)
        t_emb = self.t_embedder(t)
        y_emb = self.y_embedder(y, self.training, force_drop_ids)
        cond = F.silu(t_emb + y_emb)

        s = self.s_embedder(x)
        if self.pos_embed is not None:
            s = s + self.pos_embed.to(s.dtype)
        for block in self.blocks[: c.depth[0]]:
            s = block(s, cond, self.enc_feat_rope)
        s = self.s_projector(F.silu(t_emb.unsqueeze(1) + s))

        h = self.x_embedder(x)
        for block in self.blocks[c.depth[0]:]:
            h = block(h, s, self.dec_feat_rope)
        h = self.final_layer(h, s)
        return unpatchify(h, c.in_channels, c.patch_size).to(out_dtype)

    # Reference-compatible guidance entry points (doubled-batch semantics of `DiTwDDTHead`). The
    # samplers use `rae_torch.sampling.guided_velocity`, which does the same work without waste.

    def forward_with_cfg(self, x, t, y, cfg_scale: float, cfg_interval=(0.0, 1.0)) -> torch.Tensor:
        """x, t, y are [cond half; null half]; only x's first half is read (as in the reference)."""
        half = x[: len(x) // 2]
        out = self.forward(torch.cat([half, half]), t, y)
        cond, uncond = out.chunk(2)
        guided = combine(OPS, t[: len(t) // 2], cond, uncond, cfg_scale, cfg_interval)
        return torch.cat([guided, guided])

    def forward_with_autoguidance(self, x, t, y, cfg_scale: float, additional_model_forward,
                                  cfg_interval=(0.0, 1.0)) -> torch.Tensor:
        main = self.forward(x, t, y)
        guide = additional_model_forward(x, t, y)
        return combine(OPS, t, main, guide, cfg_scale, cfg_interval)


class LightningDiT(nn.Module):
    """One DiT stack with conditioning c = t_emb + y_emb (no extra SiLU, unlike DiT^DH)."""

    def __init__(self, config: LightningDiTConfig):
        super().__init__()
        self.config = c = config
        D = c.hidden_size
        self.pos_embed = nn.Parameter(torch.from_numpy(sincos_2d(D, c.grid_size))[None], requires_grad=False)
        self.x_embedder = PatchEmbed(c.in_channels, D, c.patch_size)
        self.t_embedder = TimestepEmbedder(D)
        self.y_embedder = LabelEmbedder(c.num_classes, D, c.class_dropout_prob)
        self.feat_rope = RoPE2D(D // c.num_heads, c.grid_size) if c.use_rope else None
        self.blocks = _blocks(c, [(D, c.num_heads)] * c.depth)
        self.final_layer = FinalLayer(D, c.patch_size**2 * c.out_channels, c.use_rmsnorm)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """The reference's init: Xavier-uniform for every Linear first, then the DiT special cases."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        _init_dit(self, (self.x_embedder,))

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor,
                force_drop_ids: torch.Tensor | None = None) -> torch.Tensor:
        c = self.config
        out_dtype, x = x.dtype, x.to(self.x_embedder.proj.weight.dtype)
        h = self.x_embedder(x) + self.pos_embed.to(x.dtype)
        cond = self.t_embedder(t) + self.y_embedder(y, self.training, force_drop_ids)
        for block in self.blocks:
            h = block(h, cond, self.feat_rope)
        out = unpatchify(self.final_layer(h, cond), c.out_channels, c.patch_size).to(out_dtype)
        return out[:, : c.in_channels] if c.learn_sigma else out


def build_dit(config: DiTDHConfig | LightningDiTConfig) -> DiTDH | LightningDiT:
    if isinstance(config, DiTDHConfig):
        return DiTDH(config)
    if isinstance(config, LightningDiTConfig):
        return LightningDiT(config)
    raise TypeError(f"not a DiT config: {type(config).__name__}")
