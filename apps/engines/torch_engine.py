"""The PyTorch engine: rae_torch models on CUDA, Apple MPS or the CPU.

float32 runs the models in float32 (TF32 off, for parity with the reference); bfloat16 / float16 run
them under autocast, as the reference's `--precision bf16` does: the noise and the ODE state stay
float32, only the matmuls drop precision.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch

from rae_spec.configs import GuidanceConfig, SamplerConfig
from rae_spec.step_state import CancelCheck, StepCallback
from rae_torch import RAE, build_model, load_model, load_stats
from rae_torch.pipeline import sample_latents

from ..machine import process_peak_rss
from .base import WarmModels

TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def default_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class TorchEngine(WarmModels):
    name = "torch"

    def __init__(self, dtype: str = "float32", device: str | None = None):
        self.device = device or default_device()
        self.dtype = dtype
        self.models: dict[str, Any] = {}
        self.rae: RAE | None = None
        self.loaded: dict[str, Any] = {}  # what is loaded, so a warm engine never loads it twice
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    # ---------------------------------------------------------------------------------------------- loading

    def _load(self, weights) -> torch.nn.Module:
        if weights.path is None:  # no file (rae doctor): random weights of the same shapes
            return build_model(weights.config).to(self.device).eval()
        return load_model(weights.path, weights.config).to(self.device)

    def _assemble(self, rae_config, decoder, stats, encoder=None) -> RAE:
        """An RAE around loaded modules. Sampling never runs the encoder, so it is then built on the meta
        device (no memory, no weights)."""
        with torch.device("meta"):
            rae = RAE(rae_config)
        rae.decoder = decoder
        if encoder is not None:
            rae.encoder = encoder
        if stats is not None:
            mean, var = load_stats(stats.path, tuple(rae_config.latent_shape))
            rae.set_stats(mean, var)
        return rae.eval()

    def _load_decoder(self, pipe) -> None:
        self.rae = self._assemble(pipe.rae, self._load(pipe.decoder), pipe.stats)

    def load_autoencoder(self, pipe) -> None:
        self.rae = self._assemble(pipe.rae, self._load(pipe.decoder), pipe.stats, self._load(pipe.encoder))

    def _freed(self, what: str) -> None:
        if what == "decoder":
            self.rae = None
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()

    # ---------------------------------------------------------------------------------------------- running

    def _autocast(self):
        if self.dtype == "float32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.split(":")[0], dtype=TORCH_DTYPES[self.dtype])

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        elif self.device == "mps":
            torch.mps.synchronize()

    def sample(self, noise: np.ndarray, labels: np.ndarray, sampler: SamplerConfig, guidance: GuidanceConfig,
               shift: float, rng: Any = None, on_step: StepCallback | None = None,
               cancel: CancelCheck | None = None) -> np.ndarray:
        def report(state) -> None:
            self._sync()  # so progress reflects finished work on CUDA / MPS
            if on_step is not None:
                on_step(state)

        with torch.inference_mode(), self._autocast():
            latents = sample_latents(self.models["dit"], labels, noise, sampler, shift, guidance=guidance,
                                     guide=self.models.get("guide"), rng=rng, on_step=report, cancel=cancel)
        return self.numpy(latents)

    def numpy(self, array: torch.Tensor) -> np.ndarray:
        return array.float().cpu().numpy()

    def decode(self, latents: np.ndarray) -> np.ndarray:
        z = torch.from_numpy(np.ascontiguousarray(latents, dtype=np.float32)).to(self.device)
        with torch.inference_mode(), self._autocast():
            images = self.rae.decode(z)
        return images.float().cpu().numpy()

    def encode(self, images: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).to(self.device)
        with torch.inference_mode(), self._autocast():
            z = self.rae.encode(x)
        return z.float().cpu().numpy()

    # ---------------------------------------------------------------------------------------------- memory

    def peak_memory(self) -> int | None:
        if self.device.startswith("cuda"):
            return int(torch.cuda.max_memory_allocated())
        return process_peak_rss()

    def reset_peak_memory(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()

    def memory_kind(self) -> str:
        return "peak allocated" if self.device.startswith("cuda") else "process peak RSS"

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "device": self.device, "dtype": self.dtype, "quantize": None,
                "torch_version": torch.__version__}
