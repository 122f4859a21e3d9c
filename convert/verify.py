"""Run both backends on a converted model and report how far apart they are.

`verify(folder)` loads the folder with rae_torch and with rae_mlx (each reads either layout), feeds both
the same seeded inputs (numpy, so identical) and compares the outputs: DiTs a forward pass, decoders a
decode, encoders the patch tokens, RAEs a reconstruction, statistics the arrays themselves.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rae_spec.configs import DIT_CONFIGS, DecoderConfig, EncoderConfig, RAEConfig, StatsConfig
from rae_spec.state_dict import CheckpointError

TOLERANCE = 1e-3  # relative: float32 on both sides agrees to ~1e-6; anything near 1e-3 is a real difference


class VerifyError(CheckpointError):
    """The two backends disagree on a converted model, or produce NaN / Inf."""


@dataclass(frozen=True)
class VerifyReport:
    what: str                   # the computation compared
    output_shape: tuple[int, ...]
    max_abs_diff: float
    output_scale: float         # max |torch output|
    seconds: float

    @property
    def relative(self) -> float:
        return self.max_abs_diff / max(self.output_scale, 1e-30)

    @property
    def ok(self) -> bool:
        """Both outputs finite and within TOLERANCE of each other (NaN compares false, so it fails)."""
        return math.isfinite(self.output_scale) and self.relative <= TOLERANCE

    def check(self, where: str | Path = "") -> VerifyReport:
        """Raise VerifyError unless `ok`."""
        if not self.ok:
            why = ("an output is NaN or Inf" if not (math.isfinite(self.max_abs_diff) and
                                                      math.isfinite(self.output_scale))
                   else f"the relative difference exceeds {TOLERANCE:g}")
            raise VerifyError(f"verification of {where or 'the converted model'} failed: {why} ({self})")
        return self

    def __str__(self) -> str:
        return (f"{self.what}: max |torch - mlx| = {self.max_abs_diff:.3e} on outputs of scale {self.output_scale:.3g} "
                f"(relative {self.relative:.2e}), shape {self.output_shape}, {self.seconds:.1f} s")


def inputs_for(config: Any, batch: int, seed: int) -> tuple[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    if isinstance(config, DIT_CONFIGS):
        return "DiT forward", {"x": rng.standard_normal((batch, *config.latent_shape), dtype=np.float32),
                               "t": rng.uniform(0.05, 1.0, batch).astype(np.float32),
                               "y": rng.integers(0, config.num_classes, batch)}
    if isinstance(config, DecoderConfig):
        g = config.grid_size
        return "decoder", {"latents": rng.standard_normal((batch, config.latent_dim, g, g), dtype=np.float32)}
    if isinstance(config, EncoderConfig):
        s = config.image_size
        return "encoder tokens", {"pixels": rng.standard_normal((batch, 3, s, s), dtype=np.float32)}
    if isinstance(config, RAEConfig):
        s = config.image_size
        return "RAE reconstruction", {"images": rng.uniform(0, 1, (batch, 3, s, s)).astype(np.float32)}
    raise TypeError(f"nothing to run for {type(config).__name__}")


def _forward(model, config: Any, arrays: dict[str, Any], latent_to_tokens: Any) -> Any:
    """The computation `inputs_for` prepared, on one backend's arrays (`latent_to_tokens` is that backend's)."""
    if isinstance(config, DIT_CONFIGS):
        return model(arrays["x"], arrays["t"], arrays["y"])
    if isinstance(config, DecoderConfig):
        return model.unpatchify(model(latent_to_tokens(arrays["latents"])))
    if isinstance(config, EncoderConfig):
        return model(arrays["pixels"])
    return model(arrays["images"])


def _run_torch(model, config, inp: dict[str, np.ndarray]) -> np.ndarray:
    import torch

    from rae_torch.rae import latent_to_tokens

    with torch.no_grad():
        out = _forward(model, config, {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inp.items()},
                       latent_to_tokens)
    return out.float().numpy()


def _run_mlx(model, config, inp: dict[str, np.ndarray]) -> np.ndarray:
    import mlx.core as mx

    from rae_mlx.rae import latent_to_tokens

    out = _forward(model, config, {k: mx.array(v) for k, v in inp.items()}, latent_to_tokens)
    return np.asarray(out.astype(mx.float32))


def verify(path: str | Path, config: Any = None, batch: int = 2, seed: int = 0) -> VerifyReport:
    """Load `path` (a converted folder, or any file with `config`) in both backends, run the same seeded
    inputs, and report the largest absolute difference (float32 both sides)."""
    try:
        import rae_mlx
        import rae_torch
    except ImportError as e:
        raise CheckpointError(f"verify needs both backends installed (torch and mlx): {e}") from e
    start = time.perf_counter()
    path = Path(path)
    if isinstance(config, StatsConfig) or (config is None and _is_stats_folder(path)):
        tm, tv = rae_torch.load_stats(path)
        mm, mv = rae_mlx.load_stats(path)
        diffs = [_max_abs(a.numpy() - np.asarray(b)) for a, b in ((tm, mm), (tv, mv)) if a is not None]
        scale = max(_max_abs(a.numpy()) for a in (tm, tv) if a is not None)
        return VerifyReport("statistics", tuple(tv.shape), max(diffs), scale, time.perf_counter() - start)
    tmodel = rae_torch.load_model(path, config)
    mmodel = rae_mlx.load_model(path, config, dtype="float32")
    config = tmodel.config
    what, inp = inputs_for(config, batch, seed)
    a = _run_torch(tmodel, config, inp)
    b = _run_mlx(mmodel, config, inp)
    return VerifyReport(what, a.shape, _max_abs(a - b), max(_max_abs(a), _max_abs(b)), time.perf_counter() - start)


def _max_abs(x: np.ndarray) -> float:
    """max |x|, NaN if any element is NaN (np.max propagates NaN; an Inf stays Inf)."""
    return float(np.max(np.abs(x), initial=0.0))


def _is_stats_folder(path: Path) -> bool:
    import json

    cfg = path / "config.json"
    return path.is_dir() and cfg.is_file() and json.loads(cfg.read_text()).get("type") == "StatsConfig"
