"""Stage 7: mastered chapters → M4B and MP3 with chapters and tags, a WebVTT transcript and
render.json, all written under temporary names and renamed into place only when complete."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from .artifacts import StoryInfo, Written, ffmetadata, render_report, transcript
from .audio import Audio
from .cache import Store
from .errors import DependencyError, ExportError
from .mix import CHANNELS, GRID_FRAMES, RATE_HZ, Placed

_EMIT_FRAMES = 1 << 16
_QUIET = ("-nostdin", "-hide_banner", "-loglevel", "error")
_RAW_INPUT = ("-f", "f32le", "-ar", str(RATE_HZ), "-ac", str(CHANNELS), "-i", "pipe:0")
_AAC = ("-c:a", "aac", "-b:a", "128k", "-f", "adts")
_MP3 = ("-c:a", "libmp3lame", "-q:a", "2", "-f", "mp3")
_FLAC = ("-c:a", "flac", "-f", "flac")
_CONTAINERS = {
    "m4b": (
        *("-f", "mp4", "-brand", "M4B ", "-movflags", "+faststart"),
        *("-metadata:s:a:0", "handler_name=bedtime-audio"),
    ),
    "mp3": ("-f", "mp3", "-id3v2_version", "4"),
}
FORMATS = tuple(_CONTAINERS)
STEMS = ("voice", "bed")

_AAC_FRAME = GRID_FRAMES
"""Samples per AAC frame; chapters start on this grid."""
_PRE_ROLL = 512 * _AAC_FRAME
"""Audio encoded before each stretch of the M4B and thrown away: a fresh AAC encoder takes a
few seconds for its rate control to settle where one long encode would be."""
_POST_ROLL = 8 * _AAC_FRAME
"""Audio encoded after it: the last kept frame's window and the encoder's look-ahead."""


@dataclass(frozen=True)
class Section:
    """A mastered chapter (or the tail) as the story places it; its audio runs `handoff_s`
    past its end, under the next section's start."""

    title: str
    key: str
    """Names the section's audio: the same key, the same samples."""
    length_s: float
    handoff_s: float
    lines: tuple[Placed, ...]
    synthetic_share: float
    """The synthetic presets' share of the bed's power, averaged over the section."""

    @property
    def frames(self) -> int:
        return round((self.length_s + self.handoff_s) * RATE_HZ)

    @property
    def handoff_frames(self) -> int:
        return round(self.handoff_s * RATE_HZ)


@dataclass(frozen=True)
class Mastered:
    """A section's audio, loaded when the export comes to it."""

    tracks: Mapping[str, Audio]
    """"mix", and with stems "voice" and "bed" (at the master's gain, before the limiter)."""
    loudness_lufs: float
    """Of the mix."""


