"""Helpers for tests that run the same weights in both backends."""

from __future__ import annotations

import numpy as np

from rae_spec import DecoderConfig, EncoderConfig, RAEConfig

# A tiny RAE (DINOv2-style encoder, 4 x 4 latent grid, 32 px images) for both backends' module tests.
TINY_RAE = RAEConfig(encoder=EncoderConfig(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
                                           image_size=56),
                     decoder=DecoderConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                                           latent_dim=16, num_patches=16, patch_size=8),
                     encoder_input_size=56)


def random_torch_model(config, seed: int = 0, std: float = 0.2):
    """A rae_torch module for `config` with every parameter random (including the zero-initialized ones)."""
    import torch

    from rae_torch import build_model

    torch.manual_seed(seed)
    model = build_model(config)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=std)
    return model.eval()


def mlx_twin(torch_model, config):
    """The rae_mlx module holding torch_model's weights (layouts converted by rae_convert's table)."""
    from rae_mlx.checkpoint import build_model, load_into

    sd = {k: v.detach().float().numpy() for k, v in torch_model.state_dict().items()}
    return load_into(build_model(config), sd, config).eval()


def max_rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
