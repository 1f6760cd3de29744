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

    def read(self, key: str) -> tuple[dict[str, Any], bytes] | None:
        path = self._path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        digest, payload = blob[4 : 4 + _DIGEST_BYTES], blob[4 + _DIGEST_BYTES :]
        if blob[:4] != _MAGIC or hashlib.sha256(payload).digest() != digest:
            path.unlink(missing_ok=True)  # damaged: made again by whoever needs it next
            return None
        os.utime(path)  # recently used: kept by `bedtime cache prune`
        meta_bytes = int.from_bytes(payload[:4], "little")
        return json.loads(payload[4 : 4 + meta_bytes]), payload[4 + meta_bytes :]

    def holds(self, key: str) -> bool:
        """Whether an entry is there, without reading it (a damaged one reads as missing)."""
        return self._path(key).exists()

    def write(self, key: str, data: bytes, meta: dict[str, Any] | None = None) -> None:
        meta_json = json.dumps(meta or {}, sort_keys=True).encode()
        payload = len(meta_json).to_bytes(4, "little") + meta_json + data
        write_atomic(self._path(key), _MAGIC + hashlib.sha256(payload).digest() + payload)

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
        samples = np.load(io.BytesIO(data), allow_pickle=False)
        return Entry(Audio(samples, meta.pop("rate_hz")), meta)

    def put(self, key: str, audio: Audio, meta: dict[str, Any] | None = None) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(audio.samples), allow_pickle=False)
        self.write(key, buffer.getvalue(), {**(meta or {}), "rate_hz": audio.rate_hz})


def write_atomic(path: Path, data: bytes) -> None:
    """Write under a temporary name in the same folder, then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
