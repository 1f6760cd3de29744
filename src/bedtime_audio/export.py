"""Stage 7: mastered chapters → M4B and MP3 with chapters and tags, a WebVTT transcript and
render.json, all written under temporary names and renamed into place only when complete."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from .artifacts import StoryInfo, Written, ffmetadata, render_report, transcript
from .audio import Audio
from .errors import DependencyError, ExportError
from .mix import HANDOFF_S, RATE_HZ, Placed

_EMIT_FRAMES = 1 << 16
_QUIET = ("-nostdin", "-hide_banner", "-loglevel", "error")
_RAW_INPUT = ("-f", "f32le", "-ar", str(RATE_HZ), "-ac", "2", "-i", "pipe:0")
_FLAC = ["-c:a", "flac", "-f", "flac"]
FORMATS = {
    "m4b": [
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-f",
        "mp4",
        "-brand",
        "M4B ",
        "-movflags",
        "+faststart",
    ],
    "mp3": ["-c:a", "libmp3lame", "-q:a", "2", "-id3v2_version", "4", "-f", "mp3"],
}


@dataclass(frozen=True)
class Section:
    """A mastered chapter ready to be written: its audio runs `handoff_s` past its end."""

    title: str
    audio: Audio
    length_s: float
    handoff_s: float
    lines: tuple[Placed, ...]
    loudness_lufs: float
    synthetic_share: float
    """The synthetic presets' share of the bed's power, averaged over the section."""
    stems: Mapping[str, Audio] = field(default_factory=dict)
    """Optional tracks for a producer's DAW (voice, bed), at the master's gain, unlimited."""


def require_ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise DependencyError(
            "ffmpeg is not installed: run 'sudo apt-get install ffmpeg' (or 'make setup')"
        )
    return path


STEMS = ("voice", "bed")


def output_names(slug: str, stems: bool = False) -> list[str]:
    stem_files = [f"{slug}.{stem}.flac" for stem in STEMS] if stems else []
    return [*(f"{slug}.{ext}" for ext in FORMATS), *stem_files, f"{slug}.vtt", "render.json"]


def is_current(folder: Path, slug: str, inputs: str, stems: bool = False) -> bool:
    """Whether the folder holds a complete render of exactly these inputs."""
    try:
        report = json.loads((folder / "render.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return report.get("inputs") == inputs and all(
        (folder / name).exists() for name in output_names(slug, stems)
    )


def export(
    sections: Iterable[Section], story: StoryInfo, out_dir: Path, inputs: str, stems: bool = False
) -> float:
    """Encode the story and write its files into out_dir/<slug>/; returns its duration.

    `inputs` names everything the render was made from; render.json keeps it. With stems, the
    voice and the bed are written as FLAC too."""
    ffmpeg = require_ffmpeg()
    folder = out_dir / story.slug
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{story.slug}-", dir=folder) as tmp_dir:
        tmp = Path(tmp_dir)
        outputs = {"mix": FORMATS} | (
            {stem: {f"{stem}.flac": _FLAC} for stem in STEMS} if stems else {}
        )
        with _encoders(ffmpeg, tmp, story.slug, outputs) as sinks:
            written = _stream(sections, sinks)
        _write_metadata(ffmpeg, tmp, story, written)
        (tmp / f"{story.slug}.vtt").write_text(transcript(written), encoding="utf-8")
        report = render_report(story, written, measure_encoded(ffmpeg, tmp / f"{story.slug}.m4b"))
        report["inputs"] = inputs
        (tmp / "render.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        for stem in STEMS if stems else ():
            os.replace(tmp / f"audio.{stem}.flac", tmp / f"{story.slug}.{stem}.flac")
        for name in output_names(story.slug, stems):  # render.json last: it vouches for the rest
            os.replace(tmp / name, folder / name)
    return written[-1].end_s


@contextmanager
def _encoders(
    ffmpeg: str, tmp: Path, slug: str, outputs: Mapping[str, Mapping[str, list[str]]]
) -> Iterator[dict[str, list[IO[bytes]]]]:
    """Raw float PCM in, one ffmpeg per file (audio only; chapters and tags come after);
    outputs maps each track (mix, voice, bed) to its files and their encoder arguments."""
    with ExitStack() as stack:
        processes: list[tuple[str, str, subprocess.Popen[bytes]]] = []
        for track, formats in outputs.items():
            for ext, args in formats.items():
                log = stack.enter_context(open(tmp / f"{ext}.log", "wb"))
                command = [ffmpeg, *_QUIET, *_RAW_INPUT, *args, str(tmp / f"audio.{ext}")]
                process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=log)
                processes.append((track, ext, process))
        try:
            sinks: dict[str, list[IO[bytes]]] = {track: [] for track in outputs}
            for track, _ext, process in processes:
                if process.stdin:
                    sinks[track].append(process.stdin)
            yield sinks
        finally:
            for _track, _ext, process in processes:
                if process.stdin:
                    process.stdin.close()
            for _track, ext, process in processes:
                if process.wait() != 0:
                    message = (tmp / f"{ext}.log").read_text(errors="replace").strip()
                    raise ExportError(f"ffmpeg could not encode {slug}.{ext}: {message}")


class _Track:
    """One stream of the story: sections overlap-added at their handoffs, fed to encoders."""

    def __init__(self, sinks: list[IO[bytes]]) -> None:
        self.sinks = sinks
        self.pending: np.ndarray | None = None

    def add(self, samples: np.ndarray, handoff_s: float) -> None:
        keep = samples.shape[1] - round(handoff_s * RATE_HZ)
        overlap = 0 if self.pending is None else min(self.pending.shape[1], keep)
        if self.pending is not None:
            self.emit(samples[:, :overlap] + self.pending[:, :overlap])
        self.emit(samples[:, overlap:keep])
        self.pending = np.array(samples[:, keep:]) if handoff_s else None

    def finish(self) -> None:
        if self.pending is not None:
            self.emit(self.pending)

    def emit(self, block: np.ndarray) -> None:
        for start in range(0, block.shape[1], _EMIT_FRAMES):
            data = np.ascontiguousarray(block[:, start : start + _EMIT_FRAMES].T, dtype="<f4")
            for sink in self.sinks:
                sink.write(data.tobytes())


def _stream(sections: Iterable[Section], sinks: Mapping[str, list[IO[bytes]]]) -> list[Written]:
    """Overlap-add each section's handoff into the next and feed the encoders."""
    tracks = {name: _Track(track_sinks) for name, track_sinks in sinks.items()}
    written: list[Written] = []
    start_s = 0.0
    for section in sections:
        for name, track in tracks.items():
            audio = section.audio if name == "mix" else section.stems[name]
            track.add(audio.samples, section.handoff_s)
        end_s = start_s + section.length_s
        lines = tuple((placed, start_s) for placed in section.lines)
        written.append(
            Written(
                section.title, start_s, end_s, lines, section.loudness_lufs, section.synthetic_share
            )
        )
        start_s = end_s
    if tracks["mix"].pending is not None:  # the last chapter's bed fades out past its end
        written[-1] = dataclasses.replace(written[-1], end_s=written[-1].end_s + HANDOFF_S)
    for track in tracks.values():
        track.finish()
    return written


