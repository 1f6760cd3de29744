"""Fountain screenplays → scene scripts: a producer's draft, ready to review and render.

`import_fountain` reads a screenplay with fountain-py and writes the YAML a producer would have
typed: top-level sections become chapters, scene headings scenes, action the narrator's lines
and character cues the cast. The directions the renderer can hear (softly, slowly, a beat, a
sound cue) become line options, pauses and `sfx` cues; what it cannot, it lists in comments for
the producer to settle by hand. The same screenplay always gives the same text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import count, groupby
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import yaml

from .errors import BedtimeError, DependencyError, printable, unprintable

if TYPE_CHECKING:
    from fountain import FountainElement

NARRATOR = "narrator"
NARRATOR_DESCRIPTION = "The storyteller"
LINE_KEYS = frozenset({"pause", "sfx", "music", "speed", "gain_db", "pause_after", "voice", "bed"})
"""Keys a line may hold besides its speaker: no character is cast under one of them."""

DIRECTIONS: Mapping[str, tuple[str, float]] = MappingProxyType(
    {
        **dict.fromkeys(
            ("softly", "quietly", "whispering", "whispers", "under her breath"), ("gain_db", -4)
        ),
        **dict.fromkeys(("slowly", "sleepily", "drowsy"), ("speed", 0.85)),
        **dict.fromkeys(("beat", "a beat", "pause", "a pause"), ("pause", 1)),
        **dict.fromkeys(("long pause", "a long pause"), ("pause", 3)),
    }
)
"""Parentheticals the renderer can hear: an option of the next line, or a pause of its own."""
OPTION_ORDER = ("speed", "gain_db")

EFFECTS = tuple(
    (name, re.compile(rf"\b(?:{words})\b", re.IGNORECASE))
    for name, words in (
        ("chime", r"chimes?|bells?"),
        ("glitch", r"glitch(?:es)?|stutter(?:s|ing)?|flicker(?:s|ing)?"),
        ("door", r"doors?"),
        ("footsteps", r"footsteps?|steps?"),
        ("kettle", r"kettles?"),
        ("page-turn", r"pages?"),
        ("owl", r"owls?"),
        ("heartbeat", r"heartbeats?|hearts?"),
    )
)
"""The procedural sound effects, each with the words of a sound cue that call for it."""
CUE = re.compile(r"(?P<kind>SOUND|SFX|MUSIC)\s*:\s*(?P<text>.*)")
"""An action line that is a cue for the sound designer rather than words for the narrator."""
SKIPPED = frozenset({"transition", "page_break", "note", "boneyard", "synopsis", "section"})
"""Elements for the page, not the ear (a section that starts a chapter is taken before)."""
_EMPHASIS = re.compile(r"(\*{1,3}|_)(?=\S)(.+?)(?<=\S)\1")


class ScreenplayError(BedtimeError):
    """A screenplay that cannot become a scene script, located by file and, where known, line."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line else str(path)  # line 0: the file as a whole
        super().__init__(printable(f"{where}: {message}"))


@dataclass(frozen=True)
class Line:
    """One line of a scene: a speaker and what they say, `pause` and its seconds, or `sfx`."""

    key: str
    value: str | float
    options: tuple[tuple[str, float], ...] = ()
    """Delivery from the parentheticals (`speed`, `gain_db`), in OPTION_ORDER."""


@dataclass(frozen=True)
class Comment:
    """A cue the importer could not turn into a line, left for the producer."""

    text: str


Item = Line | Comment


@dataclass(frozen=True)
class Scene:
    title: str | None
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Chapter:
    title: str
    scenes: tuple[Scene, ...]


def import_fountain(path: Path) -> str:
    """The screenplay at `path` as a bedtime-audio scene script (YAML text)."""
    try:
        from fountain import FountainParser
    except ImportError:
        raise DependencyError(
            "importing Fountain needs fountain-py: pip install 'bedtime-audio[fountain]'"
        ) from None
    document = FountainParser().parse(_read(path))
    for issue in document.issues:
        if issue.severity == "error":  # an unclosed /* or [[ would swallow the rest
            raise ScreenplayError(path, issue.line_number, issue.message)
    elements = list(_flatten(document.elements))
    speakers = _speakers(e.text for e in elements if e.type.value == "character")
    title = _title_page(document.metadata, "title") or _words(path.stem)
    chapters = _chapters(elements, title, {cue: ids for cue, (ids, _name) in speakers.items()})
    if not chapters:
        raise ScreenplayError(path, 0, "nothing to import: no action or dialogue")
    names = {speaker: name for speaker, name in speakers.values()}
    header = {
        "title": title,
        "author": _title_page(document.metadata, "author", "authors", "writers", "credit"),
        "description": _title_page(document.metadata, "synopsis", "notes"),
    }
    return _yaml(path.name, header, _cast(chapters, names), chapters, _unmapped(elements))


