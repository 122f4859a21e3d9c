"""Stage-1 GAN losses and the adaptive GAN weight (VQGAN / taming-transformers recipe)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .distributed import all_reduce_mean


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """1/2 [mean relu(1 - D(real)) + mean relu(1 + D(fake))]."""
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


def vanilla_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """1/2 [mean softplus(-D(real)) + mean softplus(D(fake))]."""
    return 0.5 * (F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean())


def generator_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """-mean D(fake): the reference's 'vanilla' generator loss."""
    return -logits_fake.mean()


D_LOSSES = {"hinge": hinge_d_loss, "vanilla": vanilla_d_loss}


def adaptive_weight(recon: torch.Tensor, gan: torch.Tensor, last_layer: torch.Tensor,
                    max_weight: float = 1e4, sync: bool = False) -> torch.Tensor:
    """lambda = |grad_W recon| / (|grad_W gan| + 1e-6), clamped to [0, max_weight], detached; W the
    decoder's last layer. With `sync`, both gradients are first averaged over ranks, so lambda is the
    global batch's (the reference uses each rank's local gradients)."""
    g_rec = torch.autograd.grad(recon, last_layer, retain_graph=True)[0]
    g_gan = torch.autograd.grad(gan, last_layer, retain_graph=True)[0]
    if sync:
        g_rec, g_gan = all_reduce_mean(g_rec), all_reduce_mean(g_gan)
    weight = torch.norm(g_rec.float()) / (torch.norm(g_gan.float()) + 1e-6)
    return weight.clamp(0.0, max_weight).detach()
