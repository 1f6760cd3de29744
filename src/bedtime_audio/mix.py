"""Stage 5: one chapter at a time, lines on a timeline over a ducked, crossfaded bed.

Every chapter's audio runs HANDOFF_S past its end: the bed fades out there while the next
chapter's bed fades in over its first HANDOFF_S, so consecutive chapters overlap-add into an
equal-power crossfade. A chapter is mixed a block of BLOCK_FRAMES at a time, from pieces (a
minute of a scene's bed, a sentence, a cue) made when the block first hears them: its memory is
the same however long it runs.

Chapters start on a grid of GRID_FRAMES (nine AAC frames, eight MP3 frames): a chapter's edit
then moves the chapters after it by whole encoder frames, and their encoded audio can be reused.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfiltfilt

from .audio import Audio, Piece, assembled, equal_power
from .cache import AudioCache
from .executors import ahead
from .model import Chapter, Cue, Pacing, Pause, Soundscape, Speech
from .sounds import cue_audio, cue_length_s
from .soundscape import bed_pieces, seed_for
from .synth import Clip, SpeechBank, load_clip

RATE_HZ = 44100
CHANNELS = 2
GRID_FRAMES = 9216
HANDOFF_S = 8.0
"""Crossfade between chapters, and the bed's fade in at the start of the story."""
SCENE_CROSSFADE_S = 5.0
LEAD_IN_S = 10.0
"""Ambience before a chapter's first line (includes the handoff)."""
LEAD_OUT_S = 3.0
DUCK_DB = 8.0
"""How far the bed dips under speech."""
DUCK_ATTACK_S = 0.25
"""The bed starts down this long before a line: the mix knows what is coming."""
DUCK_RELEASE_S = 1.5
SPEECH_TOP_HZ = 12000.0
ARC_DB = 6.0
"""Across a bed that mixes both families, the synthetic layers sink and the natural rise by
this much: the story's turn to natural rest, heard even inside a scene."""


@dataclass(frozen=True)
class Placed:
    """A spoken line on the chapter's timeline (seconds from the chapter's start)."""

    speech: Speech
    clip: Clip
    start_s: float
    end_s: float
    offsets_s: tuple[float, ...]
    """Where each of the clip's sentences starts, from the line's start."""
    least_pause_s: float
    """Every pause the voice made inside a sentence lasts at least this long."""
    duck_db: float = DUCK_DB
    """How far the bed dips under the line."""


@dataclass(frozen=True)
class PlacedCue:
    """A one-shot sound on the chapter's timeline, mixed into the bed (and ducked with it)."""

    cue: Cue
    start_s: float
    seed: int
    """Varies a procedural effect from one place to the next."""


@dataclass(frozen=True)
class Bed:
    soundscape: Soundscape
    start_s: float
    end_s: float
    scene: int
    """Index of the first scene it covers: part of its seed."""


@dataclass(frozen=True)
class Timeline:
    index: int
    chapter: Chapter
    lines: tuple[Placed, ...]
    beds: tuple[Bed, ...]
    length_s: float
    """Until the next chapter starts; the audio runs HANDOFF_S longer."""
    cues: tuple[PlacedCue, ...] = ()


@dataclass(frozen=True)
class ChapterMix:
    """A chapter (or a piece of the tail) whole, for a preview or a test: a render mixes it a
    block at a time (`chapter_blocks`, `tail_blocks`)."""

    voice: Audio
    bed: Audio

    @property
    def mixed(self) -> Audio:
        """The voice over the bed."""
        return Audio(self.voice.samples + self.bed.samples, RATE_HZ)


