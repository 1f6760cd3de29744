"""Partial renders for the producer's loop: one chapter, scene or line with its bed, and
auditions of a story's cast."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from .casting import Plan, is_offered
from .engines import SpeechEngine
from .errors import BedtimeError
from .export import write_wav
from .master import master_to_target
from .mix import line_audio, mix_chapter, place_line, plan_chapter
from .model import Chapter, Speech, Voice
from .render import RenderOptions, Report
from .synth import level_gain_db, loudness_blocks, synthesize


@dataclass(frozen=True)
class Selection:
    """A part of a story to preview: a chapter, optionally one scene, optionally one line
    (1-based, as a producer counts)."""

    chapter: int
    scene: int | None = None
    line: int | None = None


def preview(
    plan: Plan,
    engine: SpeechEngine,
    options: RenderOptions,
    selection: Selection,
    out_path: Path,
    report: Report,
) -> Path:
    """Render just the selected part, with its soundscape, mastered, to a WAV file."""
    index, chapter = _select(plan, selection)
    spoken = [line for scene in chapter.scenes for line in scene.lines if isinstance(line, Speech)]
    bank = synthesize(plan, engine, options.lines, options.jobs, report, only=set(spoken))
    count = len(plan.script.chapters)
    timeline = plan_chapter(chapter, index, count, plan.script.pacing, bank)
    mixed = mix_chapter(timeline, options.lines, plan.script.slug, options.jobs).mixed
    write_wav(master_to_target(mixed, options.target_lufs)[0], out_path)
    return out_path


def _select(plan: Plan, selection: Selection) -> tuple[int, Chapter]:
    """The chapter, cut down to the selected scene and line."""
    chapters = plan.script.chapters
    where = plan.script.path
    if not 1 <= selection.chapter <= len(chapters):
        raise BedtimeError(
            f"{where}: there is no chapter {selection.chapter} (the story has {len(chapters)})"
        )
    chapter = chapters[selection.chapter - 1]
    scenes = chapter.scenes
    if selection.scene is not None:
        if not 1 <= selection.scene <= len(scenes):
            raise BedtimeError(
                f"{where}: chapter {selection.chapter} has no scene "
                f"{selection.scene} (it has {len(scenes)})"
            )
        scene = scenes[selection.scene - 1]
        if selection.line is not None:
            if not 1 <= selection.line <= len(scene.lines):
                raise BedtimeError(
                    f"{where}: that scene has no line {selection.line} (it has {len(scene.lines)})"
                )
            scene = dataclasses.replace(scene, lines=(scene.lines[selection.line - 1],))
        scenes = (scene,)
    elif selection.line is not None:
        raise BedtimeError("--line needs --scene")
    return selection.chapter - 1, dataclasses.replace(chapter, scenes=scenes)


def audition(
    plan: Plan, engine: SpeechEngine, options: RenderOptions, report: Report
) -> list[Path]:
    """Each speaker's first line in their cast voice, levelled, one WAV per speaker, so a
    producer can compare the voices of a story side by side."""
    firsts: dict[str, Speech] = {}
    for speech in plan.script.speeches:
        firsts.setdefault(speech.speaker, speech)
    bank = synthesize(plan, engine, options.lines, options.jobs, report, only=set(firsts.values()))
    paths = []
    for speaker, speech in firsts.items():
        placed = place_line(speech, bank.clips[speech], 0.0, plan.script.pacing)
        path = options.out_dir / f"{speaker}.wav"
        write_wav(line_audio(placed, options.lines), path)
        paths.append(path)
    return paths


AUDITION_TEXT = (
    "The lights of the city dimmed, one window at a time. Somewhere, a kettle began to sing."
)
"""What a voice says when it is auditioned on its own."""


def audition_voice(voice: Voice, engine: SpeechEngine, folder: Path) -> Path:
    """A voice or a blend (Kokoro's 'af_heart*0.6 + af_bella*0.4') saying AUDITION_TEXT,
    levelled like a line of a story, as folder/<voice>.wav."""
    if not is_offered(voice.voice_id, {info.voice_id for info in engine.voices()}):
        raise BedtimeError(
            f"{engine.name} has no voice '{voice.voice_id}' (see 'bedtime voices --engine "
            f"{engine.name}')"
        )
    audio = engine.synthesize(AUDITION_TEXT, voice).trim_silence()
    path = folder / f"{re.sub(r'[^A-Za-z0-9_.+-]+', '', voice.voice_id.replace('*', 'x'))}.wav"
    write_wav(audio.gain(level_gain_db(loudness_blocks(audio))), path)
    return path
