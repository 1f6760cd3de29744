"""The pipeline, top to bottom: gather and validate everything first, then write."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import Audio
from .cache import AudioCache
from .casting import Casting, Plan, cast, load_voices
from .engines import SpeechEngine, load_engine
from .errors import BedtimeError, ScriptErrors
from .export import (
    STEMS,
    Section,
    StoryInfo,
    export,
    is_current,
    require_ffmpeg,
)
from .master import (
    TARGET_LUFS,
    block_powers,
    integrated_lufs,
    loudness_lufs,
    master,
    master_to_target,
)
from .mix import HANDOFF_S, Timeline, mix_chapter, mix_tail, plan_chapter
from .script import parse_script
from .soundscape import synthetic_share
from .synth import SpeechBank, synthesize

Report = Callable[[str], None]
TAIL_TITLE = "Drift off"
MIN_TAIL_FADE_S = 30.0


@dataclass(frozen=True)
class RenderOptions:
    out_dir: Path
    cache_dir: Path
    """Holds lines/ (synthesized speech) and chapters/ (mixed, mastered chapters)."""
    tail_s: float = 600.0
    """Ambience after the last line; 0 for none."""
    target_lufs: float = TARGET_LUFS
    jobs: int = 2
    """Lines synthesized at once."""
    stems: bool = False
    """Also write the voice and the bed as FLAC stems."""

    @property
    def lines(self) -> AudioCache:
        return AudioCache(self.cache_dir / "lines")

    @property
    def chapters(self) -> AudioCache:
        return AudioCache(self.cache_dir / "chapters")


def prepare(paths: list[Path], voices_path: Path | None, engine: SpeechEngine) -> list[Plan]:
    """Parse and cast every script; all problems of all files are reported together."""
    casting: Casting = load_voices(voices_path)
    plans: list[Plan] = []
    problems: list[BedtimeError] = []
    for path in paths:
        try:
            plans.append(cast(parse_script(path), casting, engine.name, engine.voices()))
        except ScriptErrors as exc:
            problems.extend(exc.errors)
        except BedtimeError as exc:
            problems.append(exc)
    if problems:
        raise BedtimeError("\n".join(str(p) for p in problems))
    return plans


def render(
    paths: list[Path],
    voices_path: Path | None,
    engine_name: str,
    options: RenderOptions,
    report: Report,
) -> list[Rendered]:
    engine = load_engine(engine_name)
    plans = prepare(paths, voices_path, engine)
    require_ffmpeg()
    for plan in plans:
        for notice in plan.notices:
            report(f"notice: {notice}")
    return [render_story(plan, engine, options, report) for plan in plans]


@dataclass(frozen=True)
class Rendered:
    """Where a story went, and where the time went."""

    folder: Path
    duration_s: float
    spoken: int
    """Lines synthesized in this render; the rest came from the cache."""
    cached: int
    synth_s: float
    mix_s: float
    """Mixing and mastering, wall seconds."""
    encode_s: float


def render_story(
    plan: Plan, engine: SpeechEngine, options: RenderOptions, report: Report
) -> Rendered:
    script = plan.script
    started = time.perf_counter()
    bank = synthesize(plan, engine, options.lines, options.jobs, report)
    spoken_at = time.perf_counter()
    story = StoryInfo(script.slug, script.title, script.author, script.description, engine.name)
    folder = options.out_dir / script.slug
    parts = _plan_sections(plan, bank, options)
    inputs = _digest(
        [
            engine.name,
            engine.version,
            options.target_lufs,
            CODE_VERSION,
            *(part.key for part in parts),
        ]
    )
    if is_current(folder, script.slug, inputs, options.stems):
        report(f"{script.slug}: up to date")
        duration_s = parts[-1].start_s + parts[-1].length_s + parts[-1].handoff_s
        return Rendered(folder, duration_s, 0, bank.cached, spoken_at - started, 0.0, 0.0)
    report(f"{script.slug}: {bank.synthesized} lines spoken, {bank.cached} from the cache; mixing")
    stored: list[_Stored] = []
    for part in parts:  # the tail takes the last chapter's gain
        stored.append(_mixed(part, plan, options, stored[-1].gain_db if stored else 0.0, report))
    mixed_at = time.perf_counter()
    report(f"{script.slug}: encoding")
    sections = _level_story(stored, options)
    duration_s = export(sections, story, options.out_dir, inputs, options.stems)
    done_at = time.perf_counter()
    report(f"{script.slug}: wrote {folder}")
    return Rendered(
        folder,
        duration_s,
        bank.synthesized,
        bank.cached,
        spoken_at - started,
        mixed_at - spoken_at,
        done_at - mixed_at,
    )


@dataclass(frozen=True)
class _Part:
    """A section of the story before mixing: a chapter's timeline, or the tail."""

    key: str
    """Chapter-cache key: everything that decides how the mixed section sounds."""
    title: str
    timeline: Timeline | None
    """None for the tail."""
    start_s: float
    length_s: float
    handoff_s: float
    synthetic_share: float


