"""Sounds besides the voices and the procedural beds: one-shot cues (a procedural effect, or a
producer's recording) and recordings looped under a scene (music, recorded ambience).

A producer's file is decoded with pydub, in whatever format ffmpeg reads, and handed on at
once as the one audio type; the mixing is numpy's. Every recording is levelled before its
gain_db: a cue to the effects' level, a looped bed to the procedural beds' level.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyloudnorm

from .audio import Audio, Piece, equal_power
from .model import Cue, SoundFile
from .soundscape import BED_LUFS
from .soundscape.effects import CUE_LUFS, render_effect

LOOP_CROSSFADE_S = 2.0
"""Where a looped recording's end crossfades into its start again."""
_MIN_LOUDNESS_S = 0.4
"""pyloudnorm measures a block of 400 ms at least; a shorter sound is measured repeated."""


class SoundError(Exception):
    """A recording that cannot be used; the script's parser adds the file and line."""


def check_file(name: str, folder: Path) -> SoundFile:
    """A recording named in a script (relative to the script's folder), decoded once to be
    sure that the render can."""
    path = (folder / name).expanduser()
    if not path.is_file():
        raise SoundError(f"no such sound file '{name}' (looked for {path})")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    audio = decode(str(path.resolve()), digest)
    return SoundFile(str(path.resolve()), digest, round(audio.duration_s, 6))


@functools.lru_cache(maxsize=8)
def decode(path: str, digest: str) -> Audio:
    """The recording's samples (the digest keys the cache: an edited file is read again)."""
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError

    try:
        segment = AudioSegment.from_file(path)
    except (CouldntDecodeError, IndexError):
        raise SoundError(f"cannot decode '{path}': ffmpeg finds no audio in it") from None
    except OSError as exc:
        raise SoundError(f"cannot read '{path}' ({exc.strerror or exc})") from None
    if segment.frame_count() < 1:
        raise SoundError(f"'{path}' holds no sound")
    full_scale = float(1 << (8 * segment.sample_width - 1))
    ints = np.array(segment.get_array_of_samples(), dtype=np.float32)
    return Audio(ints.reshape(-1, segment.channels).T / full_scale, segment.frame_rate)


def cue_audio(cue: Cue, rate_hz: int, seed: int) -> Audio:
    """A cue as the mix hears it: stereo at rate_hz, at the cue level plus its gain_db."""
    if isinstance(cue.sound, str):
        return Audio(render_effect(cue.sound, rate_hz, seed), rate_hz).gain(cue.gain_db)
    return _levelled(cue.sound, rate_hz, CUE_LUFS + cue.gain_db)


def cue_length_s(cue: Cue, rate_hz: int, seed: int) -> float:
    if isinstance(cue.sound, SoundFile):
        return cue.sound.duration_s
    return render_effect(cue.sound, rate_hz, seed).shape[1] / rate_hz


def loop_pieces(file: SoundFile, frames: int, rate_hz: int, gain_db: float) -> Iterator[Piece]:
    """A recording under a scene, at the bed level plus gain_db, for `frames`: from its start,
    its end crossfading into its start again as often as the scene needs, once round at a
    time."""
    audio = _levelled(file, rate_hz, BED_LUFS + gain_db).samples
    length = audio.shape[1]
    fade = min(round(LOOP_CROSSFADE_S * rate_hz), length // 4)

    def once(start: int) -> np.ndarray:
        end = min(length, frames - start)
        return audio[:, :end] * equal_power(length, fade if start else 0, fade, 0, end)

    for start in range(0, frames, length - fade):
        yield start, functools.partial(once, start)


def _levelled(file: SoundFile, rate_hz: int, lufs: float) -> Audio:
    audio = decode(file.path, file.digest).conform(rate_hz, 2)
    return audio.gain(lufs - _loudness(audio))


def _loudness(audio: Audio) -> float:
    samples = audio.samples
    if audio.duration_s < _MIN_LOUDNESS_S:
        samples = np.tile(samples, (1, int(np.ceil(_MIN_LOUDNESS_S / audio.duration_s)) + 1))
    loudness = pyloudnorm.Meter(audio.rate_hz).integrated_loudness(samples.T.astype(np.float64))
    return loudness if np.isfinite(loudness) else 0.0  # silence stays silence
