"""Speech engines behind one small Protocol, chosen by name from an explicit registry."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from ..audio import Audio
from ..errors import BedtimeError, EngineError
from ..model import Voice


@dataclass(frozen=True)
class VoiceInfo:
    """A voice an engine offers, for listing and for auto-casting."""

    voice_id: str
    gender: Literal["female", "male"]
    language: str
    description: str = ""


class SpeechEngine(Protocol):
    name: str
    version: str
    """Part of the synthesis cache key: change it when the same input would sound different."""

    def voices(self) -> tuple[VoiceInfo, ...]:
        """The voices on offer; cheap, without loading a model."""
        ...

    def synthesize(self, text: str, voice: Voice) -> Audio:
        """Speak one line of plain text; raises EngineError on failure."""
        ...

    def phonemes(self, text: str, voice: Voice) -> str:
        """The phonemes (IPA) the engine speaks for the text in that voice's accent."""
        ...


def package_version(name: str) -> str:
    """An installed package's version, for engine versions (and so cache keys)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "missing"


def _pyttsx3(threads: int | None) -> SpeechEngine:
    from .pyttsx3 import Pyttsx3Engine

    return Pyttsx3Engine()


def _kokoro(threads: int | None) -> SpeechEngine:
    from .kokoro import KokoroEngine

    return KokoroEngine(threads)


ENGINES: dict[str, Callable[[int | None], SpeechEngine]] = {
    "pyttsx3": _pyttsx3,
    "kokoro": _kokoro,
}
"""Engine name → factory taking the CPU threads it may use (None: all)."""
ENGINE_CREDITS = {"pyttsx3": "eSpeak NG", "kokoro": "Kokoro"}
"""How players credit each engine's voices."""
BLENDING_ENGINES = ("kokoro",)
"""Engines that speak a weighted blend of their voices ('af_heart*0.6 + af_bella*0.4')."""


def load_engine(name: str, threads: int | None = None) -> SpeechEngine:
    try:
        factory = ENGINES[name]
    except KeyError:
        raise EngineError(f"unknown engine '{name}' (engines: {', '.join(ENGINES)})") from None
    return factory(threads)


def worker_engine(name: str, threads: int | None) -> SpeechEngine:
    """One engine per process, name and thread count, kept for the units the process runs.
    Units that start side by side in threads get the same one: each its own would load the
    model twice over."""
    with _loading:
        return _kept_engine(name, threads)


_loading = threading.Lock()


@functools.cache
def _kept_engine(name: str, threads: int | None) -> SpeechEngine:
    return load_engine(name, threads)


def default_engine() -> tuple[str, str | None]:
    """Kokoro when its runtime and model are installed, else pyttsx3 with the reason why."""
    import importlib.util

    from ..assets import kokoro_paths

    if importlib.util.find_spec("kokoro_onnx") is None:
        return "pyttsx3", "kokoro-onnx is not installed"
    try:
        kokoro_paths()
    except BedtimeError as exc:
        return "pyttsx3", str(exc)
    return "kokoro", None
