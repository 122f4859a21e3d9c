"""`rae eval REF.npz SAMPLES.npz --inception FILE`: ADM's evaluator (FID, sFID, IS, precision, recall),
without TensorFlow, on torch or MLX.

The network is rae_torch.inception / rae_mlx.inception, the metrics rae_spec.evaluator. Activations are
cached next to each batch (`<batch>.inception-<weights sha256[:12]>.npz`, holding the batch's and the
weights' sha256), so a reference batch is read through Inception once per weights file.
"""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

from rae_spec import npz
from rae_spec.evaluator import FIDStatistics, Results, evaluate
from rae_spec.files import check_output, write_text
from rae_spec.inception import SPATIAL_CHANNELS

from . import __version__
from .engines import auto_reason, choose_backend
from .errors import UserError
from .inception_weights import InceptionWeights, load_inception
from .metadata import sha256
from .options import BACKEND_CHOICES, debug_option
from .progress import bar

Extractor = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
STATS_KEYS = ("mu", "sigma", "mu_s", "sigma_s")

EXAMPLES = """
\b
Examples:
  rae eval VIRTUAL_imagenet256_labeled.npz samples/samples.npz --inception classify_image_graph_def.pb
  rae eval ref.npz samples.npz --inception weights-inception-2015-12-05-6726825d.pth --json fid.json
"""


@click.command("eval", epilog=EXAMPLES)
@click.argument("ref", type=click.Path(path_type=Path))
@click.argument("samples", type=click.Path(path_type=Path))
@click.option("--inception", type=click.Path(path_type=Path), envvar="RAE_INCEPTION", default=None,
              help="ADM's classify_image_graph_def.pb or torch-fidelity's weights-inception-2015-12-05-6726825d.pth "
                   "[env RAE_INCEPTION]; never downloaded.")
@click.option("--backend", type=click.Choice(BACKEND_CHOICES), default="auto", show_default=True,
              help="auto: MLX on Apple silicon, else torch (CUDA when available, else CPU).")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=64, show_default=True,
              help="Images per Inception forward pass (ADM's evaluator uses 64).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the results with provenance (sha256 of the batches and the weights) as JSON.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --json file.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write cached activations.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@debug_option
def evaluate_cmd(ref: Path, samples: Path, inception: Path | None, backend: str, batch_size: int,
                 json_out: Path | None, overwrite: bool, no_cache: bool, quiet: bool) -> None:
    """Evaluate a sample batch against a reference batch as ADM's evaluations/evaluator.py does.

    Both are .npz files with arr_0 = (N, H, W, 3) uint8 images (ADM's reference batches, or what
    `rae sample-fid` packs). FID and sFID use the reference's precomputed mu / sigma (mu_s / sigma_s)
    when it has them, else its images' statistics. Prints ADM's lines: Inception Score, FID, sFID,
    Precision, Recall.
    """
    for path in (ref, samples):
        check_batch(path)
    if json_out is not None:
        check_output(json_out, overwrite=overwrite, what="--json file")
    ref_stats = read_stats(ref)
    weights = load_inception(inception)
    backend_name = choose_backend(backend)
    extractor, engine_info = make_extractor(backend_name, weights)
    why = f" (auto: {auto_reason(engine_info['backend'], engine_info['device'])})" if backend == "auto" else ""
    _echo(f"backend: {engine_info['backend']} on {engine_info['device']}{why}")

    acts = {}
    for role, path in (("reference", ref), ("sample", samples)):
        _echo(f"computing {role} batch activations...")
        acts[role] = activations(path, extractor, weights, batch_size, quiet, use_cache=not no_cache)
    _echo("Computing evaluations...")
    results = evaluate(*acts["reference"], *acts["sample"], weights.classifier, ref_stats)
    for line in results.lines():
        click.echo(line)
    if json_out is not None:
        write_report(json_out, results, ref, samples, ref_stats is not None, weights, engine_info)


def _echo(message: str) -> None:
    click.echo(message, err=True)


# ---------------------------------------------------------------------------------------------- inputs


def check_batch(path: Path) -> tuple[int, ...]:
    """The shape of a batch's arr_0, checked before any compute: (N, H, W, 3) numbers."""
    if not path.is_file():
        raise UserError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        with npz.open_array(path) as arr:
            shape, dtype = arr.shape, arr.dtype
    except npz.NpzError as e:
        raise UserError(str(e)) from e
    if len(shape) != 4 or shape[3] != 3 or shape[0] == 0 or dtype.kind not in "uif":
        raise UserError(f"{path}: arr_0 must be (N, H, W, 3) images in [0, 255], got {shape} {dtype}")
    return shape


