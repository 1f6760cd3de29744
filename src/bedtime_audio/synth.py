"""Stage 3: every spoken line → a clip in the line cache, levelled per speaker."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pyloudnorm

from .audio import Audio
from .cache import LineCache, line_key
from .casting import Plan
from .engines import SpeechEngine
from .errors import EngineError
from .model import Speech, Voice
from .text import normalize_text

SPEECH_LUFS = -18.0
"""Every speaker's loudness in the mix, before mastering (duplicated to both channels)."""
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
    loudness_lufs: float | None
    """Integrated loudness of the clip, None when too short or too quiet to measure."""


@dataclass(frozen=True)
class SpeechBank:
    """Where each line's audio lies, and the gain that levels its speaker."""

    clips: Mapping[Speech, Clip]
    gain_db: Mapping[str, float]
    """Speaker → gain that brings their voice to SPEECH_LUFS."""
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
    plan: Plan, engine: SpeechEngine, cache: LineCache, jobs: int = 2, report: Report | None = None
) -> SpeechBank:
    """Speak every line not yet in the cache, then measure each clip for levelling."""
    work = [(speech, voice, spoken, line_key(engine.name, engine.version, voice, spoken))
            for speech, voice, spoken in line_jobs(plan)]
    missing = {key: (voice, spoken) for _s, voice, spoken, key in work if cache.get(key) is None}
    done = 0

    def speak(key: str) -> None:
        nonlocal done
        voice, spoken = missing[key]
        audio = engine.synthesize(spoken, voice).trim_silence()
        if audio.frames == 0:
            raise EngineError(f"{engine.name} produced only silence for {spoken[:40]!r}")
        cache.put(key, audio)
        done += 1
        if report:
            report(f"{plan.script.slug}: spoke {done}/{len(missing)} lines "
                   f"({len(work) - len(missing)} cached)")

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        list(pool.map(speak, missing))
    clips = {}
    for speech, voice, spoken, key in work:
        audio = load_clip(cache, key)
        clips[speech] = Clip(key, voice, spoken, audio.duration_s, _loudness(audio))
    return SpeechBank(
        MappingProxyType(clips), MappingProxyType(_speaker_gains(clips)),
        synthesized=len(missing), cached=len(work) - len(missing),
    )


def load_clip(cache: LineCache, key: str) -> Audio:
    audio = cache.get(key)
    if audio is None:
        raise EngineError(f"line {key[:12]} vanished from the cache at {cache.root}")
    return audio


def _loudness(audio: Audio) -> float | None:
    """Loudness of a mono clip as heard duplicated on both channels."""
    if audio.duration_s < _MIN_MEASURE_S:
        pad = round(_MIN_MEASURE_S * audio.rate_hz) - audio.frames
        audio = Audio(np.pad(audio.samples, ((0, 0), (0, pad))), audio.rate_hz)
    stereo = audio.to_channels(2).samples.T.astype(np.float64)
    value = pyloudnorm.Meter(audio.rate_hz).integrated_loudness(stereo)
    return float(value) if np.isfinite(value) else None


def _speaker_gains(clips: Mapping[Speech, Clip]) -> dict[str, float]:
    """Per speaker, the gain from the duration-weighted power mean of their lines' loudness."""
    energy: dict[str, list[float]] = {}
    for speech, clip in clips.items():
        if clip.loudness_lufs is not None:
            totals = energy.setdefault(speech.speaker, [0.0, 0.0])
            totals[0] += clip.duration_s * 10 ** (clip.loudness_lufs / 10)
            totals[1] += clip.duration_s
    return {speaker: SPEECH_LUFS - 10 * np.log10(power / seconds)
            for speaker, (power, seconds) in energy.items()}
