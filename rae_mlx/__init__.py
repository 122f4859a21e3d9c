"""rae_mlx: RAE and DiT^DH in MLX (Apple GPUs; CPU elsewhere), the twin of rae_torch: same modules,
same parameter names, same public API. Importing it never imports torch.

On Linux, importing rae_mlx first makes MLX use the system OpenBLAS when present (see rae_mlx.blas).
"""

from . import blas  # noqa: I001  (must run before mlx.core is first imported)
from .checkpoint import CheckpointError, build_model, cast_model, load_model, load_stats
from .decoder import ViTDecoder
from .dit import DiTDH, LightningDiT, build_dit
from .encoders import build_encoder
from .memory import MemoryMonitor, peak_memory
from .pipeline import Generation, generate, generate_from_folder
from .quantize import quantize_model, save_model
from .rae import RAE
from .sampling import Sampler, guided_velocity
from .transport import Transport

__all__ = [
    "RAE", "CheckpointError", "DiTDH", "Generation", "LightningDiT", "MemoryMonitor", "Sampler", "Transport",
    "ViTDecoder", "blas", "build_dit", "build_encoder", "build_model", "cast_model", "generate", "generate_from_folder",
    "guided_velocity",
    "load_model", "load_stats", "peak_memory", "quantize_model", "save_model",
]
