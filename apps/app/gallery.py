"""The gallery: the PNGs in the output folder (made by the app or by `rae sample`), newest first, with
their `rae` metadata and thumbnails.

Listing a folder of 1,000 images stays fast: one `scandir` with `stat`, then the metadata summary and
thumbnail of only the page shown, both cached on disk in `<output>/.rae-thumbs/` keyed by the file's
size and modification time (so an edited or replaced file is read again).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from PIL import Image

from rae_spec.files import atomic_write, write_text

from ..errors import UserError
from ..images import open_image, png_text
from ..metadata import PNG_KEY
from .security import IMAGE_NAME, safe_image_path

CACHE = ".rae-thumbs"
THUMB = 192  # px, the longer side
REVEAL_WAIT = 2.0  # seconds an opener may take to fail before "shown" is believed


def summary(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a gallery card shows about an image's recorded settings. A record is untrusted (any PNG can carry
    a `rae` chunk): a field of the wrong type shows as missing, never breaks the listing."""
    if not isinstance(record, dict):
        return None
    g, s, source = (_mapping(record.get(k)) for k in ("guidance", "sampler", "source"))
    seeds = record.get("seeds")
    out = {"format": record.get("format"),
           "seed": record.get("seed", seeds[0] if isinstance(seeds, list) and seeds else None),
           "class": record.get("class"), "class_name": record.get("class_name"), "classes": record.get("classes"),
           "steps": s.get("num_steps"), "sampler": "sde" if s.get("mode") == "sde" else s.get("method"),
           "guidance": g.get("method"), "scale": g.get("scale"), "backend": record.get("backend"),
           "dtype": record.get("dtype"), "quantize": record.get("quantize"),
           "pipeline": source.get("preset") or source.get("model") or source.get("config")}
    return {k: v if v is None or isinstance(v, (str, int, float)) or k == "classes" and _ids(v) else None
            for k, v in out.items()}


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _ids(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, int) for v in value)