def read_stats(path: Path) -> tuple[FIDStatistics, FIDStatistics] | None:
    """A reference batch's precomputed (pool_3, spatial) statistics, or None when it has none."""
    names = npz.members(path)
    present = [k for k in STATS_KEYS if k in names]
    if not present:
        return None
    if len(present) < len(STATS_KEYS):
        raise UserError(f"{path} has {', '.join(present)} but not all of {', '.join(STATS_KEYS)}")
    try:
        a = {k: npz.load_small(path, k) for k in STATS_KEYS}
    except npz.NpzError as e:
        raise UserError(str(e)) from e
    return FIDStatistics(a["mu"], a["sigma"]), FIDStatistics(a["mu_s"], a["sigma_s"])


# ---------------------------------------------------------------------------------------------- features


def make_extractor(backend: str, weights: InceptionWeights) -> tuple[Extractor, dict[str, Any]]:
    """A function (B, H, W, 3) images -> (pool_3, spatial) float32 numpy arrays on the chosen backend."""
    if backend == "torch":
        import torch

        from rae_torch.inception import InceptionV3

        from .engines.torch_engine import default_device

        device = default_device()
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        model = InceptionV3.from_weights(weights.weights).to(device)

        def run(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            with torch.inference_mode():
                pool, spatial = model(torch.from_numpy(np.array(batch)).to(device))  # a writable copy
            return pool.float().cpu().numpy(), spatial.float().cpu().numpy()

        return run, {"backend": "torch", "device": device, "torch_version": torch.__version__}
    import mlx.core as mx

    import rae_mlx  # noqa: F401  (before mlx.core: the system OpenBLAS on Linux)
    from rae_mlx.inception import InceptionV3 as MLXInception

    mlx_model = MLXInception.from_weights(weights.weights)

    def run_mlx(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pool, spatial = mlx_model(mx.array(np.ascontiguousarray(batch)))
        mx.eval(pool, spatial)
        return np.array(pool), np.array(spatial)

    return run_mlx, {"backend": "mlx", "device": "gpu" if mx.metal.is_available() else "cpu",
                     "mlx_version": mx.__version__}


def cache_path(batch: Path, weights: InceptionWeights) -> Path:
    return batch.with_name(f"{batch.stem}.inception-{weights.sha256[:12]}.npz")


def _read_cache(path: Path, batch_sha: str, weights_sha: str) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["batch_sha256"]) != batch_sha or str(z["weights_sha256"]) != weights_sha:
                return None
            return z["pool"], z["spatial"]
    except (OSError, KeyError, ValueError):
        return None


def activations(path: Path, extractor: Extractor, weights: InceptionWeights, batch_size: int, quiet: bool,
                use_cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(pool_3, spatial) activations of a batch's images, from the cache when it holds them for these weights."""
    cache = cache_path(path, weights)
    batch_sha = sha256(path) if use_cache else ""
    if use_cache and cache.is_file():
        cached = _read_cache(cache, batch_sha, weights.sha256)
        if cached is not None:
            _echo(f"  (cached in {cache})")
            return cached
    with npz.open_array(path) as arr:
        n = arr.shape[0]
        pool = np.zeros((n, weights.config.features), dtype=np.float32)
        spatial = np.zeros((n, 17 * 17 * SPATIAL_CHANNELS), dtype=np.float32)
        progress = bar(n, path.name, quiet, unit="img")
        row = 0
        try:
            for batch in arr.batches(batch_size):
                p, s = extractor(batch if batch.dtype == np.uint8 else batch.astype(np.float32))
                pool[row:row + len(batch)], spatial[row:row + len(batch)] = p, s
                row += len(batch)
                progress.update(len(batch))
        except npz.NpzError as e:
            raise UserError(f"{path}: {e}") from e
        finally:
            progress.close()
    if use_cache:
        try:
            npz.write_npz(cache, [npz.whole("pool", pool), npz.whole("spatial", spatial),
                                  npz.whole("batch_sha256", np.array(batch_sha)),
                                  npz.whole("weights_sha256", np.array(weights.sha256))])
        except OSError as e:
            _echo(f"note: activations not cached ({e})")
    return pool, spatial


# ---------------------------------------------------------------------------------------------- output


def write_report(out: Path, results: Results, ref: Path, samples: Path, precomputed: bool,
                 weights: InceptionWeights, engine_info: dict[str, Any]) -> None:
    def batch(path: Path) -> dict[str, Any]:
        with npz.open_array(path) as arr:
            shape = arr.shape
        return {"path": str(path.resolve()), "sha256": sha256(path), "images": shape[0], "size": list(shape[1:3])}

    report = {
        **results.as_dict(),
        "lines": results.lines(),
        "reference": {**batch(ref), "fid_statistics": "precomputed mu/sigma" if precomputed else "its images"},
        "samples": batch(samples),
        "inception": weights.describe(),
        "engine": engine_info,
        "evaluator": "rae eval: a port of openai/guided-diffusion evaluations/evaluator.py",
        "rae_version": __version__,
        "python": sys.version.split()[0],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    write_text(out, json.dumps(report, indent=2) + "\n")
