"""The listening pages as HTML: what they show, what they embed, and that a story's own words
can never become markup or script."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser

import pytest

from bedtime_audio.page import clock, library_page, story_page

HOSTILE = "</script><script>alert(1)</script> & <b>bold</b>"

FILES = ["night.m4b", "night.mp3", "night.vtt", "cover.jpg", "render.json"]


def report(title: str = "The Quiet Harbour") -> dict:
    return {
        "title": title,
        "slug": "night",
        "engine": "pyttsx3",
        "duration_s": 3725.5,
        "loudness": {"integrated_lufs": -20.0},
        "files": {"night.m4b": {}, "night.mp3": {}},
        "chapters": [
            {"title": "Lanterns", "start_s": 0.0, "end_s": 60.0},
            {"title": f"Tide {HOSTILE}", "start_s": 60.0, "end_s": 3725.5},
        ],
        "lines": [
            {"chapter": "Lanterns", "speaker": "narrator", "text": "The harbour slept.",
             "start_s": 2.0, "end_s": 5.5},
            {"chapter": "Lanterns", "speaker": "old_sam", "text": "Lights out, boats.",
             "start_s": 6.0, "end_s": 8.0},
            {"chapter": f"Tide {HOSTILE}", "speaker": "lena", "text": HOSTILE,
             "start_s": 61.0, "end_s": 64.0},
            {"chapter": f"Tide {HOSTILE}", "speaker": "kai-lee", "text": "Good night, sea.",
             "start_s": 70.0, "end_s": 72.0},
        ],
        "inputs": "abc",
    }  # fmt: skip


class Outline(HTMLParser):
    """The elements of a page: its script blocks, and every tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs)

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.scripts.append((self._script, data))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]


def outline(page: str) -> Outline:
    parser = Outline()
    parser.feed(page)
    parser.close()
    return parser


def embedded(page: str) -> dict:
    (data,) = [text for attrs, text in outline(page).scripts if attrs.get("id") == "story-data"]
    return json.loads(data)


