"""`bedtime feed`: the rendered stories as a podcast feed, read back as an app would, with
feedparser."""

import json
import shutil
import urllib.parse
from pathlib import Path

import feedparser
import pytest
from conftest import run_bedtime

BASE = "https://stories.example/bedtime/"


@pytest.fixture(scope="module")
def published(tiny_render: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two stories in an output folder: the tiny render, and a copy of it under another slug."""
    out = tmp_path_factory.mktemp("published")
    shutil.copytree(tiny_render, out / "tiny")
    other = out / "tiny-again"
    shutil.copytree(tiny_render, other)
    for path in list(other.glob("tiny.*")):
        path.rename(other / path.name.replace("tiny.", "tiny-again.", 1))
    report = json.loads((other / "render.json").read_text())
    (other / "render.json").write_text(json.dumps(report | {"slug": "tiny-again"}))
    result = run_bedtime("feed", str(out), "--base-url", BASE.rstrip("/"), "--title", "Night")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("feed.xml")
    return out


def local(url: str, out: Path) -> Path:
    """The file in the output folder that a feed URL names."""
    assert url.startswith(BASE)
    return out / urllib.parse.unquote(url[len(BASE) :])


def test_the_feed_is_a_podcast_with_one_episode_per_story(published: Path) -> None:
    feed = feedparser.parse(published / "feed.xml")
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.title == "Night" and feed.feed.language == "en"
    assert feed.feed.image.href == BASE + "tiny/cover.jpg"
    assert feed.feed.tags[0].term == "Fiction"
    assert [entry.title for entry in feed.entries] == ["The Tiny Night"] * 2
    assert [entry.id for entry in feed.entries] == [
        "bedtime-audio:tiny",
        "bedtime-audio:tiny-again",
    ]


def test_each_episode_links_its_audio_chapters_transcript_and_cover(published: Path) -> None:
    report = json.loads((published / "tiny" / "render.json").read_text())
    for entry in feedparser.parse(published / "feed.xml").entries:
        (enclosure,) = entry.enclosures
        audio = local(enclosure.href, published)
        assert audio.suffix == ".mp3" and enclosure.type == "audio/mpeg"
        assert int(enclosure.length) == audio.stat().st_size
        assert int(entry.itunes_duration) == round(report["duration_s"])
        assert entry.summary == (published / "tiny" / "desc.txt").read_text().strip()
        chapters = local(entry.podcast_chapters["url"], published)
        assert entry.podcast_chapters["type"] == "application/json+chapters"
        assert len(json.loads(chapters.read_text())["chapters"]) == len(report["chapters"])
        transcript = local(entry.podcast_transcript["url"], published)
        assert entry.podcast_transcript["type"] == "text/vtt"
        assert transcript.read_text().startswith("WEBVTT")
        assert local(entry.image.href, published).name == "cover.jpg"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base-url", "ftp://example.org/"], "--base-url must be an http:// or https:// URL"),
        (["--base-url", "stories/"], "--base-url must be an http:// or https:// URL"),
    ],
)
def test_a_base_url_that_is_no_web_address_is_refused(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_bedtime("feed", str(tmp_path), *args)
    assert result.returncode == 1 and result.stderr.startswith(f"error: {message}")
    assert not (tmp_path / "feed.xml").exists()


def test_a_folder_without_stories_is_a_clear_error(tmp_path: Path) -> None:
    result = run_bedtime("feed", str(tmp_path), "--base-url", BASE)
    assert result.returncode == 1
    assert (
        result.stderr
        == f"error: no rendered stories in {tmp_path} (render some with 'bedtime render')\n"
    )
    assert list(tmp_path.iterdir()) == []
