"""Analyze a rendered story: loudness, pace and the bed's brightness, chapter by chapter.

The .m4b or .mp3 is measured by the streaming meter; render.json, beside it, says where the
chapters and the lines are. The bed is the audio no line (widened by LINE_MARGIN_S) touches."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BedtimeError
from .meter import HOP_S, Hops, decode, measure

LINE_MARGIN_S = 0.3
TAIL_SPAN_S = 30.0
"""The tail's first and last spans compared, or half a shorter tail."""
FADING_DROP_LU = 20.0
SILENCE_LUFS = -60.0
PLOT_WINDOW_S = 10.0
DURATION_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class ChapterSpan:
    title: str
    start_s: float
    end_s: float
    synthetic_share: float


@dataclass(frozen=True)
class LineSpan:
    chapter: str
    speaker: str
    text: str
    start_s: float
    end_s: float
    line: int | None = None
    """The spoken line's line in the scene script, when render.json says."""

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True)
class RenderInfo:
    """What render.json says about the file beside it."""

    title: str
    duration_s: float
    chapters: tuple[ChapterSpan, ...]
    lines: tuple[LineSpan, ...]
    script: str | None = None
    """The scene script's absolute path, when render.json says."""


@dataclass(frozen=True)
class ChapterAnalysis:
    title: str
    start_s: float
    end_s: float
    loudness_lufs: float
    true_peak_dbtp: float
    momentary_excess_lu: float | None
    """Loudest 400 ms momentary loudness above the chapter's integrated loudness."""
    words_per_minute: float | None
    """Words over the time the lines take, pauses between sentences included."""
    narration_wpm: float | None
    """The same, for the narrator's lines alone."""
    overall_wpm: float | None
    """Words over the whole chapter: every pause and the bed between lines included."""
    synthetic_share: float
    bed_centroid_hz: float | None
    """Power-weighted spectral centroid of the bed alone."""


@dataclass(frozen=True)
class TailAnalysis:
    present: bool
    fading: bool
    span_s: float
    drop_lu: float
    """Loudness of the tail's first span minus that of its last: inf when the last is silent,
    NaN when the first is."""
    final_second_lufs: float


@dataclass(frozen=True)
class StoryAnalysis:
    source: Path
    title: str
    duration_s: float
    loudness_lufs: float
    true_peak_dbtp: float
    momentary_excess_lu: float | None
    """Over the story part (the tail excluded), against the story part's integrated loudness."""
    chapters: tuple[ChapterAnalysis, ...]
    first_wpm: float | None
    last_wpm: float | None
    """Words per minute of the first and of the last story chapter with lines."""
    bed_centroid_first_third_hz: float | None
    bed_centroid_last_third_hz: float | None
    tail: TailAnalysis
    plot_path: Path | None = None

    @property
    def wpm_ratio(self) -> float | None:
        return self.last_wpm / self.first_wpm if self.first_wpm and self.last_wpm else None


def analyze_file(path: Path, plot_path: Path | None) -> StoryAnalysis:
    """Measure an .m4b or .mp3 against its render.json; plot it when plot_path is given."""
    info = load_render_json(path)
    hops = measure(decode(path))
    if hops.count == 0 or abs(hops.duration_s - info.duration_s) > DURATION_TOLERANCE_S:
        raise BedtimeError(
            f"{path}: decodes to {hops.duration_s:.1f} s, but render.json lists "
            f"{info.duration_s:.1f} s; render the story again"
        )
    analysis = summarize(path, info, hops)
    if plot_path is None:
        return analysis
    write_plot(plot_path, analysis, hops, bed_mask(info.lines, hops.count))
    return dataclasses.replace(analysis, plot_path=plot_path)


def _chapter_span(c: dict[str, Any]) -> ChapterSpan:
    share = float(c.get("synthetic_share", 0.0))
    return ChapterSpan(str(c["title"]), float(c["start_s"]), float(c["end_s"]), share)


def _line_span(x: dict[str, Any]) -> LineSpan:
    line = int(x["line"]) if x.get("line") is not None else None
    return LineSpan(
        str(x["chapter"]),
        str(x["speaker"]),
        str(x["text"]),
        float(x["start_s"]),
        float(x["end_s"]),
        line,
    )


