"""Stage 4: seeded procedural beds, in two families that tell each story's arc."""

from __future__ import annotations

import functools
import hashlib
import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyloudnorm

from ..audio import Audio, Piece, assembled, equal_power
from ..executors import threaded_map
from ..model import Layer, Soundscape
from . import natural, synthetic
from .noise import filtered

Family = Literal["synthetic", "natural"]
Generator = Callable[[np.random.Generator, int, int], np.ndarray]

BED_LUFS = -30.0
"""Loudness of every preset at gain 0 dB, before its own level."""
_CALIBRATION_S = 20.0
SEGMENT_S = 60.0
"""Beds are generated this long at a time, then crossfaded over SEGMENT_FADE_S."""
SEGMENT_FADE_S = 4.0


@dataclass(frozen=True)
class Preset:
    name: str
    family: Family
    generate: Generator
    """(rng, frames, rate_hz) → float32 (2, frames), any level: calibration sets it."""
    level_db: float
    """The preset's place in a mix relative to BED_LUFS (crickets sit low)."""
    description: str


def _preset(name: str, family: Family, generate: Generator, level_db: float = 0.0) -> Preset:
    return Preset(name, family, generate, level_db, (generate.__doc__ or "").strip())


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        _preset("server-hum", "synthetic", synthetic.server_hum),
        _preset("digital-drone", "synthetic", synthetic.digital_drone),
        _preset("data-pulse", "synthetic", synthetic.data_pulse, -3.0),
        _preset("glitch", "synthetic", synthetic.glitch, -4.0),
        _preset("rain", "natural", natural.rain),
        _preset("wind", "natural", natural.wind),
        _preset("waves", "natural", natural.waves),
        _preset("crickets", "natural", natural.crickets, -14.0),
        _preset("fireplace", "natural", natural.fireplace, -2.0),
        _preset("brown-noise", "natural", natural.brown_noise),
        _preset("night-forest", "natural", natural.night_forest),
    )
}


def layer_family(layer: Layer) -> Family:
    """A preset's family; a producer's recording (rain, a lullaby) counts as natural rest."""
    return "natural" if layer.file else PRESETS[layer.preset].family


def family(soundscape: Soundscape) -> Family | Literal["mixed"]:
    families = {layer_family(layer) for layer in soundscape}
    return families.pop() if len(families) == 1 else "mixed"


def synthetic_share(soundscape: Soundscape) -> float:
    """The synthetic family's share of the bed's power, from each layer's level."""
    powers = {name: 0.0 for name in ("synthetic", "natural")}
    for layer in soundscape:
        level_db = 0.0 if layer.file else PRESETS[layer.preset].level_db
        powers[layer_family(layer)] += 10 ** ((level_db + layer.gain_db) / 10)
    return powers["synthetic"] / (powers["synthetic"] + powers["natural"])


def seed_for(*parts: str) -> int:
    """A stable seed from stable names (story, chapter, scene), never from time or hash()."""
    return int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest()[:8], "big")


def render_preset(name: str, frames: int, rate_hz: int, seed: int) -> np.ndarray:
    """One preset at BED_LUFS plus its own level, as float32 (2, frames)."""
    preset = PRESETS[name]
    raw = preset.generate(np.random.default_rng(seed), frames, rate_hz)
    raw *= 10 ** ((_calibration_db(name, rate_hz) + preset.level_db) / 20)
    return raw


def render_bed(
    soundscape: Soundscape,
    duration_s: float,
    rate_hz: int,
    *seed_parts: str,
    arc_db: float = 0.0,
    threads: int = 1,
) -> Audio:
    """The layers of a soundscape, summed, for a stretch of the story (see `bed_pieces`)."""
    frames = round(duration_s * rate_hz)
    pieces = bed_pieces(soundscape, frames, rate_hz, *seed_parts, arc_db=arc_db, threads=threads)
    (_start, bed), *_none = assembled(pieces, frames, max(1, frames))
    return Audio(bed, rate_hz)


