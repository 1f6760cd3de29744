"""Stage 7: mastered chapters → M4B and MP3 with chapters, tags and a cover, a WebVTT transcript,
the files podcast apps and Audiobookshelf read, a listening page, and render.json, all written
under temporary names and renamed into place only when complete."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import itertools
import json
import math
import os
import shutil
import subprocess
import tempfile
import threading
import wave
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from .artifacts import (
    StoryInfo,
    Written,
    ffmetadata,
    podcast_chapters,
    render_report,
    shelf_metadata,
    transcript,
)
from .audio import Audio
from .cache import AudioCache, Planar, Store, write_atomic
from .cover import cover, write_covers
from .errors import DependencyError, ExportError
from .executors import FINISHING, Executor, threaded_map
from .master import CEILING_DBTP, PEAK_LIMIT_DBTP
from .measure import Levels, Measured, decode, levels, measure_file
from .mix import CHANNELS, RATE_HZ, Placed
from .page import library_page, story_page
from .tags import set_mp3_gapless, tag_m4b, tag_opus
from .workdir import DIE_WITH_PARENT, working_folder

_EMIT_FRAMES = 1 << 16
_QUIET = ("-nostdin", "-hide_banner", "-loglevel", "error", "-y")
_RAW_INPUT = ("-f", "f32le", "-ar", str(RATE_HZ), "-ac", str(CHANNELS), "-i", "pipe:0")
_FLAC = ("-c:a", "flac", "-f", "flac")
_OPUS = ("-c:a", "libopus", "-b:a", "96k", "-ar", "48000", "-f", "ogg")
_CONTAINERS = {
    "m4b": (
        *("-f", "mp4", "-brand", "M4B ", "-movflags", "+faststart"),
        *("-metadata:s:a:0", "handler_name=bedtime-audio"),
    ),
    "mp3": ("-f", "mp3", "-id3v2_version", "4"),
}
FORMATS = tuple(_CONTAINERS)
STEMS = ("voice", "bed")


@dataclass(frozen=True)
class _Codec:
    """A lossy format the story is spliced in from stretches encoded on their own."""

    name: str
    """ffmpeg's name for a stream of its bare frames."""
    args: tuple[str, ...]
    frame: int
    """Samples per frame."""
    priming: int
    """Frames an encoder writes before the one that starts its input."""
    delay: int
    """Samples a decoder gives before the input's first, decoding from an encode's frame 0."""

    @property
    def pre_roll(self) -> int:
        """Audio encoded before each stretch and thrown away: a fresh encoder takes a few
        seconds for its rate control to settle where one long encode would be."""
        return 512 * self.frame

    @property
    def post_roll(self) -> int:
        """Audio encoded after it: the last kept frame's window and the encoder's look-ahead."""
        return 8 * self.frame


_AAC = _Codec("aac", ("-c:a", "aac", "-b:a", "128k", "-f", "adts"), 1024, 1, 1024)
"""For the M4B."""
_LAME_DELAY = 576
"""Samples LAME puts before the input; with the decoder's own 529, the MP3's LAME tag tells a
player to skip them."""
_MP3 = _Codec(
    "mp3",
    ("-c:a", "libmp3lame", "-q:a", "2", "-reservoir", "0", "-write_xing", "0", "-f", "mp3"),
    1152,
    0,
    _LAME_DELAY + 529,
)
"""Without the bit reservoir every frame carries its own bits, so frames of different encodes
can follow one another."""
_CODECS = {"m4b": _AAC, "mp3": _MP3}
_WARM_FRAMES = 8
"""Frames measured before a stretch's first kept one, and not counted: the K-weighting and the
oversampling settle on them."""
_PEAK_ROUNDS = 4
"""Times a story is encoded at most while sections' encoded peaks pass PEAK_LIMIT_DBTP."""
_PEAK_MARGIN_DB = 0.5
"""How much further than the excess a section's ceiling is lowered."""
_PEAK_LIMIT = float(10 ** (PEAK_LIMIT_DBTP / 20))
"""Encoded stretches are oversampled only where their peaks could pass this or be a stretch's
loudest: what the checks and render.json read."""


