"""Provenance: what made an image, stored in the PNG (text chunk "rae") and optionally beside it as JSON,
enough for `rae sample --from-metadata` to make the same image again.

File hashes are sha256. Files in the HF cache are named by their sha256 (LFS blobs), so those cost
nothing; other files are hashed once and remembered by (path, size, mtime) in the rae cache folder
($RAE_CACHE, else ~/.cache/rae).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any

from rae_spec.configs import to_dict
from rae_spec.files import sha256_file, write_text

from . import __version__
from .errors import UserError
from .images import png_text

try:
    import fcntl
except ImportError:  # Windows: index updates are not serialized (a lost update only costs a re-hash)
    fcntl = None  # type: ignore[assignment]

INDEX = "sha256.json"
PNG_KEY = "rae"
FORMAT = "rae-sample/1"
GRID_FORMAT = "rae-grid/1"


def cache_dir() -> Path:
    explicit = os.environ.get("RAE_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "rae"


def sha256(path: str | Path) -> str:
    """sha256 of a file, free for HF-cache blobs and remembered for the rest by (path, size, mtime): a file
    whose size or mtime changes is hashed again."""
    path = Path(path)
    real = path.resolve()
    if re.fullmatch(r"[0-9a-f]{64}", real.name) and real.parent.name == "blobs":
        return real.name
    key = _index_key(real)
    known = _read_index().get(key)
    if known is not None:
        return known
    digest = sha256_file(real)
    remember_sha256(real, digest)
    return digest


def known_sha256(path: str | Path) -> str | None:
    """The sha256 of a file when it is known without reading it (an HF-cache blob, or remembered), else None."""
    real = Path(path).resolve()
    if re.fullmatch(r"[0-9a-f]{64}", real.name) and real.parent.name == "blobs":
        return real.name
    try:
        return _read_index().get(_index_key(real))
    except OSError:
        return None


def _index_key(real: Path) -> str:
    st = real.stat()
    return f"{real}|{st.st_size}|{st.st_mtime_ns}"


def _read_index() -> dict[str, str]:
    with contextlib.suppress(OSError, ValueError):
        index = json.loads((cache_dir() / INDEX).read_text())
        if isinstance(index, dict):
            return index
    return {}


def remember_sha256(path: str | Path, digest: str) -> None:
    """Record the sha256 of a file just written or hashed (best effort: a read-only cache only costs time)."""
    real = Path(path).resolve()
    with contextlib.suppress(OSError):
        with _index_lock():
            index = _read_index()
            index[_index_key(real)] = digest
            write_text(cache_dir() / INDEX, json.dumps(index, indent=0, sort_keys=True))


def clean_index_leftovers() -> None:
    """Remove temp files of the hash index that a killed writer left (waits for a live writer first)."""
    if (cache_dir() / INDEX).parent.is_dir():
        with contextlib.suppress(OSError), _index_lock():
            pass


@contextlib.contextmanager
def _index_lock():
    """Serialize updates of the hash index between processes, and remove temp files a killed writer left."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f".{INDEX}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        for tmp in folder.glob(f".{INDEX}.*.tmp"):  # we hold the lock: no live writer owns these
            tmp.unlink(missing_ok=True)
        yield
    finally:
        os.close(fd)


def file_record(weights) -> dict[str, Any]:
    """{origin, sha256, config} of one resolved model."""
    return {"origin": weights.origin, "sha256": sha256(weights.path), "config": to_dict(weights.config)}


