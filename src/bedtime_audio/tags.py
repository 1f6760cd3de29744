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
from .errors import ExportError

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


_XING_AT = 36
"""Where the Xing (or Info) header starts in an MPEG-1 Layer III stereo frame."""
_XING_FIELDS = ((1, 4), (2, 4), (4, 100), (8, 4))
"""The Xing header's optional fields, by flag and size: frames, bytes, seek table, quality."""
_LAME_DELAYS = 21
_LAME_CRC = 34
"""Offsets in the LAME tag, which follows them: the encoder delay and padding (12 bits each),
and the CRC of the frame up to the CRC itself."""
_MP3_FRAME = 1152


def set_mp3_gapless(path: Path, delay: int, samples: int) -> None:
    """Write the encoder delay and the padding into the LAME tag of the MP3's first frame, so
    that players play exactly `samples`. ffmpeg writes the tag as it muxes frames it did not
    encode, with no delay: it cannot know it."""
    with open(path, "r+b") as mp3:
        head = mp3.read(10)
        start = 0
        if head[:3] == b"ID3":  # its size: seven bits a byte; then a footer, if flagged
            start = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10]))
            start += 10 if head[5] & 0x10 else 0
        mp3.seek(start)
        frame = bytearray(mp3.read(400))
        if frame[_XING_AT : _XING_AT + 4] not in (b"Xing", b"Info"):
            raise ExportError(f"{path.name} has no Xing header")
        flags = int.from_bytes(frame[_XING_AT + 4 : _XING_AT + 8], "big")
        at, frames = _XING_AT + 8, None
        for flag, size in _XING_FIELDS:
            if flags & flag:
                if flag == 1:
                    frames = int.from_bytes(frame[at : at + 4], "big")
                at += size
        if frames is None or frame[at : at + 4] not in (b"LAME", b"Lavc", b"Lavf"):
            raise ExportError(f"{path.name} has no LAME tag")
        padding = frames * _MP3_FRAME - delay - samples
        if not (0 <= delay < 4096 and 0 <= padding < 4096):
            raise ExportError(f"{path.name}: {frames} frames cannot hold {samples} samples")
        frame[at + _LAME_DELAYS : at + _LAME_DELAYS + 3] = (delay << 12 | padding).to_bytes(
            3, "big"
        )
        crc = _crc16(frame[: at + _LAME_CRC])
        frame[at + _LAME_CRC : at + _LAME_CRC + 2] = crc.to_bytes(2, "big")
        mp3.seek(start)
        mp3.write(frame[: at + _LAME_CRC + 2])


def _crc16(data: bytes | bytearray) -> int:
    """CRC-16/ARC (reflected 0x8005, from 0), the LAME tag's checksum; the standard library
    has no CRC-16 (binascii's crc_hqx is CCITT)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc
