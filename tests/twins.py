"""What the twin tests of rae_torch and rae_mlx share: tiny configs and files, a sampling problem with a known
answer, and helpers that run the same weights in both backends. Each backend's tests hold its own twin to the
same cases."""

from __future__ import annotations

import numpy as np

from rae_spec import DecoderConfig, DiTDHConfig, EncoderConfig, RAEConfig, SamplerConfig

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


# ------------------------------------------------------------------------------------------- checkpoints

TINY_DIT = DiTDHConfig(input_size=4, in_channels=8, hidden_size=(32, 48), depth=(2, 1), num_heads=(2, 3),
                       num_classes=5)
OTHER_DIT = DiTDHConfig(input_size=4, in_channels=8, hidden_size=(16, 48), depth=(1, 1), num_heads=(2, 3),
                        num_classes=5)
TINY_DEC = DecoderConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, latent_dim=8,
                         num_patches=4, patch_size=2)
# A SigLIP2 vision tower saved as a Hugging Face folder (config.json + model.safetensors), and its config.
SIGLIP_HF_CONFIG = {"model_type": "siglip", "vision_config": {"hidden_size": 16, "intermediate_size": 32,
                                                             "num_hidden_layers": 1, "num_attention_heads": 2,
                                                             "image_size": 32, "patch_size": 8}}
TINY_SIGLIP = EncoderConfig(kind="siglip2", hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
                            patch_size=8, image_size=32, num_register_tokens=0, hidden_act="gelu_tanh")


class Evil:
    """Unpickling this calls print: a pickle that needs code, which no loader may run."""

    def __reduce__(self):
        return (print, ("this would run arbitrary code",))


# ------------------------------------------------------------------------------------------- sampling
# Data x ~ N(MU, S^2) per coordinate; x_t = (1 - t) x + t eps has mean m_t = (1 - t) MU and variance
# V_t = (1 - t)^2 S^2 + t^2, and v(x, t) = E[eps - x | x_t]. Integrating from t = 1 must reach N(m, V) at the
# grid's last time, for the ODE (Euler, Heun) and for the SDE (same marginals, other paths).

MU, S = 1.5, 0.5
# (sampler, tolerance on the mean and std reached from 20000 samples)
GAUSSIAN_CASES = [
    (SamplerConfig(mode="ode", method="euler", num_steps=200), 0.02),
    (SamplerConfig(mode="ode", method="heun", num_steps=50), 0.01),
    (SamplerConfig(mode="sde", method="euler", num_steps=400), 0.03),
    (SamplerConfig(mode="sde", method="euler", num_steps=400, diffusion_form="constant", diffusion_norm=0.5), 0.04),
]


def gaussian_velocity(x, t):
    """The exact velocity for Gaussian data, on either backend's arrays (`t` already broadcasts against x)."""
    m, V = (1 - t) * MU, (1 - t) ** 2 * S**2 + t**2
    e_eps = t / V * (x - m)
    e_x = MU + (1 - t) * S**2 / V * (x - m)
    return e_eps - e_x


def gaussian_target(t_end):
    """(mean, std) of x_t at t_end."""
    return (1 - t_end) * MU, np.sqrt((1 - t_end) ** 2 * S**2 + t_end**2)
