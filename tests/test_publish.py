"""What players and publishers read beside the audio: cover, tags, chapters.json, Audiobookshelf's
metadata.json, desc.txt. Read back from a real render with ffprobe, mutagen and Pillow."""

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, TINY_ARGS, ffprobe, ffprobe_chapters, run_bedtime
from mutagen.flac import Picture
from mutagen.id3 import ID3, PictureType
from mutagen.mp4 import MP4, MP4Cover
from mutagen.oggopus import OggOpus
from PIL import Image

from bedtime_audio.cover import SIZE_PX, cover, palette

NARRATOR = "eSpeak NG voice en-gb+f2"
"""tests/data/voices.yaml casts the narrator, who speaks most of tiny.yaml, in this voice."""


def streams(path: Path) -> list[dict]:
    return ffprobe(path, "-show_streams")["streams"]


@pytest.mark.parametrize("ext", ["m4b", "mp3"])
def test_the_cover_is_an_attached_picture_not_a_video_track(tiny_render: Path, ext: str) -> None:
    found = streams(tiny_render / f"tiny.{ext}")
    pictures = [s for s in found if s["codec_type"] == "video"]
    assert len(pictures) == 1 and pictures[0]["disposition"]["attached_pic"] == 1
    assert (pictures[0]["width"], pictures[0]["height"]) == (SIZE_PX, SIZE_PX)
    assert [s["codec_name"] for s in found if s["codec_type"] == "audio"] == [
        "aac" if ext == "m4b" else "mp3"
    ]


def test_m4b_credits_author_and_narrator_as_players_read_them(tiny_render: Path) -> None:
    tags = MP4(tiny_render / "tiny.m4b").tags
    assert tags is not None
    assert tags["\xa9ART"] == ["bedtime-audio"] and tags["aART"] == ["bedtime-audio"]
    assert tags["\xa9nrt"] == [NARRATOR] and tags["\xa9wrt"] == [NARRATOR]
    assert tags["\xa9day"] == ["2026"] and tags["trkn"] == [(1, 1)] and tags["stik"] == [2]
    assert tags["desc"] == ["A city that hums all night, and the rain that lets it sleep."]
    (art,) = tags["covr"]
    assert art.imageformat == MP4Cover.FORMAT_JPEG
    assert bytes(art) == (tiny_render / "cover.jpg").read_bytes()


def test_mp3_credits_the_narrator_as_composer_with_a_front_cover(tiny_render: Path) -> None:
    tags = ID3(tiny_render / "tiny.mp3")
    assert tags["TPE1"].text == ["bedtime-audio"] and tags["TPE2"].text == ["bedtime-audio"]
    assert tags["TCOM"].text == [NARRATOR] and tags["TXXX:narrator"].text == [NARRATOR]
    assert str(tags["TDRC"].text[0]) == "2026" and tags["TRCK"].text == ["1/1"]
    (art,) = tags.getall("APIC")
    assert art.type == PictureType.COVER_FRONT and art.mime == "image/jpeg"
    assert art.data == (tiny_render / "cover.jpg").read_bytes()
    assert len(tags.getall("CHAP")) == 3  # tagging kept ffmpeg's chapters


def test_cover_files_are_large_square_images(tiny_render: Path) -> None:
    for name, kind in (("cover.jpg", "JPEG"), ("cover.png", "PNG")):
        with Image.open(tiny_render / name) as image:
            assert (image.format, image.size) == (kind, (SIZE_PX, SIZE_PX))


def test_publishing_chapters_match_render_json(tiny_render: Path) -> None:
    report = json.loads((tiny_render / "render.json").read_text())
    expected = [(c["title"], c["start_s"], c["end_s"]) for c in report["chapters"]]
    podcast = json.loads((tiny_render / "chapters.json").read_text())
    assert podcast["version"] == "1.2.0"
    assert [(c["title"], c["startTime"], c["endTime"]) for c in podcast["chapters"]] == expected
    shelf = json.loads((tiny_render / "metadata.json").read_text())
    assert [(c["title"], c["start"], c["end"]) for c in shelf["chapters"]] == expected
    assert shelf["authors"] == ["bedtime-audio"] and shelf["narrators"] == [NARRATOR]
    assert shelf["title"] == "The Tiny Night" and shelf["publishedYear"] == "2026"
    assert (tiny_render / "desc.txt").read_text() == shelf["description"] + "\n"


