"""Content-addressed stores of audio — synthesized lines and mixed chapters — that any number
of renders may share: entries are written atomically and checked when read."""

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

_MAGIC = b"BTA2"
_DIGEST_BYTES = 32


def default_cache_dir() -> Path:
    """$BEDTIME_CACHE, else bedtime-audio's folder in the XDG cache."""
    if "BEDTIME_CACHE" in os.environ:
        return Path(os.environ["BEDTIME_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bedtime-audio"


def line_key(engine: str, engine_version: str, voice: Voice, text: str) -> str:
    """Everything that decides how a line sounds, hashed."""
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
    """Small facts stored with the audio (a chapter's mastering gain, say)."""


@dataclass(frozen=True)
class AudioCache:
    root: Path

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.clip"

    def get(self, key: str) -> Audio | None:
        """The stored audio, or None when it is missing, truncated or corrupt."""
        entry = self.entry(key)
        return entry.audio if entry else None

    def entry(self, key: str) -> Entry | None:
        path = self._path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        digest, payload = blob[4 : 4 + _DIGEST_BYTES], blob[4 + _DIGEST_BYTES :]
        if blob[:4] != _MAGIC or hashlib.sha256(payload).digest() != digest:
            return None
        os.utime(path)  # recently used: kept by `bedtime cache prune`
        rate_hz = int.from_bytes(payload[:4], "little")
        meta_bytes = int.from_bytes(payload[4:8], "little")
        meta = json.loads(payload[8 : 8 + meta_bytes])
        samples = np.load(io.BytesIO(payload[8 + meta_bytes :]), allow_pickle=False)
        return Entry(Audio(samples, rate_hz), meta)

    def put(self, key: str, audio: Audio, meta: dict[str, Any] | None = None) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(audio.samples), allow_pickle=False)
        meta_json = json.dumps(meta or {}, sort_keys=True).encode()
        payload = (
            audio.rate_hz.to_bytes(4, "little")
            + len(meta_json).to_bytes(4, "little")
            + meta_json
            + buffer.getvalue()
        )
        write_atomic(self._path(key), _MAGIC + hashlib.sha256(payload).digest() + payload)

    def entries(self) -> list[Path]:
        return sorted(self.root.glob("??/*.clip")) if self.root.exists() else []

    def prune(self, older_than_s: float) -> tuple[int, int]:
        """Remove entries unused for longer than the given age, and leftovers of interrupted
        writes; returns (files, bytes) removed."""
        cutoff = time.time() - older_than_s
        files = removed = 0
        for path in [*self.entries(), *self.root.glob("??/.*.tmp")] if self.root.exists() else []:
            stat = path.stat()
            if stat.st_mtime < cutoff or path.suffix == ".tmp":
                path.unlink(missing_ok=True)
                files, removed = files + 1, removed + stat.st_size
        return files, removed


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