def _plan_sections(plan: Plan, bank: SpeechBank, options: RenderOptions) -> list[_Part]:
    script, chapters = plan.script, plan.script.chapters
    parts: list[_Part] = []
    start_s = 0.0
    for index, chapter in enumerate(chapters):
        timeline = plan_chapter(chapter, index, len(chapters), script.pacing, bank)
        key = _digest(
            [
                script.slug,
                CODE_VERSION,
                options.target_lufs,
                repr(timeline.beds),
                index,
                timeline.length_s,
                *((p.clip.key, p.start_s) for p in timeline.lines),
            ]
        )
        share = sum(
            (bed.end_s - bed.start_s) * synthetic_share(bed.soundscape) for bed in timeline.beds
        ) / (timeline.length_s + HANDOFF_S)
        parts.append(
            _Part(key, chapter.title, timeline, start_s, timeline.length_s, HANDOFF_S, share)
        )
        start_s += timeline.length_s
    if options.tail_s > 0:
        tail_s = max(options.tail_s, HANDOFF_S)
        bed = chapters[-1].scenes[-1].soundscape
        key = _digest([parts[-1].key, "tail", tail_s, repr(bed)])
        parts.append(_Part(key, TAIL_TITLE, None, start_s, tail_s, 0.0, synthetic_share(bed)))
    return parts


def _mixed(
    part: _Part, plan: Plan, options: RenderOptions, previous_gain_db: float, report: Report
) -> _Stored:
    """A section mixed and brought to the target on its own — or found in the chapter cache.
    One section is in memory at a time."""
    slug = plan.script.slug
    entry = options.chapters.entry(part.key)
    stems_cached = all(options.chapters.entry(f"{part.key}-{stem}") for stem in _stems(options))
    if entry is not None and stems_cached:
        report(f"{slug}: '{part.title}' unchanged")
        return _Stored(part, entry.meta["gain_db"], block_powers(entry.audio))
    if part.timeline is None:
        bed = plan.script.chapters[-1].scenes[-1].soundscape
        fade_s = max(MIN_TAIL_FADE_S, part.length_s / 4)
        mixed = mix_tail(bed, part.length_s, fade_s, slug)
        gain_db = previous_gain_db
        audio = master(mixed.mixed, gain_db)
    else:
        mixed = mix_chapter(part.timeline, options.lines, slug)
        audio, gain_db = master_to_target(mixed.mixed, options.target_lufs)
    options.chapters.put(part.key, audio, {"gain_db": gain_db})
    for stem in _stems(options):
        options.chapters.put(f"{part.key}-{stem}", getattr(mixed, stem).gain(gain_db))
    report(f"{slug}: mixed '{part.title}'")
    return _Stored(part, gain_db, block_powers(audio))


def _stems(options: RenderOptions) -> tuple[str, ...]:
    return STEMS if options.stems else ()


@dataclass(frozen=True)
class _Stored:
    """A mixed, levelled section waiting in the chapter cache for the story's loudness."""

    part: _Part
    gain_db: float
    powers: np.ndarray
    """Its loudness gating blocks."""


def _level_story(stored: list[_Stored], options: RenderOptions) -> Iterator[Section]:
    """Nudge every chapter by one gain so the whole story, tail included, lands on target."""
    powers = np.concatenate([item.powers for item in stored])
    offset_db = options.target_lufs - integrated_lufs(powers)
    for item in stored:
        part = item.part
        audio = _cached(options, part.key)
        if abs(offset_db) > 0.01:
            audio = master(audio, offset_db)
        stems = {
            stem: _cached(options, f"{part.key}-{stem}").gain(offset_db) for stem in _stems(options)
        }
        lines = part.timeline.lines if part.timeline else ()
        yield Section(
            part.title,
            audio,
            part.length_s,
            part.handoff_s,
            lines,
            loudness_lufs(audio),
            part.synthetic_share,
            stems,
        )


def _cached(options: RenderOptions, key: str) -> Audio:
    audio = options.chapters.get(key)
    if audio is None:
        raise BedtimeError(f"a mixed chapter vanished from {options.chapters.root}")
    return audio


_SOUND_MODULES = ("audio.py", "mix.py", "master.py", "synth.py", "render.py", "soundscape")


def _fingerprint() -> str:
    """The source of the modules that shape the sound: a change to any of them invalidates
    every cached chapter and finished story."""
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for name in _SOUND_MODULES:
        for path in (
            sorted((package / name).rglob("*.py")) if name == "soundscape" else [package / name]
        ):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


CODE_VERSION = _fingerprint()


def _digest(parts: list[object]) -> str:
    return hashlib.sha256(json.dumps(parts, default=repr).encode()).hexdigest()
