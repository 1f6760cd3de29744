"""The values that flow through the pipeline: a parsed script and the voices cast for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Layer:
    """One preset in a soundscape, with the script's adjustments."""

    preset: str
    gain_db: float = 0.0
    """Level relative to the preset's own, in dB."""
    lowpass_hz: float | None = None
    """Tone: a gentle low-pass cutoff, or None for the preset's own."""


Soundscape = tuple[Layer, ...]


@dataclass(frozen=True)
class Speech:
    """A spoken line."""

    speaker: str
    text: str
    line: int
    """Line in the script file, 1-based."""


@dataclass(frozen=True)
class Pause:
    """Ambience only, no voice."""

    pause_s: float
    line: int


Line = Speech | Pause


@dataclass(frozen=True)
class Scene:
    title: str | None
    soundscape: Soundscape
    """Resolved: the scene's own, else its chapter's."""
    lines: tuple[Line, ...]
    line: int


@dataclass(frozen=True)
class Chapter:
    title: str
    soundscape: Soundscape
    scenes: tuple[Scene, ...]
    line: int


@dataclass(frozen=True)
class Pacing:
    """How the telling slows toward sleep; a script's `pacing:` overrides the defaults.

    Speeds multiply each voice's own speed from voices.yaml. From the first chapter to the
    last, speed glides from start_speed to final_speed and every pause grows, chapter by
    chapter, to final_pause_scale times its first-chapter length. Kokoro drags below about
    0.8x, so most of the slowing is silence: between lines, between the sentences of a line,
    and inside a sentence where the voice itself paused (at a comma, say)."""

    start_speed: float = 0.9
    final_speed: float = 0.8
    sentence_pause_s: float = 1.1
    """Silence between two sentences of one line, in the first chapter."""
    clause_pause_s: float = 0.45
    """The least silence where a voice paused inside a sentence, in the first chapter."""
    line_pause_s: float = 1.5
    """Silence between two lines, in the first chapter."""
    scene_pause_s: float = 5.0
    """Ambience between scenes, in the first chapter."""
    final_pause_scale: float = 2.8

    def progress(self, chapter: int, chapters: int) -> float:
        """0.0 for the first chapter (0-based), 1.0 for the last."""
        return chapter / (chapters - 1) if chapters > 1 else 0.0

    def speed(self, chapter: int, chapters: int) -> float:
        progress = self.progress(chapter, chapters)
        return self.start_speed + (self.final_speed - self.start_speed) * progress

    def pause_scale(self, chapter: int, chapters: int) -> float:
        return 1.0 + (self.final_pause_scale - 1.0) * self.progress(chapter, chapters)


@dataclass(frozen=True)
class Script:
    path: str
    slug: str
    """The file's stem: names the story's outputs and its casting."""
    title: str
    author: str | None
    description: str | None
    cast: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Speaker id → short description, in the script's order."""
    chapters: tuple[Chapter, ...] = ()
    pacing: Pacing = Pacing()
    narrator: str | None = None
    """Who the players credit as the reader; None credits the narrator's voice."""
    year: int | None = None
    warnings: tuple[str, ...] = ()
    """Mistakes that do not stop a render, as 'path:line: message'."""

    @property
    def speeches(self) -> tuple[Speech, ...]:
        return tuple(
            line
            for chapter in self.chapters
            for scene in chapter.scenes
            for line in scene.lines
            if isinstance(line, Speech)
        )


@dataclass(frozen=True)
class Voice:
    """How one speaker sounds on one engine."""

    engine: str
    voice_id: str
    """The engine's voice: an eSpeak NG name like 'en-us+f3', or a Kokoro id like 'af_heart'."""
    speed: float = 1.0
    """Multiple of the engine's natural speaking pace."""
    pitch: int | None = None
    """eSpeak NG base pitch, 0–100; None for the voice's own."""

    def at_speed(self, factor: float) -> Voice:
        return Voice(self.engine, self.voice_id, round(self.speed * factor, 4), self.pitch)