def load_render_json(audio_path: Path) -> RenderInfo:
    path = audio_path.parent / "render.json"
    if not path.is_file():
        raise BedtimeError(f"{audio_path}: no render.json beside it to give the chapter times")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        chapters = tuple(_chapter_span(chapter) for chapter in data["chapters"])
        lines = tuple(_line_span(line) for line in data["lines"])
        title, duration_s = str(data.get("title", audio_path.stem)), float(data["duration_s"])
        script = str(data["script"]) if data.get("script") else None
    except KeyError as error:
        raise BedtimeError(f"{path}: not a valid render.json: missing {error}") from None
    except (OSError, ValueError, TypeError, AttributeError) as error:
        raise BedtimeError(f"{path}: not a valid render.json: {error}") from None
    if not chapters:
        raise BedtimeError(f"{path}: not a valid render.json: it lists no chapters")
    return RenderInfo(title, duration_s, chapters, lines, script)


def bed_mask(lines: Iterable[LineSpan], count: int) -> np.ndarray:
    """True for the hops that no line, widened by LINE_MARGIN_S, touches."""
    mask = np.ones(count, bool)
    for line in lines:
        first = max(int(np.floor((line.start_s - LINE_MARGIN_S) / HOP_S + 1e-9)), 0)
        mask[first : int(np.ceil((line.end_s + LINE_MARGIN_S) / HOP_S - 1e-9))] = False
    return mask


def words_per_minute(lines: Sequence[LineSpan]) -> float | None:
    minutes = sum(line.end_s - line.start_s for line in lines) / 60
    return sum(line.words for line in lines) / minutes if minutes > 0 else None


def _chapter(span: ChapterSpan, info: RenderInfo, hops: Hops, bed: np.ndarray) -> ChapterAnalysis:
    start_s, end_s = span.start_s, span.end_s
    lines = [x for x in info.lines if x.chapter == span.title]
    words = sum(line.words for line in lines)
    return ChapterAnalysis(
        span.title,
        start_s,
        end_s,
        loudness_lufs=hops.loudness_lufs(start_s, end_s),
        true_peak_dbtp=hops.true_peak_dbtp(start_s, end_s),
        momentary_excess_lu=hops.momentary_excess_lu(start_s, end_s),
        words_per_minute=words_per_minute(lines),
        narration_wpm=words_per_minute([x for x in lines if x.speaker == "narrator"]),
        overall_wpm=words / (end_s - start_s) * 60 if words else None,
        synthetic_share=span.synthetic_share,
        bed_centroid_hz=hops.centroid_hz(start_s, end_s, bed),
    )


def _tail(span: ChapterSpan | None, hops: Hops) -> TailAnalysis:
    """Present when the last chapter has no lines; fading when its last span is FADING_DROP_LU
    below its first, or its final second near silence."""
    if span is None:
        return TailAnalysis(False, False, 0.0, float("nan"), float("nan"))
    start_s, end_s = span.start_s, min(span.end_s, hops.duration_s)
    span_s = min(TAIL_SPAN_S, (end_s - start_s) / 2)
    first = hops.loudness_lufs(start_s, start_s + span_s)
    drop = first - hops.loudness_lufs(end_s - span_s, end_s) if np.isfinite(first) else np.nan
    final = hops.mean_lufs(end_s - 1.0, end_s)
    fading = bool(drop >= FADING_DROP_LU or final <= SILENCE_LUFS)
    return TailAnalysis(True, fading, span_s, float(drop), final)


def summarize(source: Path, info: RenderInfo, hops: Hops) -> StoryAnalysis:
    """The chapter and story figures; the tail is a last chapter without lines."""
    bed = bed_mask(info.lines, hops.count)
    chapters = tuple(_chapter(span, info, hops, bed) for span in info.chapters)
    has_tail = len(chapters) > 1 and chapters[-1].words_per_minute is None
    story = chapters[:-1] if has_tail else chapters
    start_s, end_s = story[0].start_s, story[-1].end_s
    third_s = (end_s - start_s) / 3
    paced = [c.words_per_minute for c in story if c.words_per_minute is not None]
    return StoryAnalysis(
        source,
        info.title,
        hops.duration_s,
        loudness_lufs=hops.loudness_lufs(0.0, hops.duration_s),
        true_peak_dbtp=hops.true_peak_dbtp(0.0, hops.duration_s),
        momentary_excess_lu=hops.momentary_excess_lu(start_s, end_s),
        chapters=chapters,
        first_wpm=paced[0] if paced else None,
        last_wpm=paced[-1] if paced else None,
        bed_centroid_first_third_hz=hops.centroid_hz(start_s, start_s + third_s, bed),
        bed_centroid_last_third_hz=hops.centroid_hz(end_s - third_s, end_s, bed),
        tail=_tail(info.chapters[-1] if has_tail else None, hops),
    )


