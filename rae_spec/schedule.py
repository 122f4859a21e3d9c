"""The flow-matching time schedule, computed once in numpy for both backends.

Convention (reference §3): t = 0 is data, t = 1 is noise, x_t = (1 - t) x + t eps. Training draws u in
[0, 0.999] and samples with the grid u_k = 1 - linspace(0, 0.999, N); both are mapped through the
dimension-dependent shift s(u) = a u / (1 + (a - 1) u), a = sqrt(C H W / 4096).
The grids are computed in float32 with torch's linspace rule, so they match the reference to the ulp.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from .configs import TransportConfig, parse_time_dist

T_MAX = 1.0 - 1.0 / 1000.0  # upper end of u in training and sampling (reference `check_interval`)


def shift_factor(shift_dim: int, shift_base: int = 4096) -> float:
    """alpha = sqrt(shift_dim / shift_base); shift_dim is the full latent size C*H*W."""
    return math.sqrt(shift_dim / shift_base)


def shift_time(t: np.ndarray | float, alpha: float) -> np.ndarray:
    """s_alpha(t) = alpha t / (1 + (alpha - 1) t), in float32 like the reference."""
    t = np.asarray(t, dtype=np.float32)
    a, a1 = np.float32(alpha), np.float32(alpha - 1.0)  # (alpha - 1) in double, as Python computes it
    return (a * t / (np.float32(1.0) + a1 * t)).astype(np.float32)


def linspace_f32(start: float, end: float, steps: int) -> np.ndarray:
    """torch.linspace in float32: the first half counts up from start, the second half down from end,
    each value a fused multiply-add (one rounding), as torch's compiled kernel computes it."""
    if steps == 1:
        return np.array([start], dtype=np.float32)
    step = (np.float32(end) - np.float32(start)) / np.float32(steps - 1)
    idx = np.arange(steps, dtype=np.float64)
    step64, start64, end64 = np.float64(step), np.float64(np.float32(start)), np.float64(np.float32(end))
    out = np.where(idx < steps // 2, start64 + step64 * idx, end64 - step64 * (steps - 1 - idx))
    return out.astype(np.float32)


def sampling_grid(num_steps: int, alpha: float, t_end: float = T_MAX) -> np.ndarray:
    """The N decreasing time points of the ODE sampler: s_alpha(1 - linspace(0, t_end, N)).

    N points means N - 1 model steps; the last point (about 0.0069 at 256 px) is where sampling stops.
    """
    if num_steps < 2:
        raise ValueError("num_steps counts grid points and must be >= 2")
    u = (np.float32(1.0) - linspace_f32(0.0, t_end, num_steps)).astype(np.float32)
    return shift_time(u, alpha)


def _phi(x: float) -> float:
    return NormalDist().cdf(x) if math.isfinite(x) else (0.0 if x < 0 else 1.0)


def time_from_uniform(uniforms: np.ndarray, time_dist_type: str, alpha: float, t_max: float = T_MAX) -> np.ndarray:
    """Training-time t from uniform draws U in [0, 1): the reference's `Transport.sample` transform.

    uniform: u = U * t_max. logit-normal_mu_sigma: inverse-CDF draw of a logit-normal truncated to
    [0, t_max]. Then the shift. Separating the transform from the draw lets any RNG feed it.
    """
    kind, mu, sigma = parse_time_dist(time_dist_type)
    U = np.asarray(uniforms, dtype=np.float64)
    if kind == "uniform":
        u = (U.astype(np.float32) * np.float32(t_max)).astype(np.float32)
    else:
        lo = _phi((-math.inf - mu) / sigma)
        hi = _phi((math.log(t_max / (1.0 - t_max)) - mu) / sigma)
        p = lo + (hi - lo) * np.clip(U, 0.0, 1.0)
        nd = NormalDist(mu, sigma)
        z = np.array([nd.inv_cdf(min(max(v, 1e-300), 1.0 - 1e-16)) for v in p.ravel()], dtype=np.float64)
        u = (1.0 / (1.0 + np.exp(-z))).reshape(U.shape)
        u = np.clip(u, 0.0, t_max).astype(np.float32)
    return shift_time(u, alpha)


class TimeDistribution:
    """The training-time half of the reference's `Transport` that both backends share: the config, the
    shift alpha, and the map from uniform draws to shifted times (`times`, numpy float32). rae_torch's and
    rae_mlx's Transport add the interpolant and the loss on their own arrays."""

    def __init__(self, config: TransportConfig, shift: float | None = None):
        """`shift` overrides sqrt(shift_dim / shift_base) when a caller knows alpha directly."""
        self.config = config
        self.shift = config.time_dist_shift if shift is None else float(shift)

    def times(self, uniforms) -> np.ndarray:
        """Uniform draws in [0, 1) (any array with __array__) -> shifted training times, float32."""
        return time_from_uniform(np.asarray(uniforms), self.config.time_dist_type, self.shift)
