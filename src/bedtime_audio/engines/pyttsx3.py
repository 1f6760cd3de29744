"""The draft engine: pyttsx3 driving eSpeak NG. Fast, always there, robotic."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import wave
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import Audio
from ..errors import BedtimeError, DependencyError, EngineError
from ..model import Voice
from ..text import normalize_text
from ..workdir import DIE_WITH_PARENT
from . import VoiceInfo, package_version

NATURAL_WPM = 175
"""eSpeak NG's own pace; Voice.speed scales it."""
RATE_HZ = 22050
_FILE_WAIT_S = 30.0

_LANGUAGES = ("en-us", "en-gb", "en-gb-x-rp", "en-gb-scotland")
_VARIANTS = {"f": ("f1", "f2", "f3", "f4", "f5"), "m": ("m1", "m2", "m3", "m4", "m5", "m6", "m7")}
_ESPEAK_NAMES = {"en-gb": "en"}
"""eSpeak NG's name for a language whose code names no voice: its British English is "en"."""
_DRIVING = 2
"""How bedtime-audio drives eSpeak NG, in the engine's version so that cached lines follow it:
raised when a change alters what a take sounds like (2: British voices keep their variant)."""


_SERVER_PRELOAD = [__name__, "pyttsx3.drivers.espeak", "bedtime_audio.cli"]
"""Imported once by the fork server that the children come from, not again by every child:
this module, pyttsx3's eSpeak NG driver, and what the `bedtime` command's script imports,
which each child runs again before it starts (multiprocessing's spawn preparation). Listing
"__main__" would say that, but Python 3.11's fork server ignores it."""

_ATTEMPTS = 4
"""Takes of a line until two agree: a render must not depend on one take's timing."""


class _BadTake(EngineError):
    """eSpeak NG wrote no file, or spoke without a setting: worth another try in a fresh
    process."""


class Pyttsx3Engine:
    name = "pyttsx3"

    def __init__(self) -> None:
        self._driver: Any = None
        self.version = (
            f"pyttsx3-{package_version('pyttsx3')}+espeak-ng-{_espeak_version()}+{_DRIVING}"
        )

    def voices(self) -> tuple[VoiceInfo, ...]:
        """English eSpeak NG voices with the female and male variants that make them distinct."""
        return tuple(
            VoiceInfo(f"{lang}+{variant}", "female" if kind == "f" else "male", lang)
            for kind, variants in _VARIANTS.items()
            for lang in _LANGUAGES
            for variant in variants
        )

    def synthesize(self, text: str, voice: Voice) -> Audio:
        """Speak in a fresh child process: eSpeak NG carries state from one utterance to the
        next, so only a first utterance is the same every time. Children come from a fork
        server, never from this process, whose threads (ONNX Runtime's, say) could hold locks
        that a forked child would wait on for ever."""
        if not text.strip():
            raise EngineError("pyttsx3: nothing to say (empty text)")
        self._engine_module()
        takes: list[Audio] = []
        for _attempt in range(_ATTEMPTS):  # each take is a first utterance in a new process
            outcome = self._in_child(text, voice)
            if isinstance(outcome, _BadTake):
                continue
            if isinstance(outcome, BedtimeError):
                raise outcome
            if any(np.array_equal(outcome.samples, take.samples) for take in takes):
                return outcome
            takes.append(outcome)
        raise EngineError(f"pyttsx3: eSpeak NG gave no two equal takes of {text[:40]!r}")

    def phonemes(self, text: str, voice: Voice) -> str:
        """eSpeak NG's IPA for the text in the voice's language, [[mnemonics]] read as such."""
        language = voice.voice_id.partition("+")[0]
        try:
            done = subprocess.run(
                ["espeak-ng", "-q", "--ipa", "-v", language, "--", normalize_text(text)],
                capture_output=True, text=True, check=True, timeout=60,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as exc:
            raise DependencyError(
                f"pyttsx3: could not run espeak-ng ({exc}); run 'make setup'"
            ) from None
        return " ".join(done.stdout.split())

    def _in_child(self, text: str, voice: Voice) -> Audio | BedtimeError:
        receiver, sender = multiprocessing.Pipe(duplex=False)
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_SERVER_PRELOAD)
        child = context.Process(target=_synthesize_once, args=(text, voice, sender), daemon=True)
        child.start()
        sender.close()
        try:
            outcome = receiver.recv()
        except EOFError:
            outcome = EngineError(f"pyttsx3: eSpeak NG stopped while speaking {text[:40]!r}")
        finally:
            child.join()
            receiver.close()
        return outcome

    def _synthesize_here(self, text: str, voice: Voice) -> Audio:
        """One utterance: the voice set first, then one save_to_file per runAndWait (several
        queued calls keep only the last file), then wait for the file, which can appear
        after runAndWait returns."""
        from pyttsx3.drivers import _espeak

        engine = self._engine()
        _configure(_espeak, voice)
        with tempfile.TemporaryDirectory(prefix="bedtime-espeak-") as tmp:
            target = Path(tmp) / "line.wav"
            engine.save_to_file(text, str(target))
            engine.runAndWait()
            audio = _read_complete_wav(target)
        if audio is None:
            raise _BadTake(f"pyttsx3: eSpeak NG wrote no audio for {text[:40]!r}")
        if _settings(_espeak) != _wanted(voice):
            raise _BadTake(f"pyttsx3: eSpeak NG lost a setting while speaking {text[:40]!r}")
        return audio

    @staticmethod
    def _engine_module() -> Any:
        try:
            import pyttsx3
        except ImportError as exc:
            raise DependencyError(f"pyttsx3 is not installed ({exc}); run 'make setup'") from None
        return pyttsx3

    def _engine(self) -> Any:
        if self._driver is None:
            try:
                self._driver = self._engine_module().init("espeak")
            except (OSError, RuntimeError) as exc:
                raise DependencyError(
                    f"pyttsx3 could not load eSpeak NG ({exc}); install it with "
                    "'sudo apt-get install espeak-ng libespeak-ng1' (or run 'make setup')"
                ) from None
        return self._driver


