"""rae_convert (the `convert/` folder): checkpoints between the official files, torch and MLX.

Reads official files without torch (`.pt` through an allow-list unpickler, HF safetensors folders,
diffusers AutoencoderRAE folders), checks every tensor against rae_spec's manifest through one
declarative layout table, and writes model folders (config.json + model.safetensors with provenance)
atomically, in torch or MLX layout.

    from rae_convert import plan, convert_file, verify
    print(plan(src, config, "torch->mlx").describe())      # dry run: what would be written
    convert_file(src, dst, config, "torch->mlx", dtype="bfloat16", quantize=None)
    print(verify(dst))                                      # both backends, max abs difference
"""

__version__ = "0.1.0"

from rae_spec.state_dict import CheckpointError  # noqa: E402

from .conversion import Plan, convert_file, parse_direction, plan  # noqa: E402
from .layout import TABLE, change_layout, layout_plan  # noqa: E402
from .sources import Source, open_source  # noqa: E402
from .torch_pickle import TorchPickleError, UnsafeGlobalError  # noqa: E402
from .verify import VerifyReport, verify  # noqa: E402

__all__ = [
    "TABLE", "CheckpointError", "Plan", "Source", "TorchPickleError", "UnsafeGlobalError", "VerifyReport",
    "change_layout", "convert_file", "layout_plan", "open_source", "parse_direction", "plan", "verify",
]