def require_ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise DependencyError(
            "ffmpeg is not installed: run 'sudo apt-get install ffmpeg' (or 'make setup')"
        )
    return path


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
    sections: Sequence[Section],
    load: Callable[[Section], Mastered],
    story: StoryInfo,
    *,
    out_dir: Path,
    inputs: str,
    encoded: Store,
    stems: bool = False,
) -> float:
    """Encode the story and write its files into out_dir/<slug>/; returns its duration.

    Sections are loaded one at a time and overlap-added into one stream. The MP3 (and the
    stems, as FLAC) encode the whole stream; the M4B is spliced from stretches of AAC, one per
    section (a short one joins the stretch before it), each encoded on its own and kept in
    `encoded`, so a re-render encodes only the stretches that hear a changed section.
    `inputs` names everything the render was made from; render.json keeps it."""
    ffmpeg = require_ffmpeg()
    folder = out_dir / story.slug
    folder.mkdir(parents=True, exist_ok=True)
    stretches = _stretches(sections, _encoder_id(ffmpeg))
    stored = {s.key: found[1] for s in stretches if (found := encoded.read(s.key)) is not None}
    missing = {s.key: s for s in stretches if s.key not in stored}
    with tempfile.TemporaryDirectory(prefix=f".{story.slug}-", dir=folder) as tmp_dir:
        tmp = Path(tmp_dir)
        with _Encoders(ffmpeg, tmp, story.slug) as encoders:
            sinks = {"mix": [_Sink(encoders.start("audio.mp3", _MP3))]}
            for key, stretch in missing.items():
                pipe = encoders.start(f"{key}.aac", _AAC)
                sinks["mix"].append(_Sink(pipe, stretch.start, stretch.end))
            for stem in STEMS if stems else ():
                sinks[stem] = [_Sink(encoders.start(f"{story.slug}.{stem}.flac", _FLAC))]
            loudness = _stream(sections, load, sinks)
        for key, stretch in missing.items():
            stored[key] = stretch.kept((tmp / f"{key}.aac").read_bytes())
            encoded.write(key, stored[key])
        (tmp / "audio.aac").write_bytes(b"".join(stored[s.key] for s in stretches))
        written = _placed(sections, loudness)
        _write_metadata(ffmpeg, tmp, story, written)
        (tmp / f"{story.slug}.vtt").write_text(transcript(written), encoding="utf-8")
        report = render_report(story, written, measure_encoded(ffmpeg, tmp / f"{story.slug}.m4b"))
        report["inputs"] = inputs
        (tmp / "render.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        for name in output_names(story.slug, stems):  # render.json last: it vouches for the rest
            os.replace(tmp / name, folder / name)
    return written[-1].end_s


def _offsets(sections: Sequence[Section]) -> list[int]:
    """Where each section starts in the story, in frames, and (last) where the story ends."""
    starts = list(itertools.accumulate((s.frames - s.handoff_frames for s in sections), initial=0))
    return [*starts[:-1], starts[-2] + sections[-1].frames]


@dataclass(frozen=True)
class _Stretch:
    """A stretch of the story, encoded to AAC on its own: the encoder hears story frames
    [start, end) and its frames from `skip` on (`count` of them, or all) are spliced in."""

    key: str
    start: int
    end: int
    skip: int
    count: int | None

    def kept(self, adts: bytes) -> bytes:
        frames = _adts_frames(adts)[self.skip :]
        if self.count is not None:
            if len(frames) < self.count:
                raise ExportError(f"the AAC encoder gave too few frames for {self.key}")
            frames = frames[: self.count]
        return b"".join(frames)


def _stretches(sections: Sequence[Section], encoder: str) -> list[_Stretch]:
    """One stretch per section, its encoder starting just after the crossfade into it and its
    kept frames _PRE_ROLL later, so each depends on its own section and the next one's start.

    Decoded, the spliced frames overlap-add like those of one long encode: each frame was
    made from the same samples, by an encoder settled on the audio before it."""
    offsets = _offsets(sections)
    total = offsets[-1]
    cuts = [0]
    for index in range(1, len(sections)):
        settled = offsets[index] + sections[index - 1].handoff_frames + _PRE_ROLL
        cut = -(-settled // _AAC_FRAME) * _AAC_FRAME
        if cut > cuts[-1] and cut + _POST_ROLL + _AAC_FRAME < total:
            cuts.append(cut)
    cuts.append(total)
    stretches = []
    for lo, hi in itertools.pairwise(cuts):
        last = hi == total
        start = max(0, lo - _PRE_ROLL)
        end = total if last else hi + _POST_ROLL
        skip = 0 if lo == 0 else (lo - start) // _AAC_FRAME + 1  # frame 0 is the priming
        count = None if last else (hi - lo) // _AAC_FRAME + (1 if lo == 0 else 0)
        heard = [
            (section.key, offset - start)
            for section, offset in zip(sections, offsets[:-1], strict=True)
            if offset < end and offset + section.frames > start
        ]
        key = _digest([encoder, end - start, skip, count, heard])
        stretches.append(_Stretch(key, start, end, skip, count))
    return stretches


def _adts_frames(data: bytes) -> list[bytes]:
    """Split an ADTS stream into its frames (each carries its own length)."""
    frames = []
    at = 0
    while at < len(data):
        header = data[at : at + 7]
        if len(header) < 7 or header[0] != 0xFF or header[1] & 0xF0 != 0xF0:
            raise ExportError("the AAC encoder wrote something that is not ADTS")
        length = (header[3] & 0x03) << 11 | header[4] << 3 | header[5] >> 5
        if length < len(header):
            raise ExportError("the AAC encoder wrote a damaged ADTS frame")
        frames.append(data[at : at + length])
        at += length
    return frames


def _encoder_id(ffmpeg: str) -> str:
    """ffmpeg's version and the AAC settings: what decides the encoded frames."""
    version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout
    return f"{version.splitlines()[0] if version else ffmpeg} {' '.join(_AAC)}"


def _digest(parts: list[object]) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class _Encoders:
    """ffmpeg processes fed raw float PCM on stdin, each writing one file in tmp; on leaving,
    every input is closed and every process must have succeeded."""

    def __init__(self, ffmpeg: str, tmp: Path, slug: str) -> None:
        self.ffmpeg, self.tmp, self.slug = ffmpeg, tmp, slug
        self.running: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self, name: str, args: tuple[str, ...]) -> IO[bytes]:
        log = open(self.tmp / f"{name}.log", "wb")  # closed in __exit__
        command = [self.ffmpeg, *_QUIET, *_RAW_INPUT, *args, str(self.tmp / name)]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=log)
        self.running.append((name, process, log))
        assert process.stdin is not None
        return process.stdin

    def __enter__(self) -> _Encoders:
        return self

    def __exit__(self, *exc: object) -> None:
        failed = []
        for _name, process, _log in self.running:
            if process.stdin:
                process.stdin.close()
        for name, process, log in self.running:
            if process.wait() != 0:
                failed.append(name)
            log.close()
        if failed:
            message = (self.tmp / f"{failed[0]}.log").read_text(errors="replace").strip()
            raise ExportError(f"ffmpeg could not encode {self.slug} ({failed[0]}): {message}")