class Gallery:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.cache = self.folder / CACHE
        self.lock = threading.Lock()
        self.index: dict[str, dict[str, Any]] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads((self.cache / "index.json").read_text())
            if isinstance(loaded, dict):
                self.index = loaded

    def path(self, name: str) -> Path | None:
        return safe_image_path(self.folder, name)

    def _scan(self) -> list[tuple[str, os.stat_result]]:
        out = []
        with contextlib.suppress(FileNotFoundError), os.scandir(self.folder) as it:
            for entry in it:
                if not IMAGE_NAME.fullmatch(entry.name) or entry.is_symlink() or not entry.is_file():
                    continue
                out.append((entry.name, entry.stat()))
        out.sort(key=lambda e: (e[1].st_mtime_ns, e[0]), reverse=True)
        return out

    def _entry(self, name: str, st: os.stat_result) -> tuple[dict[str, Any], bool]:
        """(the cached entry, whether it was computed now)."""
        key = f"{st.st_size}:{st.st_mtime_ns}"
        with self.lock:
            cached = self.index.get(name)
        if cached is not None and cached.get("key") == key:
            return cached, False
        record = None
        width = height = None
        try:
            with Image.open(self.folder / name) as im:
                width, height = im.size
            text = png_text(self.folder / name).get(PNG_KEY)
            record = json.loads(text) if text else None
        except Exception:  # noqa: BLE001 - an unreadable image still lists, without metadata
            record = None
        entry = {"key": key, "width": width, "height": height, "summary": summary(record),
                 "has_record": isinstance(record, dict)}
        with self.lock:
            self.index[name] = entry
        return entry, True

    def _save_index(self) -> None:
        with self.lock:
            live = {n: e for n, e in self.index.items() if (self.folder / n).exists()}
            self.index = live
            text = json.dumps(live, separators=(",", ":"))
        with contextlib.suppress(OSError):
            write_text(self.cache / "index.json", text)

    def list(self, offset: int = 0, limit: int = 200) -> dict[str, Any]:
        files = self._scan()
        page = files[offset: offset + limit]
        items, changed = [], False
        for name, st in page:
            entry, new = self._entry(name, st)
            changed |= new
            items.append({"name": name, "mtime": st.st_mtime, "bytes": st.st_size, "width": entry["width"],
                          "height": entry["height"], "summary": entry["summary"], "has_record": entry["has_record"]})
        if changed:
            self._save_index()
        return {"total": len(files), "offset": offset, "items": items}

    def record(self, name: str) -> dict[str, Any] | None:
        path = self.path(name)
        if path is None:
            return None
        try:  # a file that is no readable image carries no record
            text = png_text(path).get(PNG_KEY)
            return json.loads(text) if text else None
        except (UserError, OSError, ValueError):
            return None

    def thumbnail(self, name: str) -> Path | None:
        """A PNG at most THUMB px on its longer side (the image itself when it is that small). A file that is
        no readable image (or too large to decode safely) is a UserError."""
        path = self.path(name)
        if path is None:
            return None
        st = path.stat()
        with open_image(path) as im:
            if max(im.size) <= THUMB:
                return path
            thumb = self.cache / f"{name[:-4]}.{st.st_size}.{st.st_mtime_ns}.png"
            if not thumb.is_file():
                self.cache.mkdir(parents=True, exist_ok=True)
                try:
                    small = im.convert("RGB")
                except (OSError, ValueError) as e:  # a truncated or corrupt image body
                    raise UserError(f"{name} cannot be decoded ({type(e).__name__}: {e})") from e
                small.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS)
                atomic_write(thumb, lambda tmp: small.save(tmp, format="PNG"))
        return thumb

    def delete(self, name: str) -> bool:
        """Remove the image, its JSON sidecar and its cached thumbnails."""
        path = self.path(name)
        if path is None:
            return False
        path.unlink()
        sidecar = path.with_suffix(".json")
        if sidecar.is_file() and not sidecar.is_symlink():
            sidecar.unlink()
        for thumb in self.cache.glob(f"{name[:-4]}.*.png"):
            thumb.unlink(missing_ok=True)
        with self.lock:
            self.index.pop(name, None)
        return True

    def save_copy(self, name: str, folder: Path | None = None) -> Path | None:
        """Copy the image (metadata included) into the user's Downloads folder (or `folder`), under a name
        that is not taken yet: written beside it under a temporary name, then hard-linked to the first free
        name (a link never replaces a file, even one that appears meanwhile), so no partial copy is left."""
        path = self.path(name)
        if path is None:
            return None
        folder = folder or downloads_folder()
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        os.close(fd)
        try:
            shutil.copy2(path, tmp)
            for k in range(1, 10_000):
                target = folder / (name if k == 1 else f"{name[:-4]}-{k}.png")
                try:
                    os.link(tmp, target)
                    return target
                except FileExistsError:
                    continue
                except OSError:  # a file system without hard links: take the name if it is still free
                    if not target.exists():
                        os.replace(tmp, target)
                        return target
            raise OSError(f"no free name for {name} in {folder}")
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def reveal(self, name: str) -> list[str] | None:
        """Show the image in Finder / Explorer / the file manager; returns the command run. Raises OSError
        when this machine has no file manager to show it with (no display, no opener, or the opener failed
        at once), so the page never says "shown" when nothing was."""
        path = self.path(name)
        if path is None:
            return None
        command = reveal_command(path)
        if shutil.which(command[0]) is None:
            raise OSError(f"{command[0]} is not installed; the image is at {path}")
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise OSError(f"no display here to show a file manager on; the image is at {path}")
        opener = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,  # noqa: S603
                                  start_new_session=True)
        try:  # openers hand over and exit at once; one that fails says so within this wait
            code = opener.wait(timeout=REVEAL_WAIT)
        except subprocess.TimeoutExpired:
            return command
        if code != 0:
            raise OSError(f"{command[0]} failed (exit status {code}); the image is at {path}")
        return command


def reveal_command(path: Path) -> list[str]:
    if sys.platform == "darwin":
        return ["open", "-R", str(path)]
    if sys.platform == "win32":
        return ["explorer", f"/select,{path}"]
    return ["xdg-open", str(path.parent)]


def downloads_folder() -> Path:
    """The user's Downloads folder: on Linux the one named in ~/.config/user-dirs.dirs (XDG_DOWNLOAD_DIR, which
    may be localized), else ~/Downloads, made when missing (a copy never lands loose in the home folder)."""
    home = Path.home()
    if sys.platform.startswith("linux"):
        dirs = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "user-dirs.dirs"
        with contextlib.suppress(OSError, UnicodeDecodeError):
            for line in dirs.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "XDG_DOWNLOAD_DIR":
                    folder = Path(value.strip().strip('"').replace("$HOME", str(home)))
                    if folder.is_absolute() and folder != home:
                        return folder
    return home / "Downloads"
