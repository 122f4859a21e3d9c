"""rae_torch: RAE and DiT^DH in PyTorch (CUDA training, CPU/MPS inference), parameter names as in the
official checkpoints."""

from .checkpoint import CheckpointError, build_model, load_model, load_stats
from .decoder import ViTDecoder
from .dit import DiTDH, LightningDiT, build_dit
from .encoders import build_encoder
from .rae import RAE
from .sampling import Sampler, guided_velocity
from .transport import Transport

__all__ = [
    "RAE", "CheckpointError", "DiTDH", "LightningDiT", "Sampler", "Transport", "ViTDecoder", "build_dit",
    "build_encoder", "build_model", "guided_velocity", "load_model", "load_stats",
]