def _read(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        message = f"not UTF-8 text ({error.reason} at byte {error.start})"
        raise ScreenplayError(path, 0, message) from None
    except OSError as error:
        message = f"cannot read the screenplay: {error.strerror or error}"
        raise ScreenplayError(path, 0, message) from None
    return "\n".join(text.splitlines())


def _flatten(elements: Iterable[FountainElement]) -> Iterator[FountainElement]:
    """Dual dialogue as two speeches, left then right: a bedtime story has one voice at once."""
    for element in elements:
        if element.type.value == "dual_dialogue":
            for column in element.dual_dialogue_columns():
                yield from column
        else:
            yield element


def _speakers(cues: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Each character's speaker id and cast name, by cue, in order of first appearance."""
    speakers: dict[str, tuple[str, str]] = {}
    taken = set(LINE_KEYS)
    for cue in cues:
        if cue.casefold() in speakers:
            continue
        base = _speaker_id(cue)
        speaker = next(i for n in count(1) if (i := base if n == 1 else f"{base}-{n}") not in taken)
        taken.add(speaker)
        speakers[cue.casefold()] = (speaker, _title_case(cue))
    return speakers


def _speaker_id(name: str) -> str:
    """'DR. OSEI' → 'dr-osei': a speaker id ([a-z][a-z0-9_-]*) a producer can read."""
    letters = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", letters.replace("'", "")).strip("-")
    return slug if slug[:1].isalpha() else f"speaker-{slug}".rstrip("-")


def _title_case(name: str) -> str:
    return " ".join(word[:1].upper() + word[1:].lower() for word in name.split())


def _words(stem: str) -> str:
    """A file stem in words: 'night-shift' → 'Night Shift'."""
    return _title_case(re.sub(r"[-_.]+", " ", stem)) or stem


def _title_page(metadata: Mapping[str, str], *keys: str) -> str | None:
    """The first of the title page's `keys` that has a value, as plain words."""
    for key in keys:
        value = metadata.get(key, "")
        while (unmarked := _EMPHASIS.sub(r"\2", value)) != value:
            value = unmarked
        if plain := _plain(value):
            return plain
    return None


def _plain(text: str) -> str:
    """Text as one line of words: whitespace collapsed, control characters dropped."""
    return " ".join("".join(c for c in text if c.isspace() or not unprintable(c)).split())


def _chapters(
    elements: Sequence[FountainElement], title: str, speakers: Mapping[str, str]
) -> tuple[Chapter, ...]:
    """The screenplay's chapters: one per top-level section (before any, the screenplay's
    title), each holding its scenes; a scene or chapter with nothing to hear is left out."""
    level = min((_level(e) for e in elements if e.type.value == "section"), default=1)
    chapters = []
    for head, body in _split(elements, lambda e: e.type.value == "section" and _level(e) == level):
        scenes = (
            _scene(heading, lines, speakers)
            for heading, lines in _split(body, lambda e: e.type.value == "scene_heading")
        )
        audible = tuple(s for s in scenes if any(isinstance(item, Line) for item in s.items))
        if audible:
            chapters.append(Chapter(_plain(head.text) if head else title, audible))
    return tuple(chapters)


def _level(section: FountainElement) -> int:
    level = section.metadata.get("level")
    return level if isinstance(level, int) else 1


def _split(
    elements: Iterable[FountainElement], starts: Callable[[FountainElement], bool]
) -> Iterator[tuple[FountainElement | None, list[FountainElement]]]:
    """The elements cut before each one that `starts` a part: (its head or None, the rest)."""
    head: FountainElement | None = None
    body: list[FountainElement] = []
    for element in elements:
        if starts(element):
            yield head, body
            head, body = element, []
        else:
            body.append(element)
    yield head, body


def _scene(
    heading: FountainElement | None, body: Sequence[FountainElement], speakers: Mapping[str, str]
) -> Scene:
    items: list[Item] = []
    for block in _blocks(e for e in body if e.type.value not in SKIPPED):
        kind, text = block[0].type.value, block[0].text
        if kind == "character":
            items += _speech(speakers[text.casefold()], block[1:])
        elif kind == "action":
            items += _action(text)
        elif kind in ("centered", "lyrics", "dialogue"):
            items += _narration(" ".join(e.text for e in block))
    return Scene(_plain(heading.text) if heading else None, tuple(items))


def _blocks(elements: Iterable[FountainElement]) -> Iterator[list[FountainElement]]:
    """Each speech (a cue with its dialogue block), each verse of lyrics, each other element."""
    block: list[FountainElement] = []
    for element in elements:
        if block and _continues(block, element):
            block.append(element)
            continue
        if block:
            yield block
        block = [element]
    if block:
        yield block


def _continues(block: Sequence[FountainElement], element: FountainElement) -> bool:
    kind, last = element.type.value, block[-1]
    adjacent_lyric = kind == "lyrics" and element.line_number == last.line_number + 1
    if block[0].type.value == "character":
        return kind in ("dialogue", "parenthetical") or adjacent_lyric
    return block[0].type.value == "lyrics" and adjacent_lyric


def _speech(speaker: str, body: Sequence[FountainElement]) -> Iterator[Line]:
    """A character's speech as lines: each parenthetical, blank line or lyric ends a line, and
    what a parenthetical asks for applies to the next line (or is a pause of its own)."""
    options: dict[str, float] = {}
    words: list[str] = []
    words_kind = ""
    for element in body:
        kind, text = element.type.value, element.text
        if words and (kind == "parenthetical" or not text.strip() or kind != words_kind):
            yield _said(speaker, words, options)
            options, words = {}, []
        if kind != "parenthetical":
            words += [text] if text.strip() else []
            words_kind = kind
            continue
        for direction in _directions(element.text):
            key, value = DIRECTIONS.get(direction.lower(), ("", 0))
            if key == "pause":
                yield Line("pause", value)
            elif key:
                options[key] = value
    if words:
        yield _said(speaker, words, options)


def _spoken(text: str) -> str:
    """Words for a line, a '<' escaped so that the script does not read it as a tag."""
    return _plain(text).replace("<", "&lt;")


def _said(speaker: str, words: Sequence[str], options: Mapping[str, float]) -> Line:
    """A line of dialogue with its options; one without a word ('...') is a beat."""
    said = _spoken(" ".join(words))
    if not any(char.isalnum() for char in said):
        return Line("pause", 1)
    return Line(speaker, said, tuple((key, options[key]) for key in OPTION_ORDER if key in options))


def _narration(text: str) -> list[Line]:
    """The narrator reading `text`, or nothing where it holds no word ('> * * * <')."""
    said = _spoken(text)
    return [Line(NARRATOR, said)] if any(char.isalnum() for char in said) else []


def _directions(parenthetical: str) -> list[str]:
    """'(Softly, to Orin)' → ['Softly', 'to Orin']."""
    inner = parenthetical.strip().removeprefix("(").removesuffix(")")
    return [d for part in re.split(r"[,;]", inner) if (d := _plain(part).rstrip("."))]


def _action(text: str) -> Iterator[Item]:
    """An action paragraph: its prose for the narrator, its SOUND:/SFX:/MUSIC: lines as cues."""
    for is_cue, rows in groupby(text.split("\n"), key=lambda row: bool(CUE.match(row.strip()))):
        if not is_cue:
            yield from _narration(" ".join(rows))
            continue
        for row in rows:
            cue = CUE.match(row.strip())
            assert cue is not None
            yield from _cue(cue["kind"], _plain(cue["text"]))


def _cue(kind: str, text: str) -> Iterator[Item]:
    if kind == "MUSIC":
        yield Comment(f"MUSIC: {text} (add music: {{file: ...}} to this scene)")
        return
    found = sorted(
        (match.start(), name) for name, words in EFFECTS if (match := words.search(text))
    )
    if not found:
        yield Comment(f"{kind}: {text} (no matching effect)")
    yield from (Line("sfx", name) for _start, name in found)


def _unmapped(elements: Iterable[FountainElement]) -> list[str]:
    """Each parenthetical direction the renderer cannot hear, with its line: '(smiling) line 44'."""
    return [
        f"({direction}) line {element.line_number}"
        for element in elements
        if element.type.value == "parenthetical"
        for direction in _directions(element.text)
        if direction.lower() not in DIRECTIONS
    ]


def _cast(chapters: Iterable[Chapter], names: Mapping[str, str]) -> dict[str, str]:
    """The narrator, then every character who speaks, in order of their first line."""
    speaking = (
        item.key
        for chapter in chapters
        for scene in chapter.scenes
        for item in scene.items
        if isinstance(item, Line) and item.key in names
    )
    return {NARRATOR: NARRATOR_DESCRIPTION} | {s: names[s] for s in speaking if s != NARRATOR}


def _yaml(
    source: str,
    header: Mapping[str, str | None],
    cast: Mapping[str, str],
    chapters: Iterable[Chapter],
    unmapped: Sequence[str],
) -> str:
    rows = [f"# Imported from {printable(source)}: review the cast, then add soundscapes."]
    rows += [f"{key}: {_scalar(value)}" for key, value in header.items() if value]
    rows += ["cast:", *(f"  {_scalar(key)}: {_scalar(value)}" for key, value in cast.items())]
    rows.append("chapters:")
    for chapter in chapters:
        rows += [f"  - title: {_scalar(chapter.title)}", "    scenes:"]
        for scene in chapter.scenes:
            if scene.title:
                rows += [f"      - title: {_scalar(scene.title)}", "        lines:"]
            else:
                rows.append("      - lines:")
            rows += [row for item in scene.items for row in _item(item)]
    if unmapped:
        rows.append(f"# not mapped: {', '.join(unmapped)}")
    return "\n".join(rows) + "\n"


def _item(item: Item) -> list[str]:
    indent = " " * 10
    if isinstance(item, Comment):
        return [f"{indent}# {printable(item.text)}"]
    options = [f"{indent}  {key}: {_scalar(value)}" for key, value in item.options]
    return [f"{indent}- {_scalar(item.key)}: {_scalar(item.value)}", *options]


def _scalar(value: str | float) -> str:
    """A value as YAML reads it back unchanged: quoted where it would otherwise not be."""
    dumped = yaml.safe_dump(value, default_flow_style=True, width=10**9, allow_unicode=True)
    return dumped.removesuffix("\n...\n").strip()
