"""Stage 7, tags ffmpeg cannot write into an M4B, written with mutagen: the narrator (©nrt;
ffmpeg writes the composer, which Audiobookshelf reads as the narrator), the description, the
audiobook media kind, and the cover as an attached picture rather than a video track.

The MP3 gets its cover and tags from ffmpeg as it is muxed: mutagen would reorder its chapter
frames, by size, when it saved them."""

from __future__ import annotations

from pathlib import Path

from mutagen.mp4 import MP4, MP4Cover

from .artifacts import StoryInfo

_AUDIOBOOK = 2
"""MP4's media kind ('stik') for an audiobook."""


def tag_m4b(path: Path, story: StoryInfo, cover_jpeg: bytes) -> None:
    mp4 = MP4(path)
    if mp4.tags is None:
        mp4.add_tags()
    assert mp4.tags is not None
    if story.description:
        mp4.tags.update({"desc": [story.description], "ldes": [story.description]})
    mp4.tags.update(
        {
            "\xa9nrt": [story.narrator],
            "stik": [_AUDIOBOOK],
            "covr": [MP4Cover(cover_jpeg, imageformat=MP4Cover.FORMAT_JPEG)],
        }
    )
    mp4.save()
