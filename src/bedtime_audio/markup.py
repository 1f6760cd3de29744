"""Stage 1, inside a line: the producer's markup for pauses, pace, emphasis and pronunciation.

`[pause:1.5]` and a small SSML subset, read with an XML parser (defusedxml: no entities, no
DTDs) and never with patterns over tags:

    <break time="1.5s"/>  <break time="500ms"/>  <break strength="strong"/>
    <prosody rate="slow">…</prosody>   (x-slow, slow, medium, fast, x-fast, 80%, 0.8)
    <emphasis>…</emphasis>
    <sub alias="Doctor">Dr.</sub>
    <phoneme alphabet="ipa" ph="ɹˈoʊʃən">Roshan</phoneme>   (alphabet "ipa" or "espeak")

Anything else is an error that names the tag and what is allowed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import defusedxml.ElementTree

from .errors import BedtimeError
from .model import Break, Phonemes, Words

MAX_BREAK_S = 60.0
RATES = {"x-slow": 0.7, "slow": 0.85, "medium": 1.0, "fast": 1.15, "x-fast": 1.3}
RATE_RANGE = (0.5, 2.0)
STRENGTHS = {"none": 0.0, "x-weak": 0.2, "weak": 0.4, "medium": 0.8, "strong": 1.5}
STRENGTHS |= {"x-strong": 2.5}
ALPHABETS = ("ipa", "espeak")
TAGS = ("break", "emphasis", "phoneme", "prosody", "sub")

_PAUSE = re.compile(r"\[pause:([^\]]*)\]")
_BARE_AMPERSAND = re.compile(r"&(?!(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);)")
_TIME = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)\s*\Z")

Performance = tuple[Words | Break, ...]
"""A line as the voice says it: runs of words, and the pauses between."""


class MarkupError(BedtimeError):
    """The markup of one line is wrong; the script's parser adds the file and line."""


def has_markup(text: str) -> bool:
    """Tags, a pause, or an escape such as &lt; (which a plain line would say as written)."""
    return "<" in text or "&" in text or "[pause:" in text


def parse_markup(text: str) -> tuple[str, Performance]:
    """The line as the transcript shows it, and as the voice says it."""
    xml = _PAUSE.sub(_break_tag, _BARE_AMPERSAND.sub("&amp;", text))
    try:
        root = defusedxml.ElementTree.fromstring(f"<speak>{xml}</speak>")
    except ET.ParseError as exc:
        raise MarkupError(f"markup is not well formed ({_parse_problem(exc)})") from None
    except defusedxml.DefusedXmlException:
        raise MarkupError("markup may not declare entities or a DTD") from None
    said: list[Words | Break] = []
    written: list[str] = []
    _read(root, 1.0, False, said, written, top=True)
    plain = re.sub(r"\s+", " ", "".join(written)).strip()
    return plain, tuple(_joined(said))


def _break_tag(match: re.Match[str]) -> str:
    value = match.group(1).strip()
    try:
        seconds = float(value)
    except ValueError:
        raise MarkupError(f"[pause:{value}]: expected seconds, such as [pause:1.5]") from None
    return f'<break time="{seconds}s"/>'


def _read(
    element: ET.Element,
    rate: float,
    emphasis: bool,
    said: list[Words | Break],
    written: list[str],
    top: bool = False,
) -> None:
    """Walk one element: its text, its children (each followed by its tail)."""
    if not top:
        rate, emphasis = _enter(element, rate, emphasis, said, written)
        if element.tag in ("break", "sub", "phoneme"):
            return
    if element.text:
        said.append(Words((element.text,), rate, emphasis))
        written.append(element.text)
    for child in element:
        _read(child, rate, emphasis, said, written)
        if child.tail:
            said.append(Words((child.tail,), rate, emphasis))
            written.append(child.tail)


