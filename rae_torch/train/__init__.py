"""Training on CUDA (and CPU) with rae_torch: stage 1 (decoder), latent statistics, the latent cache,
and stage 2 (DiT^DH / LightningDiT); single process or torchrun (DDP, FSDP2), resumable.

Entry points: `python -m rae_torch.train stage1|stats|cache|stage2|export --config FILE` (also under
torchrun), the click group `rae_torch.train.cli.train_cli` (mounted by the `rae` CLI as `rae train`),
and the functions below.
"""

from .config import (
    CacheConfig,
    DataConfig,
    LossConfig,
    OptimConfig,
    RunConfig,
    ScheduleConfig,
    Stage1Config,
    Stage2Config,
    StatsRunConfig,
    load_config,
)
from .latent_cache import LatentCache, build_cache
from .stage1 import Stage1Trainer, train_stage1
from .stage2 import Stage2Trainer, export_checkpoint, train_stage2
from .stats import compute_stats

__all__ = [
    "CacheConfig", "DataConfig", "LatentCache", "LossConfig", "OptimConfig", "RunConfig", "ScheduleConfig",
    "Stage1Config", "Stage1Trainer", "Stage2Config", "Stage2Trainer", "StatsRunConfig", "build_cache",
    "compute_stats", "export_checkpoint", "load_config", "train_stage1", "train_stage2",
]