def bed_pieces(
    soundscape: Soundscape,
    frames: int,
    rate_hz: int,
    *seed_parts: str,
    arc_db: float = 0.0,
    fade_in: int = 0,
    fade_out: int = 0,
    threads: int = 1,
) -> Iterator[Piece]:
    """The layers of a soundscape for a stretch of `frames`, as pieces in order of their start,
    none longer than a segment and its crossfade: a chapter is long, and only the pieces one
    block of it hears are held. Each is faded in and out with the stretch (equal-power, over
    fade_in and fade_out frames).

    With arc_db, a bed that mixes both families moves along the story's arc as it plays: its
    synthetic layers sink by arc_db from start to end while its natural layers rise by as much.
    """
    arc = arc_db if family(soundscape) == "mixed" else 0.0

    def gains(lo: int, hi: int) -> dict[Family, np.ndarray]:
        faded = equal_power(frames, fade_in, fade_out, lo, hi)
        if not arc:
            return {"synthetic": faded, "natural": faded}
        return {name: faded * gain for name, gain in arc_gains(frames, arc, lo, hi)}

    loops = [_loop_pieces(layer, frames, rate_hz, gains) for layer in soundscape if layer.file]
    generated = tuple(layer for layer in soundscape if not layer.file)
    segments = _segments(generated, frames, rate_hz, seed_parts, gains, threads)
    return heapq.merge(segments, *loops, key=lambda piece: piece[0])


def arc_gains(
    frames: int, arc_db: float, lo: int = 0, hi: int | None = None
) -> Iterator[tuple[Family, np.ndarray]]:
    """Per family, a gain falling (synthetic) or rising (natural) by arc_db across the frames:
    its frames [lo, hi)."""
    progress = np.arange(lo, frames if hi is None else hi, dtype=np.float64) / max(1, frames - 1)
    yield "synthetic", (10 ** (-arc_db * progress / 20)).astype(np.float32)
    yield "natural", (10 ** (-arc_db * (1 - progress) / 20)).astype(np.float32)


def _segments(
    generated: tuple[Layer, ...],
    frames: int,
    rate_hz: int,
    seed_parts: tuple[str, ...],
    gains: Callable[[int, int], dict[Family, np.ndarray]],
    threads: int,
) -> Iterator[Piece]:
    """Generated layers, SEGMENT_S at a time and crossfaded. The segments' layers are made in
    `threads` threads and added in order: the same samples however many."""
    segment, fade = round(SEGMENT_S * rate_hz), round(SEGMENT_FADE_S * rate_hz)
    spans = []
    for index, start in enumerate(range(0, frames, segment) if generated else ()):
        length = min(segment + fade, frames - start)
        if index and length <= fade:
            break
        spans.append((index, start, length))

    def layer_of(task: tuple[tuple[int, int, int], Layer]) -> np.ndarray:
        (index, _start, length), layer = task
        return _layer(layer, length, rate_hz, (*seed_parts, f"segment-{index}"))

    tasks = [(span, layer) for span in spans for layer in generated]
    layers = threaded_map(layer_of, tasks, threads)

    def made(index: int, start: int, length: int) -> np.ndarray:
        """The segment: made when it is first heard, and so in order."""
        piece = np.zeros((2, length), np.float32)
        faded = gains(start, start + length)
        for layer in generated:
            signal = next(layers)
            signal *= faded[layer_family(layer)]
            piece += signal  # in place, into float32
        piece *= equal_power(length, fade if index else 0, fade if start + length < frames else 0)
        return piece

    for index, start, length in spans:
        yield start, functools.partial(made, index, start, length)


def _loop_pieces(
    layer: Layer,
    frames: int,
    rate_hz: int,
    gains: Callable[[int, int], dict[Family, np.ndarray]],
) -> Iterator[Piece]:
    """A recording under the stretch, once round its loop at a time."""
    from ..sounds import loop_pieces

    assert layer.file is not None

    def toned(start: int, looped: Callable[[], np.ndarray]) -> np.ndarray:
        piece = _toned(looped(), layer, rate_hz).astype(np.float32)
        piece *= gains(start, start + piece.shape[1])["natural"]
        return piece

    for start, looped in loop_pieces(layer.file, frames, rate_hz, layer.gain_db):
        yield start, functools.partial(toned, start, looped)


def _layer(layer: Layer, frames: int, rate_hz: int, seed_parts: tuple[str, ...]) -> np.ndarray:
    signal = render_preset(layer.preset, frames, rate_hz, seed_for(*seed_parts, layer.preset))
    signal = _toned(signal, layer, rate_hz)
    signal *= 10 ** (layer.gain_db / 20)
    return signal


def _toned(signal: np.ndarray, layer: Layer, rate_hz: int) -> np.ndarray:
    if layer.lowpass_hz is None:
        return signal
    return filtered(signal, rate_hz, "lowpass", min(layer.lowpass_hz, rate_hz * 0.45))


@functools.cache
def _calibration_db(name: str, rate_hz: int) -> float:
    """Gain that brings a preset to BED_LUFS, measured once on a fixed-seed sample."""
    frames = int(_CALIBRATION_S * rate_hz)
    sample = PRESETS[name].generate(np.random.default_rng(0), frames, rate_hz)
    loudness = pyloudnorm.Meter(rate_hz).integrated_loudness(sample.T)
    return BED_LUFS - loudness
