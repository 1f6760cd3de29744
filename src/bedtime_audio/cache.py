"""A content-addressed store of synthesized lines, safe to share between renders."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import Audio
from .model import Voice

_MAGIC = b"BTA1"
_DIGEST_BYTES = 32


def default_cache_dir() -> Path:
    if "BEDTIME_CACHE" in os.environ:
        return Path(os.environ["BEDTIME_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bedtime-audio" / "lines"


def line_key(engine: str, engine_version: str, voice: Voice, text: str) -> str:
    """Everything that decides how a line sounds, hashed."""
    spec = {"engine": engine, "version": engine_version, "voice": voice.voice_id,
            "speed": voice.speed, "pitch": voice.pitch, "text": text}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class LineCache:
    root: Path

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.clip"

    def get(self, key: str) -> Audio | None:
        """The stored clip, or None when it is missing, truncated or corrupt."""
        try:
            blob = self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        digest, payload = blob[4 : 4 + _DIGEST_BYTES], blob[4 + _DIGEST_BYTES :]
        if blob[:4] != _MAGIC or hashlib.sha256(payload).digest() != digest:
            return None
        rate_hz = int.from_bytes(payload[:4], "little")
        samples = np.load(io.BytesIO(payload[4:]), allow_pickle=False)
        return Audio(samples, rate_hz)

    def put(self, key: str, audio: Audio) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(audio.samples), allow_pickle=False)
        payload = audio.rate_hz.to_bytes(4, "little") + buffer.getvalue()
        write_atomic(self._path(key), _MAGIC + hashlib.sha256(payload).digest() + payload)

    def entries(self) -> list[Path]:
        return sorted(self.root.glob("??/*.clip")) if self.root.exists() else []


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
