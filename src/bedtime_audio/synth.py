"""Stage 3: every spoken line → a clip in the line cache, with the gain that levels it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import Future, as_completed
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from .audio import Audio
from .cache import AudioCache, line_key
from .casting import SPEED_RANGE, Plan
from .engines import SpeechEngine, worker_engine
from .errors import EngineError, ScriptError
from .executors import Executor, open_executor
from .master import block_powers, integrated_lufs
from .model import Break, Phonemes, Speech, Voice, Words
from .text import normalize_text, split_sentences

SPEECH_LUFS = -18.0
"""Every speaker's loudness in the mix, before mastering (duplicated to both channels)."""
MOMENT_HEADROOM_LU = 6.0
"""No line's loudest moment (400 ms) stands more than this above the speech level."""
_MIN_MEASURE_S = 0.5

Report = Callable[[str], None]


@dataclass(frozen=True)
class Sentence:
    """One sentence of a line, spoken on its own so that the mix places the pause after it."""

    key: str
    """Cache key of the synthesized audio."""
    duration_s: float
    pauses: tuple[tuple[float, float], ...]
    """Where the voice paused inside the sentence (at a comma, say): (middle_s, length_s)."""

    def length_s(self, least_pause_s: float) -> float:
        """How long it lasts once every pause inside it is widened to least_pause_s."""
        return self.duration_s + sum(max(0.0, least_pause_s - s) for _m, s in self.pauses)


@dataclass(frozen=True)
class Clip:
    voice: Voice
    """The line's voice (its own speed; a run the markup slows says it slower)."""
    spoken: str
    """The text as the engine read it, after normalisation and the lexicon."""
    sentences: tuple[Sentence, ...]
    gain_db: float
    """Brings the line to SPEECH_LUFS (every line, and so every voice, equally loud), plus
    the line's own gain_db."""
    gaps_s: tuple[float | None, ...] = ()
    """The silence before each sentence: None for the pacing's pause between sentences, else
    as the markup asked (a break, or two runs of one sentence joined)."""
    lifts_db: tuple[float, ...] = ()
    """Each sentence's gain above the line's: an emphasised run is lifted."""

    def gap_s(self, index: int) -> float | None:
        return self.gaps_s[index] if self.gaps_s else None

    def lift_db(self, index: int) -> float:
        return self.lifts_db[index] if self.lifts_db else 0.0


@dataclass(frozen=True)
class SpeechBank:
    """Where each line's audio lies, and how loud to play it."""

    clips: Mapping[Speech, Clip]
    synthesized: int
    cached: int
    """Sentences spoken for this render, and sentences found in the cache."""


EMPHASIS_RATE = 0.92
EMPHASIS_LIFT_DB = 3.0
"""An emphasised run: a little slower and a little louder than the words around it."""
JOIN_S = 0.08
"""Between two runs of one sentence said differently (a slower word, say)."""
_SENTENCE_END = re.compile(r"""[.!?…]["')\]]*\s*\Z""")


@dataclass(frozen=True)
class Said:
    """One sentence to speak, and how it sits in its line."""

    text: str
    voice: Voice
    gap_s: float | None
    """Silence before it: None for the pacing's pause between sentences."""
    lift_db: float


@dataclass(frozen=True)
class LineJob:
    speech: Speech
    voice: Voice
    spoken: str
    sentences: tuple[Said, ...]


def line_jobs(plan: Plan) -> list[LineJob]:
    """Each spoken line: its voice at the chapter's pace and the line's direction, and its
    sentences as the engine will be given them."""
    chapters = plan.script.chapters
    jobs = []
    for index, chapter in enumerate(chapters):
        pace = plan.script.pacing.speed(index, len(chapters))
        for scene in chapter.scenes:
            for line in scene.lines:
                if isinstance(line, Speech):
                    direction = line.direction
                    voice = plan.voices[direction.voice or line.speaker]
                    voice = voice.at_speed(_clamped(voice.speed, pace * direction.speed))
                    said = tuple(_said(line, voice, plan))
                    spoken = " ".join(part.text for part in said)
                    jobs.append(LineJob(line, voice, spoken, said))
    return jobs


def _said(speech: Speech, voice: Voice, plan: Plan) -> Iterator[Said]:
    """The sentences of a line's runs, with the silence before each."""
    gap: float | None = 0.0
    for part in speech.parts:
        if isinstance(part, Break):
            gap = (gap or 0.0) + part.seconds
            continue
        rate = part.rate * (EMPHASIS_RATE if part.emphasis else 1.0)
        run_voice = voice.at_speed(_clamped(voice.speed, rate))
        lift = EMPHASIS_LIFT_DB if part.emphasis else 0.0
        for number, sentence in enumerate(sentences_of(_spoken(part, plan))):
            yield Said(sentence, run_voice, gap if number == 0 else None, lift)
            gap = None
        gap = None if _SENTENCE_END.search(_written(part)) else JOIN_S


