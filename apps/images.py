"""Images in and out: the reference's 8-bit quantization, PNG files with text metadata, the ADM center
crop, grids, and the PSNR / SSIM of reconstructions. numpy and Pillow only."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from rae_spec.files import atomic_path

from .errors import UserError


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Decoded images (B, 3, H, W), float -> (B, H, W, 3) uint8 exactly as the reference saves them:
    clamp to [0, 1], multiply by 255 in float32, truncate (no rounding). NaN becomes 0 (callers refuse
    non-finite images unless told to write them anyway)."""
    x = np.clip(np.nan_to_num(np.asarray(images, dtype=np.float32), nan=0.0), 0.0, 1.0) * np.float32(255.0)
    return np.ascontiguousarray(x.astype(np.uint8).transpose(0, 2, 3, 1))


def to_uint8_rounded(images: np.ndarray) -> np.ndarray:
    """Decoded images (B, 3, H, W) -> (B, H, W, 3) uint8 as torchvision's save_image writes them (what the
    reference's src/stage1_sample.py saves): clamp to [0, 1], x * 255 + 0.5 in float32, truncate."""
    x = np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0) * np.float32(255.0) + np.float32(0.5)
    return np.ascontiguousarray(np.clip(x, 0.0, 255.0).astype(np.uint8).transpose(0, 2, 3, 1))


def save_png(path: str | Path, image: np.ndarray, text: dict[str, str] | None = None) -> None:
    """Write an (H, W, 3) uint8 image as PNG with tEXt chunks, atomically."""
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG", pnginfo=info)


def png_text(path: str | Path) -> dict[str, str]:
    """The text chunks of a PNG ({} for other images)."""
    with open_image(path) as im:
        try:
            return dict(getattr(im, "text", {}) or {})
        except Exception as e:  # noqa: BLE001 - Pillow parsing untrusted chunks (e.g. a text chunk too large)
            raise UserError(f"{path}: its text chunks cannot be read ({_why(e)})") from e


def _why(e: BaseException) -> str:
    return " ".join(str(e).split())[:160] or type(e).__name__


def open_image(path: str | Path) -> Image.Image:
    """Open an image file; a missing file, one that is not an image, or one so large that decoding it
    would take gigabytes (Pillow's decompression-bomb limit) is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UserError(f"{path} is too large to decode safely ({_why(e)})") from e
    except OSError as e:
        if not isinstance(e, UnidentifiedImageError) and e.errno is not None:
            raise  # the file cannot be read at all (permissions, I/O): reported with its path
        raise UserError(f"{path} is not an image Pillow can read ({type(e).__name__})") from e
    except Exception as e:  # noqa: BLE001 - Pillow parsing untrusted headers raises many kinds of errors
        raise UserError(f"{path} is not an image Pillow can read ({_why(e)})") from e


def _to_8bit(im: Image.Image) -> Image.Image:
    """16-bit and 32-bit integer images (16-bit grayscale PNGs, 16-bit TIFFs) scaled to 8 bits over their
    full range, as 16-bit RGB PNGs already are: Pillow's own convert("RGB") would clip them to white."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(im, dtype=np.float64)
        return Image.fromarray(np.clip(np.rint(a / 257.0), 0, 255).astype(np.uint8))
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        if not np.isfinite(a).all():
            raise UserError("the image holds NaN or Inf values")
        scale = 255.0 if a.size and a.max() <= 1.0 else 1.0  # float images in [0, 1], else in 8-bit units
        return Image.fromarray(np.clip(np.rint(a * scale), 0, 255).astype(np.uint8))
    return im


def load_rgb(path: str | Path) -> Image.Image:
    """An image file as 8-bit RGB (16-bit images over their full range)."""
    with open_image(path) as im:
        try:
            return _to_8bit(im).convert("RGB")
        except UserError as e:
            raise UserError(f"{path}: {e}") from e
        except Exception as e:  # noqa: BLE001 - truncated or corrupt data surfaces only when decoding
            raise UserError(f"{path} is not a readable image ({_why(e)})") from e


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """ADM center crop (what the reference uses for every evaluation): halve with BOX while the short
    side is at least 2*size, resize the short side to `size` with BICUBIC, crop the center."""
    while min(image.size) >= 2 * size:
        image = image.resize(tuple(s // 2 for s in image.size), resample=Image.BOX)
    scale = size / min(image.size)
    image = image.resize(tuple(round(s * scale) for s in image.size), resample=Image.BICUBIC)
    left, top = (image.size[0] - size) // 2, (image.size[1] - size) // 2
    return image.crop((left, top, left + size, top + size))


def stretch(image: Image.Image, size: int) -> np.ndarray:
    """(size, size, 3) uint8: the whole image resized to a square with Pillow's bicubic filter (antialiased
    when shrinking), non-square images stretched; the input itself when it is already that size."""
    if image.size != (size, size):
        image = image.resize((size, size), resample=Image.BICUBIC)
    return np.asarray(image, dtype=np.uint8)


def grid(images: Sequence[np.ndarray], columns: int, padding: int = 2, fill: int = 0) -> np.ndarray:
    """Tile (H, W, 3) uint8 images row by row with a border of value `fill` (black), like torchvision's
    make_grid."""
    h, w = images[0].shape[:2]
    rows = math.ceil(len(images) / columns)
    out = np.full((rows * (h + padding) + padding, columns * (w + padding) + padding, 3), fill, dtype=np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, columns)
        y, x = padding + r * (h + padding), padding + c * (w + padding)
        out[y: y + h, x: x + w] = im
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images on [0, 1], as the reference's stage-1 evaluation computes it
    (20 log10(1 / sqrt(MSE)), MSE floored at 1e-10)."""
    mse = float(np.mean((a.astype(np.float64) / 255.0 - b.astype(np.float64) / 255.0) ** 2))
    return 20.0 * math.log10(1.0 / math.sqrt(max(mse, 1e-10)))


def _gaussian(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of (H, W, C) with the 1-D kernel k along H and W."""
    n = len(k)
    h = sum(k[i] * x[i: x.shape[0] - n + 1 + i] for i in range(n))
    return sum(k[i] * h[:, i: h.shape[1] - n + 1 + i] for i in range(n))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity of two uint8 (H, W, 3) images (Wang et al. 2004: 11x11 Gaussian window,
    sigma 1.5, K1 0.01, K2 0.03, data range 1), averaged over valid windows and channels."""
    x, y = a.astype(np.float64) / 255.0, b.astype(np.float64) / 255.0
    if min(x.shape[:2]) < 11:
        raise ValueError("SSIM needs images of at least 11x11 pixels")
    k = _gaussian()
    c1, c2 = 0.01**2, 0.03**2
    mx, my = _filter(x, k), _filter(y, k)
    sxx = _filter(x * x, k) - mx * mx
    syy = _filter(y * y, k) - my * my
    sxy = _filter(x * y, k) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean())
