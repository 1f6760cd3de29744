"""Content-addressed stores — synthesized lines, mixed chapters, encoded stretches of a story —
that any number of renders may share: entries are written atomically and checked when read."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
class Entry:
    audio: Audio
    meta: dict[str, Any]
    """Small facts stored with the audio (a chapter's loudness, say)."""


@dataclass(frozen=True)
class Store:
    """Blobs with a little JSON beside them, by key: each file carries the sha256 of its
    contents, so a truncated or damaged entry reads as missing and is made again."""

    root: Path

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.clip"

    def read(self, key: str) -> tuple[dict[str, Any], memoryview] | None:
        """The entry's facts and data; the data is a view of the file as read, not a copy
        (a chapter is large)."""
        path = self._path(key)
        try:
            blob = memoryview(path.read_bytes())
        except FileNotFoundError:
            return None
        digest, payload = blob[4 : 4 + _DIGEST_BYTES], blob[4 + _DIGEST_BYTES :]
        if blob[:4] != _MAGIC or hashlib.sha256(payload).digest() != digest:
            path.unlink(missing_ok=True)  # damaged: made again by whoever needs it next
            return None
        os.utime(path)  # recently used: kept by `bedtime cache prune`
        meta_bytes = int.from_bytes(payload[:4], "little")
        return json.loads(bytes(payload[4 : 4 + meta_bytes])), payload[4 + meta_bytes :]

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
    """A store of audio: synthesized lines, mixed chapters."""

    def get(self, key: str) -> Audio | None:
        """The stored audio, or None when it is missing, truncated or corrupt."""
        entry = self.entry(key)
        return entry.audio if entry else None

    def entry(self, key: str) -> Entry | None:
        found = self.read(key)
        if found is None:
            return None
        meta, data = found
        header = io.BytesIO(data[:_NPY_HEADER_MAX])
        if np.lib.format.read_magic(header) == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(header)
        else:
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(header)
        samples = np.frombuffer(data[header.tell() :], dtype).reshape(shape)  # put writes C order
        return Entry(Audio(samples, meta.pop("rate_hz")), meta)

    def put(self, key: str, audio: Audio, meta: dict[str, Any] | None = None) -> None:
        """Kept in .npy form, written from the samples themselves (a chapter is large)."""
        samples = np.ascontiguousarray(audio.samples)
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, np.lib.format.header_data_from_array_1_0(samples)
        )
        facts = {**(meta or {}), "rate_hz": audio.rate_hz}
        self.write(key, header.getvalue(), samples.data.cast("B"), meta=facts)


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
