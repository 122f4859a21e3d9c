"""The metrics of ADM's evaluator (openai/guided-diffusion `evaluations/evaluator.py`), ported to numpy.

Given Inception activations (pool_3 and the sFID spatial features), this computes what that evaluator
prints, the same way:
- FID / sFID: Fréchet distance of (mean, np.cov) statistics; tr(sqrtm(sigma1 sigma2)) from eigenvalues (the
  evaluator's scipy sqrtm gives the same trace, slower and with fallbacks for singular products).
- Inception Score: softmax of pool_3 x softmax/weights (no bias) in float32, over consecutive splits of
  5,000 images (no shuffling), exp of the mean KL, the mean over splits.
- Precision / recall (Kynkäänniemi et al.): k = 3 manifold radii, pairwise squared distances in float16
  in blocks of 10,000 x 10,000, float32 for a block whose float16 distances are not all finite.

The float16 arithmetic is TensorFlow's on a CPU, bit for bit: inputs rounded to half, the squared norms
summed as Eigen does for half (8-lane packets, 4 accumulators, halves of more than 1,024 values summed
separately, every packet add rounded to half, lanes summed in float), products accumulated in float32 and
rounded once, each elementwise step rounded to half. (TensorFlow on a GPU sums the norms in float32; the
difference moves a handful of borderline samples.) Radii come from a bounded-memory k-NN (the same
values as the evaluator's full rows).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

IS_SPLIT = 5000
SOFTMAX_BATCH = 512
BLOCK = 10000  # the evaluator's row and column batch for distances
NHOOD = 3  # k of the k-NN radii
f16, f32 = np.float16, np.float32


# ---------------------------------------------------------------------------------------------- FID


@dataclass(frozen=True)
class FIDStatistics:
    mu: np.ndarray
    sigma: np.ndarray
    centered: np.ndarray | None = None  # (N, D) activations minus their mean, kept when N <= D (sigma's factor)

    def frechet_distance(self, other: FIDStatistics) -> float:
        """|mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr(sqrtm(sigma1 sigma2)), as the evaluator's formula."""
        mu1, mu2 = np.atleast_1d(self.mu), np.atleast_1d(other.mu)
        sigma1, sigma2 = np.atleast_2d(self.sigma), np.atleast_2d(other.sigma)
        if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
            raise ValueError(f"statistics of different sizes: {mu1.shape} vs {mu2.shape}")
        diff = mu1 - mu2
        return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt_product(self, other))


def trace_sqrt_product(a: FIDStatistics, b: FIDStatistics) -> float:
    """tr(sqrtm(sigma_a sigma_b)) from eigenvalues, not from scipy's sqrtm as the evaluator does.

    sigma_a sigma_b has the eigenvalues of the symmetric PSD sigma_a^1/2 sigma_b sigma_a^1/2, so the trace is
    the sum of their square roots: the same number as the evaluator's to 1e-15 for full-rank statistics (and to
    ~1e-7 for rank-deficient ones, where sqrtm's square roots of rounding-level eigenvalues differ), without its
    singular-matrix fallbacks, and 3x (full rank) to 1000x (few images: the N x N problem) faster.
    """
    if a.centered is not None and b.centered is not None:  # both rank-deficient: singular values of Xa Xb^T
        scale = np.sqrt((len(a.centered) - 1) * (len(b.centered) - 1))
        return float(np.linalg.svd(a.centered @ b.centered.T, compute_uv=False).sum() / scale)
    for low, full in ((a, b), (b, a)):
        if low.centered is not None:  # eig(sigma_full X^T X) = eig(X sigma_full X^T), N x N
            m = low.centered @ full.sigma @ low.centered.T / (len(low.centered) - 1)
            return float(np.sqrt(np.clip(np.linalg.eigvalsh(m), 0, None)).sum())
    w, v = np.linalg.eigh(a.sigma)
    half = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    return float(np.sqrt(np.clip(np.linalg.eigvalsh(half @ b.sigma @ half), 0, None)).sum())


