"""The pipeline, top to bottom: gather and validate everything first, then write."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cache import LineCache
from .casting import Casting, Plan, cast, load_voices
from .engines import SpeechEngine, load_engine
from .errors import BedtimeError, ScriptErrors
from .export import Section, StoryInfo, export, require_ffmpeg
from .audio import Audio
from .master import (
    TARGET_LUFS,
    block_powers,
    gain_to_target,
    integrated_lufs,
    loudness_lufs,
    master,
)
from .mix import HANDOFF_S, RATE_HZ, Placed, mix_chapter, mix_tail, plan_chapter
from .script import parse_script
from .soundscape import synthetic_share
from .synth import SpeechBank, synthesize

Report = Callable[[str], None]
TAIL_TITLE = "Drift off"
MIN_TAIL_FADE_S = 30.0


@dataclass(frozen=True)
class RenderOptions:
    out_dir: Path
    cache: LineCache
    tail_s: float = 600.0
    """Ambience after the last line; 0 for none."""
    target_lufs: float = TARGET_LUFS
    jobs: int = 2
    """Lines synthesized at once."""


def prepare(paths: list[Path], voices_path: Path | None, engine: SpeechEngine) -> list[Plan]:
    """Parse and cast every script; all problems of all files are reported together."""
    casting: Casting = load_voices(voices_path)
    plans, problems = [], []
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


def render(paths: list[Path], voices_path: Path | None, engine_name: str,
           options: RenderOptions, report: Report) -> list[Rendered]:
    engine = load_engine(engine_name)
    plans = prepare(paths, voices_path, engine)
    require_ffmpeg()
    for plan in plans:
        for notice in plan.notices:
            report(notice)
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


def render_story(plan: Plan, engine: SpeechEngine, options: RenderOptions, report: Report
                 ) -> Rendered:
    script = plan.script
    started = time.perf_counter()
    bank = synthesize(plan, engine, options.cache, options.jobs, report)
    spoken_at = time.perf_counter()
    report(f"{script.slug}: {bank.synthesized} lines spoken, {bank.cached} from the cache; mixing")
    story = StoryInfo(script.slug, script.title, script.author, script.description, engine.name)
    folder = options.out_dir / script.slug
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".mix-", dir=folder) as work:
        stored = list(_mixed_sections(plan, bank, options, Path(work), report))
        mixed_at = time.perf_counter()
        report(f"{script.slug}: encoding")
        duration_s = export(_level_story(stored, options.target_lufs), story, options.out_dir)
    done_at = time.perf_counter()
    report(f"{script.slug}: wrote {folder}")
    return Rendered(folder, duration_s, bank.synthesized, bank.cached, spoken_at - started,
                    mixed_at - spoken_at, done_at - mixed_at)


@dataclass(frozen=True)
class _Stored:
    """A mixed, levelled chapter parked on disk until the whole story's loudness is known."""

    title: str
    path: Path
    length_s: float
    handoff_s: float
    lines: tuple[Placed, ...]
    synthetic_share: float
    powers: np.ndarray
    """Its loudness gating blocks."""


def _mixed_sections(plan: Plan, bank: SpeechBank, options: RenderOptions, work: Path,
                    report: Report) -> Iterator[_Stored]:
    """Each chapter mixed and brought to the target on its own, then the tail at the last
    chapter's gain; one chapter in memory at a time."""
    script, chapters = plan.script, plan.script.chapters
    gain_db = 0.0
    for index, chapter in enumerate(chapters):
        timeline = plan_chapter(chapter, index, len(chapters), script.pacing, bank)
        mixed = mix_chapter(timeline, bank, options.cache, script.slug).mixed
        gain_db = gain_to_target(mixed, options.target_lufs)
        report(f"{script.slug}: mixed chapter {index + 1}/{len(chapters)} '{chapter.title}'")
        share = sum((bed.end_s - bed.start_s) * synthetic_share(bed.soundscape)
                    for bed in timeline.beds) / (timeline.length_s + HANDOFF_S)
        yield _store(work, index, chapter.title, master(mixed, gain_db), timeline.length_s,
                     HANDOFF_S, timeline.lines, share)
    if options.tail_s > 0:
        tail_s = max(options.tail_s, HANDOFF_S)
        fade_s = max(MIN_TAIL_FADE_S, tail_s / 4)
        bed = chapters[-1].scenes[-1].soundscape
        tail = mix_tail(bed, tail_s, fade_s, script.slug)
        yield _store(work, len(chapters), TAIL_TITLE, master(tail.mixed, gain_db), tail_s, 0.0,
                     (), synthetic_share(bed))


def _store(work: Path, index: int, title: str, audio: Audio, length_s: float, handoff_s: float,
           lines: tuple[Placed, ...], share: float) -> _Stored:
    path = work / f"chapter-{index}.npy"
    np.save(path, audio.samples)
    return _Stored(title, path, length_s, handoff_s, lines, share, block_powers(audio))


def _level_story(stored: list[_Stored], target_lufs: float) -> Iterator[Section]:
    """Nudge every chapter by one gain so the whole story, tail included, lands on target."""
    offset_db = target_lufs - integrated_lufs(np.concatenate([part.powers for part in stored]))
    for part in stored:
        audio = Audio(np.load(part.path, mmap_mode="r"), RATE_HZ)
        if abs(offset_db) > 0.01:
            audio = master(audio, offset_db)
        yield Section(part.title, audio, part.length_s, part.handoff_s, part.lines,
                      loudness_lufs(audio), part.synthetic_share)