def _clamped(speed: float, factor: float) -> float:
    """The factor that takes `speed` as far towards speed × factor as a voice may go: the
    script's direction and markup together stay within voices.yaml's SPEED_RANGE."""
    return min(max(speed * factor, SPEED_RANGE[0]), SPEED_RANGE[1]) / speed


def _spoken(words: Words, plan: Plan) -> str:
    """A run as the engine reads it: normalised, with the lexicon, and each word given in
    phonemes in the engine's own notation (or as written, for a notation it cannot read)."""
    forms: dict[str, str] = {}
    text = []
    for piece in words.pieces:
        if isinstance(piece, Phonemes):
            # a word no normalisation touches, none the start of another
            mark = "Phonemezq" + "".join(chr(ord("a") + int(d)) for d in str(len(forms))) + "x"
            forms[mark] = _phoneme_form(piece, plan.engine)
            text.append(f" {mark} ")
        else:
            text.append(piece)
    spoken = normalize_text("".join(text), plan.lexicon)
    for mark, form in forms.items():
        spoken = spoken.replace(mark, form)
    return spoken


def _phoneme_form(piece: Phonemes, engine: str) -> str:
    if engine == "kokoro" and piece.alphabet == "ipa":
        return f"/{piece.ph}/"
    if engine == "pyttsx3" and piece.alphabet == "espeak":
        return f"[[{piece.ph}]]"
    return piece.written


def _written(words: Words) -> str:
    return "".join(p.written if isinstance(p, Phonemes) else p for p in words.pieces).rstrip()


def sentences_of(spoken: str) -> list[str]:
    """The sentences of a line, each with a word to say (a stray quote joins the one before)."""
    sentences: list[str] = []
    for piece in split_sentences(spoken):
        if sentences and not any(ch.isalnum() for ch in piece):
            sentences[-1] += " " + piece
        else:
            sentences.append(piece)
    return sentences


def synthesize(
    plan: Plan,
    engine: SpeechEngine,
    cache: AudioCache,
    jobs: int = 2,
    report: Report | None = None,
    only: Collection[Speech] | None = None,
) -> SpeechBank:
    """Speak every sentence of every line (or of those in `only`) not yet in the cache, in
    `jobs` threads of this process, and measure each line for levelling."""
    with open_executor("local", jobs) as executor:
        return start_speaking(plan, engine, cache, executor, only).bank(report)


def start_speaking(
    plan: Plan,
    engine: SpeechEngine,
    cache: AudioCache,
    executor: Executor,
    only: Collection[Speech] | None = None,
    priority: int = 0,
) -> Speaking:
    """Queue a unit for each sentence of the story (or of the lines in `only`) not yet in the
    cache, longest first so that the workers finish together. Each unit writes its sentence
    straight into the cache, so a crash loses at most the sentences being spoken."""
    work = [
        (job, tuple(line_key(engine.name, engine.version, s.voice, s.text) for s in job.sentences))
        for job in line_jobs(plan)
        if only is None or job.speech in only
    ]
    keys = {
        key: (said.text, said.voice)
        for job, line_keys in work
        for said, key in zip(job.sentences, line_keys, strict=True)
    }
    missing = sorted((k for k in keys if cache.read(k) is None), key=lambda k: -len(keys[k][0]))
    units = {
        executor.submit(
            speak_sentence,
            *(engine.name, engine.version, executor.unit_threads, cache.root, key, *keys[key]),
            priority=priority,
        ): key
        for key in missing
    }
    return Speaking(plan, cache, work, units, len(keys))