def statistics(activations: np.ndarray) -> FIDStatistics:
    """mean and np.cov (float64), as the evaluator computes them; with fewer images than dimensions the centered
    activations too (the covariance's low-rank factor, for trace_sqrt_product)."""
    mu, sigma = np.mean(activations, axis=0), np.cov(activations, rowvar=False)
    centered = None
    if len(activations) <= activations.shape[1]:
        x = np.asarray(activations, dtype=np.float64)
        centered = x - x.mean(axis=0)
    return FIDStatistics(mu, sigma, centered)


# ---------------------------------------------------------------------------------------------- IS


def softmax(logits: np.ndarray) -> np.ndarray:
    """float32 softmax in TensorFlow's order: exp(x - max) times the reciprocal of the sum."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e * (f32(1) / e.sum(axis=1, keepdims=True))


def inception_score(pool: np.ndarray, classifier: np.ndarray, split_size: int = IS_SPLIT) -> float:
    """`classifier`: softmax/weights (features x classes), i.e. the transpose of torch's fc.weight."""
    w = np.asarray(classifier, dtype=f32)
    preds = np.concatenate([softmax(np.asarray(pool[i:i + SOFTMAX_BATCH], dtype=f32) @ w)
                            for i in range(0, len(pool), SOFTMAX_BATCH)], axis=0)
    scores = []
    for i in range(0, len(preds), split_size):
        part = preds[i:i + split_size]
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero probability gives 0 * -inf = nan, as there
            kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return float(np.mean(scores))


# ---------------------------------------------------------------------------------------------- distances


def _half(x: np.ndarray) -> np.ndarray:
    """Round float32 values to half precision (round to nearest even, overflow to inf), kept as float32."""
    with np.errstate(over="ignore"):
        return x.astype(f16).astype(f32)