def write_plot(path: Path, analysis: StoryAnalysis, hops: Hops, bed: np.ndarray) -> None:
    """Momentary loudness and the bed's centroid over time, chapters marked; written atomically."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 6), layout="constrained")
    loud, bright = figure.subplots(2, 1, sharex=True)
    momentary = hops.momentary_lufs()
    label = {"rotation": 90, "va": "top", "fontsize": 7, "transform": loud.get_xaxis_transform()}
    loud.plot((np.arange(momentary.size) * HOP_S + 0.4) / 60, np.maximum(momentary, -70), lw=0.4)
    loud.set(ylabel="momentary loudness (LUFS)", title=analysis.title)
    centroids_hz = hops.centroids_hz(PLOT_WINDOW_S, bed)
    window_min = (np.arange(centroids_hz.size) + 0.5) * PLOT_WINDOW_S / 60
    bright.plot(window_min, centroids_hz, marker=".", lw=0.8)
    bright.set(ylabel=f"bed centroid per {PLOT_WINDOW_S:.0f} s (Hz)", xlabel="minutes")
    for chapter in analysis.chapters:
        for axes in (loud, bright):
            axes.axvline(chapter.start_s / 60, color="grey", lw=0.8, ls="--")
        loud.text(chapter.start_s / 60, 0.98, f" {chapter.title}", **label)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        figure.savefig(temporary, format="png", dpi=100)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise BedtimeError(f"{path}: could not write the plot: {error}") from None


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None or not np.isfinite(value) else format(value, spec)


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


_HEADS = ("LUFS", "dBTP", "M-I LU", "wpm", "narr", "overall", "synth", "bed Hz")
_SPECS = (".1f", ".1f", "+.1f", ".0f", ".0f", ".0f", ".2f", ".0f")
"""How the figures of ChapterAnalysis after its title, start and end are shown, in order."""


def _row(chapter: ChapterAnalysis, width: int) -> str:
    title = chapter.title if len(chapter.title) < width else chapter.title[: width - 2] + "~"
    figures = dataclasses.astuple(chapter)[3:]
    cells = [_num(value, spec) for value, spec in zip(figures, _SPECS, strict=True)]
    return f"{title:<{width}}" + "".join(f"{cell:>8}" for cell in [_clock(chapter.start_s), *cells])


def _tail_line(tail: TailAnalysis) -> str:
    if not tail.present:
        return "tail: absent (the last chapter has lines)"
    state, span = "fading" if tail.fading else "NOT fading", f"{tail.span_s:.0f} s"
    drop = f"{_num(-tail.drop_lu, '+.1f')} LU" if np.isfinite(tail.drop_lu) else "silent"
    final = _num(tail.final_second_lufs, ".1f")
    return f"tail: present, {state} (last {span} {drop} vs first {span}; final second {final} LUFS)"


def format_report(analysis: StoryAnalysis) -> str:
    """A table with a row per chapter, then the story-level figures."""
    a = analysis
    width = min(max(7, *(len(c.title) for c in a.chapters)), 28) + 2
    loudness = f"{_num(a.loudness_lufs, '.1f')} LUFS, {_num(a.true_peak_dbtp, '.1f')} dBTP"
    story = [c for c in a.chapters if c.words_per_minute is not None] or list(a.chapters)
    lines = [
        f"{a.title} ({a.source.name}, {_clock(a.duration_s)})",
        "",
        f"{'chapter':<{width}}" + "".join(f"{head:>8}" for head in ("start", *_HEADS)),
        *(_row(chapter, width) for chapter in a.chapters),
        "",
        f"story: {loudness}; loudest moment {_num(a.momentary_excess_lu, '+.1f')} LU above "
        "integrated (tail excluded)",
        f"wpm last/first: {_num(a.wpm_ratio, '.2f')} "
        f"({_num(a.last_wpm, '.0f')} / {_num(a.first_wpm, '.0f')}); narration "
        f"{_num(story[-1].narration_wpm, '.0f')} / {_num(story[0].narration_wpm, '.0f')}, "
        f"overall {_num(story[-1].overall_wpm, '.0f')} / {_num(story[0].overall_wpm, '.0f')}",
        "(wpm: words over the lines' time; narr: the narrator's alone; overall: over the "
        "whole chapter, pauses included)",
        f"bed centroid last third / first third: {_num(a.bed_centroid_last_third_hz, '.0f')} Hz"
        f" / {_num(a.bed_centroid_first_third_hz, '.0f')} Hz",
        _tail_line(a.tail),
    ]
    return "\n".join(lines + ([f"plot: {a.plot_path}"] if a.plot_path else []))