def test_the_palette_runs_from_screen_light_to_moonlight() -> None:
    cold, warm = np.array(palette(1.0)), np.array(palette(0.0))
    assert cold[2] > cold[0] and warm[0] > warm[2]  # blue-white screens, yellow-white moon
    middle = np.array(palette(0.5))
    assert np.all(np.abs(middle - (cold + warm) / 2) <= 1)


def test_a_cover_follows_its_chapters_and_is_the_same_every_time() -> None:
    def png(shares: list[float]) -> bytes:
        out = io.BytesIO()
        cover("The Tiny Night", "bedtime-audio", shares).save(out, "PNG")
        return out.getvalue()

    assert png([1.0, 0.5, 0.0]) == png([1.0, 0.5, 0.0])
    assert png([1.0, 0.5, 0.0]) != png([0.0, 0.5, 1.0])
    natural = np.asarray(cover("Rest", None, [0.0]), float)
    synthetic = np.asarray(cover("Rest", None, [1.0]), float)
    blue_minus_red = [(a[..., 2] - a[..., 0]).mean() for a in (synthetic, natural)]
    assert blue_minus_red[0] > blue_minus_red[1]


@pytest.fixture(scope="module")
def opus_render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/data/tiny.yaml rendered as the tests render it, with --format opus."""
    out = tmp_path_factory.mktemp("opus")
    result = run_bedtime(
        "render", str(DATA / "tiny.yaml"), "--out", str(out), "--format", "opus", *TINY_ARGS
    )
    assert result.returncode == 0, result.stderr
    return out / "tiny"


def test_opus_has_chapters_comments_and_a_cover_block(opus_render: Path) -> None:
    report = json.loads((opus_render / "render.json").read_text())
    chapters = ffprobe_chapters(opus_render / "tiny.opus")
    assert [c["tags"]["title"] for c in chapters] == [c["title"] for c in report["chapters"]]
    for chapter, reported in zip(chapters, report["chapters"], strict=True):
        assert float(chapter["start_time"]) == pytest.approx(reported["start_s"], abs=0.002)
    found = streams(opus_render / "tiny.opus")
    assert [
        (s["codec_name"], s.get("sample_rate")) for s in found if s["codec_type"] == "audio"
    ] == [("opus", "48000")]
    assert [s["disposition"]["attached_pic"] for s in found if s["codec_type"] == "video"] == [1]
    tags = OggOpus(opus_render / "tiny.opus").tags
    assert tags is not None
    assert tags["CHAPTER001"] == ["00:00:00.000"]
    assert tags["CHAPTER002NAME"] == [report["chapters"][1]["title"]]
    assert tags["ARTIST"] == ["bedtime-audio"] and tags["COMPOSER"] == [NARRATOR]
    picture = Picture(base64.b64decode(tags["METADATA_BLOCK_PICTURE"][0]))
    assert picture.type == PictureType.COVER_FRONT and picture.mime == "image/jpeg"
    assert picture.data == (opus_render / "cover.jpg").read_bytes()
    assert report["files"]["tiny.opus"]["true_peak_dbtp"] <= -1.5
    assert report["files"]["tiny.opus"]["integrated_lufs"] == pytest.approx(-20.0, abs=1.0)


def test_the_render_writes_the_listening_page_and_the_library(tiny_render: Path) -> None:
    page = (tiny_render / "index.html").read_text()
    assert "<title>The Tiny Night</title>" in page and 'src="tiny.mp3"' in page
    library = (tiny_render.parent / "index.html").read_text()
    assert 'href="tiny/index.html"' in library and 'src="tiny/cover.jpg"' in library