@dataclass(frozen=True)
class Section:
    """A mastered chapter (or the tail) as the story places it; its audio runs `handoff_s`
    past its end, under the next section's start."""

    title: str
    key: str
    """Names everything that decides the section's mix."""
    length_s: float
    handoff_s: float
    lines: tuple[Placed, ...]
    synthetic_share: float
    """The synthetic presets' share of the bed's power, averaged over the section."""
    ceiling_dbtp: float = CEILING_DBTP
    """The limiter's ceiling; lowered where the encoded files would pass PEAK_LIMIT_DBTP."""
    continues: bool = False
    """Carries on the chapter of the section before (a piece of the tail), with no marker."""

    @property
    def audio_key(self) -> str:
        """Names the section's mastered audio: the same key, the same samples."""
        if self.ceiling_dbtp == CEILING_DBTP:
            return self.key
        return f"{self.key}@{self.ceiling_dbtp:.1f}dBTP"

    def lowered(self, excess_db: float) -> Section:
        """The section mastered under a ceiling low enough to take `excess_db` off its encoded
        peaks, with a margin, on a 0.1 dB grid so that the same excess gives the same key."""
        ceiling = math.floor((self.ceiling_dbtp - excess_db - _PEAK_MARGIN_DB) * 10) / 10
        return dataclasses.replace(self, ceiling_dbtp=ceiling)

    @property
    def frames(self) -> int:
        return round((self.length_s + self.handoff_s) * RATE_HZ)

    @property
    def handoff_frames(self) -> int:
        return round(self.handoff_s * RATE_HZ)


def require_ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise DependencyError(
            "ffmpeg is not installed: run 'sudo apt-get install ffmpeg' (or 'make setup')"
        )
    return path


@dataclass(frozen=True)
class Outputs:
    """What a story gets besides its M4B, MP3, transcript, publishing files and render.json."""

    stems: bool = False
    """The voice and the bed as FLAC stems."""
    opus: bool = False
    """An Ogg Opus: small and gapless, for a phone."""

    def encoded(self, slug: str) -> list[str]:
        """The story's audio files."""
        formats = [*FORMATS, "opus"] if self.opus else FORMATS
        stem_files = [f"{slug}.{stem}.flac" for stem in STEMS] if self.stems else []
        return [*(f"{slug}.{ext}" for ext in formats), *stem_files]

    def names(self, slug: str) -> list[str]:
        """Everything a render writes, render.json last."""
        return [*self.encoded(slug), f"{slug}.vtt", *PUBLISHING, "render.json"]


PUBLISHING = ("cover.jpg", "cover.png", "chapters.json", "metadata.json", "desc.txt", "index.html")
"""What podcast apps, Audiobookshelf and a browser read beside the audio."""


