"""Stage 3: every spoken line → a clip in the line cache, with the gain that levels it."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from .audio import Audio
from .cache import AudioCache, line_key
from .casting import Plan
from .engines import SpeechEngine, load_engine
from .errors import EngineError, ScriptError
from .master import block_powers, integrated_lufs
from .model import Speech, Voice
from .text import normalize_text

SPEECH_LUFS = -18.0
"""Every speaker's loudness in the mix, before mastering (duplicated to both channels)."""
MOMENT_HEADROOM_LU = 6.0
"""No line's loudest moment (400 ms) stands more than this above the speech level."""
_MIN_MEASURE_S = 0.5

Report = Callable[[str], None]


@dataclass(frozen=True)
class Clip:
    key: str
    """Cache key of the synthesized audio."""
    voice: Voice
    spoken: str
    """The text as the engine read it, after normalisation and the lexicon."""
    duration_s: float
    gain_db: float
    """Brings the line to SPEECH_LUFS: every line, and so every voice, equally loud."""


@dataclass(frozen=True)
class SpeechBank:
    """Where each line's audio lies, and how loud to play it."""

    clips: Mapping[Speech, Clip]
    synthesized: int
    cached: int


def line_jobs(plan: Plan) -> list[tuple[Speech, Voice, str]]:
    """Each spoken line with its voice at the chapter's pace and the text to speak."""
    chapters = plan.script.chapters
    jobs = []
    for index, chapter in enumerate(chapters):
        pace = plan.script.pacing.speed(index, len(chapters))
        for scene in chapter.scenes:
            for line in scene.lines:
                if isinstance(line, Speech):
                    voice = plan.voices[line.speaker].at_speed(pace)
                    jobs.append((line, voice, normalize_text(line.text, plan.lexicon)))
    return jobs


def synthesize(
    plan: Plan,
    engine: SpeechEngine,
    cache: AudioCache,
    jobs: int = 2,
    report: Report | None = None,
    only: Collection[Speech] | None = None,
) -> SpeechBank:
    """Speak every line (or just those in `only`) not yet in the cache, then measure each
    clip for levelling.

    With jobs > 1, worker processes each load their own engine and write finished lines
    straight into the cache, so a crash loses at most the lines being spoken."""
    work = [
        (speech, voice, spoken, line_key(engine.name, engine.version, voice, spoken))
        for speech, voice, spoken in line_jobs(plan)
        if only is None or speech in only
    ]
    measured: dict[str, tuple[float, float]] = {}  # key → (duration_s, gain_db), one read each
    missing: dict[str, tuple[str, Voice]] = {}
    for _speech, voice, spoken, key in work:
        if key not in measured and key not in missing:
            cached = cache.get(key)
            if cached is None:
                missing[key] = (spoken, voice)
            else:
                measured[key] = (cached.duration_s, level_gain_db(cached))
    # Longest first, so the workers finish together.
    order = sorted(missing, key=lambda key: -len(missing[key][0]))
    started = time.monotonic()
    try:
        for done, _key in enumerate(_speak_all(engine, cache, order, missing, jobs), start=1):
            if report:
                left_s = (time.monotonic() - started) / done * (len(missing) - done)
                report(
                    f"{plan.script.slug}: spoke {done}/{len(missing)} lines "
                    f"({len(work) - len(missing)} cached), about {_clock(left_s)} to go"
                )
    except LineError as exc:
        speech = next(speech for speech, _voice, _spoken, key in work if key == exc.key)
        raise ScriptError(plan.script.path, speech.line, f"{speech.speaker}: {exc}") from None
    for key in missing:
        audio = load_clip(cache, key)
        measured[key] = (audio.duration_s, level_gain_db(audio))
    clips = {
        speech: Clip(key, voice, spoken, *measured[key]) for speech, voice, spoken, key in work
    }
    return SpeechBank(
        MappingProxyType(clips), synthesized=len(missing), cached=len(work) - len(missing)
    )


def _speak_all(
    engine: SpeechEngine,
    cache: AudioCache,
    order: list[str],
    missing: Mapping[str, tuple[str, Voice]],
    jobs: int,
) -> Iterator[str]:
    """Speak the missing lines, yielding each key once its clip is in the cache."""
    if jobs <= 1 or len(order) <= 1:
        for key in order:
            speak_line(engine, cache, key, *missing[key])
            yield key
        return
    workers = min(jobs, len(order))
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(engine.name, threads, cache.root, os.getpid()),
    ) as pool:
        futures = [pool.submit(_worker_speak, key, *missing[key]) for key in order]
        for future in as_completed(futures):
            yield future.result()


class LineError(EngineError):
    """The engine could not speak the line cached under `key`."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(key, message)  # both in args, so it crosses back from a worker
        self.key = key

    def __str__(self) -> str:
        return str(self.args[1])


def speak_line(
    engine: SpeechEngine, cache: AudioCache, key: str, spoken: str, voice: Voice
) -> None:
    try:
        audio = engine.synthesize(spoken, voice).trim_silence()
    except EngineError as exc:
        raise LineError(key, str(exc)) from None
    if audio.frames == 0:
        raise LineError(key, f"{engine.name} produced only silence for {spoken[:40]!r}")
    cache.put(key, audio)


_worker: tuple[SpeechEngine, AudioCache] | None = None


def _start_worker(engine_name: str, threads: int, cache_root: Path, render_pid: int) -> None:
    global _worker
    threading.Thread(target=_exit_with, args=(render_pid,), daemon=True).start()
    _worker = (load_engine(engine_name, threads), AudioCache(cache_root))


def _exit_with(render_pid: int) -> None:
    """A worker is the render's: once the render is gone (even killed with kill -9, which
    leaves it no chance to stop its pool), the worker exits within a second, engine and all."""
    while _alive(render_pid):
        time.sleep(1.0)
    os._exit(1)


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie, killed and not yet reaped, does not)."""
    if not _PROCFS.exists():  # no procfs: ask the kernel whether the process is there
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        state = (_PROCFS / str(pid) / "stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


_PROCFS = Path("/proc")


def _worker_speak(key: str, spoken: str, voice: Voice) -> str:
    assert _worker is not None
    speak_line(*_worker, key, spoken, voice)
    return key


def load_clip(cache: AudioCache, key: str) -> Audio:
    audio = cache.get(key)
    if audio is None:
        raise EngineError(f"line {key[:12]} vanished from the cache at {cache.root}")
    return audio


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


def level_gain_db(audio: Audio) -> float:
    """The gain that brings a mono line, heard on both channels, to SPEECH_LUFS — or lower,
    if its loudest 400 ms would then stand more than MOMENT_HEADROOM_LU above that.

    A line shorter than a loudness block is measured repeated end to end (its own sound, not
    padded silence). A line each is levelled alone, so one edit leaves the others' levels be."""
    samples = audio.samples
    if audio.duration_s < _MIN_MEASURE_S:
        samples = np.tile(samples, (1, int(np.ceil(_MIN_MEASURE_S / audio.duration_s))))
    powers = block_powers(Audio(np.repeat(samples, 2, axis=0), audio.rate_hz))
    loudness = integrated_lufs(powers)
    if not np.isfinite(loudness):
        return 0.0
    loudest = -0.691 + 10 * np.log10(powers.max())
    return float(min(SPEECH_LUFS - loudness, SPEECH_LUFS + MOMENT_HEADROOM_LU - loudest))
