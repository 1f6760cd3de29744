"""The producer's proof-listen: Whisper hears the rendered story line by line, and each line is
compared with the words its scene script says now, so a line edited after the render, or a
word the voice says wrong, shows where it is: time, file:line, speaker, script and heard.

Whisper tiny.en and jiwer as in `bedtime listen` (the [listen] extra); words are compared as
listen.words_of spells them, and a word eSpeak NG says alike (grey, gray) is heard right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .analyze import LineSpan, RenderInfo, load_render_json
from .errors import BedtimeError, printable
from .listen import SPAN_MARGIN_S, sounds_alike, whisper_segments, words_of
from .model import Script, Speech
from .script import parse_script

DEFAULT_THRESHOLD = 0.5
"""A line's word error rate from which it is flagged: half its words not heard as written.
Measured with eSpeak NG and Whisper tiny.en on tests/test_proof.py's story: its six lines as
rendered 0, 0, 0, 0, 0 and 29 % ("door green" heard "Lord Rean"); the line rewritten after the
render 100 %. A line rewritten in other words lands near 100 %, a clear line with a word or two
misheard at 10-35 %; 0.5 keeps the second out and the first in. What eSpeak NG slurs past
recognition is flagged too (tests/data/tiny.yaml: "The city hummed all night long." 83 %,
"Good night." heard "Good eye it" 100 %): a listener would stumble there as well. An edit of
one word in a long line stays below, and is counted among the lines that differ."""


@dataclass(frozen=True)
class HeardWord:
    """One word as Whisper heard it, with its place in the file."""

    text: str
    """As Whisper wrote it: leading space stripped, punctuation kept."""
    start_s: float
    end_s: float

    @property
    def middle_s(self) -> float:
        return (self.start_s + self.end_s) / 2


@dataclass(frozen=True)
class Difference:
    """One run of the script's words that Whisper heard otherwise, or not at all."""

    written: tuple[str, ...]
    """Empty when Whisper heard words the script does not say."""
    heard: tuple[str, ...]
    """Empty when Whisper did not hear the script's words."""


@dataclass(frozen=True)
class LineProof:
    """One spoken line: what the script says now against what Whisper heard in its span."""

    line: int | None
    """The line in the scene script; None when neither render.json nor the script says."""
    speaker: str
    start_s: float
    end_s: float
    written: str | None
    """The script's text now; None when the script no longer has the line."""
    heard: str
    words: int
    """The script's words, as compared."""
    errors: int
    """Substitutions, deletions and insertions: the word error rate's numerator."""
    differences: tuple[Difference, ...]
    names: tuple[str, ...]
    """Cast names (speaker ids) among the differing words, written or heard."""

    @property
    def error_rate(self) -> float:
        if self.words:
            return self.errors / self.words
        return 1.0 if self.errors or self.written is None else 0.0


@dataclass(frozen=True)
class Proof:
    title: str
    source: Path
    script: Path
    threshold: float
    lines: tuple[LineProof, ...]
    heard: tuple[HeardWord, ...]
    """Every word Whisper heard in the lines' spans, in time order."""
    unrendered: tuple[int, ...] = ()
    """Script lines that no rendered line matches: written since the render."""

    @property
    def error_rate(self) -> float:
        words = sum(x.words for x in self.lines)
        return sum(x.errors for x in self.lines) / words if words else 0.0

    @property
    def flagged(self) -> tuple[LineProof, ...]:
        return tuple(x for x in self.lines if x.error_rate >= self.threshold)

    @property
    def below(self) -> tuple[LineProof, ...]:
        """Lines that differ, but less than the threshold."""
        return tuple(x for x in self.lines if x.errors and x.error_rate < self.threshold)


