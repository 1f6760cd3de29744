"""Text as a speech engine should read it, shared by every engine.

`normalize_text` turns typographic punctuation into plain forms, spells out times, numbers and
common abbreviations, and applies a lexicon of respellings; `split_sentences` cuts the result
into pieces short enough for one synthesis call. Both are pure: same text in, same text out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType

_NO_LEXICON: Mapping[str, str] = MappingProxyType({})

_TYPOGRAPHY = str.maketrans(
    {
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'", "\u2033": '"',
        "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2212": "-",
    }
)  # fmt: skip
"""Curly quotes, primes, the ellipsis character and odd spaces to their plain forms."""
_RANGE_DASH = re.compile(r"(?<=\d)\s*[\u2013\u2014]\s*(?=\d)")
_DASH = re.compile(r"\s*(?:[\u2013\u2014\u2015]|--+)\s*|\s+-\s+")
_STRAY_COMMA = re.compile(r",\s*(?=[.!?,;:]|$)")

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth"}
_ORDINAL |= {"nine": "ninth", "twelve": "twelfth"}

_SENTENCE_NEXT = re.compile(r"\s*$|\s+[\"'(]?[A-Z]")
"""What follows a full stop that ends a sentence (checked after expanding an abbreviation)."""
_TITLE = re.compile(r"\b(Dr|Mr|Mrs|Ms|Prof|St)\.")
_TITLES = {"Dr": "Doctor", "Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Prof": "Professor"}
_TITLES |= {"St": "Saint"}
_PLACES = {"Dr": "Drive", "St": "Street"}
_AFTER_NAME = re.compile(r"[a-z,;]\s+[A-Z][\w'-]*\s+$")
"""A capitalised word inside a sentence, just before: 'on Baker St.'"""
_BEFORE_NAME = re.compile(r"\s+[A-Z]")
_LATIN = re.compile(r"\b(e\.g|i\.e|etc|vs)\.", re.IGNORECASE)
_LATIN_WORDS = {"e.g": "for example", "i.e": "that is", "etc": "et cetera", "vs": "versus"}

_MERIDIEM_TIME = re.compile(r"\b(1[0-2]|0?[1-9])(?::([0-5]\d))?\s?([ap])\.?\s?m\b\.?", re.I)
_CLOCK_TIME = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b(?!:\d)")
_ORDINAL_NUMBER = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b", re.IGNORECASE)
_DECADE = re.compile(r"\b(1[1-9]\d0|20\d0)s\b")
_GROUPED = re.compile(r"\b(\d{1,3}(?:,\d{3})+)(?:\.(\d+))?\b")
_PERCENT = re.compile(r"(\d)\s?%")
_NEGATIVE = re.compile(r"(?<![\w.])-(?=\d)")
_DECIMAL = re.compile(r"\b(\d+)\.(\d+)\b")
_INTEGER = re.compile(r"\b\d+\b")


def normalize_text(text: str, lexicon: Mapping[str, str] = _NO_LEXICON) -> str:
    """Plain text for speech: 'Dr. Lee’s 3rd visit at 3:45 a.m.' → 'Doctor Lee's third...'.

    The lexicon maps whole words, matched case-insensitively, to respellings that take the
    capitalisation of the word they replace (Shaun → Shawn, SHAUN → SHAWN), or to an engine's
    phonemes (/ɹˈoʊʃən/ for Kokoro, [[r'oUS@n]] for eSpeak NG), which are put in last, after
    numbers and abbreviations are spelled out, and left exactly as written.
    """
    phonemes = {word: form for word, form in lexicon.items() if is_phonemes(form)}
    text = _plain_punctuation(text)
    text = _apply_lexicon(text, {w: f for w, f in lexicon.items() if w not in phonemes})
    text = _expand_abbreviations(text)
    text = _expand_times(text)
    text = _expand_numbers(text)
    text = re.sub(r"\s+", " ", text).strip()
    return _apply_lexicon(text, phonemes)


def is_phonemes(form: str) -> bool:
    """A lexicon form in an engine's phonemes: /IPA/ (Kokoro) or [[mnemonics]] (eSpeak NG)."""
    return (form.startswith("/") and form.endswith("/") and len(form) > 2) or (
        form.startswith("[[") and form.endswith("]]") and len(form) > 4
    )


def split_sentences(text: str, max_chars: int = 300) -> list[str]:
    """Sentences of normalized text, each at most max_chars, cut at , ; : or spaces if longer.

    A sentence ends at . ! or ? (and any closing quote) before a space and a character that is
    not a lower-case letter, so '"Where?" she asked.' and 'And then... nothing.' stay whole.
    Abbreviations would end sentences too: normalize first.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    sentences = _SENTENCE_BREAK.split(" ".join(text.split()))
    return [piece for sentence in sentences if sentence for piece in _fit(sentence, max_chars)]


def number_words(n: int) -> str:
    """Cardinal words, American style: 1234 → 'one thousand two hundred thirty-four'."""
    if n < 0:
        return f"minus {number_words(-n)}"
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    scale, word = next((s, w) for s, w in _SCALES if n >= s)
    high, rest = divmod(n, scale)
    return f"{number_words(high)} {word}" + (f" {number_words(rest)}" if rest else "")


def ordinal_words(n: int) -> str:
    """21 → 'twenty-first', 12 → 'twelfth', 40 → 'fortieth'."""
    return re.sub(r"[a-z]+$", _ordinal_word, number_words(n))


def year_words(n: int) -> str:
    """Years read in pairs where English does: 1905 → 'nineteen oh five', 1900 → 'nineteen
    hundred'; others as cardinals (2024 → 'two thousand twenty-four')."""
    high, low = divmod(n, 100)
    if not 1100 <= n <= 1999:
        return number_words(n)
    if low == 0:
        return f"{number_words(high)} hundred"
    return f"{number_words(high)} {'oh ' if low < 10 else ''}{number_words(low)}"


def _plain_punctuation(text: str) -> str:
    text = text.translate(_TYPOGRAPHY)
    text = _RANGE_DASH.sub(" to ", text)
    return _STRAY_COMMA.sub("", _DASH.sub(", ", text))


def _apply_lexicon(text: str, lexicon: Mapping[str, str]) -> str:
    if not lexicon:
        return text
    pattern, entries = _lexicon_pattern(tuple(sorted(lexicon.items())))
    return pattern.sub(lambda m: _respell(m[0], *entries[m[0].lower()]), text)


@lru_cache(maxsize=32)
def _lexicon_pattern(
    entries: tuple[tuple[str, str], ...],
) -> tuple[re.Pattern[str], dict[str, tuple[str, str]]]:
    words = sorted((word for word, _ in entries if word), key=len, reverse=True)
    alternatives = "|".join(re.escape(word) for word in words)
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
    return pattern, {word.lower(): (word, respelling) for word, respelling in entries}


def _respell(found: str, word: str, respelling: str) -> str:
    """The respelling as written where the text has the word as written, else in its case."""
    return respelling if found == word else _match_case(respelling, found)


def _match_case(respelling: str, word: str) -> str:
    if is_phonemes(respelling):
        return respelling
    if len(word) > 1 and word.isupper():
        return respelling.upper()
    first = respelling[:1].upper() if word[:1].isupper() else respelling[:1].lower()
    return first + respelling[1:]


def _expand_abbreviations(text: str) -> str:
    text = _LATIN.sub(_latin, text)
    return _TITLE.sub(_title, text)


def _latin(match: re.Match[str]) -> str:
    """e.g., i.e. and vs. sit inside a sentence; etc. may also end one."""
    words = _match_case(_LATIN_WORDS[match[1].lower()], match[1])
    return _with_stop(words, match) if match[1].lower() == "etc" else words


def _title(match: re.Match[str]) -> str:
    """Dr./St. are a Drive/Street after a name ('on Elm Dr.') or before no name ('Baker St.')."""
    after_name = _AFTER_NAME.search(match.string, 0, match.start()) is not None
    before_name = _BEFORE_NAME.match(match.string, match.end()) is not None
    if match[1] in _PLACES and (after_name or not before_name):
        return _with_stop(_PLACES[match[1]], match)
    return _TITLES[match[1]]


def _with_stop(words: str, match: re.Match[str]) -> str:
    """The expansion, keeping the abbreviation's full stop if it also ended the sentence."""
    return words + ("." if _SENTENCE_NEXT.match(match.string, match.end()) else "")


def _expand_times(text: str) -> str:
    text = _MERIDIEM_TIME.sub(_meridiem_time, text)
    return _CLOCK_TIME.sub(_clock_time, text)


def _meridiem_time(match: re.Match[str]) -> str:
    hour, minutes, half = int(match[1]), match[2], match[3].upper()
    spoken = number_words(hour)
    if minutes and minutes != "00":
        spoken += f" {_minute_words(int(minutes))}"
    ended = match[0].endswith(".") and _SENTENCE_NEXT.match(match.string, match.end())
    return f"{spoken} {half}-M{'.' if ended else ''}"


def _clock_time(match: re.Match[str]) -> str:
    hour, minutes = int(match[1]), int(match[2])
    return f"{number_words(hour)} " + (_minute_words(minutes) if minutes else "o'clock")


def _minute_words(minutes: int) -> str:
    return f"oh {number_words(minutes)}" if minutes < 10 else number_words(minutes)


def _expand_numbers(text: str) -> str:
    text = _PERCENT.sub(r"\1 percent", text)
    text = _ORDINAL_NUMBER.sub(lambda m: ordinal_words(int(m[1])), text)
    text = _DECADE.sub(lambda m: _plural(year_words(int(m[1]))), text)
    text = _NEGATIVE.sub("minus ", text)
    text = _GROUPED.sub(
        lambda m: _decimal_words(number_words(int(m[1].replace(",", ""))), m[2]), text
    )
    text = _DECIMAL.sub(lambda m: _decimal_words(_integer_words(m[1]), m[2]), text)
    return _INTEGER.sub(lambda m: _integer_words(m[0]), text)


def _decimal_words(whole: str, fraction: str | None) -> str:
    return f"{whole} point {_digit_words(fraction)}" if fraction else whole


def _integer_words(digits: str) -> str:
    """Counts and years as words; codes with a leading zero or over 12 digits digit by digit."""
    if (digits.startswith("0") and len(digits) > 1) or len(digits) > 12:
        return _digit_words(digits)
    return year_words(int(digits)) if len(digits) == 4 else number_words(int(digits))


def _digit_words(digits: str) -> str:
    return " ".join(_ONES[int(d)] for d in digits)


def _ordinal_word(match: re.Match[str]) -> str:
    word = match[0]
    if word in _ORDINAL:
        return _ORDINAL[word]
    return word[:-1] + "ieth" if word.endswith("y") else word + "th"


def _plural(words: str) -> str:
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


_SENTENCE_BREAK = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[^a-z])")
_BREAKS = (re.compile(r"(?<=[;:])\s+"), re.compile(r"(?<=,)\s+"), re.compile(r"\s+"))
"""Where to cut an over-long sentence, best first."""


def _fit(text: str, max_chars: int, level: int = 0) -> list[str]:
    """text in pieces of at most max_chars, cut at the best break that gets there."""
    if len(text) <= max_chars:
        return [text]
    if level == len(_BREAKS):
        return [text[i : i + max_chars] for i in range(0, len(text), max_chars)]
    pieces = [p for part in _BREAKS[level].split(text) for p in _fit(part, max_chars, level + 1)]
    return _pack(pieces, max_chars)


def _pack(pieces: list[str], max_chars: int) -> list[str]:
    """Join neighbouring pieces with a space while they fit."""
    packed: list[str] = []
    for piece in pieces:
        if packed and len(packed[-1]) + 1 + len(piece) <= max_chars:
            packed[-1] += " " + piece
        else:
            packed.append(piece)
    return packed
