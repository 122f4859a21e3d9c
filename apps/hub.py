"""Where model files live: the standard Hugging Face cache, or a plain models folder.

The HF cache is the one huggingface_hub uses (HF_HUB_CACHE, else $HF_HOME/hub, else
~/.cache/huggingface/hub), read from the environment at call time; HF_HUB_OFFLINE=1 forbids the
network. `--models-dir DIR` (or RAE_MODELS_DIR) replaces the cache with a plain folder laid out as
DIR/<org>/<repo>/<path in repo>, e.g. DIR/nyu-visionx/RAE-collections/stats/.../stat.pt.

Finding a file never touches the network; fetching downloads it (unless offline) and reports where
it went. Any failure is a MissingFileError that names the file and the command that gets it.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MissingFileError

TRUE = {"1", "ON", "YES", "TRUE"}
MODELS_DIR_ENV = "RAE_MODELS_DIR"  # what --models-dir defaults to, for every command and training


def hf_cache_dir() -> Path:
    """The hub cache folder huggingface_hub would use with the current environment."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def hf_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in TRUE


def is_local_repo(repo: str) -> bool:
    """A preset's `repo` may be a local folder (a user's presets file, models shipped in a package)."""
    return os.path.isabs(repo) or repo.startswith(".")


@dataclass(frozen=True)
class Fetched:
    path: Path
    size: int
    downloaded: bool  # False when it was already there


class Store:
    """Finds and fetches (repo, filename) pairs in a models folder or the HF cache."""

    def __init__(self, models_dir: str | Path | None = None, log: Callable[[str], None] | None = None):
        self.models_dir = Path(models_dir).expanduser() if models_dir else None
        self.log = log or (lambda message: None)
        self.fetched: list[tuple[str, str, Fetched]] = []  # what fetch() returned, in order

    @property
    def location(self) -> str:
        return f"models folder {self.models_dir}" if self.models_dir else f"Hugging Face cache {hf_cache_dir()}"

    def find(self, repo: str, filename: str) -> Path | None:
        """The local file, or None. Never uses the network."""
        if is_local_repo(repo):
            path = Path(repo) / filename
            return path if path.is_file() else None
        if self.models_dir is not None:
            path = self.models_dir / repo / filename
            return path if path.is_file() else None
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo, filename, cache_dir=hf_cache_dir())
        return Path(found) if isinstance(found, str) and os.path.isfile(found) else None

    def fetch(self, repo: str, filename: str, hint: str = "", tqdm_class: Any = None) -> Fetched:
        """The local file, downloading it first if needed (and allowed); `tqdm_class` receives the progress."""
        found = self.find(repo, filename)
        if found is not None:
            return self._record(repo, filename, Fetched(found, found.stat().st_size, False))
        where = f"{repo}/{filename}"
        if is_local_repo(repo):
            raise MissingFileError(f"{where} does not exist")
        if hf_offline():
            raise MissingFileError(f"{where} is not in the {self.location} and HF_HUB_OFFLINE is set; "
                                   f"{hint or 'run `rae download`'} while online"
                                   + (" (with the same --models-dir)" if self.models_dir else ""))
        from huggingface_hub import hf_hub_download

        hint = hint or "run `rae download`"
        unreachable = hub_unreachable()
        if unreachable:  # offline: say so now, not after huggingface_hub's retries (about 25 s, 12 lines)
            raise MissingFileError(self._cannot_download(where, unreachable, hint))
        self.log(f"downloading {where} into the {self.location}")
        try:
            if self.models_dir is not None:
                path = hf_hub_download(repo, filename, local_dir=self.models_dir / repo, tqdm_class=tqdm_class)
            else:
                path = hf_hub_download(repo, filename, cache_dir=hf_cache_dir(), tqdm_class=tqdm_class)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # network, auth, missing entry: all end the same way for the user
            reason = " ".join(str(e).split())[:300].rstrip(". ") or type(e).__name__
            raise MissingFileError(self._cannot_download(where, reason, hint)) from e
        path = Path(path)
        fetched = Fetched(path, path.stat().st_size, True)
        self.log(f"  -> {path} ({human_size(fetched.size)})")
        return self._record(repo, filename, fetched)

    def _cannot_download(self, where: str, reason: str, hint: str) -> str:
        return (f"could not download {where} into the {self.location} ({reason}). "
                f"{hint[0].upper() + hint[1:]} when online, or use --models-dir with a folder that holds the file")

    def _record(self, repo: str, filename: str, fetched: Fetched) -> Fetched:
        self.fetched.append((repo, filename, fetched))
        return fetched

    def get(self, repo: str, filename: str, *, download: bool = True, hint: str = "") -> Path:
        """The local path of a file: found, or fetched when `download` allows it."""
        if download:
            return self.fetch(repo, filename, hint).path
        found = self.find(repo, filename)
        if found is None:
            raise MissingFileError(f"{repo}/{filename} is not in the {self.location}; "
                                   f"{hint or 'run `rae download`'}")
        return self._record(repo, filename, Fetched(found, found.stat().st_size, False)).path


PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy")


def hub_unreachable() -> str | None:
    """Why the hub cannot be reached: its host name does not resolve (no network, no DNS). Found in
    milliseconds, so an offline download fails at once. None when it may be reachable, or behind a proxy
    (which resolves names itself)."""
    from huggingface_hub import constants

    if any(os.environ.get(v) for v in PROXY_VARIABLES):
        return None
    host = urllib.parse.urlsplit(constants.ENDPOINT).hostname
    if not host:
        return None
    try:
        socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        return f"no network: cannot resolve {host}: {e.strerror or e}"
    except OSError:
        return None
    return None


def human_size(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} TB"
