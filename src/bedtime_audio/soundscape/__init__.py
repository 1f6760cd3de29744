"""Stage 4: seeded procedural beds, in two families that tell each story's arc."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np
import pyloudnorm

from ..audio import Audio, equal_power
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
    """(rng, frames, rate_hz) → float64 (2, frames), any level: calibration sets it."""
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
    """One preset at BED_LUFS plus its own level, as float64 (2, frames)."""
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
    """The layers of a soundscape, summed, for a stretch of the story (see `add_bed`)."""
    bed = np.zeros((2, round(duration_s * rate_hz)), np.float32)
    add_bed(bed, soundscape, rate_hz, *seed_parts, arc_db=arc_db, threads=threads)
    return Audio(bed, rate_hz)


def add_bed(
    out: np.ndarray,
    soundscape: Soundscape,
    rate_hz: int,
    *seed_parts: str,
    arc_db: float = 0.0,
    fades: np.ndarray | None = None,
    threads: int = 1,
) -> None:
    """Add the layers of a soundscape, times `fades` (a gain per frame), into `out`: a stretch
    of the story, (2, frames). Nothing as long as the stretch is made but the gains: a chapter
    is long.

    With arc_db, a bed that mixes both families moves along the story's arc as it plays: its
    synthetic layers sink by arc_db from start to end while its natural layers rise by as much.
    Its layers are made in `threads` threads.
    """
    if not arc_db or family(soundscape) != "mixed":
        _add_segments(out, soundscape, rate_hz, seed_parts, fades, threads)
        return
    for name, gain in arc_gains(out.shape[1], arc_db):
        if fades is not None:
            gain *= fades
        layers = tuple(layer for layer in soundscape if layer_family(layer) == name)
        _add_segments(out, layers, rate_hz, seed_parts, gain, threads)


def arc_gains(frames: int, arc_db: float) -> Iterator[tuple[Family, np.ndarray]]:
    """Per family, a gain falling (synthetic) or rising (natural) by arc_db across the frames,
    each made when it is wanted."""
    progress = np.linspace(0.0, 1.0, frames, dtype=np.float32)
    yield "synthetic", 10 ** (-arc_db * progress / 20)
    yield "natural", 10 ** (-arc_db * (1 - progress) / 20)


def _add_segments(
    out: np.ndarray,
    soundscape: Soundscape,
    rate_hz: int,
    seed_parts: tuple[str, ...],
    gain: np.ndarray | None,
    threads: int,
) -> None:
    """Long stretches are generated SEGMENT_S at a time and crossfaded, so memory stays bounded
    however long a chapter or tail runs; each segment is added into `out`, times `gain`. A
    recording plays on through, looped. The segments' layers are made in `threads` threads and
    added in order: the same samples however many."""
    from ..sounds import looped

    frames = out.shape[1]
    segment, fade = round(SEGMENT_S * rate_hz), round(SEGMENT_FADE_S * rate_hz)
    for layer in soundscape:
        if layer.file:
            recording = _toned(looped(layer.file, frames, rate_hz, layer.gain_db), layer, rate_hz)
            out += recording if gain is None else recording * gain
    generated = tuple(layer for layer in soundscape if not layer.file)
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
    for index, start, length in spans:
        piece = np.zeros((2, length), np.float32)
        for _ in generated:
            piece += next(layers)  # in place, into float32: a chapter's buffers are large
        piece *= equal_power(length, fade if index else 0, fade if start + length < frames else 0)
        if gain is not None:
            piece *= gain[start : start + length]
        out[:, start : start + length] += piece


def _layer(layer: Layer, frames: int, rate_hz: int, seed_parts: tuple[str, ...]) -> np.ndarray:
    signal = render_preset(layer.preset, frames, rate_hz, seed_for(*seed_parts, layer.preset))
    signal = _toned(signal, layer, rate_hz)
    signal *= 10 ** (layer.gain_db / 20)
    return signal


def _toned(signal: np.ndarray, layer: Layer, rate_hz: int) -> np.ndarray:
    if layer.lowpass_hz is None:
        return signal
    return filtered(signal, rate_hz, "lowpass", min(layer.lowpass_hz, rate_hz * 0.45))


@cache
def _calibration_db(name: str, rate_hz: int) -> float:
    """Gain that brings a preset to BED_LUFS, measured once on a fixed-seed sample."""
    frames = int(_CALIBRATION_S * rate_hz)
    sample = PRESETS[name].generate(np.random.default_rng(0), frames, rate_hz)
    loudness = pyloudnorm.Meter(rate_hz).integrated_loudness(sample.T)
    return BED_LUFS - loudness
