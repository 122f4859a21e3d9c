"""Output files, shared by every writer in the project: where they may go, and how they are written.

Where (`check_output`, `check_output_folder`, called by every command before any compute): an output must
not be a folder (or, for a folder output, a file), its parent must be a folder we can write in (probed, so
a read-only disk or a missing permission fails in the first second, not after sampling), and an existing
file is never replaced unless the user passed --overwrite, or the command says the file is its own earlier
output that it would write again (a `rae sample` PNG of the same job). Folder outputs (a converted model,
an exported pipeline) are refused when they exist and hold files, unless --overwrite.

How (`atomic_path`, `atomic_write`): a temporary file in the destination folder, flushed to disk, then
os.replace. A reader (or a Ctrl-C, or a SIGTERM) never sees a half-written image, checkpoint or metadata
file: either the old file (or nothing) is there, or the complete new one. Temporary files are removed on
any exception, KeyboardInterrupt included. OS errors (disk full, read-only, permission) name the target.
A kill -9 cannot be caught: its temporary file (`.<name>.rae<pid>-<random>.tmp`, never read as a result)
is removed by the next check of the same output, once its process is gone. `sha256_file` hashes a file the
same way wherever a file's provenance is recorded.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

_TEMP = re.compile(r"^\..+\.rae(\d+)-[^.]+\.tmp$")  # atomic_path's temporary names, with the writer's pid


# OS errors about the user's files and disks (not bugs): every CLI reports them as one line naming the path.
USER_OS_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT,
                            errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.EFBIG, errno.EEXIST,
                            errno.ENOTEMPTY, errno.ELOOP, errno.ETXTBSY, errno.EMFILE, errno.ENFILE})


class OutputError(ValueError):
    """An output path cannot be written, or writing it would replace something the user did not ask to
    replace. The message names the path and what to do."""


OVERWRITE_HINT = "pass --overwrite to replace it"


def _named(e: OSError, path: Path) -> OSError:
    """The same OS error, naming `path` (errors from write() or a temp file name the wrong thing or nothing)."""
    out = OSError(e.errno, e.strerror or str(e), str(path))
    out.__cause__ = e
    return out


def _writable_parent(path: Path, what: str) -> None:
    """The nearest existing ancestor of `path` must be a folder in which we can create files."""
    parent = path.parent
    while not parent.exists():
        if parent.is_symlink():  # a dangling link
            raise OutputError(f"cannot write the {what} {path}: {parent} is a broken link")
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"cannot write the {what} {path}: {parent} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".rae-probe-", dir=parent)
    except OSError as e:
        raise OutputError(f"cannot write the {what} {path}: {e.strerror or e} in {parent}") from e
    os.close(fd)
    os.unlink(probe)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(folder: Path, name: str = "*") -> list[Path]:
    """Delete the temporary files that writers of `name` (any file with '*') in `folder` left when killed
    (their process no longer runs). A live writer's temporary file is left alone."""
    found = []
    for p in folder.glob(f".{name}.rae*-*.tmp") if folder.is_dir() else ():
        m = _TEMP.match(p.name)
        if m and not _pid_alive(int(m.group(1))):
            with contextlib.suppress(OSError):
                p.unlink()
                found.append(p)
    return found


def check_output(path: str | Path, *, overwrite: bool = False, replaceable: Callable[[Path], bool] | None = None,
                 what: str = "output file") -> Path:
    """Check, before any work, that the file `path` can be written: not a folder (a name ending in '/'
    counts), in a writable place, and not an existing file unless `overwrite` or `replaceable(path)`.
    Temporary files of an earlier writer of `path` that was killed are removed."""
    text = os.fspath(path)
    path = Path(path).expanduser()
    remove_stale_temporaries(path.parent, path.name)
    if text.endswith(("/", os.sep)) or path.is_dir():
        raise OutputError(f"the {what} {text} is a folder; give a file name inside it")
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise OutputError(f"the {what} {path} exists and is not a regular file")
        if not overwrite and not (replaceable is not None and replaceable(path)):
            raise OutputError(f"the {what} {path} already exists; {OVERWRITE_HINT}")
    _writable_parent(path, what)
    return path


def check_output_folder(path: str | Path, *, overwrite: bool = False, what: str = "output folder") -> Path:
    """Check, before any work, that the folder `path` can be written: not a file, in a writable place,
    and not an existing folder with files in it unless `overwrite`."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise OutputError(f"the {what} {path} exists and is a file, not a folder")
    remove_stale_temporaries(path)
    if path.is_dir() and any(not p.name.startswith(".") for p in path.iterdir()) and not overwrite:
        raise OutputError(f"the {what} {path} already exists and holds files; {OVERWRITE_HINT}")
    _writable_parent(path / "x", what)
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success it replaces `path`, on failure it is deleted."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.rae{os.getpid()}-", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _named(e, path) from e
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp_path, path)
    except OSError as e:
        if e.filename is not None and Path(e.filename) == path:
            raise
        raise _named(e, path) from e
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[str], object]) -> Path:
    """Call write(tmp_path) for a temporary file beside `path`, then rename it over `path`."""
    with atomic_path(path) as tmp:
        write(str(tmp))
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def sha256_file(path: str | Path) -> str:
    """The sha256 (hex) of a file's bytes, read 4 MiB at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()
