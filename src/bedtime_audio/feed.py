"""`bedtime feed`: the rendered stories as a podcast, for apps that subscribe to a URL.

RSS 2.0 with the iTunes tags (written by feedgen's podcast extension) and the Podcasting 2.0
`podcast:chapters` and `podcast:transcript` tags (a small extension of our own), so apps such
as AntennaPod show the chapters and the transcript. Each story is an episode: its MP3 as the
enclosure, its cover as the episode's image."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .cache import write_atomic
from .errors import BedtimeError

PODCAST_NS = "https://podcastindex.org/namespace/1.0"


class FeedError(BedtimeError):
    """The output folder or the base URL cannot make a feed."""


@dataclass(frozen=True)
class Channel:
    base_url: str
    """Where the output folder is published, ending in '/'."""
    title: str = "Bedtime stories"
    description: str = "Calm, chaptered stories that fade into the sounds of the night."
    language: str = "en"
    category: str = "Fiction"


@dataclass(frozen=True)
class Episode:
    folder: Path
    report: dict

    @property
    def slug(self) -> str:
        return str(self.report["slug"])

    def url(self, base_url: str, name: str) -> str:
        return base_url + urllib.parse.quote(f"{self.folder.name}/{name}")


def base_url(value: str) -> str:
    """The base URL, checked: absolute http(s), ending in '/'."""
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FeedError(f"--base-url must be an http:// or https:// URL, got '{value}'")
    return value if value.endswith("/") else value + "/"


def episodes(out_dir: Path) -> list[Episode]:
    """Every story rendered into out_dir, in the order of their folders' names."""
    from .export import rendered_stories

    found = [Episode(folder, report) for folder, report in rendered_stories(out_dir)]
    if not found:
        raise FeedError(f"no rendered stories in {out_dir} (render some with 'bedtime render')")
    return found


def write_feed(out_dir: Path, channel: Channel) -> Path:
    """out_dir/feed.xml, written under a temporary name and renamed into place."""
    path = out_dir / "feed.xml"
    write_atomic(path, feed_xml(episodes(out_dir), channel))
    return path


def feed_xml(stories: list[Episode], channel: Channel) -> bytes:
    from feedgen.feed import FeedGenerator

    feed = FeedGenerator()
    feed.load_extension("podcast")
    feed.register_extension("podcastindex", _ChannelTags, _EpisodeTags)
    feed.title(channel.title)
    feed.description(channel.description)
    feed.link(href=channel.base_url)
    feed.language(channel.language)
    feed.generator("bedtime-audio")
    feed.podcast.itunes_category(channel.category)
    feed.podcast.itunes_explicit("no")
    feed.podcast.itunes_image(stories[0].url(channel.base_url, "cover.jpg"))
    feed.image(stories[0].url(channel.base_url, "cover.jpg"), channel.title, channel.base_url)
    published = []
    for story in reversed(stories):  # feedgen puts each new entry first
        audio = story.folder / f"{story.slug}.mp3"
        when = datetime.fromtimestamp((story.folder / "render.json").stat().st_mtime, UTC)
        published.append(when)
        entry = feed.add_entry()
        entry.id(f"bedtime-audio:{story.slug}")
        entry.guid(f"bedtime-audio:{story.slug}", permalink=False)
        entry.title(story.report["title"])
        entry.description(_description(story))
        entry.enclosure(
            story.url(channel.base_url, audio.name), str(audio.stat().st_size), "audio/mpeg"
        )
        entry.published(when)
        entry.podcast.itunes_duration(round(story.report["duration_s"]))
        entry.podcast.itunes_image(story.url(channel.base_url, "cover.jpg"))
        entry.podcastindex.chapters = story.url(channel.base_url, "chapters.json")
        entry.podcastindex.transcript = story.url(channel.base_url, f"{story.slug}.vtt")
    feed.lastBuildDate(max(published))
    return bytes(feed.rss_str(pretty=True))


def _description(story: Episode) -> str:
    desc = story.folder / "desc.txt"
    if desc.exists():
        return desc.read_text(encoding="utf-8").strip()
    return str(story.report["title"])


class _ChannelTags:
    """Declares the podcast: namespace on the channel."""

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS}

    def extend_rss(self, feed: object) -> object:
        return feed

    def extend_atom(self, feed: object) -> object:
        return feed


class _EpisodeTags(_ChannelTags):
    """An episode's podcast:chapters (JSON) and podcast:transcript (WebVTT)."""

    chapters: str | None = None
    transcript: str | None = None

    def extend_rss(self, entry: object) -> object:
        from lxml import etree

        assert isinstance(entry, etree._Element)
        for tag, url, kind in (
            ("chapters", self.chapters, "application/json+chapters"),
            ("transcript", self.transcript, "text/vtt"),
        ):
            if url:
                element = etree.SubElement(entry, f"{{{PODCAST_NS}}}{tag}")
                element.attrib["url"] = url
                element.attrib["type"] = kind
        return entry