def _write_metadata(ffmpeg: str, tmp: Path, story: StoryInfo, written: list[Written]) -> None:
    """Remux each encoded file with chapters and tags (no re-encoding)."""
    meta = tmp / "chapters.txt"
    meta.write_text(ffmetadata(story, written), encoding="utf-8")
    for ext, args in FORMATS.items():
        command = [
            ffmpeg,
            *_QUIET,
            "-i",
            str(tmp / f"audio.{ext}"),
            "-i",
            str(meta),
            "-map",
            "0:a",
            "-map_metadata",
            "1",
            "-map_chapters",
            "1",
            "-c",
            "copy",
            *args[args.index("-f") :],
            str(tmp / f"{story.slug}.{ext}"),
        ]
        if ext == "m4b":
            command[-1:-1] = ["-metadata:s:a:0", "handler_name=bedtime-audio"]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise ExportError(f"ffmpeg could not tag {story.slug}.{ext}: {result.stderr.strip()}")


def write_wav(audio: Audio, path: Path) -> None:
    """16-bit PCM WAV, written under a temporary name and renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with wave.open(tmp, "wb") as out:
            out.setnchannels(audio.channels)
            out.setsampwidth(2)
            out.setframerate(audio.rate_hz)
            out.writeframes(audio.pcm16())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def measure_encoded(ffmpeg: str, path: Path) -> dict[str, float]:
    """Loudness of the encoded file as a listener's player decodes it (ffmpeg's EBU R128)."""
    result = subprocess.run(
        [
            ffmpeg,
            "-nostdin",
            "-hide_banner",
            "-nostats",
            "-i",
            str(path),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
    )
    summary = result.stderr[result.stderr.rfind("Summary:") :]
    figures = {}
    for key, pattern in (
        ("integrated_lufs", r"I:\s+(-?[\d.]+) LUFS"),
        ("loudness_range_lu", r"LRA:\s+(-?[\d.]+) LU"),
        ("true_peak_dbtp", r"Peak:\s+(-?[\d.]+|-inf) dBFS"),
    ):
        found = re.search(pattern, summary)
        if found is None:
            raise ExportError(f"could not measure the loudness of {path.name}")
        figures[key] = float(found.group(1))
    return figures