def proof(
    path: Path,
    script: Path | None = None,
    threads: int | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> Proof:
    """Hear the .m4b or .mp3 and compare each line with the scene script as it is now: the one
    render.json names, or `script`."""
    info = load_render_json(path)
    script_path = script or (Path(info.script) if info.script else None)
    if script_path is None:
        raise BedtimeError(f"{path}: render.json does not name its script; pass --script")
    if not script_path.is_file():
        hint = "" if script else "; pass --script"
        raise BedtimeError(f"the script {script_path} is gone{hint}")
    written = parse_script(script_path)
    return check(info, written, hear(path, info.lines, threads), path, threshold)


def check(
    info: RenderInfo,
    script: Script,
    heard: Sequence[HeardWord],
    source: Path,
    threshold: float = DEFAULT_THRESHOLD,
) -> Proof:
    """Each rendered line, with the words heard in its span, against the script's text."""
    speeches = _speeches(info.lines, script.speeches)
    names = set(script.cast) - {"narrator"}
    placed = assign(info.lines, heard)
    lines = tuple(
        _line_proof(span, speech, words, names)
        for span, speech, words in zip(info.lines, speeches, placed, strict=True)
    )
    matched = {speech.line for speech in speeches if speech}
    unrendered = tuple(x.line for x in script.speeches if x.line not in matched)
    return Proof(info.title, source, Path(script.path), threshold, lines, tuple(heard), unrendered)


def _speeches(spans: Sequence[LineSpan], speeches: Sequence[Speech]) -> list[Speech | None]:
    """The speech each rendered line is now: by its line number when the speaker there is the
    same, else the speech in the same place when the script has as many; None when neither."""
    by_line = {speech.line: speech for speech in speeches}
    same_count = len(spans) == len(speeches)
    found: list[Speech | None] = []
    for index, span in enumerate(spans):
        speech = by_line.get(span.line) if span.line is not None else None
        if speech is None or speech.speaker != span.speaker:
            in_order = speeches[index] if same_count else None
            speech = in_order if in_order and in_order.speaker == span.speaker else None
        found.append(speech)
    return found


def assign(spans: Sequence[LineSpan], heard: Sequence[HeardWord]) -> list[list[HeardWord]]:
    """The heard words of each line: those whose middle falls in its span, widened by
    SPAN_MARGIN_S; where widened spans overlap, the line whose own span is nearer. Words in
    no span (the bed, the tail) belong to no line."""
    placed: list[list[HeardWord]] = [[] for _ in spans]
    for word in heard:
        at = word.middle_s
        holding = [
            (max(span.start_s - at, at - span.end_s, 0.0), index)
            for index, span in enumerate(spans)
            if span.start_s - SPAN_MARGIN_S <= at <= span.end_s + SPAN_MARGIN_S
        ]
        if holding:
            placed[min(holding)[1]].append(word)
    return placed


def align(written: Sequence[str], heard: Sequence[str]) -> tuple[int, tuple[Difference, ...]]:
    """Errors (substitutions, deletions, insertions) and the differing runs of words between
    the script's words and Whisper's; a word eSpeak NG says alike is heard right."""
    import jiwer

    reference, hypothesis = " ".join(written), " ".join(heard)
    heard = list(heard)
    if written and heard:
        for chunk in jiwer.process_words(reference, hypothesis).alignments[0]:
            if chunk.type == "substitute":
                for offset in range(chunk.ref_end_idx - chunk.ref_start_idx):
                    said, at = written[chunk.ref_start_idx + offset], chunk.hyp_start_idx + offset
                    if at < chunk.hyp_end_idx and sounds_alike(said, heard[at]):
                        heard[at] = said
    if not written or not heard:
        whole = (Difference(tuple(written), tuple(heard)),) if written or heard else ()
        return len(written) + len(heard), whole
    chunks = jiwer.process_words(reference, " ".join(heard)).alignments[0]
    differences = tuple(
        Difference(
            tuple(written[c.ref_start_idx : c.ref_end_idx]),
            tuple(heard[c.hyp_start_idx : c.hyp_end_idx]),
        )
        for c in chunks
        if c.type != "equal"
    )
    errors = sum(max(len(d.written), len(d.heard)) for d in differences)
    return errors, differences


def _line_proof(
    span: LineSpan, speech: Speech | None, heard: list[HeardWord], names: set[str]
) -> LineProof:
    written = words_of(speech.text) if speech else []
    errors, differences = align(written, [w for word in heard for w in words_of(word.text)])
    differing = {w.removesuffix("'s") for d in differences for w in (*d.written, *d.heard)}
    return LineProof(
        speech.line if speech else span.line,
        span.speaker,
        span.start_s,
        span.end_s,
        speech.text if speech else None,
        " ".join(word.text for word in heard),
        len(written),
        errors,
        differences,
        tuple(sorted(differing & names)),
    )


def hear(
    path: Path, spans: Sequence[LineSpan], threads: int | None = None
) -> tuple[HeardWord, ...]:
    """Every word Whisper tiny.en hears in the lines' spans (widened by SPAN_MARGIN_S), with
    its times: listen.transcribe's model and settings, with word timestamps."""
    widened = [(x.start_s - SPAN_MARGIN_S, x.end_s + SPAN_MARGIN_S) for x in spans]
    return tuple(
        HeardWord(word.word.strip(), float(word.start), float(word.end))
        for segment in whisper_segments(path, threads, widened, word_timestamps=True)
        for word in segment.words or ()
    )


def format_proof(proof: Proof) -> str:
    """The story's word error rate, then the flagged lines by time, those where a cast name
    differs first; then how many lines differ below the threshold."""
    words = sum(x.words for x in proof.lines)
    rows = [
        f"{printable(proof.title)} ({proof.source.name}), proof-listened by Whisper tiny.en "
        f"against {_shown(proof.script)}",
        f"story word error rate: {proof.error_rate:.1%} ({words} words, {len(proof.lines)} lines)",
        "",
    ]
    flagged = sorted(proof.flagged, key=lambda x: x.start_s)
    named = [x for x in flagged if x.names]
    rest = [x for x in flagged if not x.names]
    if not flagged:
        rows.append(f"no line flagged (word error rate {proof.threshold:.0%} or more)")
    else:
        rows.append(f"flagged, word error rate {proof.threshold:.0%} or more:")
    if named:
        rows += ["names", *(_flagged(x, proof.script) for x in named)]
    if rest:
        rows += (["the rest"] if named else []) + [_flagged(x, proof.script) for x in rest]
    below = len(proof.below)
    rows += ["", f"{below} {'line differs' if below == 1 else 'lines differ'} below the threshold"]
    if proof.unrendered:
        lines = ", ".join(str(line) for line in proof.unrendered)
        rows.append(f"not in the render (written since): {_shown(proof.script)} lines {lines}")
    return "\n".join(rows)


def _flagged(line: LineProof, script: Path) -> str:
    where = f"{_shown(script)}:{line.line}" if line.line else _shown(script)
    written = f'"{line.written}"' if line.written is not None else "(no longer in the script)"
    heard = f'"{line.heard}"' if line.heard else "nothing"
    return printable(
        f"  {_clock(line.start_s)}  {where}  {line.speaker}: {written} → heard {heard}"
    )


def _shown(path: Path) -> str:
    """Relative to the working folder when inside it, as the producer typed it."""
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
