"""Writes that never leave a half-written file or folder: write to a temporary sibling, then rename.

A folder replaced with --force is swapped in one step (Linux `renameat2(RENAME_EXCHANGE)`): the new folder
is complete before the old one leaves its path, and a crash at any point leaves the old or the new one at
`path`, never neither. Where the exchange is unavailable, the old folder is first renamed aside to
`.NAME.old.*` (a crash between the two renames leaves it there, and the next write through this module
puts it back).

`VITSDK_TEST_CRASH_AT=STEP:NAME` makes the process SIGKILL itself at that step of writing NAME (tests
prove the claim above with it): `staged` (new output complete, nothing moved), `swapped` (new in place, old not yet removed),
`aside` (fallback only: old moved aside, new not yet renamed in).
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vitsdk.errors import UserError

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def crash_point(step: str, path: Path) -> None:
    """Test hook: SIGKILL this process at `step` of writing `path` when VITSDK_TEST_CRASH_AT is 'STEP:NAME'
    (NAME: the last part of `path`, so the inner writes of an export do not trigger it)."""
    if os.environ.get("VITSDK_TEST_CRASH_AT") == f"{step}:{path.name}":
        os.kill(os.getpid(), signal.SIGKILL)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swaps two existing paths; False where the system cannot (not Linux, old kernel, other fs)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _restore_aside(path: Path) -> None:
    """Puts back a folder a crashed fallback replace left at `.NAME.old.*` while `path` is missing."""
    if path.exists():
        return
    for old in sorted(path.parent.glob(f".{path.name}.old.*")):
        os.replace(old, path)
        return


def _replace_dir(tmp: Path, path: Path) -> None:
    if not path.exists():
        os.replace(tmp, path)
        return
    if _exchange(tmp, path):  # tmp now holds the old folder
        crash_point("swapped", path)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
    os.replace(path, aside)
    crash_point("aside", path)
    os.replace(tmp, path)
    crash_point("swapped", path)
    shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, is_dir: bool = False) -> Iterator[Path]:
    """Yields a temporary path next to `path`; on success it replaces `path` (see the module doc), on error
    it is removed and `path` is left as it was, and so are the folders above it (the ones it made are removed)."""
    path = Path(os.path.normpath(path))  # a/missing/../b: no missing/ is made for the '..'
    made = [parent for parent in path.absolute().parents if not parent.exists()]  # deepest first
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if is_dir:
            _restore_aside(path)
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        else:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            tmp = Path(name)
        yield tmp
        # mkstemp/mkdtemp create owner-only entries; give the result the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, (0o777 if is_dir else 0o666) & ~umask)
        crash_point("staged", path)
        if is_dir:
            _replace_dir(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None and tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp is not None:
            tmp.unlink(missing_ok=True)
        for folder in made:
            try:
                folder.rmdir()
            except OSError:  # something else was put there meanwhile: keep it
                break
        if isinstance(exc, OSError) and exc.filename is None:  # a failed write() names no file: name ours
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def check_writable(path: str | os.PathLike, flag: str, *, is_dir: bool) -> Path:
    """Fails fast, before any long work, when `path` cannot be written as a file (or folder) there.

    Creates a probe file (removed at once) in the nearest existing folder above `path`, where the write
    will create what is missing and stage its temporary sibling, and inside `path` when it is an existing
    folder; creates nothing else. Errors name the flag, the path and what to do. Returns `path` as a Path.
    """
    path = Path(path)
    want, other = ("folder", "file") if is_dir else ("file", "folder")
    if path.exists() and path.is_dir() != is_dir:
        raise UserError(f"{flag} '{path}' is a {other}; give a {want} path")
    anchor = path.absolute().parent
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    if not anchor.is_dir():
        raise UserError(f"{flag} '{path}': '{anchor}' is a file, so no folder can be made there; choose another path")
    try:
        for folder in (anchor, path) if path.is_dir() else (anchor,):
            fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=folder)
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise UserError(f"cannot write {flag} '{path}': {describe_os_error(exc, name_file=False)}") from None
    return path


def describe_os_error(exc: OSError, name_file: bool = True) -> str:
    """'permission denied: /x (choose a folder you can write, or fix its permissions)' and the like."""
    where = f": {exc.filename}" if exc.filename and name_file else ""
    hint = _OS_ERROR_HINTS.get(exc.errno)
    return f"{(exc.strerror or str(exc)).lower()}{where}" + (f" ({hint})" if hint else "")


# The OS errors that are the user's to fix (one error line, exit 2), each with how to fix it.
_OS_ERROR_HINTS = {errno.EACCES: "choose a folder you can write, or fix its permissions",
                   errno.EPERM: "choose a folder you can write, or fix its permissions",
                   errno.EROFS: "the file system is read-only; choose another folder",
                   errno.ENOSPC: "the disk is full; free space or choose another disk",
                   errno.EDQUOT: "the disk quota is exceeded; free space or choose another disk",
                   errno.EISDIR: "a folder is in the way; give a file path",
                   errno.ENOTDIR: "a file is in the way where a folder is needed; choose another path",
                   errno.EEXIST: "something is already there; remove it or choose another path",
                   errno.ENAMETOOLONG: "use a shorter path"}
USER_OS_ERRORS = tuple(_OS_ERROR_HINTS)