def plan_chapter(
    chapter: Chapter, index: int, count: int, pacing: Pacing, bank: SpeechBank
) -> Timeline:
    """Place every line, sentence by sentence, and every cue; pauses grow as the telling nears
    its end, and a line's own pause_after replaces the pause that follows it."""
    scale = pacing.pause_scale(index, count)
    scene_pause_s = pacing.scene_pause_s * scale
    t = LEAD_IN_S
    lines: list[Placed] = []
    cues: list[PlacedCue] = []
    changes: list[tuple[float, Soundscape, int]] = []  # the bed changes mid-pause between scenes
    for scene_index, scene in enumerate(chapter.scenes):
        if scene_index:
            t += scene_pause_s
        if not changes or changes[-1][1] != scene.soundscape:
            start_s = t - scene_pause_s / 2 if changes else 0.0
            changes.append((start_s, scene.soundscape, scene_index))
        cues += [PlacedCue(cue, t, _seed(index, len(cues))) for cue in scene.cues]
        after: float | None = None  # the silence the line before asked for
        follows_speech = False
        for line in scene.lines:
            if isinstance(line, Speech):
                if after is None and follows_speech:
                    after = pacing.line_pause_s * scale
                placed = place_line(line, bank.clips[line], t + (after or 0.0), pacing, scale)
                lines.append(placed)
                for cue in line.direction.cues:
                    cues.append(PlacedCue(cue, placed.start_s, _seed(index, len(cues))))
                t, after, follows_speech = placed.end_s, line.direction.pause_after_s, True
                continue
            if isinstance(line, Pause):
                t += (after or 0.0) + line.pause_s
            else:  # a cue of its own is placed like a line, and waited for
                if after is None and follows_speech:
                    after = pacing.line_pause_s * scale
                t += after or 0.0
                placed_cue = PlacedCue(line.cue, t, _seed(index, len(cues)))
                cues.append(placed_cue)
                t += cue_length_s(placed_cue.cue, RATE_HZ, placed_cue.seed)
            after, follows_speech = None, False
        t += after or 0.0
    length_s = math.ceil((t + LEAD_OUT_S) * RATE_HZ / GRID_FRAMES) * GRID_FRAMES / RATE_HZ
    ends = [start_s for start_s, _bed, _scene in changes[1:]] + [length_s + HANDOFF_S]
    beds = tuple(
        Bed(sound, start_s, end_s, scene)
        for (start_s, sound, scene), end_s in zip(changes, ends, strict=True)
    )
    return Timeline(index, chapter, tuple(lines), beds, length_s, tuple(cues))


def _seed(chapter: int, number: int) -> int:
    """The n-th cue of a chapter: an effect heard twice varies, and an edit elsewhere in the
    chapter leaves it be."""
    return seed_for("cue", str(chapter), str(number))


def place_line(
    speech: Speech, clip: Clip, start_s: float, pacing: Pacing, scale: float = 1.0
) -> Placed:
    """A line from start_s: its sentences apart by the sentence pause (or the markup's), their
    pauses widened."""
    least_pause_s = pacing.clause_pause_s * scale
    offsets, t = [], 0.0
    for number, sentence in enumerate(clip.sentences):
        if number:
            gap_s = clip.gap_s(number)
            t += pacing.sentence_pause_s * scale if gap_s is None else gap_s
        offsets.append(round(t, 6))
        t += sentence.length_s(least_pause_s)
    duck_db = DUCK_DB if speech.direction.duck_db is None else speech.direction.duck_db
    return Placed(speech, clip, start_s, start_s + t, tuple(offsets), least_pause_s, duck_db)


def spoken_audio(placed: Placed, cache: AudioCache) -> Iterator[tuple[float, Audio]]:
    """Each sentence of a placed line as it sounds in the mix, with its offset in the line."""
    clip = placed.clip
    for number, (sentence, offset_s) in enumerate(
        zip(clip.sentences, placed.offsets_s, strict=True)
    ):
        audio = widened(load_clip(cache, sentence.key), sentence.pauses, placed.least_pause_s)
        yield offset_s, _prepared(audio, clip.gain_db + clip.lift_db(number))


def line_audio(placed: Placed, cache: AudioCache) -> Audio:
    """A placed line alone, as the mix plays it: sentences, pauses and level."""
    voice = np.zeros((CHANNELS, round((placed.end_s - placed.start_s) * RATE_HZ)), np.float32)
    for offset_s, clip in spoken_audio(placed, cache):
        start = round(offset_s * RATE_HZ)
        voice[:, start : start + clip.frames] += clip.samples[:, : voice.shape[1] - start]
    return Audio(voice, RATE_HZ)


def widened(audio: Audio, pauses: tuple[tuple[float, float], ...], least_s: float) -> Audio:
    """The sentence with silence added in the middle of each pause shorter than least_s."""
    parts, cut = [], 0
    for middle_s, length_s in pauses:
        if length_s < least_s:
            at = round(middle_s * audio.rate_hz)
            parts += [
                audio.samples[:, cut:at],
                np.zeros((audio.channels, round((least_s - length_s) * audio.rate_hz)), np.float32),
            ]
            cut = at
    if not parts:
        return audio
    return Audio(np.concatenate([*parts, audio.samples[:, cut:]], axis=1), audio.rate_hz)


BLOCK_FRAMES = 10 * RATE_HZ
"""A chapter is mixed, mastered, cached and encoded this many frames at a time (whole seconds,
as loudness is measured): its memory is the same however long it runs."""


AHEAD_BLOCKS = 3
"""How many blocks of bed are made ahead of the block being worked: enough that the bed's
threads are not kept waiting between a minute's layers and the next."""


def chapter_frames(timeline: Timeline) -> int:
    return round((timeline.length_s + HANDOFF_S) * RATE_HZ)