def sample_record(pipe, *, index: int, seed: int, row: int, class_id: int, class_name: str, classes: list[int],
                  num_images: int, batch_size: int, engine_info: dict[str, Any], files: dict[str, Any]) -> dict:
    """The provenance of one generated image."""
    return {
        "format": FORMAT,
        "rae_version": __version__,
        "source": pipe.source,
        "files": files,
        "class": class_id,
        "class_name": class_name,
        "seed": seed,
        "index": index,
        "batch": {"classes": classes, "num_images": num_images, "row": row, "batch_size": batch_size},
        "noise": "numpy default_rng(seed).standard_normal((len(classes) * num_images, C, H, W), float32), NCHW",
        "latent_shape": list(pipe.latent_shape),
        "sampler": to_dict(pipe.sampler),
        "guidance": to_dict(pipe.guidance),
        "shift": pipe.shift,
        "rae": to_dict(pipe.rae),
        **engine_info,
    }


def grid_record(pipe, *, seeds: list[int], classes: list[int], class_names: list[str], num_images: int,
                batch_size: int, columns: int, engine_info: dict[str, Any], files: dict[str, Any]) -> dict:
    """The provenance of a grid: the whole job, which `--from-metadata` runs again."""
    return {"format": GRID_FORMAT, "rae_version": __version__, "source": pipe.source, "files": files,
            "seeds": list(seeds), "classes": list(classes), "class_names": class_names, "num_images": num_images,
            "batch_size": batch_size, "columns": columns, "latent_shape": list(pipe.latent_shape),
            "sampler": to_dict(pipe.sampler), "guidance": to_dict(pipe.guidance), "shift": pipe.shift,
            "rae": to_dict(pipe.rae), **engine_info}


def png_chunks(record: dict[str, Any]) -> dict[str, str]:
    """Text chunks for a PNG: the full record, plus a one-line summary for image viewers."""
    g = record["guidance"]
    guidance = "none" if g["method"] == "none" or g["scale"] == 1.0 else f"{g['method']} {g['scale']}"
    summary = (f"class {record['class']} ({record['class_name']}), seed {record['seed']}, "
               f"{record['sampler']['method']} {record['sampler']['num_steps']} points, guidance {guidance}, "
               f"{record['backend']} {record['dtype']}")
    return {PNG_KEY: json.dumps(record, sort_keys=True), "Description": summary, "Software": f"rae {__version__}"}


def read_record(path: str | Path) -> dict[str, Any]:
    """The record of a PNG written by `rae sample`, or of its JSON sidecar."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"metadata file {path} does not exist")
    if path.stat().st_size > MAX_RECORD_FILE and path.suffix.lower() == ".json":
        raise UserError(f"{path} is {path.stat().st_size} bytes: too large to be rae metadata")
    if path.suffix.lower() == ".json":
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as e:
            raise UserError(f"{path} is not UTF-8 JSON") from e
    else:
        text = png_text(path).get(PNG_KEY)
        if text is None:
            raise UserError(f"{path} carries no rae metadata (it was not written by `rae sample`)")
    try:
        record = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise UserError(f"{path} does not hold valid JSON metadata ({' '.join(str(e).split())[:100]})") from e
    if not isinstance(record, dict) or record.get("format") not in (FORMAT, GRID_FORMAT):
        raise UserError(f"{path} does not hold rae sample metadata (format {FORMAT} or {GRID_FORMAT})")
    return record


MAX_RECORD_FILE = 16 << 20  # a record is kilobytes; a bigger "metadata" file is not one of ours


def same_job(path: str | Path, job: dict[str, Any]) -> bool:
    """Whether `path` is an output rae wrote for this job: a PNG (or JSON sidecar) whose record agrees with
    every item of `job`. Such a file may be replaced by a rerun of the same command (rae_spec.files'
    rule); anything unreadable or different is the user's file and is not."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_RECORD_FILE:
            return False
        if path.suffix.lower() == ".json":
            record = json.loads(path.read_text())
        else:
            record = json.loads(png_text(path).get(PNG_KEY, "null"))
    except (OSError, UserError, ValueError, RecursionError):
        return False
    return isinstance(record, dict) and all(record.get(k) == v for k, v in job.items())


def write_sidecar(image_path: str | Path, record: dict[str, Any]) -> Path:
    path = Path(image_path).with_suffix(".json")
    write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path
