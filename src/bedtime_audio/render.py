"""The pipeline, top to bottom: gather and validate everything first, then write."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .cache import LineCache
from .casting import Casting, Plan, cast, load_voices
from .engines import SpeechEngine, load_engine
from .errors import BedtimeError, ScriptErrors
from .export import Section, StoryInfo, export, require_ffmpeg
from .master import TARGET_LUFS, gain_to_target, loudness_lufs, master
from .mix import HANDOFF_S, mix_chapter, mix_tail, plan_chapter
from .script import parse_script
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
           options: RenderOptions, report: Report) -> list[Path]:
    engine = load_engine(engine_name)
    plans = prepare(paths, voices_path, engine)
    require_ffmpeg()
    for plan in plans:
        for notice in plan.notices:
            report(notice)
    return [render_story(plan, engine, options, report) for plan in plans]


def render_story(plan: Plan, engine: SpeechEngine, options: RenderOptions, report: Report
                 ) -> Path:
    script = plan.script
    bank = synthesize(plan, engine, options.cache, options.jobs, report)
    report(f"{script.slug}: {bank.synthesized} lines spoken, {bank.cached} from the cache; mixing")
    story = StoryInfo(script.slug, script.title, script.author, script.description, engine.name)
    folder = export(_sections(plan, bank, options, report), story, options.out_dir)
    report(f"{script.slug}: wrote {folder}")
    return folder


def _sections(plan: Plan, bank: SpeechBank, options: RenderOptions, report: Report
              ) -> Iterator[Section]:
    """Each chapter mixed and mastered in turn, then the tail at the last chapter's gain."""
    script, chapters = plan.script, plan.script.chapters
    gain_db = 0.0
    for index, chapter in enumerate(chapters):
        timeline = plan_chapter(chapter, index, len(chapters), script.pacing, bank)
        mixed = mix_chapter(timeline, bank, options.cache, script.slug).mixed
        gain_db = gain_to_target(mixed, options.target_lufs)
        audio = master(mixed, gain_db)
        report(f"{script.slug}: mixed chapter {index + 1}/{len(chapters)} '{chapter.title}'")
        yield Section(chapter.title, audio, timeline.length_s, HANDOFF_S, timeline.lines,
                      loudness_lufs(audio))
    if options.tail_s > 0:
        fade_s = max(MIN_TAIL_FADE_S, options.tail_s / 4)
        tail = mix_tail(chapters[-1].scenes[-1].soundscape, options.tail_s, fade_s, script.slug)
        audio = master(tail.mixed, gain_db)
        yield Section(TAIL_TITLE, audio, options.tail_s, 0.0, (), loudness_lufs(audio))