def chapter_blocks(
    timeline: Timeline, cache: AudioCache, slug: str, threads: int = 1
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The chapter's voice and its bed (ducked under the voice, faded in and out over
    HANDOFF_S), a block of BLOCK_FRAMES at a time; each scene's bed made in `threads` threads
    and, with more than one, the voice placed while the bed is made, both ahead of the reader."""
    frames = chapter_frames(timeline)
    bed = assembled(_bed_pieces(timeline, frames, slug, threads), frames, BLOCK_FRAMES)
    voice = assembled(_voice_pieces(timeline, cache), frames, BLOCK_FRAMES)
    if threads > 1:  # each made in a thread of its own while the blocks before are worked
        bed, voice = ahead(bed, AHEAD_BLOCKS), ahead(voice)
    handoff = round(HANDOFF_S * RATE_HZ)
    for (lo, ambience), (_lo, spoken) in zip(bed, voice, strict=True):
        hi = lo + ambience.shape[1]
        ambience *= _duck_gain(timeline.lines, lo, hi)
        ambience *= equal_power(frames, handoff, handoff, lo, hi)
        yield spoken, ambience


def mix_chapter(timeline: Timeline, cache: AudioCache, slug: str, threads: int = 1) -> ChapterMix:
    """The chapter whole (see `chapter_blocks`)."""
    return _whole(chapter_blocks(timeline, cache, slug, threads))


def _whole(blocks: Iterator[tuple[np.ndarray, np.ndarray]]) -> ChapterMix:
    voice, bed = zip(*blocks, strict=True)
    return ChapterMix(
        Audio(np.concatenate(voice, axis=1), RATE_HZ), Audio(np.concatenate(bed, axis=1), RATE_HZ)
    )


def _voice_pieces(timeline: Timeline, cache: AudioCache) -> Iterator[Piece]:
    """The chapter's sentences, in order, each where it starts."""
    for line in timeline.lines:
        for offset_s, clip in spoken_audio(line, cache):
            yield round((line.start_s + offset_s) * RATE_HZ), functools.partial(_samples, clip)


def _bed_pieces(timeline: Timeline, frames: int, slug: str, threads: int) -> Iterator[Piece]:
    """Each scene's bed, crossfading into the next over SCENE_CROSSFADE_S, and the cues, in
    order of their start; a scene's bed is started when it is due."""
    half = SCENE_CROSSFADE_S / 2
    crossfade = round(SCENE_CROSSFADE_S * RATE_HZ)
    scenes: list[tuple[int, Iterator[Piece]]] = []
    for position, part in enumerate(timeline.beds):
        first, last = position == 0, position == len(timeline.beds) - 1
        start = round((part.start_s if first else part.start_s - half) * RATE_HZ)
        end = min(frames, round((part.end_s if last else part.end_s + half) * RATE_HZ))
        pieces = bed_pieces(
            part.soundscape,
            end - start,
            RATE_HZ,
            slug,
            f"chapter-{timeline.index}",
            f"scene-{part.scene}",
            arc_db=ARC_DB,
            fade_in=0 if first else crossfade,
            fade_out=0 if last else crossfade,
            threads=threads,
        )
        scenes.append((start, _moved(pieces, start)))
    cues = sorted(timeline.cues, key=lambda placed: placed.start_s)
    sounds = ((round(c.start_s * RATE_HZ), functools.partial(_cue_sound, c)) for c in cues)
    return _merged([*scenes, (0, sounds)])


def _moved(pieces: Iterator[Piece], by: int) -> Iterator[Piece]:
    for start, make in pieces:
        yield start + by, make


def _samples(audio: Audio) -> np.ndarray:
    return audio.samples


def _cue_sound(placed: PlacedCue) -> np.ndarray:
    return cue_audio(placed.cue, RATE_HZ, placed.seed).samples


def _merged(sources: list[tuple[int, Iterator[Piece]]]) -> Iterator[Piece]:
    """The pieces of several sources in order of their start; a source (whose pieces start at
    or after the frame it is given with) is not started before it is due."""
    waiting = sorted(sources, key=lambda source: source[0])
    due: list[tuple[int, int, Piece, Iterator[Piece]]] = []
    count = itertools.count()
    while due or waiting:
        while waiting and (not due or waiting[0][0] <= due[0][0]):
            _start, pieces = waiting.pop(0)
            if (piece := next(pieces, None)) is not None:
                heapq.heappush(due, (piece[0], next(count), piece, pieces))
        if due:
            _start, _order, piece, pieces = heapq.heappop(due)
            yield piece
            if (piece := next(pieces, None)) is not None:
                heapq.heappush(due, (piece[0], next(count), piece, pieces))


