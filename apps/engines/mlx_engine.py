"""The MLX engine: rae_mlx models on the Apple GPU (or MLX's CPU backend elsewhere). Never imports torch.

Models are converted once per dtype and quantization and cached (mlx_cache), so a run loads a ready file
straight into its dtype: `quantize` (4 or 8 bits) applies to the linear layers of the DiT, its guide and the
decoder; the encoder stays in floating point. MLX's buffer cache is released after each load, sample and
decode, and `release("dit")` frees the DiT and guide (for --low-memory), so each phase starts from what it
needs; decoding runs one image at a time.
"""

from __future__ import annotations  # noqa: I001  (rae_mlx is imported before mlx.core on purpose)

from pathlib import Path
from typing import Any

import rae_mlx  # noqa: F401  (first, before mlx.core: on Linux this lets MLX use the system OpenBLAS)
import mlx.core as mx
import numpy as np
from rae_mlx import RAE, load_model, load_stats
from rae_mlx.checkpoint import random_model
from rae_mlx.memory import release
from rae_mlx.pipeline import sample_latents
from rae_mlx.rae import decode_latents
from rae_spec.configs import GuidanceConfig, SamplerConfig
from rae_spec.step_state import CancelCheck, StepCallback

from .base import WarmModels
from .mlx_cache import Variant, mlx_weights


class MLXEngine(WarmModels):
    name = "mlx"

    def __init__(self, dtype: str = "float32", quantize: int | None = None, log=lambda message: None):
        if quantize not in (None, 4, 8):
            raise ValueError(f"quantize must be 4 or 8 bits, got {quantize}")
        self.device = "gpu" if mx.metal.is_available() else "cpu"
        self.dtype = dtype
        self.quantize = quantize
        self.log = log
        self.models: dict[str, Any] = {}
        self.decoder = None
        self.stats: tuple[Any, Any] = (None, None)
        self.rae_config = None
        self.rae: RAE | None = None
        self.loaded: dict[str, Any] = {}  # what is loaded, so a warm engine never loads it twice
        self.decode_batch_size = 1  # decoder micro-batch: one image's activations at a time

    # ---------------------------------------------------------------------------------------------- loading

    def _load(self, weights, quantize: bool = True):
        bits = self.quantize if quantize else None
        if weights.path is None:  # no file (rae doctor): random weights of the same shapes, in the same precision
            return random_model(weights.config, self.dtype, bits)
        variant = Variant(self.dtype, bits)
        path = mlx_weights(weights.path, weights.config, self.log, variant)
        cached = path != Path(weights.path)  # a cache entry: hash-checked, its values checked when converted
        module = load_model(path, weights.config if path.is_file() else None, dtype=self.dtype,
                            check_finite=not cached)
        mx.eval(module.parameters())
        return module

    def _load_decoder(self, pipe) -> None:
        self.decoder = self._load(pipe.decoder)
        self.rae_config = pipe.rae
        self.stats = (None, None)
        if pipe.stats is not None:
            self.stats = load_stats(pipe.stats.path, tuple(pipe.rae.latent_shape))

    def _after_load(self) -> None:
        release(collect=False)

    def load_autoencoder(self, pipe) -> None:
        self.load_decoder(pipe)
        rae = RAE(pipe.rae)
        rae.encoder = self._load(pipe.encoder, quantize=False)
        rae.decoder = self.decoder
        rae.set_stats(*self.stats)
        self.rae = rae.eval()

    def _freed(self, what: str) -> None:
        if what == "decoder":
            self.decoder = None
        release()

    # ---------------------------------------------------------------------------------------------- running

    def sample(self, noise: np.ndarray, labels: np.ndarray, sampler: SamplerConfig, guidance: GuidanceConfig,
               shift: float, rng: Any = None, on_step: StepCallback | None = None,
               cancel: CancelCheck | None = None) -> np.ndarray:
        latents = sample_latents(self.models["dit"], labels, noise, sampler, shift, guidance=guidance,
                                 guide=self.models.get("guide"), rng=rng, on_step=on_step, cancel=cancel)
        out = self.numpy(latents)
        del latents
        release(collect=False)
        return out

    def numpy(self, array: mx.array) -> np.ndarray:
        return np.array(array.astype(mx.float32))

    def decode(self, latents: np.ndarray) -> np.ndarray:
        enc = self.rae_config.encoder
        images = decode_latents(self.decoder, mx.array(np.ascontiguousarray(latents, dtype=np.float32)),
                                self.stats[0], self.stats[1], self.rae_config.eps, enc.image_mean, enc.image_std,
                                self.decode_batch_size)
        out = np.array(images.astype(mx.float32))
        del images
        release(collect=False)
        return out

    def encode(self, images: np.ndarray) -> np.ndarray:
        z = self.rae.encode(mx.array(np.ascontiguousarray(images, dtype=np.float32)))
        return np.array(z.astype(mx.float32))

    # ---------------------------------------------------------------------------------------------- memory

    def peak_memory(self) -> int | None:
        return int(mx.get_peak_memory())

    def reset_peak_memory(self) -> None:
        mx.reset_peak_memory()

    def memory_kind(self) -> str:
        return "peak MLX memory"

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "device": self.device, "dtype": self.dtype, "quantize": self.quantize,
                "mlx_version": mx.__version__}
