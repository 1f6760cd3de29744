"""Content-addressed stores — synthesized lines, mixed chapters, encoded stretches of a story —
that any number of renders may share: entries are written atomically and checked when read."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from .audio import Audio
from .model import Voice

_MAGIC = b"BTA3"
_DIGEST_BYTES = 32
STORES = ("lines", "chapters", "encoded")
"""The folders under the cache directory."""


def default_cache_dir() -> Path:
    """$BEDTIME_CACHE, else bedtime-audio's folder in the XDG cache; absolute, ~ expanded."""
    if explicit := os.environ.get("BEDTIME_CACHE"):
        return Path(explicit).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return (Path(base).expanduser() / "bedtime-audio").resolve()


def line_key(engine: str, engine_version: str, voice: Voice, text: str) -> str:
    """Everything that decides how a spoken sentence sounds, hashed."""
    spec = {
        "engine": engine,
        "version": engine_version,
        "voice": voice.voice_id,
        "speed": voice.speed,
        "pitch": voice.pitch,
        "text": text,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Store:
    """Blobs with a little JSON beside them, by key: each file carries the sha256 of its
    contents, so a truncated or damaged entry reads as missing and is made again."""

    root: Path

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.clip"

    def read(self, key: str) -> tuple[dict[str, Any], memoryview] | None:
        """The entry's facts and data."""
        with self._opened(key) as found:
            return None if found is None else (found[1], memoryview(found[0].read()))

    @contextlib.contextmanager
    def _opened(self, key: str) -> Iterator[tuple[IO[bytes], dict[str, Any]] | None]:
        """The entry's file, checked against its digest (a megabyte at a time) and read up to
        its data, and its facts; None when it is missing, truncated or damaged."""
        path = self._path(key)
        try:
            fh = open(path, "rb")  # noqa: SIM115 -- closed below, once the entry is read
        except FileNotFoundError:
            yield None
            return
        with fh:
            head = fh.read(len(_MAGIC) + _DIGEST_BYTES)
            if head[:4] != _MAGIC or _digest(fh) != head[4:]:
                path.unlink(missing_ok=True)  # damaged: made again by whoever needs it next
                yield None
                return
            os.utime(path)  # recently used: kept by `bedtime cache prune`
            fh.seek(len(head))
            yield fh, json.loads(fh.read(int.from_bytes(fh.read(4), "little")))

    def holds(self, key: str) -> bool:
        """Whether an entry is there, without reading it (a damaged one reads as missing)."""
        return self._path(key).exists()

    def write(
        self, key: str, *data: bytes | memoryview, meta: dict[str, Any] | None = None
    ) -> None:
        """Keep the data (given in parts, written one after another) with its facts."""
        meta_json = json.dumps(meta or {}, sort_keys=True).encode()
        head = len(meta_json).to_bytes(4, "little") + meta_json
        digest = hashlib.sha256(head)
        for part in data:
            digest.update(part)
        write_atomic(self._path(key), _MAGIC, digest.digest(), head, *data)

    def entries(self) -> list[Path]:
        return sorted(self.root.glob("??/*.clip")) if self.root.exists() else []

    def prune(self, older_than_s: float) -> tuple[int, int]:
        """Remove entries unused for longer than the given age, entries an older
        bedtime-audio wrote in another format, and leftovers of interrupted writes; returns
        (files, bytes) removed."""
        cutoff = time.time() - older_than_s
        files = removed = 0
        for path in [*self.entries(), *self.root.glob("??/.*.tmp")] if self.root.exists() else []:
            stat = path.stat()
            if stat.st_mtime < cutoff or path.suffix == ".tmp" or not _current(path):
                path.unlink(missing_ok=True)
                files, removed = files + 1, removed + stat.st_size
        return files, removed


def _current(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(_MAGIC)) == _MAGIC


class AudioCache(Store):
    """A store of audio: synthesized lines, mixed chapters. A chapter is long, so it is written
    and read a block at a time, and never held whole."""

    def get(self, key: str) -> Audio | None:
        """The stored audio, or None when it is missing, truncated or corrupt."""
        with self.reader(key) as found:
            return None if found is None else Audio(found.read(0, found.frames), found.rate_hz)

    @contextlib.contextmanager
    def reader(self, key: str) -> Iterator[Planar | None]:
        """The entry, read a block at a time; None when it is missing, truncated or corrupt
        (checked first, through the whole file, a megabyte at a time)."""
        with self._opened(key) as opened:
            if opened is None:
                yield None
                return
            fh, meta = opened
            header = fh.tell()
            found = io.BytesIO(fh.read(_NPY_HEADER_MAX))
            if np.lib.format.read_magic(found) == (1, 0):
                shape, _fortran, _dtype = np.lib.format.read_array_header_1_0(found)
            else:
                shape, _fortran, _dtype = np.lib.format.read_array_header_2_0(found)
            channels, frames = shape
            rate_hz = meta.pop("rate_hz")
            yield Planar(fh.fileno(), header + found.tell(), channels, frames, rate_hz, meta)

    def put(self, key: str, audio: Audio, meta: dict[str, Any] | None = None) -> None:
        with self.writer(key, audio.channels, audio.frames, audio.rate_hz, meta) as out:
            out.write(audio.samples)

    @contextlib.contextmanager
    def writer(
        self,
        key: str,
        channels: int,
        frames: int,
        rate_hz: int,
        meta: dict[str, Any] | None = None,
    ) -> Iterator[Planar]:
        """Write an entry a block at a time, in order: it is there, whole, once the block is
        left, and not at all if it is left early or by an exception."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta_json = json.dumps({**(meta or {}), "rate_hz": rate_hz}, sort_keys=True).encode()
        header = io.BytesIO()
        header.write(len(meta_json).to_bytes(4, "little") + meta_json)
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<f4", "fortran_order": False, "shape": (channels, frames)}
        )
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "r+b") as fh:
                fh.write(_MAGIC + bytes(_DIGEST_BYTES) + header.getvalue())
                out = Planar(fh.fileno(), fh.tell(), channels, frames, rate_hz, {})
                yield out
                if out.written != frames:
                    raise ValueError(f"{out.written} frames written of {frames}")
                fh.seek(len(_MAGIC) + _DIGEST_BYTES)
                os.pwrite(fh.fileno(), _digest(fh), len(_MAGIC))
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)


@dataclass
class Planar:
    """float32 audio in a file, one channel after another from `offset`: written and read a
    block of frames at a time, without the file's pages ever counting as the process's
    memory."""

    fd: int
    offset: int
    channels: int
    frames: int
    rate_hz: int
    meta: dict[str, Any]
    written: int = 0

    def write(self, block: np.ndarray) -> None:
        """The next frames, (channels, n)."""
        block = np.ascontiguousarray(block, "<f4")
        for channel, row in enumerate(block):
            at = self.offset + 4 * (channel * self.frames + self.written)
            os.pwrite(self.fd, row.data, at)
        self.written += block.shape[1]

    def read(self, start: int, end: int) -> np.ndarray:
        """Frames [start, end) as a writable (channels, n) float32 array."""
        out = np.empty((self.channels, end - start), "<f4")
        for channel, row in enumerate(out):
            at = self.offset + 4 * (channel * self.frames + start)
            if os.preadv(self.fd, [row.data], at) != row.nbytes:
                raise OSError(f"a cached entry ended early at frame {end}")
        return out

    def blocks(self, frames: int = 1 << 18) -> Iterator[np.ndarray]:
        for start in range(0, self.frames, frames):
            yield self.read(start, min(self.frames, start + frames))


@contextlib.contextmanager
def scratch(folder: Path, channels: int, frames: int, rate_hz: int) -> Iterator[Planar]:
    """A nameless file in `folder` (on disk, as the caches are) for audio too long to hold:
    gone when left, or when the process ends however it ends."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder, prefix=".scratch-") as fh:
        yield Planar(fh.fileno(), 0, channels, frames, rate_hz, {})


def _digest(fh: IO[bytes]) -> bytes:
    """The sha256 of the rest of the file, read a megabyte at a time."""
    digest = hashlib.sha256()
    while chunk := fh.read(1 << 20):
        digest.update(chunk)
    return digest.digest()


_NPY_HEADER_MAX = 4096
"""More than enough for the .npy header of a (channels, frames) array."""


def write_atomic(path: Path, *parts: bytes | memoryview) -> None:
    """Write under a temporary name in the same folder, then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            for part in parts:
                fh.write(part)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
