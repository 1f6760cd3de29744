"""The values that flow through the pipeline: a parsed script and the voices cast for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class SoundFile:
    """A producer's own recording, checked when the script is read."""

    path: str
    """Absolute."""
    digest: str
    """sha256 of the file: an edited recording is mixed again."""
    duration_s: float


@dataclass(frozen=True)
class Layer:
    """One preset in a soundscape, or a recording looped under it, with the script's
    adjustments."""

    preset: str
    """A preset's name, or FILE_LAYER for a recording."""
    gain_db: float = 0.0
    """Level relative to the preset's own (a recording's: the bed level), in dB."""
    lowpass_hz: float | None = None
    """Tone: a gentle low-pass cutoff, or None for the preset's own."""
    file: SoundFile | None = None


FILE_LAYER = "file"
Soundscape = tuple[Layer, ...]


@dataclass(frozen=True)
class Cue:
    """A one-shot sound: a procedural effect by name, or a producer's recording."""

    sound: str | SoundFile
    gain_db: float = 0.0
    """Relative to the cue level, in dB."""


@dataclass(frozen=True)
class Phonemes:
    """A word said as written in phonemes: IPA (Kokoro) or eSpeak NG's mnemonics."""

    written: str
    ph: str
    alphabet: str
    """"ipa" or "espeak"."""


@dataclass(frozen=True)
class Words:
    """A run of a line said one way: at one rate, emphasised or not."""

    pieces: tuple[str | Phonemes, ...]
    """Text as the voice says it (a <sub>'s alias), and words given in phonemes."""
    rate: float = 1.0
    """Multiple of the line's speed."""
    emphasis: bool = False


@dataclass(frozen=True)
class Break:
    """Silence inside a line: [pause:1.5] or <break time="1.5s"/>."""

    seconds: float


@dataclass(frozen=True)
class Direction:
    """How a line is performed and what is heard with it."""

    speed: float = 1.0
    """Multiple of the voice's speed at that point of the story."""
    gain_db: float = 0.0
    pause_after_s: float | None = None
    """Silence after the line, instead of the pacing's."""
    voice: str | None = None
    """A speaker of the cast whose voice says the line."""
    duck_db: float | None = None
    """How far the bed dips under the line; None for the mix's own."""
    cues: tuple[Cue, ...] = ()
    """Heard as the line begins."""


@dataclass(frozen=True)
class Speech:
    """A spoken line."""

    speaker: str
    text: str
    """As written, without markup: the transcript's words."""
    line: int
    """Line in the script file, 1-based."""
    said: tuple[Words | Break, ...] = ()
    """The text with its markup read; empty for plain text."""
    direction: Direction = Direction()

    @property
    def parts(self) -> tuple[Words | Break, ...]:
        return self.said or (Words((self.text,)),)


@dataclass(frozen=True)
class Pause:
    """Ambience only, no voice."""

    pause_s: float
    line: int


@dataclass(frozen=True)
class CueLine:
    """A cue on a line of its own: the story waits for it."""

    cue: Cue
    line: int


Line = Speech | Pause | CueLine


@dataclass(frozen=True)
class Scene:
    title: str | None
    soundscape: Soundscape
    """Resolved: the scene's own, else its chapter's."""
    lines: tuple[Line, ...]
    line: int
    cues: tuple[Cue, ...] = ()
    """Heard as the scene begins."""


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