def _half_sum(x: np.ndarray, first: int, n: int) -> np.ndarray:
    """Eigen's inner-most sum of x[:, first:first + n] in half precision (x: half values as float32)."""
    packet, leaf = 8, 1024
    if n > leaf:
        split = packet * -(-(first + -(-n // 2)) // packet)
        left = min(split - first, n)
        total = _half_sum(x, first, left)
        return _half(total + _half_sum(x, split, n - left)) if left < n else total
    vectorized = n // packet * packet
    unrolled = n // (4 * packet) * 4 * packet
    accs = np.zeros((4, x.shape[0], packet), dtype=f32)
    for j in range(0, unrolled, 4 * packet):
        block = x[:, first + j:first + j + 4 * packet].reshape(x.shape[0], 4, packet).transpose(1, 0, 2)
        accs = _half(accs + block)
    for j in range(unrolled, vectorized, packet):
        accs[0] = _half(accs[0] + x[:, first + j:first + j + packet])
    lanes = accs[0]
    for a in range(1, 4):
        lanes = _half(lanes + accs[a])
    scalar = np.zeros(x.shape[0], dtype=f32)
    for j in range(vectorized, n):
        scalar = _half(scalar + x[:, first + j])
    return _half(scalar + _half(lanes.sum(axis=1, dtype=f32)))


def half_squared_norms(features: np.ndarray) -> np.ndarray:
    """reduce_sum(square(cast(features, float16)), 1) as TensorFlow computes it on a CPU (float32 array)."""
    x = _half(np.asarray(features, dtype=f32))
    return _half_sum(_half(x * x), 0, x.shape[1])


@dataclass
class Features:
    """A feature set with what the distance blocks reuse: its half copy and both kinds of squared norms."""

    values: np.ndarray  # (N, D) float32

    def __post_init__(self) -> None:
        self.values = np.ascontiguousarray(self.values, dtype=f32)
        self.half = _half(self.values)
        self.norms16 = half_squared_norms(self.values)
        self.norms32 = np.sum(np.square(self.values), axis=1, dtype=f32)

    def __len__(self) -> int:
        return len(self.values)

    def rows(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.values[start:stop], self.half[start:stop], self.norms16[start:stop], self.norms32[start:stop]


def distance_block(u: Features, u_range: tuple[int, int], v: Features, v_range: tuple[int, int]) -> np.ndarray:
    """The evaluator's DistanceBlock: max(|u|^2 - 2 u.v + |v|^2, 0) in float16, or float32 when any is not finite."""
    u32, u16, nu16, nu32 = u.rows(*u_range)
    v32, v16, nv16, nv32 = v.rows(*v_range)
    two_uv = _half(_half(u16 @ v16.T) * f32(2))
    with np.errstate(invalid="ignore"):
        d = _half(_half(nu16[:, None] - two_uv) + nv16[None, :])
        d = np.maximum(d, f32(0))
    if np.isfinite(d).all():
        return d
    return np.maximum(nu32[:, None] - f32(2) * (u32 @ v32.T) + nv32[None, :], f32(0))


def _blocks(n: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, BLOCK):
        yield start, min(start + BLOCK, n)


def manifold_radii(features: Features, k: int = NHOOD) -> np.ndarray:
    """(N, 1) float32: each vector's distance to its k-th nearest neighbour (itself being the 0th)."""
    radii = np.zeros((len(features), 1), dtype=f32)
    for rows in _blocks(len(features)):
        nearest = []
        for cols in _blocks(len(features)):  # keep the k + 1 smallest per column block: same k-th value
            d = distance_block(features, rows, features, cols)
            keep = min(k + 1, d.shape[1])
            nearest.append(np.partition(d, keep - 1, axis=1)[:, :keep] if keep < d.shape[1] else d)
        candidates = np.concatenate(nearest, axis=1)
        if candidates.shape[1] <= k:
            raise ValueError(f"precision and recall need more than {k} images per set")
        radii[rows[0]:rows[1], 0] = np.partition(candidates, k, axis=1)[:, k]
    return radii


def precision_recall(ref: np.ndarray, samples: np.ndarray) -> tuple[float, float]:
    """(precision, recall) of the samples against the reference, as the evaluator's compute_prec_recall."""
    f1, f2 = Features(ref), Features(samples)
    radii_1, radii_2 = manifold_radii(f1), manifold_radii(f2)
    in_2 = np.zeros(len(f1), dtype=bool)  # reference vector inside some sample ball (recall)
    in_1 = np.zeros(len(f2), dtype=bool)  # sample vector inside some reference ball (precision)
    for rows in _blocks(len(f1)):
        for cols in _blocks(len(f2)):
            d = distance_block(f1, rows, f2, cols)
            in_2[rows[0]:rows[1]] |= (d <= radii_2[cols[0]:cols[1], 0][None, :]).any(axis=1)
            in_1[cols[0]:cols[1]] |= (d <= radii_1[rows[0]:rows[1], 0][:, None]).any(axis=0)
    return float(np.mean(in_1.astype(np.float64))), float(np.mean(in_2.astype(np.float64)))


# ---------------------------------------------------------------------------------------------- all


@dataclass(frozen=True)
class Results:
    inception_score: float
    fid: float
    sfid: float
    precision: float
    recall: float

    def lines(self) -> list[str]:
        """The evaluator's output lines."""
        return [f"Inception Score: {self.inception_score}", f"FID: {self.fid}", f"sFID: {self.sfid}",
                f"Precision: {self.precision}", f"Recall: {self.recall}"]

    def as_dict(self) -> dict[str, float]:
        return {"inception_score": self.inception_score, "fid": self.fid, "sfid": self.sfid,
                "precision": self.precision, "recall": self.recall}


def evaluate(ref_pool: np.ndarray, ref_spatial: np.ndarray, sample_pool: np.ndarray, sample_spatial: np.ndarray,
             classifier: np.ndarray, ref_stats: tuple[FIDStatistics, FIDStatistics] | None = None) -> Results:
    """Every metric of the evaluator. `ref_stats`: the reference file's precomputed (pool, spatial) statistics,
    used instead of its activations' for FID and sFID when given (precision and recall use the activations)."""
    ref_pool_stats, ref_spatial_stats = ref_stats or (statistics(ref_pool), statistics(ref_spatial))
    precision, recall = precision_recall(ref_pool, sample_pool)
    return Results(
        inception_score=inception_score(sample_pool, classifier),
        fid=statistics(sample_pool).frechet_distance(ref_pool_stats),
        sfid=statistics(sample_spatial).frechet_distance(ref_spatial_stats),
        precision=precision,
        recall=recall,
    )
