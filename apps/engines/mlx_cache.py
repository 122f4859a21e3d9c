"""Models converted once for MLX, cached per source file, dtype and quantization.

The first time the MLX engine needs a torch pickle (`.pt`, `.pth`, `.bin`), a part of a diffusers
AutoencoderRAE file (its encoder or decoder: one entry each, as the config is part of the key), or a
safetensors file in another dtype or quantization than the run asks for, it converts it with rae_convert,
tensor by tensor (the memory of one tensor, never a float32 copy of the model), straight into the target
dtype and quantization. Later runs load the ready file and never open the source again.

    <rae cache>/mlx/<source sha256>/<variant>/      variant = <dtype>[-q<bits>g<group>]-<config hash>
        config.json, model.safetensors, entry.json  (entry.json: what the entry was made from, its files' sha256)
    <rae cache>/mlx/<source sha256>/.<variant>.lock
    <rae cache>/mlx/<source sha256>/.<variant>.tmp-*/   a conversion in progress

Integrity:
- The key is the source's sha256: HF-cache blobs are named by it (free); other files are hashed once and the
  hash is remembered by (path, size, mtime), so a file whose size or mtime changes is hashed again.
- The conversion checks every value it writes (finite after the cast), so loading an entry skips that check
  (about 0.5 s per GB).
- An entry is trusted only if its entry.json matches the key, this converter version, the config and the
  variant, and its files have the recorded sizes and sha256. A file's hash is remembered by (path, size,
  mtime), and the converter records the hash of what it writes, so on later starts this check reads nothing;
  a cached file whose size or mtime changed, or whose hash is not remembered (a cache copied from elsewhere,
  or written by an older version), is read and hashed once: about 3 s per GB on a 2-core Linux machine. An
  entry that fails a check is removed and converted again.
- A conversion is written into a temporary folder and renamed into place, under an exclusive lock on the
  variant (flock, released by the kernel even on kill -9). A second process converting the same file waits for
  the first and then uses its entry. Temporary folders left by a killed conversion (their lock is free) and
  entries in an older layout are removed when the next conversion lookup starts; they are never used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rae_spec.configs import to_dict, to_json
from rae_spec.files import sha256_file, write_text

from ..metadata import cache_dir, clean_index_leftovers, known_sha256, remember_sha256, sha256

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; conversions are still atomic (rename into place)
    fcntl = None  # type: ignore[assignment]

ENTRY_FORMAT = "rae-mlx-cache/1"
TMP_MARK = ".tmp-"
Log = Callable[[str], None]
_verified: set[Path] = set()  # entries this process wrote or checked


def cache_root() -> Path:
    return cache_dir() / "mlx"


@dataclass(frozen=True)
class Variant:
    """What a run wants of a model: its float dtype, and the quantization of its linear layers (bits or None)."""

    dtype: str = "float32"
    bits: int | None = None
    group_size: int = 64

    def name(self, config: Any) -> str:
        q = f"-q{self.bits}g{self.group_size}" if self.bits else ""
        return f"{self.dtype}{q}-{hashlib.sha256(to_json(config).encode()).hexdigest()[:12]}"

    @property
    def quantize(self) -> dict[str, Any] | None:
        return {"bits": self.bits, "group_size": self.group_size} if self.bits else None


def _safetensors_state(path: Path) -> tuple[str, bool]:
    """(float dtype, quantized?) of a safetensors file, from its header."""
    from rae_convert.safetensors_io import read_header

    header, metadata, _ = read_header(path)
    quantized = metadata.get("quantization", "none") not in ("", "none")
    if metadata.get("dtype") in ("float32", "bfloat16", "float16"):
        return metadata["dtype"], quantized
    names = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}
    floats = [(e["data_offsets"][1] - e["data_offsets"][0], names[e["dtype"]]) for e in header.values()
              if e["dtype"] in names]
    return (max(floats)[1] if floats else "float32"), quantized


def needs_conversion(path: Path, variant: Variant = Variant()) -> bool:
    """Torch pickles and diffusers AutoencoderRAE files always; a safetensors file when it is float and the run
    wants it quantized or in a narrower dtype (a quantized file is used as it is; widening happens while
    loading, for free)."""
    from rae_convert.diffusers import folder_of

    path = Path(path)
    if not path.is_file():
        return False
    if path.suffix != ".safetensors" or folder_of(path) is not None:  # a torch pickle, or a diffusers part
        return True
    dtype, quantized = _safetensors_state(path)
    if quantized:
        return False
    return variant.bits is not None or (dtype == "float32" and variant.dtype != "float32")


def mlx_weights(path: Path, config: Any, log: Log = lambda m: None, variant: Variant = Variant()) -> Path:
    """The path rae_mlx should load for `path` in `variant`: the file itself, or its cached conversion
    (converted now, once, if needed)."""
    path = Path(path)
    if not needs_conversion(path, variant):
        return path
    sweep(log)
    key = sha256(path)
    entry = cache_root() / key / variant.name(config)
    if _valid(entry, key, config, variant):
        return entry
    with _lock(entry.parent / f".{entry.name}.lock", log, f"{path.name} ({variant.dtype})"):
        _remove_leftovers(entry)
        if _valid(entry, key, config, variant):  # converted by another process while we waited
            return entry
        if entry.exists():
            log(f"removing the invalid MLX cache entry {entry}")
            shutil.rmtree(entry)
        what = variant.dtype + (f", {variant.bits}-bit" if variant.bits else "")
        log(f"converting {path.name} for MLX once ({what}; cached in {entry})")
        _convert(path, entry, key, config, variant)
    return entry


def converted(path: Path) -> list[str] | None:
    """The settings `path` is converted to in the cache ("bfloat16", "float32-q4", ...), or None when its hash
    is not known without reading the file (it was never used)."""
    key = known_sha256(path)
    if key is None:
        return None
    out = []
    for entry in sorted((cache_root() / key).glob("*/entry.json")):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            m = json.loads(entry.read_text())
            out.append(m["dtype"] + (f"-q{m['quantize']['bits']}" if m.get("quantize") else ""))
    return out


def _convert(path: Path, entry: Path, key: str, config: Any, variant: Variant) -> None:
    from rae_convert import __version__ as converter_version
    from rae_convert import convert_file

    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}{TMP_MARK}", dir=entry.parent))
    try:
        p = convert_file(path, tmp, config, "mlx", dtype=variant.dtype, quantize=variant.quantize,
                         source_sha256=key)
        files = {}
        for name in ("model.safetensors", "config.json"):
            f = tmp / name
            digest = p.written.get(name) or sha256_file(f)
            files[name] = {"size": f.stat().st_size, "sha256": digest}
        manifest = {"format": ENTRY_FORMAT, "source_sha256": key, "source_name": path.name, "values": "finite",
                    "source_size": path.stat().st_size, "converter_version": converter_version,
                    "dtype": variant.dtype, "quantize": variant.quantize, "config": to_dict(config), "files": files}
        write_text(tmp / "entry.json", json.dumps(manifest, indent=1, sort_keys=True))
        os.replace(tmp, entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for name, f in files.items():
        remember_sha256(entry / name, f["sha256"])
    _verified.add(entry)


def _valid(entry: Path, key: str, config: Any, variant: Variant) -> bool:
    """Whether `entry` is a complete conversion of the source `key` for `config` and `variant` (see the module
    docstring for what is checked, and when the file hash is)."""
    from rae_convert import __version__ as converter_version

    try:
        manifest = json.loads((entry / "entry.json").read_text())
        ok = (manifest.get("format") == ENTRY_FORMAT and manifest.get("source_sha256") == key
              and manifest.get("converter_version") == converter_version and manifest.get("dtype") == variant.dtype
              and manifest.get("quantize") == variant.quantize and manifest.get("config") == to_dict(config))
        files = manifest["files"] if ok else {}
        ok = ok and all((entry / n).stat().st_size == f["size"] for n, f in files.items())
        if ok and entry not in _verified:
            ok = all(sha256(entry / n) == f["sha256"] for n, f in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    if ok:
        _verified.add(entry)
    return ok


# ---------------------------------------------------------------------------------------------- leftovers


@contextlib.contextmanager
def _lock(path: Path, log: Log, what: str) -> Iterator[None]:
    """An exclusive lock on `path` (created if needed), waiting for another holder and saying so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log(f"waiting for another rae process that is converting {what}")
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _free(lock: Path) -> bool:
    """Whether nobody holds the lock `lock` now (a missing lock file is free)."""
    if fcntl is None or not lock.exists():
        return True
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _remove_leftovers(entry: Path) -> None:
    """Temporary folders of `entry`'s variant (call with its lock held: no live conversion owns them)."""
    for tmp in entry.parent.glob(f".{entry.name}{TMP_MARK}*"):
        shutil.rmtree(tmp, ignore_errors=True)


def sweep(log: Log = lambda m: None) -> list[Path]:
    """Remove what killed conversions left (temporary folders whose variant lock is free) and entries in the
    layout before per-variant entries (model files directly under <sha256>/). Returns what was removed."""
    clean_index_leftovers()
    root = cache_root()
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for source in root.iterdir():
        if not source.is_dir():
            continue
        for tmp in source.glob(f".*{TMP_MARK}*"):
            variant = tmp.name[1:].split(TMP_MARK)[0]
            if _free(source / f".{variant}.lock"):
                shutil.rmtree(tmp, ignore_errors=True)
                removed.append(tmp)
        old = [source / n for n in ("model.safetensors", "config.json", "stats.safetensors") if (source / n).exists()]
        for f in old:
            f.unlink(missing_ok=True)
            removed.append(f)
        if old and not any(source.iterdir()):
            source.rmdir()
    if removed:
        log(f"removed {len(removed)} leftover(s) of interrupted or older conversions from {root}")
    return removed