def _configure(espeak: Any, voice: Voice) -> None:
    """Set the voice, rate, pitch and volume, and wait until eSpeak NG holds them.

    Not through pyttsx3's queue: runAndWait ends its loop by cancelling whatever eSpeak NG's
    own thread is still doing, and a cancel there drops the one queued setting it was about
    to apply (about one line in a thousand on a busy machine came out at the driver's 200
    words a minute, or at the default pitch). Set here, and waited for, nothing is pending
    when the loop ends."""
    from pyttsx3.drivers.espeak import EspeakDriver

    language, plus, variant = voice.voice_id.partition("+")
    espeak.Synchronize()  # the driver's own defaults
    try:
        EspeakDriver.setProperty("voice", _ESPEAK_NAMES.get(language, language) + plus + variant)
    except ValueError as exc:
        raise EngineError(f"pyttsx3: eSpeak NG has no voice '{voice.voice_id}' ({exc})") from None
    rate, pitch, volume = _wanted(voice)
    EspeakDriver.setProperty("rate", rate)
    EspeakDriver.setProperty("pitch", pitch)
    EspeakDriver.setProperty("volume", volume / 100)
    espeak.Synchronize()


def _wanted(voice: Voice) -> tuple[int, int, int]:
    """eSpeak NG's rate (words a minute), pitch (0-99) and volume (percent) for a voice."""
    return round(NATURAL_WPM * voice.speed), 50 if voice.pitch is None else voice.pitch, 100


def _settings(espeak: Any) -> tuple[int, int, int]:
    """The rate, pitch and volume eSpeak NG holds now (pyttsx3's binding of
    espeak_GetParameter leaves out its second argument, `current`)."""
    get = espeak.dll.espeak_GetParameter
    get.argtypes, get.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return get(espeak.RATE, 1), get(espeak.PITCH, 1), get(espeak.VOLUME, 1)


def _synthesize_once(text: str, voice: Voice, sender: Connection) -> None:
    """The child's work: the driver prints to stdout, which belongs to the parent's progress.

    The child leaves with os._exit once the audio is sent: eSpeak NG may still call back into
    pyttsx3's driver as it finishes, and an interpreter tearing the driver down under it
    printed "Exception ignored ... weakly-referenced object no longer exists" over the
    render's progress."""
    if DIE_WITH_PARENT is not None:  # gone with the fork server, as it is with the render
        DIE_WITH_PARENT()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 — the child exits right after
    _read_phonemes()
    engine = Pyttsx3Engine()
    try:
        sender.send(engine._synthesize_here(text, voice))
    except BedtimeError as exc:
        sender.send(exc)
    finally:
        sender.close()
    os._exit(0)


def _read_phonemes() -> None:
    """Have eSpeak NG read a lexicon's [[mnemonics]] as phonemes, as its own command line does:
    pyttsx3's driver speaks without espeakPHONEMES, so its calls gain that flag here (in the
    child process that speaks one line, and nowhere else)."""
    from pyttsx3.drivers import _espeak

    synth = _espeak.Synth

    def with_phonemes(text: bytes, *args: Any, flags: int = 0, **kwargs: Any) -> Any:
        return synth(text, *args, flags=flags | _espeak.PHONEMES, **kwargs)

    _espeak.Synth = with_phonemes


def _read_complete_wav(path: Path) -> Audio | None:
    """The WAV once the driver has finished writing it; None if it never appears."""
    deadline = time.monotonic() + _FILE_WAIT_S
    while time.monotonic() < deadline:
        try:
            with wave.open(str(path), "rb") as wav:
                frames = wav.getnframes()
                pcm = wav.readframes(frames)
                rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
            if frames > 0 and len(pcm) == frames * width * channels and width == 2:
                audio = Audio.from_pcm16(pcm, rate, channels)
                path.unlink()
                return audio
        except (FileNotFoundError, EOFError, wave.Error):
            pass
        time.sleep(0.02)
    return None


def _espeak_version() -> str:
    for folder in ("/usr/share/doc/libespeak-ng1", "/usr/share/doc/espeak-ng-data"):
        changelog = Path(folder) / "changelog.Debian.gz"
        if changelog.exists():
            import gzip

            with gzip.open(changelog, "rt", errors="replace") as fh:
                return fh.readline().split("(")[-1].split(")")[0]
    return os.environ.get("BEDTIME_ESPEAK_VERSION", "unknown")
