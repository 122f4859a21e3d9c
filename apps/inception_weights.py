"""The Inception weights `rae eval` needs, from a file the user already has (rae never downloads them).

Two files hold the same network: ADM's `classify_image_graph_def.pb` (the 2015 TensorFlow graph, read
here without TensorFlow by rae_spec.inception_graph) and torch-fidelity's
`weights-inception-2015-12-05-6726825d.pth` (the same tensors in PyTorch names, read without running
pickled code by rae_convert.torch_pickle, or by torch's weights_only loader for pre-1.6 files).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rae_spec.graphdef import GraphDefError
from rae_spec.inception import InceptionConfig, check_shapes, config_from_shapes
from rae_spec.inception_graph import weights_from_graph

from .errors import UserError
from .metadata import sha256

PB_NAME = "classify_image_graph_def.pb"
PB_SOURCES = ("https://openaipublic.blob.core.windows.net/diffusion/jul-2021/ref_batches/classify_image_graph_def.pb",
              "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz")
PTH_NAME = "weights-inception-2015-12-05-6726825d.pth"
PTH_SOURCE = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
MAX_BYTES = 1 << 30  # the real files are ~95 MB


def where_to_get() -> str:
    return (f"rae eval needs the FID Inception weights, which it never downloads: ADM's {PB_NAME} "
            f"({PB_SOURCES[0]}, also inside {PB_SOURCES[1]}) or torch-fidelity's {PTH_NAME} ({PTH_SOURCE}); "
            "download one and pass --inception FILE (or set RAE_INCEPTION)")


@dataclass(frozen=True)
class InceptionWeights:
    path: Path
    sha256: str
    format: str  # "pb" or "pth"
    config: InceptionConfig
    weights: dict[str, np.ndarray]  # PyTorch names and layouts, float32, fc.* included

    @property
    def classifier(self) -> np.ndarray:
        """softmax/weights (features x classes): what the Inception Score multiplies pool_3 by."""
        return np.ascontiguousarray(self.weights["fc.weight"].T)

    def describe(self) -> dict:
        return {"path": str(self.path.resolve()), "sha256": self.sha256, "format": self.format,
                "channel_divisor": self.config.channel_divisor, "features": self.config.features}


def _read_pth(path: Path) -> dict[str, np.ndarray]:
    import zipfile

    from rae_convert.torch_pickle import TorchPickleError, load

    if zipfile.is_zipfile(path):  # torch >= 1.6
        try:
            obj = load(path)
        except TorchPickleError as e:
            raise UserError(str(e)) from e
    else:
        try:
            import torch
        except ImportError as e:
            raise UserError(f"{path} is a legacy torch file; reading it needs torch (pip install torch), or use "
                            f"{PB_NAME}") from e
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file is the user's input problem
            raise UserError(f"{path} is not a readable torch weights file ({type(e).__name__}: {e})") from e
        obj = {k: v.float().numpy() if hasattr(v, "numpy") else v for k, v in obj.items()}
    if not isinstance(obj, dict):
        raise UserError(f"{path} does not hold a state dict")
    return {k: np.asarray(v, dtype=np.float32) for k, v in obj.items() if not k.endswith("num_batches_tracked")}


def load_inception(path: Path | None) -> InceptionWeights:
    """Read and check an Inception weights file (.pb or .pth); a missing one names both files and their sources."""
    if path is None:
        raise UserError(f"no --inception given: {where_to_get()}")
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"{path} does not exist: {where_to_get()}")
    if path.stat().st_size > MAX_BYTES:
        raise UserError(f"{path} is {path.stat().st_size} bytes: too large to be the Inception weights (~95 MB)")
    suffix = path.suffix.lower()
    if suffix == ".pb":
        try:
            config, weights = weights_from_graph(path.read_bytes())
        except GraphDefError as e:
            raise UserError(f"{path}: {e}") from e
        kind = "pb"
    elif suffix in (".pth", ".pt"):
        weights = _read_pth(path)
        shapes = {k: tuple(v.shape) for k, v in weights.items()}
        try:
            config = config_from_shapes(shapes)
            check_shapes(shapes, config)
        except ValueError as e:
            raise UserError(f"{path}: {e}") from e
        kind = "pth"
    else:
        raise UserError(f"{path}: --inception takes {PB_NAME} (.pb) or {PTH_NAME} (.pth)")
    bad = [k for k, v in weights.items() if not np.isfinite(v).all()]
    if bad:
        raise UserError(f"{path}: {bad[0]} holds NaN or infinite values")
    return InceptionWeights(path, sha256(path), kind, config, weights)
