"""The text that goes with the audio: ffmpeg's chapter file, the WebVTT transcript and the
render.json report, each a pure function of what was written where."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .mix import Placed


@dataclass(frozen=True)
class StoryInfo:
    slug: str
    title: str
    author: str | None
    description: str | None
    engine: str
    narrator: str = "bedtime-audio"
    """Who reads it: the script's `narrator`, else the narrator's voice."""
    year: int | None = None
    script: str = ""
    """The scene script, as an absolute path: `bedtime proof` reads it again."""


@dataclass(frozen=True)
class Written:
    """A section as placed in the story: where it starts, and its lines in story time."""

    title: str
    start_s: float
    end_s: float
    lines: tuple[tuple[Placed, float], ...]
    loudness_lufs: float
    synthetic_share: float


def _escape(value: str) -> str:
    return re.sub(r"([=;#\\\n])", r"\\\1", value)


def ffmetadata(story: StoryInfo, written: list[Written]) -> str:
    """ffmpeg's metadata file: story tags and one [CHAPTER] per section, in milliseconds."""
    tags = {
        "title": story.title,
        "album": story.title,
        "artist": story.author or "bedtime-audio",
        "album_artist": story.author or "bedtime-audio",
        "composer": story.narrator,  # Audiobookshelf's narrator
        "narrator": story.narrator,  # the MP3's TXXX:narrator (the M4B's ©nrt is mutagen's)
        "genre": "Audiobook",
        "date": str(story.year) if story.year else "",
        "track": "1/1",
        "comment": story.description or "",
    }
    lines = [";FFMETADATA1", *(f"{key}={_escape(value)}" for key, value in tags.items() if value)]
    for part in written:
        lines += [
            "",
            "[CHAPTER]",
            "TIMEBASE=1/1000",
            f"START={round(part.start_s * 1000)}",
            f"END={round(part.end_s * 1000)}",
            f"title={_escape(part.title)}",
        ]
    return "\n".join(lines) + "\n"


def timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def speaker_name(speaker: str) -> str:
    return speaker.replace("_", " ").replace("-", " ").title()


def transcript(written: list[Written]) -> str:
    """WebVTT: one cue per spoken line, with the speaker as a voice span."""
    cues = ["WEBVTT", ""]
    number = 0
    for part in written:
        for placed, offset in part.lines:
            number += 1
            text = placed.speech.text.replace("\n", " ").replace("-->", "->")
            text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            cues += [
                str(number),
                f"{timestamp(offset + placed.start_s)} --> {timestamp(offset + placed.end_s)}",
                f"<v {speaker_name(placed.speech.speaker)}>{text}",
                "",
            ]
    return "\n".join(cues)


def render_report(
    story: StoryInfo, written: list[Written], files: dict[str, dict[str, float]]
) -> dict:
    """`files`: each encoded file's loudness and true peak as measured after encoding."""
    return {
        "title": story.title,
        "slug": story.slug,
        "engine": story.engine,
        "script": story.script,
        "duration_s": round(written[-1].end_s, 3),
        "loudness": files[f"{story.slug}.m4b"],
        "files": files,
        "chapters": [
            {
                "title": part.title,
                "start_s": round(part.start_s, 3),
                "end_s": round(part.end_s, 3),
                "loudness_lufs": round(part.loudness_lufs, 2),
                "synthetic_share": round(part.synthetic_share, 3),
            }
            for part in written
        ],
        "lines": [
            {
                "chapter": part.title,
                "speaker": placed.speech.speaker,
                "line": placed.speech.line,
                "voice": placed.clip.voice.voice_id,
                "speed": placed.clip.voice.speed,
                "text": placed.speech.text,
                "start_s": round(offset + placed.start_s, 3),
                "end_s": round(offset + placed.end_s, 3),
            }
            for part in written
            for placed, offset in part.lines
        ],
    }


def podcast_chapters(written: list[Written]) -> dict:
    """Podcasting 2.0 chapters (chapters.json, version 1.2.0)."""
    return {
        "version": "1.2.0",
        "chapters": [
            {
                "startTime": round(part.start_s, 3),
                "endTime": round(part.end_s, 3),
                "title": part.title,
            }
            for part in written
        ],
    }


def shelf_metadata(story: StoryInfo, written: list[Written]) -> dict:
    """Audiobookshelf's metadata.json, which it reads before the files' own tags."""
    return {
        "title": story.title,
        "subtitle": None,
        "authors": [story.author] if story.author else [],
        "narrators": [story.narrator],
        "series": [],
        "genres": ["Audiobook"],
        "publishedYear": str(story.year) if story.year else None,
        "description": story.description,
        "language": "en",
        "explicit": False,
        "abridged": False,
        "chapters": [
            {
                "id": number,
                "start": round(part.start_s, 3),
                "end": round(part.end_s, 3),
                "title": part.title,
            }
            for number, part in enumerate(written)
        ],
    }