def is_current(folder: Path, slug: str, inputs: str, outputs: Outputs) -> bool:
    """Whether the folder holds a complete render of exactly these inputs."""
    try:
        report = json.loads((folder / "render.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return report.get("inputs") == inputs and all(
        (folder / name).exists() for name in outputs.names(slug)
    )


def export(
    sections: Sequence[Section],
    story: StoryInfo,
    *,
    out_dir: Path,
    inputs: str,
    mix: Callable[[Sequence[Section]], None],
    chapters: AudioCache,
    encoded: Store,
    executor: Executor,
    outputs: Outputs = Outputs(),
    progress: Callable[[str], None] = lambda _message: None,
) -> float:
    """Encode the story and write its files into out_dir/<slug>/; returns its duration.

    `mix(sections)` puts each section's mastered audio (and stems) into `chapters` under the
    section's keys, where it is missing. Every encoded file is measured as a player decodes it.
    Where a section's true peak passes PEAK_LIMIT_DBTP in any of them, that section is mastered
    again under a lower ceiling and the story encoded again (the rest comes from the caches),
    up to _PEAK_ROUNDS times; render.json records what each file measured in the end.
    `inputs` names everything the render was made from; render.json keeps it."""
    ffmpeg = require_ffmpeg()
    folder = out_dir / story.slug
    folder.mkdir(parents=True, exist_ok=True)
    encoder = encoder_id(ffmpeg)
    names = outputs.encoded(story.slug)
    with working_folder(folder, story.slug) as tmp:
        for _round in range(_PEAK_ROUNDS):
            mix(sections)
            written, measured = _encode(
                ffmpeg,
                encoder,
                tmp,
                sections,
                story,
                chapters,
                encoded,
                executor,
                outputs,
                progress,
            )
            over = {
                index: peak - PEAK_LIMIT_DBTP
                for index in range(len(sections))
                if (peak := max(m.span_peaks_dbtp[index] for m in measured.values()))
                > PEAK_LIMIT_DBTP
            }
            if not over:
                break
            sections = [
                section.lowered(over[index]) if index in over else section
                for index, section in enumerate(sections)
            ]
        _publish(tmp, story, written)
        figures = {name: measured[name].figures() for name in names}
        report = render_report(story, written, figures)
        report["inputs"] = inputs
        (tmp / "render.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        page = story_page(report, outputs.names(story.slug))
        (tmp / "index.html").write_text(page, encoding="utf-8")
        for name in outputs.names(story.slug):  # render.json last: it vouches for the rest
            os.replace(tmp / name, folder / name)
    return written[-1].end_s


def _publish(tmp: Path, story: StoryInfo, written: list[Written]) -> None:
    """The transcript, chapters and metadata that podcast apps and Audiobookshelf read."""
    (tmp / f"{story.slug}.vtt").write_text(transcript(written), encoding="utf-8")
    for name, document in (
        ("chapters.json", podcast_chapters(written)),
        ("metadata.json", shelf_metadata(story, written)),
    ):
        (tmp / name).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    (tmp / "desc.txt").write_text((story.description or story.title) + "\n", encoding="utf-8")


def rendered_stories(out_dir: Path) -> list[tuple[Path, dict]]:
    """Every story rendered into out_dir: its folder and its render.json, by folder name."""
    found = []
    for path in sorted(out_dir.glob("*/render.json")):
        try:
            found.append((path.parent, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue  # being replaced, or not ours
    return found


def write_library(out_dir: Path) -> None:
    """out_dir/index.html: the listening page of every story rendered there."""
    stories = [(folder.name, report) for folder, report in rendered_stories(out_dir)]
    write_atomic(out_dir / "index.html", library_page(stories).encode())


def section_keys(section: Section, stems: bool) -> dict[str, str]:
    """Where the chapter cache keeps a section's mix, and its stems."""
    key = section.audio_key
    return {"mix": key} | ({stem: f"{key}-{stem}" for stem in STEMS} if stems else {})


@contextlib.contextmanager
def mastered(
    chapters: AudioCache, section: Section, stems: bool = False
) -> Iterator[dict[str, Planar]]:
    """A section's mastered audio in the chapter cache, where `mix` put it, to be read a
    block at a time: "mix", and with stems "voice" and "bed" (at the master's gain and its
    limiter's, so they add up to the mix)."""
    with contextlib.ExitStack() as reading:
        tracks = {}
        for name, key in section_keys(section, stems).items():
            found = reading.enter_context(chapters.reader(key))
            if found is None:
                raise ExportError(
                    f"'{section.title}' is missing from the chapter cache at {chapters.root} "
                    "(removed, or damaged and removed, while the story was encoded); render again"
                )
            tracks[name] = found
        yield tracks


def _encode(
    ffmpeg: str,
    encoder: str,
    tmp: Path,
    sections: Sequence[Section],
    story: StoryInfo,
    chapters: AudioCache,
    encoded: Store,
    executor: Executor,
    outputs: Outputs,
    progress: Callable[[str], None],
) -> tuple[list[Written], dict[str, Measured]]:
    """The M4B and the MP3 are spliced from stretches, one per section and format (a short
    one joins the stretch before it), each encoded and measured by a unit of its own and kept
    in `encoded`, so a re-render encodes only the stretches that hear a changed section. The
    Opus and the stems encode the whole stream, here, sections read one at a time and
    overlap-added. Returns the chapters as placed and what each file measured, with the true
    peak of each section."""
    offsets = _offsets(sections)
    spans = _spans(sections)
    stretches = {ext: _stretches(sections, codec, encoder) for ext, codec in _CODECS.items()}

    def encode(work: Sequence[tuple[str, _Stretch]]) -> Future[list[str]]:
        return executor.submit(
            encode_stretches,
            encoder,
            [(_CODECS[ext], stretch, *_heard(sections, offsets, stretch)) for ext, stretch in work],
            *(chapters.root, encoded.root),
            priority=FINISHING,
        )

    missing = [
        (ext, stretch)
        for ext, theirs in stretches.items()
        for stretch in theirs
        if not encoded.holds(stretch.key)
    ]
    at_once = executor.unit_threads  # a unit's stretches are encoded side by side
    units = {
        encode(missing[i : i + at_once]): len(missing[i : i + at_once])
        for i in range(0, len(missing), at_once)
    }
    whole = [f"{story.slug}.opus"] if outputs.opus else []
    if outputs.opus or outputs.stems:
        with _Encoders(ffmpeg, tmp, story.slug) as encoders:
            sinks = {"mix": [_Sink(encoders.start(name, _OPUS)) for name in whole]}
            for stem in STEMS if outputs.stems else ():
                whole.append(f"{story.slug}.{stem}.flac")
                sinks[stem] = [_Sink(encoders.start(whole[-1], _FLAC))]
            _stream(sections, chapters, sinks, stems=outputs.stems)
    done = 0
    for unit in as_completed(units):
        unit.result()
        done += units[unit]
        progress(f"{story.slug}: encoded {done}/{len(missing)} stretches")
    heard = {}
    for ext, theirs in stretches.items():
        with open(tmp / f"audio.{_CODECS[ext].name}", "wb") as spliced:  # hours of tail are long
            parts = []
            for stretch in theirs:
                found = _read_stretch(encoded, stretch)
                if found is None:  # damaged since it was written, and so removed: encode again
                    encode([(ext, stretch)]).result()
                    found = _read_stretch(encoded, stretch)
                if found is None:
                    raise ExportError(
                        f"the encoded stretch {stretch.key[:12]} vanished from {encoded.root}"
                    )
                spliced.write(found[0])
                parts.append(found[1])
        heard[f"{story.slug}.{ext}"] = Levels.joined(parts)
    total = offsets[-1]
    measured = {name: found.measured(total, spans) for name, found in heard.items()}
    measured |= {name: measure_file(ffmpeg, tmp / name, spans) for name in whole}
    written = _placed(sections, heard[f"{story.slug}.m4b"], total)
    _write_metadata(ffmpeg, tmp, story, written, outputs, total)
    return written, measured


def _read_stretch(encoded: Store, stretch: _Stretch) -> tuple[memoryview, Levels] | None:
    """A stretch's kept frames, and its levels in the story (which do not hold on to the frames:
    the levels of a night's stretches are kept, its frames are let go once spliced)."""
    found = encoded.read(stretch.key)
    if found is None:
        return None
    meta, data = found
    size = meta["frames_bytes"]
    return data[:size], Levels.from_bytes(meta["first_hop"], data[size:])


def _heard(
    sections: Sequence[Section], offsets: list[int], stretch: _Stretch
) -> tuple[list[Section], int]:
    """The sections a stretch's encoder hears, and where the first of them starts."""
    heard = [
        (section, offset)
        for section, offset in zip(sections, offsets[:-1], strict=False)
        if offset < stretch.end and offset + section.frames > stretch.start
    ]
    return [section for section, _offset in heard], heard[0][1]


def encode_stretches(
    encoder: str,
    work: Sequence[tuple[_Codec, _Stretch, Sequence[Section], int]],
    chapters_root: Path,
    encoded_root: Path,
) -> list[str]:
    """The unit of encoding: stretches of the story (each a codec, a stretch, the sections it
    hears and where the first starts), encoded side by side, each by `encode_stretch`."""
    return list(
        threaded_map(
            lambda one: encode_stretch(encoder, *one, chapters_root, encoded_root),
            work,
            len(work),
        )
    )


def encode_stretch(
    encoder: str,
    codec: _Codec,
    stretch: _Stretch,
    heard: Sequence[Section],
    offset: int,
    chapters_root: Path,
    encoded_root: Path,
) -> str:
    """One stretch of the story, from the chapter cache into the encoded store, with its
    levels as a player decodes its frames. `heard` are the sections it overlaps, the first
    starting at story frame `offset`."""
    ffmpeg = require_ffmpeg()
    if encoder_id(ffmpeg) != encoder:
        raise ExportError(
            f"a worker's ffmpeg differs from the render's ({encoder_id(ffmpeg)}, not {encoder}): "
            "every machine needs the same ffmpeg"
        )
    chapters = AudioCache(chapters_root)
    with tempfile.TemporaryDirectory(prefix="bedtime-stretch-") as folder:
        path = Path(folder) / f"stretch.{codec.name}"
        found = _encoded_and_heard(
            ffmpeg,
            codec,
            stretch,
            path,
            lambda sink: _stream(heard, chapters, {"mix": [sink]}, offset),
        )
        kept = stretch.kept(_frames(ffmpeg, path))
    meta = {"frames_bytes": len(kept), "first_hop": found.first_hop}
    Store(encoded_root).write(stretch.key, kept, *found.to_bytes(), meta=meta)
    return stretch.key


def _encoded_and_heard(
    ffmpeg: str,
    codec: _Codec,
    stretch: _Stretch,
    path: Path,
    feed: Callable[[_Sink], None],
) -> Levels:
    """Encode the stretch into `path` while a decoder plays its frames back as they come and
    they are measured: the encoder, the decoder and the measuring work at once. `feed` writes
    the stretch's audio into the sink it is given. Returns the levels of story frames [lo, hi)
    as a player decodes them; the pre-roll before them is decoded but not measured, but for
    the few frames that settle the measuring."""
    played, playing = os.pipe()
    found: list[Levels | BaseException] = []
    failed: list[BaseException] = []
    warm_from = stretch.lo - _WARM_FRAMES * codec.frame

    def measure() -> None:
        try:
            with open(played, "rb") as source:
                start = stretch.start - codec.delay  # the decoder's first sample
                decoded = decode(ffmpeg, "pipe:0", codec.name, stdin=source)
                pieces = _from(decoded, start, warm_from)
                found.append(
                    levels(pieces, max(start, warm_from), stretch.lo, stretch.hi, _PEAK_LIMIT)
                )
        except BaseException as exc:  # handed to the unit's own thread
            found.append(exc)

    with tempfile.TemporaryFile() as log:
        encoder = subprocess.Popen(
            [ffmpeg, *_QUIET, *_RAW_INPUT, *codec.args, "pipe:1"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            preexec_fn=DIE_WITH_PARENT,
        )
        assert encoder.stdin is not None and encoder.stdout is not None
        threads = [
            threading.Thread(target=measure, daemon=True),
            threading.Thread(
                target=_tee, args=(encoder.stdout, path, playing, failed), daemon=True
            ),
        ]
        for thread in threads:
            thread.start()
        stopped = False
        try:
            feed(_Sink(encoder.stdin, stretch.start, stretch.end))
        except BrokenPipeError:
            stopped = True  # the encoder stopped early: its log tells why
        finally:
            with contextlib.suppress(BrokenPipeError):
                encoder.stdin.close()
            for thread in threads:
                thread.join()
            code = encoder.wait()
        if code != 0 or stopped:
            log.seek(0)
            message = log.read().decode(errors="replace").strip() or "it stopped early"
            raise ExportError(f"ffmpeg could not encode a stretch ({codec.name}): {message}")
    if failed:
        raise ExportError(f"could not write the encoded stretch to {path}: {failed[0]}")
    if isinstance(found[0], BaseException):
        raise found[0]
    return found[0]


def _tee(encoded: IO[bytes], path: Path, playing: int, failed: list[BaseException]) -> None:
    """Copy the encoder's output into the file and into the decoder's input. All of it is read
    whatever fails, so that the encoder never waits on a full pipe."""
    try:
        with open(path, "wb") as out:
            while chunk := encoded.read(1 << 16):
                out.write(chunk)
                if playing >= 0:
                    playing = _played(playing, chunk)
    except OSError as exc:  # a full disk, say
        failed.append(exc)
        while encoded.read(1 << 16):
            pass
    finally:
        if playing >= 0:
            os.close(playing)


def _played(playing: int, chunk: bytes) -> int:
    """The chunk written to the decoder's input; -1 (closed) once the decoder has stopped, which
    its own error explains."""
    try:
        view = memoryview(chunk)
        while view:
            view = view[os.write(playing, view) :]
    except BrokenPipeError:
        os.close(playing)
        return -1
    return playing


def _from(pieces: Iterator[np.ndarray], start: int, wanted: int) -> Iterator[np.ndarray]:
    """Decoded pieces, the first starting at story frame `start`, without the frames before
    story frame `wanted`."""
    for piece in pieces:
        drop = min(piece.shape[1], max(0, wanted - start))
        start += piece.shape[1]
        if drop < piece.shape[1]:
            yield piece[:, drop:]


def _spans(sections: Sequence[Section]) -> list[tuple[float, float]]:
    """Where each section's audio lies in the story, handoffs included, in seconds."""
    offsets = _offsets(sections)[:-1]
    return [
        (offset / RATE_HZ, (offset + section.frames) / RATE_HZ)
        for section, offset in zip(sections, offsets, strict=True)
    ]


def _offsets(sections: Sequence[Section]) -> list[int]:
    """Where each section starts in the story, in frames, and (last) where the story ends."""
    starts = list(itertools.accumulate((s.frames - s.handoff_frames for s in sections), initial=0))
    return [*starts[:-1], starts[-2] + sections[-1].frames]


@dataclass(frozen=True)
class _Stretch:
    """A stretch of the story, encoded on its own: the encoder hears story frames [start, end)
    and its frames from `skip` on (`count` of them, or all) are spliced in, standing for story
    frames [lo, hi)."""

    key: str
    start: int
    end: int
    skip: int
    count: int | None
    lo: int
    hi: int

    def kept(self, frames: list[bytes]) -> bytes:
        kept = frames[self.skip :]
        if self.count is not None:
            if len(kept) < self.count:
                raise ExportError(f"the encoder gave too few frames for {self.key}")
            kept = kept[: self.count]
        return b"".join(kept)


def _stretches(sections: Sequence[Section], codec: _Codec, encoder: str) -> list[_Stretch]:
    """One stretch per section, its encoder starting just after the crossfade into it and its
    kept frames a pre-roll later, so each depends on its own section and the next one's start.

    Decoded, the spliced frames overlap-add like those of one long encode: each frame was
    made from the same samples, by an encoder settled on the audio before it."""
    offsets = _offsets(sections)
    total = offsets[-1]
    cuts = [0]
    for index in range(1, len(sections)):
        settled = offsets[index] + sections[index - 1].handoff_frames + codec.pre_roll
        cut = -(-settled // codec.frame) * codec.frame
        if cut > cuts[-1] and cut + codec.post_roll + codec.frame < total:
            cuts.append(cut)
    cuts.append(total)
    stretches = []
    for lo, hi in itertools.pairwise(cuts):
        last = hi == total
        start = max(0, lo - codec.pre_roll)
        end = total if last else hi + codec.post_roll
        first = lo == 0  # keeps the priming
        skip = 0 if first else (lo - start) // codec.frame + codec.priming
        count = None if last else (hi - lo) // codec.frame + (codec.priming if first else 0)
        heard = [
            (section.audio_key, offset - start)
            for section, offset in zip(sections, offsets[:-1], strict=True)
            if offset < end and offset + section.frames > start
        ]
        key = _digest([encoder, codec.args, end - start, skip, count, heard])
        stretches.append(_Stretch(key, start, end, skip, count, lo, hi))
    return stretches


def _frames(ffmpeg: str, path: Path) -> list[bytes]:
    """An encoded stream's frames, as ffmpeg's demuxer finds them."""
    ffprobe = str(Path(ffmpeg).with_name("ffprobe"))
    entries = ("-show_entries", "packet=pos,size", "-of", "compact=p=0:nk=1")
    result = subprocess.run(
        [ffprobe, "-v", "error", *entries, str(path)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise ExportError(f"ffprobe could not read the encoded stretch: {result.stderr.strip()}")
    data = path.read_bytes()
    frames = []
    for line in result.stdout.split():
        size, pos = map(int, line.split("|"))
        frames.append(data[pos : pos + size])
    return frames


@functools.cache
def encoder_id(ffmpeg: str) -> str:
    """ffmpeg's version: with a codec's settings, what decides the encoded frames."""
    version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout
    return version.splitlines()[0] if version else ffmpeg


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
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stderr=log, preexec_fn=DIE_WITH_PARENT
        )
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

    def __init__(self, sinks: list[_Sink], position: int) -> None:
        self.sinks = sinks
        self.pending: np.ndarray | None = None
        self.position = position

    def add(self, blocks: Iterable[np.ndarray], frames: int, handoff_frames: int) -> None:
        """A section of `frames`, given a block at a time, its first frames over the handoff
        of the section before."""
        keep = frames - handoff_frames
        pending, handoff, at = self.pending, [], 0
        for block in blocks:
            if pending is not None and at < min(pending.shape[1], keep):
                overlap = min(block.shape[1], pending.shape[1] - at, keep - at)
                block[:, :overlap] += pending[:, at : at + overlap]
            cut = min(block.shape[1], max(0, keep - at))
            self.emit(block[:, :cut])
            handoff.append(block[:, cut:])
            at += block.shape[1]
        self.pending = np.concatenate(handoff, axis=1) if handoff_frames else None

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
    chapters: AudioCache,
    sinks: Mapping[str, list[_Sink]],
    position: int = 0,
    stems: bool = False,
) -> None:
    """Read each section's tracks (the mix, and with `stems` the voice and the bed) in turn, a
    block at a time, and overlap-add them into the story's, the first section at story frame
    `position`."""
    tracks = {name: _Track(track_sinks, position) for name, track_sinks in sinks.items()}
    for section in sections:
        with mastered(chapters, section, stems) as found:
            for name, track in tracks.items():
                assert found[name].frames == section.frames, f"{section.title}: frames"
                track.add(found[name].blocks(), section.frames, section.handoff_frames)
    for track in tracks.values():
        track.finish()


def _placed(sections: Sequence[Section], levels: Levels, frames: int) -> list[Written]:
    """Each chapter in story time (a section that continues one extends it), its loudness
    from the story's `levels`; the last one's bed fades out past its end."""
    written: list[Written] = []
    start_s = 0.0
    for section in sections:
        end_s = start_s + section.length_s
        lines = tuple((placed, start_s) for placed in section.lines)
        part = Written(section.title, start_s, end_s, lines, math.nan, section.synthetic_share)
        written.append(_joined(written.pop(), part) if section.continues else part)
        start_s = end_s
    last = written[-1]
    written[-1] = dataclasses.replace(last, end_s=last.end_s + sections[-1].handoff_s)
    heard = levels.measured(frames, [(part.start_s, part.end_s) for part in written])
    return [
        dataclasses.replace(part, loudness_lufs=lufs)
        for part, lufs in zip(written, heard.span_lufs, strict=True)
    ]


def _joined(chapter: Written, more: Written) -> Written:
    """One chapter of two consecutive parts, their synthetic shares averaged by time."""
    lengths = [chapter.end_s - chapter.start_s, more.end_s - more.start_s]
    share = np.average([chapter.synthetic_share, more.synthetic_share], weights=lengths)
    return dataclasses.replace(
        chapter, end_s=more.end_s, lines=chapter.lines + more.lines, synthetic_share=float(share)
    )


def _write_metadata(
    ffmpeg: str, tmp: Path, story: StoryInfo, written: list[Written], outputs: Outputs, frames: int
) -> None:
    """Put the encoded audio in its container with chapters, tags and the cover (no
    re-encoding). The spliced AAC starts with the encoder's priming frame: the M4B's edit list
    skips it. The MP3's LAME tag says how much to skip at each end."""
    meta = tmp / "chapters.txt"
    meta.write_text(ffmetadata(story, written), encoding="utf-8")
    shares = [part.synthetic_share for part in written]
    jpeg = write_covers(cover(story.title, story.author, shares), tmp)
    tags = ("-i", meta)  # input 1
    copy = ("-map", "0:a", "-map_metadata", "1", "-map_chapters", "1", "-c", "copy")
    aac = ("-itsoffset", f"-{_AAC.frame / RATE_HZ:.6f}", "-f", "aac", "-i", tmp / "audio.aac")
    commands = {
        "m4b": (*aac, *tags, *copy),  # its cover is mutagen's to write
        "mp3": (
            *("-f", "mp3", "-i", tmp / "audio.mp3", *tags, "-i", tmp / "cover.jpg", *copy),
            *("-map", "2:v", "-metadata:s:v", "comment=Cover (front)"),
        ),
    }
    muxing = {}
    for ext, args in commands.items():  # at once: each copies a file of the story's length
        path = tmp / f"{story.slug}.{ext}"
        muxing[path] = subprocess.Popen(
            list(map(str, [ffmpeg, *_QUIET, *args, *_CONTAINERS[ext], path])),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=DIE_WITH_PARENT,
        )
    for path, process in muxing.items():
        _out, errors = process.communicate()
        if process.returncode != 0:
            raise ExportError(f"ffmpeg could not tag {path.name}: {errors.strip()}")
    set_mp3_gapless(tmp / f"{story.slug}.mp3", _LAME_DELAY, frames)
    tag_m4b(tmp / f"{story.slug}.m4b", story, jpeg)
    if outputs.opus:
        tag_opus(tmp / f"{story.slug}.opus", story, written, jpeg)


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