def _enter(
    element: ET.Element, rate: float, emphasis: bool, said: list[Words | Break], written: list[str]
) -> tuple[float, bool]:
    """What an element does on its way in: the rate and emphasis inside it."""
    tag = element.tag
    if tag not in TAGS:
        raise MarkupError(
            f"unknown tag <{tag}> (known: {', '.join(f'<{t}>' for t in TAGS)}, and [pause:N])"
        )
    attributes = dict(element.attrib)
    if tag == "break":
        _only(element, attributes, ("time", "strength"), empty=True)
        said.append(Break(_break_seconds(attributes)))
        written.append(" ")
    elif tag == "prosody":
        _only(element, attributes, ("rate",))
        if "rate" not in attributes:
            raise MarkupError('<prosody> needs a rate, such as <prosody rate="slow">')
        rate *= _rate(attributes["rate"])
        if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
            raise MarkupError(
                f'<prosody rate="{attributes["rate"]}">: the rate comes to {rate:.2f}; '
                f"keep it within {RATE_RANGE[0]}-{RATE_RANGE[1]}"
            )
    elif tag == "emphasis":
        _only(element, attributes, ("level",))
        emphasis = attributes.get("level", "moderate") != "none"
    elif tag == "sub":
        _only(element, attributes, ("alias",), text_only=True)
        if not attributes.get("alias", "").strip():
            raise MarkupError('<sub> needs what to say instead: <sub alias="Doctor">Dr.</sub>')
        said.append(Words((attributes["alias"],), rate, emphasis))
        written.append(element.text or "")
    elif tag == "phoneme":
        _only(element, attributes, ("ph", "alphabet"), text_only=True)
        alphabet = attributes.get("alphabet", "ipa")
        if alphabet not in ALPHABETS:
            raise MarkupError(
                f'<phoneme alphabet="{alphabet}">: alphabet must be "ipa" (Kokoro) or '
                '"espeak" (eSpeak NG)'
            )
        word = (element.text or "").strip()
        if not word or not attributes.get("ph", "").strip():
            raise MarkupError(
                '<phoneme> needs phonemes and the word: <phoneme ph="ɹˈoʊʃən">Roshan</phoneme>'
            )
        said.append(Words((Phonemes(word, attributes["ph"].strip(), alphabet),), rate, emphasis))
        written.append(element.text or "")
    return rate, emphasis


def _only(
    element: ET.Element,
    attributes: dict[str, str],
    allowed: tuple[str, ...],
    empty: bool = False,
    text_only: bool = False,
) -> None:
    tag = element.tag
    for name in attributes:
        if name not in allowed:
            raise MarkupError(f"<{tag}> has no attribute '{name}' (it takes: {', '.join(allowed)})")
    if empty and ((element.text or "").strip() or len(element)):
        raise MarkupError(f"<{tag}/> holds nothing: write <{tag} …/>")
    if text_only and len(element):
        raise MarkupError(f"<{tag}> holds words only, no other tags")


def _break_seconds(attributes: dict[str, str]) -> float:
    if "time" in attributes:
        match = _TIME.match(attributes["time"])
        if not match:
            raise MarkupError(
                f'<break time="{attributes["time"]}">: expected seconds or milliseconds, '
                'such as "1.5s" or "500ms"'
            )
        seconds = float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)
    else:
        strength = attributes.get("strength", "medium")
        if strength not in STRENGTHS:
            raise MarkupError(
                f'<break strength="{strength}">: expected one of {", ".join(STRENGTHS)}'
            )
        seconds = STRENGTHS[strength]
    if not 0 <= seconds <= MAX_BREAK_S:
        raise MarkupError(f"a pause must be 0 to {MAX_BREAK_S:g} seconds, not {seconds:g}")
    return seconds


def _rate(value: str) -> float:
    value = value.strip()
    if value in RATES:
        return RATES[value]
    try:
        return float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise MarkupError(
            f'<prosody rate="{value}">: expected {", ".join(RATES)}, a percentage such as '
            '"80%" or a multiple such as "0.8"'
        ) from None


def _joined(said: list[Words | Break]) -> list[Words | Break]:
    """Neighbouring runs said the same way as one run; pauses in a row as one pause; no run
    without a word to say."""
    out: list[Words | Break] = []
    for part in said:
        last = out[-1] if out else None
        if isinstance(part, Break) and isinstance(last, Break):
            out[-1] = Break(last.seconds + part.seconds)
        elif (
            isinstance(part, Words)
            and isinstance(last, Words)
            and (part.rate, part.emphasis) == (last.rate, last.emphasis)
        ):
            out[-1] = Words(last.pieces + part.pieces, part.rate, part.emphasis)
        else:
            out.append(part)
    kept: list[Words | Break] = []
    for part in out:  # a run with no word to say (a full stop after a tag) joins the one before
        if isinstance(part, Words) and not any(_has_word(piece) for piece in part.pieces):
            if kept and isinstance(kept[-1], Words):
                last = kept[-1]
                kept[-1] = Words(last.pieces + part.pieces, last.rate, last.emphasis)
            continue
        kept.append(part)
    return kept


def _has_word(piece: str | Phonemes) -> bool:
    return isinstance(piece, Phonemes) or any(char.isalnum() for char in piece)


def _parse_problem(exc: ET.ParseError) -> str:
    """expat's message without its position inside the wrapped text: 'mismatched tag'."""
    problem = str(exc).split(":")[0]
    inner = re.fullmatch(r"not well-formed \((.*)\)", problem)
    if inner:
        return f"{inner.group(1)}; a < that opens no tag is written &lt;"
    return problem
