"""What every backend engine provides: load a pipeline's models from resolved files, sample latents from
numpy noise with a per-step callback, decode to numpy images, encode numpy images, report memory.

Engines exchange numpy arrays (NCHW float32) with the app, so noise, quantization and files are the
same code whatever the backend, and the same seed gives the same image on every backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

import numpy as np

from rae_spec.configs import GuidanceConfig, SamplerConfig
from rae_spec.step_state import CancelCheck, StepCallback

DTYPES = ("float32", "bfloat16", "float16")


class Engine(Protocol):
    name: str  # "torch" or "mlx"
    device: str  # e.g. "cpu", "cuda", "mps", "gpu"
    dtype: str  # one of DTYPES
    loaded: dict[str, Any]  # "dit" / "decoder" -> what is loaded (load_* skip what already is)

    def load_dit(self, pipe: Any) -> None:
        """Load the DiT (and the autoguidance guide, when guidance uses it) of a SamplingPipeline."""

    def load_decoder(self, pipe: Any) -> None:
        """Load the decoder and latent statistics of a pipeline. Sampling never loads the encoder."""

    def load_autoencoder(self, pipe: Any) -> None:
        """Load the encoder, decoder and stats of an AutoencoderPipeline."""

    def sample(self, noise: np.ndarray, labels: np.ndarray, sampler: SamplerConfig, guidance: GuidanceConfig,
               shift: float, rng: Any = None, on_step: StepCallback | None = None,
               cancel: CancelCheck | None = None) -> np.ndarray:
        """Integrate from noise (B, C, H, W) to latents with the backend's one sampling loop; `rng` feeds the
        SDE; on_step(StepState) after each step (its arrays are the backend's: see `numpy`), then cancel()
        (True raises rae_spec.step_state.Cancelled)."""

    def numpy(self, array: Any) -> np.ndarray:
        """A backend array (e.g. a StepState's x0()) as float32 numpy, for decode."""

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Normalized latents -> images (B, 3, S, S) in about [0, 1], not clamped."""

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Images (B, 3, H, W) in [0, 1] -> normalized latents."""

    def release(self, what: str) -> None:
        """Free loaded models: 'dit' (with its guide) before decoding, when memory is tight."""

    def peak_memory(self) -> int | None:
        """Peak bytes since the last reset (None where the backend cannot tell)."""

    def reset_peak_memory(self) -> None: ...

    def describe(self) -> dict[str, Any]:
        """Backend, device, dtype (and quantization) for provenance."""


def dit_key(pipe: Any) -> tuple[Any, Any]:
    """What load_dit loads for a pipeline: the DiT's Weights, and the guide's when autoguidance uses it."""
    uses_guide = pipe.guide is not None and pipe.guidance.active and pipe.guidance.method == "autoguidance"
    return (pipe.dit, pipe.guide if uses_guide else None)


def decoder_key(pipe: Any) -> tuple[Any, Any, Any]:
    """What load_decoder loads: the decoder's Weights, the latent statistics and the RAE config."""
    return (pipe.decoder, pipe.stats, pipe.rae)


class WarmModels(ABC):
    """The loading both engines share. `loaded` records what is loaded (dit_key, decoder_key), so a warm engine
    never loads the same DiT or decoder twice, and frees the one it has before loading another. A backend
    provides `_load(weights)` (one model), `_load_decoder(pipe)` (decoder and statistics), `_after_load()` and
    `_freed(what)` (drop its own references to a released model and give the memory back)."""

    models: dict[str, Any]  # "dit", "guide" -> loaded modules
    loaded: dict[str, Any]

    def load_dit(self, pipe: Any) -> None:
        key = dit_key(pipe)
        if self.loaded.get("dit") == key:
            return
        if "dit" in self.loaded:  # another DiT: free it before loading this one
            self.release("dit")
        self.models["dit"] = self._load(pipe.dit)
        if key[1] is not None:
            self.models["guide"] = self._load(pipe.guide)
        self.loaded["dit"] = key
        self._after_load()

    def load_decoder(self, pipe: Any) -> None:
        key = decoder_key(pipe)
        if self.loaded.get("decoder") == key:
            return
        if "decoder" in self.loaded:
            self.release("decoder")
        self._load_decoder(pipe)
        self.loaded["decoder"] = key
        self._after_load()

    def release(self, what: str) -> None:
        for name in ("dit", "guide") if what == "dit" else (what,):
            self.models.pop(name, None)
        self.loaded.pop(what, None)
        self._freed(what)

    @abstractmethod
    def _load(self, weights: Any) -> Any:
        """One model (DiT or guide) from its Weights, ready to run."""

    @abstractmethod
    def _load_decoder(self, pipe: Any) -> None:
        """The pipeline's decoder and latent statistics."""

    def _after_load(self) -> None:  # noqa: B027 - a hook: only MLX has work to do after loading
        """After a load: give back what loading left in the backend's caches."""

    @abstractmethod
    def _freed(self, what: str) -> None:
        """Drop the backend's own references to a released model and give its memory back."""