@dataclass(frozen=True)
class Speaking:
    """A story's sentences on their way into the line cache."""

    plan: Plan
    cache: AudioCache
    work: list[tuple[LineJob, tuple[str, ...]]]
    """Each line, and its sentences' cache keys."""
    units: Mapping[Future[str], str]
    """The sentences being spoken, by cache key."""
    sentences: int

    def bank(self, report: Report | None = None) -> SpeechBank:
        """Wait for every sentence, then measure each line for levelling."""
        slug, total = self.plan.script.slug, len(self.units)
        started = time.monotonic()
        try:
            for done, unit in enumerate(as_completed(self.units), start=1):
                unit.result()
                if report:
                    left_s = (time.monotonic() - started) / done * (total - done)
                    report(
                        f"{slug}: spoke {done}/{total} sentences "
                        f"({self.sentences - total} cached), about {_clock(left_s)} to go"
                    )
        except LineError as exc:
            speech = next(job.speech for job, keys in self.work if exc.key in keys)
            raise ScriptError(
                self.plan.script.path, speech.line, f"{speech.speaker}: {exc}"
            ) from None
        measured = {
            key: _measured(key, load_clip(self.cache, key))
            for _job, keys in self.work
            for key in keys
        }
        clips = {
            job.speech: Clip(
                job.voice,
                job.spoken,
                tuple(measured[key][0] for key in keys),
                level_gain_db(np.concatenate([measured[key][1] for key in keys]))
                + job.speech.direction.gain_db,
                tuple(said.gap_s for said in job.sentences),
                tuple(said.lift_db for said in job.sentences),
            )
            for job, keys in self.work
        }
        return SpeechBank(MappingProxyType(clips), synthesized=total, cached=self.sentences - total)


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


def speak_sentence(
    engine_name: str,
    version: str,
    threads: int,
    cache_root: Path,
    key: str,
    spoken: str,
    voice: Voice,
) -> str:
    """The unit of speech: one sentence into the line cache, with its process's engine."""
    engine = worker_engine(engine_name, threads)
    if engine.version != version:
        raise EngineError(
            f"a worker's {engine_name} is {engine.version}, the render's is {version}: "
            "every machine needs the same bedtime-audio, engine and model"
        )
    speak_line(engine, AudioCache(cache_root), key, spoken, voice)
    return key


def load_clip(cache: AudioCache, key: str) -> Audio:
    audio = cache.get(key)
    if audio is None:
        raise EngineError(f"line {key[:12]} vanished from the cache at {cache.root}")
    return audio


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


def _measured(key: str, audio: Audio) -> tuple[Sentence, np.ndarray]:
    return Sentence(key, audio.duration_s, pauses_in(audio)), loudness_blocks(audio)


def loudness_blocks(audio: Audio) -> np.ndarray:
    """The mean-square power of each 400 ms block of a mono clip heard on both channels.

    A clip shorter than a block is measured repeated end to end (its own sound, not padded
    silence)."""
    samples = audio.samples
    if audio.duration_s < _MIN_MEASURE_S:
        samples = np.tile(samples, (1, int(np.ceil(_MIN_MEASURE_S / audio.duration_s))))
    return 2 * block_powers(Audio(samples, audio.rate_hz))  # each channel's energy, twice


def level_gain_db(powers: np.ndarray) -> float:
    """The gain that brings a line (its sentences' loudness blocks) to SPEECH_LUFS — or lower,
    if its loudest 400 ms would then stand more than MOMENT_HEADROOM_LU above that.

    A line each is levelled alone, so one edit leaves the others' levels be."""
    loudness = integrated_lufs(powers)
    if not np.isfinite(loudness):
        return 0.0
    loudest = -0.691 + 10 * np.log10(powers.max())
    return float(min(SPEECH_LUFS - loudness, SPEECH_LUFS + MOMENT_HEADROOM_LU - loudest))


PAUSE_FLOOR_DB = -40.0
"""Quieter than this below the clip's loudest 10 ms, a stretch of a sentence is a pause."""
MIN_PAUSE_S = 0.2
"""Shorter quiet (the closure before a 'p' or a 't') is part of a word."""
_PAUSE_FRAME_S = 0.01


def pauses_in(audio: Audio) -> tuple[tuple[float, float], ...]:
    """Where the voice fell quiet for MIN_PAUSE_S or more inside a trimmed sentence, as
    (middle_s, length_s): the pauses the engine made at commas and the like."""
    frame = max(1, round(_PAUSE_FRAME_S * audio.rate_hz))
    count = audio.frames // frame
    if count < 3:
        return ()
    blocks = audio.samples[0, : count * frame].reshape(count, frame).astype(np.float64)
    level = np.sqrt(np.mean(blocks**2, axis=1)) + 1e-12
    quiet = np.concatenate(([False], 20 * np.log10(level / level.max()) < PAUSE_FLOOR_DB, [False]))
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))
    found = []
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        length_s = (end - start) * frame / audio.rate_hz
        if start > 0 and end < count and length_s >= MIN_PAUSE_S:
            found.append((round((start + end) / 2 * frame / audio.rate_hz, 4), round(length_s, 4)))
    return tuple(found)
