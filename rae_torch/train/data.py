"""Class-conditional image folders, the reference's preprocessing, and a resumable distributed order.

Layout: `root/<class>/<image>` (ImageNet train layout, any number of classes); labels are the sorted
class-folder indices, files sorted within a class (torchvision's ImageFolder order).

Preprocessing (reference-spec 7): stage 2 and stats use the ADM center crop to S plus an optional
horizontal flip; stage 1 resizes the short side to 1.5 S (bicubic) and takes a random S x S crop.
Random choices come from the sample's seed (randomness.py), never from worker RNGs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

from rae_spec.configs import ConfigError

from .randomness import Stream, mix_seed, uniform

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class ImageFolder:
    """The (path, label) list of a class-per-folder image tree."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise ConfigError(f"data path {self.root} is not a folder; expected <root>/<class>/<image> files")
        self.classes = sorted(d.name for d in self.root.iterdir() if d.is_dir() and not d.name.startswith("."))
        if not self.classes:
            raise ConfigError(f"{self.root} has no class folders; expected <root>/<class>/<image> files")
        self.samples: list[tuple[Path, int]] = []
        for label, name in enumerate(self.classes):
            files = sorted(p for p in (self.root / name).rglob("*")
                           if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            self.samples.extend((p, label) for p in files)
        if not self.samples:
            raise ConfigError(f"{self.root} has class folders but no images ({', '.join(IMAGE_EXTENSIONS)})")

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[Image.Image, int]:
        path, label = self.samples[index]
        with Image.open(path) as img:
            return img.convert("RGB"), label


def center_crop_arr(img: Image.Image, size: int) -> Image.Image:
    """ADM center crop: halve with BOX while the short side is >= 2 size, bicubic-resize the short side
    to `size` (rounded sizes), then crop the center with floor offsets."""
    while min(img.size) >= 2 * size:
        img = img.resize(tuple(x // 2 for x in img.size), resample=Image.BOX)
    scale = size / min(img.size)
    img = img.resize(tuple(round(x * scale) for x in img.size), resample=Image.BICUBIC)
    w, h = img.size
    top, left = (h - size) // 2, (w - size) // 2
    return img.crop((left, top, left + size, top + size))


def resize_short_side(img: Image.Image, size: int) -> Image.Image:
    """torchvision Resize(int) on a PIL image: short side -> size, long side truncated, bicubic."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    if short == size:
        return img
    new_long = int(size * long / short)
    new_w, new_h = (size, new_long) if w <= h else (new_long, size)
    return img.resize((new_w, new_h), resample=Image.BICUBIC)


def random_crop(img: Image.Image, size: int, u_y: float, u_x: float) -> Image.Image:
    """RandomCrop(size) with the offsets drawn from two uniforms."""
    w, h = img.size
    if w < size or h < size:
        raise ConfigError(f"cannot crop {size} px from a {w}x{h} image; raise data.resize")
    top, left = int(u_y * (h - size + 1)), int(u_x * (w - size + 1))
    return img.crop((left, top, left + size, top + size))


def to_tensor(img: Image.Image) -> torch.Tensor:
    """uint8 HWC -> float32 CHW in [0, 1]."""
    arr = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


def flip_of(seed: int) -> bool:
    """The horizontal-flip decision of a sample (shared by online encoding and the latent cache)."""
    return uniform(seed, Stream.FLIP) < 0.5


class ImageDataset(Dataset):
    """Items keyed by (index, seed) -> {'image' (3, S, S) in [0, 1], 'label', 'seed', 'index'}.

    mode 'adm': center crop (+ flip by seed when `flip`); 'stage1': resize + random crop;
    'adm_both': center crop, returning 'image' and its mirror 'image_flip' (latent cache, stats)."""

    def __init__(self, folder: ImageFolder, image_size: int, mode: Literal["adm", "stage1", "adm_both"] = "adm",
                 flip: bool = True, resize: int | None = None):
        self.folder = folder
        self.image_size = image_size
        self.mode = mode
        self.flip = flip
        self.resize = resize if resize is not None else int(1.5 * image_size)

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, key) -> dict:
        index, seed = key if isinstance(key, tuple) else (key, mix_seed(key))
        img, label = self.folder.load(index)
        item = {"label": label, "seed": seed, "index": index}
        if self.mode == "stage1":
            img = resize_short_side(img, self.resize)
            img = random_crop(img, self.image_size, uniform(seed, Stream.CROP_Y), uniform(seed, Stream.CROP_X))
        else:
            img = center_crop_arr(img, self.image_size)
        if self.mode == "adm_both":
            item["image_flip"] = to_tensor(img.transpose(Image.FLIP_LEFT_RIGHT))
        elif self.flip and flip_of(seed):
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        item["image"] = to_tensor(img)
        return item


class GlobalOrderSampler(Sampler):
    """(index, seed) pairs for one rank, step after step, epoch after epoch (it never ends).

    Epoch e visits the dataset in a permutation seeded by (seed, e) (or in order, shuffle False).
    Optimizer step s covers the global positions [s B, (s + 1) B) of that order, B the global batch;
    rank r takes the positions p = r (mod world) among them, in order, and the DataLoader cuts them into
    micro-batches. So the samples of a step do not depend on the world size or accumulation, and a run
    resumes at any (epoch, position). Each sample's seed is mix(seed, epoch, p). A final partial step is
    dropped (drop_last), as the reference's loader does.
    """

    def __init__(self, num_samples: int, global_batch: int, rank: int = 0, world_size: int = 1, seed: int = 0,
                 epoch: int = 0, position: int = 0, shuffle: bool = True):
        if global_batch % world_size:
            raise ConfigError(f"global batch {global_batch} is not divisible by the world size {world_size}")
        if num_samples < global_batch:
            raise ConfigError(f"the dataset has {num_samples} samples, fewer than one global batch ({global_batch})")
        self.num_samples, self.global_batch = num_samples, global_batch
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.epoch, self.position, self.shuffle = epoch, position, shuffle

    def order(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.num_samples)
        g = torch.Generator().manual_seed(mix_seed(self.seed, epoch))
        return torch.randperm(self.num_samples, generator=g)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, position = self.epoch, self.position
        B, W = self.global_batch, self.world_size
        while True:
            order = self.order(epoch).tolist()
            while position + B <= self.num_samples:
                for p in range(position + self.rank, position + B, W):
                    yield order[p], mix_seed(self.seed, epoch, p)
                position += B
            epoch, position = epoch + 1, 0


def advance(epoch: int, position: int, global_batch: int, num_samples: int) -> tuple[int, int]:
    """The data position after one optimizer step (mirrors GlobalOrderSampler)."""
    position += global_batch
    if position + global_batch > num_samples:
        return epoch + 1, 0
    return epoch, position


class PartitionSampler(Sampler):
    """One pass over the first `num_samples` items, rank r taking items r, r + W, ... in order (no
    padding, no duplicates): what stats and the latent cache need. Seeds are mix(seed, 0, index)."""

    def __init__(self, num_samples: int, rank: int = 0, world_size: int = 1, seed: int = 0):
        self.indices = list(range(rank, num_samples, world_size))
        self.seed = seed

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for i in self.indices:
            yield i, mix_seed(self.seed, 0, i)


def make_loader(dataset: Dataset, sampler: Sampler, batch_size: int, num_workers: int,
                pin_memory: bool = False) -> DataLoader:
    """A DataLoader over `sampler`'s (index, seed) keys. Its own generator seeds the workers, so creating
    it draws nothing from the global torch RNG (a resumed run's RNG state stays exact)."""
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      pin_memory=pin_memory, drop_last=False, persistent_workers=False,
                      prefetch_factor=4 if num_workers > 0 else None, generator=torch.Generator().manual_seed(0))


def steps_per_epoch(num_samples: int, global_batch: int) -> int:
    return max(num_samples // global_batch, 1)


def epochs_to_steps(epochs: float | None, steps: int | None, per_epoch: int) -> int | None:
    """A duration given in steps (wins) or epochs, in optimizer steps."""
    if steps is not None:
        return int(steps)
    if epochs is None:
        return None
    return int(math.floor(epochs * per_epoch))