@dataclass
class _Sink:
    """An encoder's input, taking the story's frames [start, end)."""

    pipe: IO[bytes]
    start: int = 0
    end: int | None = None

    def write(self, position: int, block: np.ndarray) -> None:
        """block: interleaved (frames, channels) float32 starting at story frame `position`."""
        lo = max(0, self.start - position)
        hi = len(block) if self.end is None else min(len(block), self.end - position)
        if lo < hi:
            self.pipe.write(block[lo:hi].tobytes())
        if self.end is not None and position + len(block) >= self.end:
            self.pipe.close()  # all it needs: let it finish while the story goes on


class _Track:
    """One stream of the story: sections overlap-added at their handoffs, fed to sinks."""

    def __init__(self, sinks: list[_Sink]) -> None:
        self.sinks = sinks
        self.pending: np.ndarray | None = None
        self.position = 0

    def add(self, samples: np.ndarray, handoff_frames: int) -> None:
        keep = samples.shape[1] - handoff_frames
        overlap = 0 if self.pending is None else min(self.pending.shape[1], keep)
        if self.pending is not None:
            self.emit(samples[:, :overlap] + self.pending[:, :overlap])
        self.emit(samples[:, overlap:keep])
        self.pending = np.array(samples[:, keep:]) if handoff_frames else None

    def finish(self) -> None:
        if self.pending is not None:
            self.emit(self.pending)

    def emit(self, block: np.ndarray) -> None:
        for start in range(0, block.shape[1], _EMIT_FRAMES):
            part = np.ascontiguousarray(block[:, start : start + _EMIT_FRAMES].T, dtype="<f4")
            for sink in self.sinks:
                sink.write(self.position, part)
            self.position += len(part)


def _stream(
    sections: Sequence[Section],
    load: Callable[[Section], Mastered],
    sinks: Mapping[str, list[_Sink]],
) -> list[float]:
    """Load each section in turn and overlap-add it into every track; returns the sections'
    loudness."""
    tracks = {name: _Track(track_sinks) for name, track_sinks in sinks.items()}
    loudness = []
    for section in sections:
        mastered = load(section)
        for name, track in tracks.items():
            audio = mastered.tracks[name]
            assert audio.frames == section.frames, f"{section.title}: {audio.frames} frames"
            track.add(audio.samples, section.handoff_frames)
        loudness.append(mastered.loudness_lufs)
    for track in tracks.values():
        track.finish()
    return loudness


def _placed(sections: Sequence[Section], loudness: list[float]) -> list[Written]:
    """Each section in story time; the last one's bed fades out past its end."""
    written = []
    start_s = 0.0
    for section, lufs in zip(sections, loudness, strict=True):
        end_s = start_s + section.length_s
        lines = tuple((placed, start_s) for placed in section.lines)
        written.append(Written(section.title, start_s, end_s, lines, lufs, section.synthetic_share))
        start_s = end_s
    last = written[-1]
    written[-1] = dataclasses.replace(last, end_s=last.end_s + sections[-1].handoff_s)
    return written


def _write_metadata(ffmpeg: str, tmp: Path, story: StoryInfo, written: list[Written]) -> None:
    """Put the encoded audio in its container with chapters and tags (no re-encoding). The
    spliced AAC starts with the encoder's priming frame: the M4B's edit list skips it."""
    meta = tmp / "chapters.txt"
    meta.write_text(ffmetadata(story, written), encoding="utf-8")
    sources = {
        "m4b": ("-itsoffset", f"-{_AAC_FRAME / RATE_HZ:.6f}", "-f", "aac", "-i", "audio.aac"),
        "mp3": ("-i", "audio.mp3"),
    }
    for ext, container in _CONTAINERS.items():
        command = [
            ffmpeg,
            *_QUIET,
            *sources[ext],
            *("-i", str(meta), "-map", "0:a", "-map_metadata", "1", "-map_chapters", "1"),
            *("-c", "copy", *container, str(tmp / f"{story.slug}.{ext}")),
        ]
        result = subprocess.run(command, capture_output=True, text=True, cwd=tmp)
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