def text_of(page: str) -> str:
    """The page's visible text, in order, entities decoded."""
    body = re.sub(r"<script\b.*?</script>", "", page, flags=re.S)
    body = re.sub(r"<style\b.*?</style>", "", body, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def test_the_embedded_data_parses_back_to_the_story() -> None:
    page = story_page(report(), FILES)
    data = embedded(page)
    assert data["title"] == "The Quiet Harbour"
    assert data["duration_s"] == 3725.5
    assert [c["title"] for c in data["chapters"]] == ["Lanterns", f"Tide {HOSTILE}"]
    assert [c["start_s"] for c in data["chapters"]] == [0.0, 60.0]
    assert [line["text"] for line in data["lines"]] == [line["text"] for line in report()["lines"]]
    assert [line["speaker"] for line in data["lines"]] == ["Narrator", "Old Sam", "Lena", "Kai Lee"]
    assert data["stems"] is False


def test_a_storys_words_never_become_markup_or_script() -> None:
    page = story_page(report(title=HOSTILE), FILES)
    assert "<script>alert(1)" not in page
    assert "<b>bold" not in page
    assert "&amp; &lt;b&gt;bold&lt;/b&gt;" in page
    parsed = outline(page)
    assert parsed.find("b") == []
    scripts = [attrs for attrs, _ in parsed.scripts]
    assert scripts == [{"type": "application/json", "id": "story-data"}, {}]
    assert html.unescape(page.split("<title>")[1].split("</title>")[0]) == HOSTILE
    library = library_page([("night", report(title=HOSTILE))])
    assert "<script" not in library and "<b>" not in library
    assert HOSTILE in text_of(library)


def test_chapters_and_lines_appear_in_order_with_their_speakers() -> None:
    page = story_page(report(), FILES)
    parsed = outline(page)
    starts = [a["data-start"] for a in parsed.find("button", **{"class": "chapter"})]
    assert starts == ["0.000", "60.000"]
    lines = parsed.find("button", **{"class": "line"})
    assert [(a["data-start"], a["data-end"]) for a in lines] == [
        ("2.000", "5.500"),
        ("6.000", "8.000"),
        ("61.000", "64.000"),
        ("70.000", "72.000"),
    ]
    text = text_of(page)
    order = [
        "Lanterns",
        "Narrator",
        "The harbour slept.",
        "Old Sam",
        "Lights out, boats.",
        f"Tide {HOSTILE}",
        "Lena",
        HOSTILE,
        "Kai Lee",
        "Good night, sea.",
    ]
    at = text.index("Transcript")
    for part in order:  # each after the one before
        at = text.index(part, at) + len(part)
    assert "1:02:05 · 2 chapters" in text


def test_the_player_tries_the_mp3_then_the_m4b_then_the_opus() -> None:
    parsed = outline(story_page(report(), [*FILES, "night.opus"]))
    assert len(parsed.find("audio", id="player")) == 1
    sources = [(a["src"], a["type"]) for a in parsed.find("source")]
    assert sources == [
        ("night.mp3", "audio/mpeg"),
        ("night.m4b", "audio/mp4"),
        ("night.opus", "audio/ogg; codecs=opus"),
    ]
    assert parsed.find("img", src="cover.jpg")


@pytest.mark.parametrize(
    ("stems", "enabled"),
    [
        ((), False),
        (("night.voice.flac",), False),
        (("night.bed.flac",), False),
        (("night.voice.flac", "night.bed.flac"), True),
    ],
)
def test_the_ambience_volume_needs_both_stems(stems: tuple[str, ...], enabled: bool) -> None:
    page = story_page(report(), [*FILES, *stems])
    parsed = outline(page)
    (slider,) = parsed.find("input", id="bed-volume")
    assert ("disabled" not in slider) is enabled
    assert ("render with --stems" in text_of(page).lower()) is not enabled
    assert embedded(page)["stems"] is enabled
    if enabled:
        assert [a["src"] for a in parsed.find("source")] == ["night.voice.flac", "night.bed.flac"]
        assert len(parsed.find("audio", id="bed")) == 1
    else:
        assert parsed.find("audio", id="bed") == []


def test_the_sleep_timer_offers_its_choices_and_a_fade_of_at_least_a_minute() -> None:
    parsed = outline(story_page(report(), FILES))
    choices = [attrs["data-sleep"] for _, attrs in parsed.tags if "data-sleep" in attrs]
    assert choices == ["off", "15", "30", "45", "60", "chapter"]
    (fade,) = parsed.find("input", id="fade-minutes")
    assert (fade["min"], fade["value"]) == ("1", "2")


def test_the_library_lists_every_story_with_its_cover_and_link() -> None:
    stories = [("night", report()), ("a b", report(title="Rain & Roofs") | {"duration_s": 95.2})]
    page = library_page(stories)
    parsed = outline(page)
    assert [a["href"] for a in parsed.find("a")] == ["night/index.html", "a%20b/index.html"]
    assert [a["src"] for a in parsed.find("img")] == ["night/cover.jpg", "a%20b/cover.jpg"]
    text = text_of(page)
    assert text.index("The Quiet Harbour") < text.index("Rain & Roofs")
    assert "1:02:05" in text and "1:35" in text


@pytest.mark.parametrize(
    "page",
    [story_page(report(), [*FILES, "night.voice.flac", "night.bed.flac"]),
     library_page([("night", report())])],
)  # fmt: skip
def test_the_pages_ask_nothing_of_any_network(page: str) -> None:
    assert "http://" not in page and "https://" not in page
    assert "//" not in re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    assert "fetch(" not in page and "XMLHttpRequest" not in page and "@import" not in page


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0:00"), (59.9, "0:59"), (95.2, "1:35"), (3725.5, "1:02:05")]
)
def test_clock(seconds: float, shown: str) -> None:
    assert clock(seconds) == shown
