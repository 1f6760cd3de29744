"""Where a render works before its files are complete: a temporary folder inside the story's
output folder, and the ffmpeg processes that write into it, none of which outlive the render.

A render killed outright (kill -9, a power cut) cannot clean up after itself, so each working
folder holds a lock for as long as its render runs; the next render of the story removes the
folders whose lock nobody holds."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

_LOCK = ".render.lock"
_UNLOCKED_GRACE_S = 60.0
"""A folder without a lock file is someone's only if it is younger than this: a render creates
the lock the moment it creates the folder."""


@contextlib.contextmanager
def working_folder(folder: Path, slug: str) -> Iterator[Path]:
    """A fresh temporary folder in `folder`, locked while in use and removed afterwards; folders
    that renders of this story left behind when they were killed are removed first."""
    for stale in folder.glob(f".{slug}-*"):
        if stale.is_dir() and _abandoned(stale):
            shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=f".{slug}-", dir=folder) as tmp_dir:
        with open(Path(tmp_dir) / _LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield Path(tmp_dir)


def _abandoned(path: Path) -> bool:
    try:
        with open(path / _LOCK, "r+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released as the file closes
            return True
    except FileNotFoundError:
        return time.time() - path.stat().st_mtime > _UNLOCKED_GRACE_S
    except OSError:  # held: a render is working there now
        return False


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    with contextlib.suppress(OSError, AttributeError):
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    return None


_PRCTL = _prctl()
"""Looked up once here, so that the child runs no lookup between fork and exec."""
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


DIE_WITH_PARENT = _die_with_parent if _PRCTL is not None else None
"""preexec_fn for a child process that must be killed when the render is, even by kill -9,
rather than go on writing into a working folder that the next render will sweep."""
