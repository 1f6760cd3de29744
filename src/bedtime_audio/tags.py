"""Stage 7, tags ffmpeg cannot write, written with mutagen.

Into the M4B: the narrator (©nrt; ffmpeg writes the composer, which Audiobookshelf reads as the
narrator), the description, the audiobook media kind, and the cover as an attached picture
rather than a video track. Into the Opus: every tag, the chapters as CHAPTER001= and
CHAPTER001NAME= comments, and the cover as a METADATA_BLOCK_PICTURE.

The MP3 gets its cover and tags from ffmpeg as it is muxed: mutagen would reorder its chapter
frames, by size, when it saved them."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from mutagen.flac import Picture
from mutagen.id3 import PictureType
from mutagen.mp4 import MP4, MP4Cover
from mutagen.oggopus import OggOpus
from PIL import Image

from .artifacts import StoryInfo, Written, timestamp

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


def tag_opus(path: Path, story: StoryInfo, written: list[Written], cover_jpeg: bytes) -> None:
    opus = OggOpus(path)
    assert opus.tags is not None
    opus.tags.clear()
    tags = {
        "TITLE": story.title,
        "ALBUM": story.title,
        "ARTIST": story.author,
        "ALBUMARTIST": story.author,
        "COMPOSER": story.narrator,
        "NARRATOR": story.narrator,
        "GENRE": "Audiobook",
        "DATE": str(story.year) if story.year else None,
        "TRACKNUMBER": "1",
        "TRACKTOTAL": "1",
        "DESCRIPTION": story.description,
    }
    for number, part in enumerate(written, start=1):
        tags[f"CHAPTER{number:03d}"] = timestamp(part.start_s)
        tags[f"CHAPTER{number:03d}NAME"] = part.title
    picture = Picture()
    picture.type, picture.mime, picture.desc = PictureType.COVER_FRONT, "image/jpeg", "Cover"
    picture.data = cover_jpeg
    with Image.open(io.BytesIO(cover_jpeg)) as image:
        picture.width, picture.height = image.size
    picture.depth = 24
    tags["METADATA_BLOCK_PICTURE"] = base64.b64encode(picture.write()).decode("ascii")
    for key, value in tags.items():
        if value:
            opus.tags[key] = [value]
    opus.save()