TAIL_PIECE_FRAMES = 861 * GRID_FRAMES
"""About three minutes: the tail is mixed, mastered and cached a piece at a time, each piece
crossfading into the next over HANDOFF_S, so an eight-hour tail needs no more memory than a
chapter."""
MIN_TAIL_FADE_S = 30.0


@dataclass(frozen=True)
class TailPiece:
    """A piece of the ambience after the story: the last bed carried on, fading out over the
    tail's last quarter on a long cosine."""

    soundscape: Soundscape
    index: int
    start_s: float
    """From the start of the tail."""
    length_s: float
    """Until the next piece starts; all but the last run HANDOFF_S longer, under it."""
    tail_s: float

    @property
    def last(self) -> bool:
        return self.start_s + self.length_s >= self.tail_s

    @property
    def handoff_s(self) -> float:
        return 0.0 if self.last else HANDOFF_S


def tail_pieces(soundscape: Soundscape, tail_s: float) -> list[TailPiece]:
    """The tail cut into pieces of TAIL_PIECE_FRAMES, the last taking the rest (from half a
    piece to one and a half)."""
    frames = round(tail_s * RATE_HZ)
    count = max(1, round(frames / TAIL_PIECE_FRAMES))
    starts = [index * TAIL_PIECE_FRAMES for index in range(count)] + [frames]
    return [
        TailPiece(soundscape, index, start / RATE_HZ, (end - start) / RATE_HZ, tail_s)
        for index, (start, end) in enumerate(itertools.pairwise(starts))
    ]


def tail_blocks(
    piece: TailPiece, slug: str, threads: int = 1
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One piece of the tail, a block of BLOCK_FRAMES at a time (silence for its voice): its
    own stretch of bed (made in `threads` threads), faded in over HANDOFF_S (from the last
    chapter, or the piece before), out under the next piece, and along the tail's fade."""
    frames = tail_frames(piece)
    handoff = round(HANDOFF_S * RATE_HZ)
    pieces = bed_pieces(
        piece.soundscape,
        frames,
        RATE_HZ,
        slug,
        "tail",
        str(piece.index),
        fade_in=handoff,
        fade_out=handoff if piece.handoff_s else 0,
        threads=threads,
    )
    fade_s = max(MIN_TAIL_FADE_S, piece.tail_s / 4)
    blocks = assembled(pieces, frames, BLOCK_FRAMES)
    for lo, bed in ahead(blocks, AHEAD_BLOCKS) if threads > 1 else blocks:
        heard_s = piece.start_s + np.arange(lo, lo + bed.shape[1]) / RATE_HZ
        done = np.clip((heard_s - piece.tail_s) / fade_s, -1.0, 0.0)
        bed *= (0.5 - 0.5 * np.cos(np.pi * done)).astype(np.float32)
        yield np.zeros_like(bed), bed


def tail_frames(piece: TailPiece) -> int:
    return round((piece.length_s + piece.handoff_s) * RATE_HZ)


def mix_tail(piece: TailPiece, slug: str, threads: int = 1) -> ChapterMix:
    """One piece of the tail whole (see `tail_blocks`)."""
    return _whole(tail_blocks(piece, slug, threads))


def _prepared(clip: Audio, gain_db: float) -> Audio:
    """A line at the master's rate and channels, levelled, without DC or the hiss above
    SPEECH_TOP_HZ that lossy encoders smear into overshoots."""
    top_hz = min(SPEECH_TOP_HZ, clip.rate_hz * 0.45)
    sos = butter(2, (40.0, top_hz), btype="bandpass", fs=clip.rate_hz, output="sos")
    clean = Audio(sosfiltfilt(sos, clip.samples, axis=1).astype(np.float32), clip.rate_hz)
    return clean.gain(gain_db).conform(RATE_HZ, CHANNELS)


def _duck_gain(lines: tuple[Placed, ...], lo: int, hi: int) -> np.ndarray:
    """Bed gain over frames [lo, hi): down each line's duck_db while it is spoken, with
    look-ahead and a slow recovery."""
    depth = np.zeros(hi - lo, np.float32)
    for placed in lines:
        points_s = [
            placed.start_s - DUCK_ATTACK_S,
            placed.start_s,
            placed.end_s,
            placed.end_s + DUCK_RELEASE_S,
        ]
        a = max(lo, round(points_s[0] * RATE_HZ))
        b = min(hi, round(points_s[-1] * RATE_HZ))
        if a < b:
            t = np.arange(a, b) / RATE_HZ
            shape = np.interp(t, points_s, [0.0, placed.duck_db, placed.duck_db, 0.0])
            np.maximum(depth[a - lo : b - lo], shape.astype(np.float32), out=depth[a - lo : b - lo])
    return np.power(np.float32(10), depth / -20)
