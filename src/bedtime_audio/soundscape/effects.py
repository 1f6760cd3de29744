"""One-shot sound effects (cues): procedural, seeded, and gentle.

Each effect is a short sound from the stories, from their machines (a chime, a glitch) to the
home they come back to (a door, footsteps, a kettle, a page, an owl, a slowing heart). None
startles: every onset rises over several milliseconds, the energy sits low (mostly below
6 kHz), and every effect is brought to CUE_LUFS and fades to silence. The seed varies the
details (a footfall's weight, an owl's pitch), so a second owl in a chapter is not a copy.

A generator draws its timings from the rng before any noise, so an effect lasts as long at
every sample rate (the mixer measures a cue at a low rate and renders it at the full one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyloudnorm
from scipy.signal import oaconvolve

from .noise import filtered, swept, white

CUE_LUFS = -24.0
"""Every effect's loudness: under the voices (-18), over the beds (-30)."""
FADE_S = 0.05
"""The last stretch of every effect fades to zero over this long."""
_MEASURE_S = 0.5
"""pyloudnorm measures blocks of 400 ms: a shorter sound is measured with silence after it."""
_PEAK_TO_LOUDNESS_DB = 12.0
"""For a sound the meter cannot measure at all: its loudness, this far under its peak."""

Family = Literal["synthetic", "natural"]
Generator = Callable[[np.random.Generator, int], np.ndarray]


@dataclass(frozen=True)
class Effect:
    name: str
    family: Family
    generate: Generator
    """(rng, rate_hz) → float64 (2, frames), any level: render_effect sets it."""
    description: str
    """One line, from the generator's docstring."""


def _frames(rate_hz: int, length_s: float) -> int:
    return round(length_s * rate_hz)


def _shape(
    frames: int,
    rate_hz: int,
    attack_s: float,
    decay_s: float,
    delay_s: float = 0.0,
    release_s: float = 0.0,
) -> np.ndarray:
    """Silence for delay_s, a raised-cosine rise over attack_s, an exponential decay (1/e every
    decay_s), and with release_s a raised-cosine fall to zero at the end: no sound is cut off."""
    t = np.maximum(np.arange(frames) / rate_hz - delay_s, 0.0)
    rise = np.sin(np.pi / 2 * np.clip(t / attack_s, 0.0, 1.0)) ** 2
    left_s = np.arange(frames - 1, -1, -1) / rate_hz
    fall = np.sin(np.pi / 2 * np.clip(left_s / release_s, 0.0, 1.0)) ** 2 if release_s else 1.0
    return rise * np.exp(-np.maximum(t - attack_s, 0.0) / decay_s) * fall


def _hush(
    rng: np.random.Generator,
    frames: int,
    rate_hz: int,
    kind: str,
    cutoff_hz: float | tuple[float, float],
    channels: int = 2,
) -> np.ndarray:
    """Filtered white noise at unit RMS per channel, its rare tall peaks rounded off (a soft
    sound should not owe its level to one spike); cutoffs kept under Nyquist."""
    top_hz = 0.45 * rate_hz
    cutoff: float | tuple[float, float] = (
        (min(cutoff_hz[0], top_hz / 2), min(cutoff_hz[1], top_hz))
        if isinstance(cutoff_hz, tuple)
        else min(cutoff_hz, top_hz)
    )
    noise = filtered(white(rng, frames, channels), rate_hz, kind, cutoff)
    noise = 2.0 * np.tanh(noise / (2.0 * np.sqrt(np.mean(noise**2, axis=-1, keepdims=True))))
    return noise / np.sqrt(np.mean(noise**2, axis=-1, keepdims=True))


def _place(total: np.ndarray, sound: np.ndarray, at_s: float, rate_hz: int, pan: float) -> None:
    """Add a mono sound into a (2, frames) buffer at at_s, panned (0 left … 1 right)."""
    start = _frames(rate_hz, at_s)
    end = min(total.shape[1], start + sound.size)
    total[:, start:end] += np.outer([np.sqrt(1 - pan), np.sqrt(pan)], sound[: end - start])


def chime(rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    """A soft glass chime: three inharmonic partials ringing down, a little apart in stereo."""
    base_hz = rng.uniform(620.0, 820.0)
    ring_s = rng.uniform(0.7, 0.9)
    spread = np.array([[1 - rng.uniform(0.001, 0.002)], [1 + rng.uniform(0.001, 0.002)]])
    phases = rng.uniform(0, 2 * np.pi, (3, 2, 1))
    frames = _frames(rate_hz, 3.0)
    t = np.arange(frames) / rate_hz
    total = np.zeros((2, frames))
    for (ratio, level, decay), phase in zip(
        ((1.0, 1.0, 1.0), (2.76, 0.4, 0.5), (5.4, 0.15, 0.25)), phases, strict=True
    ):
        if base_hz * ratio < 0.45 * rate_hz:
            ringing = np.sin(2 * np.pi * base_hz * ratio * spread * t + phase)
            total += level * ringing * np.exp(-t / (ring_s * decay))
    return total * _shape(frames, rate_hz, 0.012, np.inf)


def glitch(rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    """A gentle digital stutter: one grain of tone and hiss, held and crushed, repeating away."""
    repeats = int(rng.integers(4, 7))
    tone_hz = rng.uniform(420.0, 640.0)
    gap_s = rng.uniform(0.12, 0.15)
    pans = rng.uniform(0.3, 0.7, repeats)
    grain = _frames(rate_hz, 0.08)
    t = np.arange(grain) / rate_hz
    hiss = _hush(rng, grain, rate_hz, "bandpass", (700.0, 2500.0), channels=1)[0]
    total = np.zeros((2, _frames(rate_hz, 1.0)))
    for number in range(repeats):
        raw = np.sin(2 * np.pi * tone_hz * 0.95**number * t) + 0.25 * hiss
        # Each repeat coarser and held longer: the machine losing its grip.
        levels, hold = 6 - number, max(1, round(rate_hz * (number + 1) / 8000))
        crushed = np.repeat(np.round(raw[::hold] * levels) / levels, hold)[:grain]
        envelope = _shape(grain, rate_hz, 0.015, 0.1, release_s=0.02) * 0.85**number
        _place(total, crushed * envelope, number * gap_s, rate_hz, pans[number])
    return filtered(total, rate_hz, "lowpass", min(4000.0, 0.45 * rate_hz), order=4)


def door(rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    """A wooden door closing softly: a low, damped thud, the latch muffled, a little room."""
    thud_hz = rng.uniform(80.0, 120.0)
    latch_s = rng.uniform(0.03, 0.06)
    latch_pan = rng.uniform(0.3, 0.7)
    frames = _frames(rate_hz, 1.0)
    t = np.arange(frames) / rate_hz
    body = np.sin(2 * np.pi * thud_hz * (t - 0.4 * t**2)) * _shape(frames, rate_hz, 0.015, 0.2)
    knock = _hush(rng, frames, rate_hz, "lowpass", 400.0)
    knock *= _shape(frames, rate_hz, 0.01, 0.05, delay_s=0.01)
    room = _hush(rng, frames, rate_hz, "lowpass", 700.0)  # the hall answers a moment later
    room *= _shape(frames, rate_hz, 0.04, 0.35, delay_s=0.03)
    total = body + 0.3 * knock + 0.5 * room
    latch = _hush(rng, frames, rate_hz, "bandpass", (700.0, 2200.0))
    latch *= _shape(frames, rate_hz, 0.003, 0.01, delay_s=latch_s)
    return total + 0.25 * latch * np.array([[np.sqrt(1 - latch_pan)], [np.sqrt(latch_pan)]])


def footsteps(rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    """Four to six slow footsteps across a wooden floor: soft heels, a brush of the toe."""
    count = int(rng.integers(4, 7))
    pace_s = rng.uniform(0.6, 0.7)
    starts_s = np.arange(count) * pace_s + np.append(0.0, rng.uniform(-0.03, 0.03, 5)[: count - 1])
    weights = rng.uniform(0.7, 1.0, count)
    toes_s = rng.uniform(0.06, 0.1, count)
    step = _frames(rate_hz, 0.4)
    total = np.zeros((2, _frames(rate_hz, starts_s[count - 1] + 0.5)))
    for number in range(count):
        heel = _hush(rng, step, rate_hz, "lowpass", 300.0, channels=1)[0]
        heel *= _shape(step, rate_hz, 0.015, 0.11, release_s=0.1)
        toe = _hush(rng, step, rate_hz, "bandpass", (400.0, 1800.0), channels=1)[0]
        toe *= 0.5 * _shape(step, rate_hz, 0.02, 0.08, toes_s[number], 0.1)
        pan = 0.42 if number % 2 else 0.58  # left foot, right foot
        _place(total, (heel + toe) * weights[number], starts_s[number], rate_hz, pan)
    return total


def kettle(rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    """A kettle coming to the boil: a rumble and a hiss rising together, then a soft click off."""
    boil_s = rng.uniform(3.2, 3.4)
    top_hz = rng.uniform(2600.0, 3200.0)
    frames = _frames(rate_hz, 4.0)
    t = np.arange(frames) / rate_hz
    rise = np.clip(t / boil_s, 0.0, 1.0)
    settle = np.exp(-np.maximum(t - boil_s, 0.0) / 0.08)
    bubbling = 0.7 + 0.3 * np.tanh(_hush(rng, frames, rate_hz, "lowpass", 12.0))
    rumble = _hush(rng, frames, rate_hz, "lowpass", 200.0) * bubbling
    centre_hz = 1000.0 * (min(top_hz, 0.3 * rate_hz) / 1000.0) ** rise
    hiss = swept(white(rng, frames), rate_hz, "bandpass", centre_hz, 0.8)
    hiss /= np.sqrt(np.mean(hiss**2))
    total = (rumble * (0.4 + 0.4 * rise) + hiss * (0.1 + 0.5 * rise**2)) * settle
    total *= _shape(frames, rate_hz, 0.008, np.inf)
    click = _hush(rng, _frames(rate_hz, 0.05), rate_hz, "bandpass", (600.0, 2400.0), channels=1)
    _place(total, 0.35 * click[0] * _shape(click.size, rate_hz, 0.003, 0.008), boil_s, rate_hz, 0.6)
    return total


def page_turn(rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    """A page lifted and turned: a papery swish that swells and falls, with a faint crinkle."""
    peak_s = rng.uniform(0.28, 0.4)
    crinkles_s = rng.uniform(0.1, 0.6, int(rng.integers(3, 7)))
    frames = _frames(rate_hz, 0.8)
    t = np.arange(frames) / rate_hz
    rising = np.sin(np.pi / 2 * np.clip(t / peak_s, 0, 1)) ** 2
    falling = np.cos(np.pi / 2 * np.clip((t - peak_s) / (0.72 - peak_s), 0, 1)) ** 2
    lift = _shape(frames, rate_hz, 0.012, 0.06)
    swell = np.where(t < peak_s, rising, falling)
    centre_hz = np.minimum(1200.0 + 1400.0 * swell, 0.3 * rate_hz)
    swish = swept(white(rng, frames), rate_hz, "bandpass", centre_hz, 1.0)
    total = swish / np.sqrt(np.mean(swish**2)) * (0.3 * lift + swell)
    for at_s in crinkles_s:
        tick = _hush(rng, _frames(rate_hz, 0.03), rate_hz, "bandpass", (1500.0, 4000.0), 1)[0]
        _place(
            total,
            0.4 * tick * _shape(tick.size, rate_hz, 0.002, 0.006, release_s=0.005),
            at_s,
            rate_hz,
            0.5,
        )
    return total


def owl(rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    """A tawny owl far off: a short hoot, a breath, a longer hoot bending down, in a dark wood."""
    pitch_hz = rng.uniform(370.0, 430.0)
    second_s = rng.uniform(0.75, 0.9)
    last_bend = rng.uniform(0.9, 0.95)
    frames = _frames(rate_hz, 2.5)
    dry = np.zeros((2, frames))
    for at_s, length_s, bend, level in ((0.0, 0.4, 0.97, 0.8), (second_s, 0.75, last_bend, 1.0)):
        n = _frames(rate_hz, length_s)
        t = np.arange(n) / rate_hz
        glide_hz = pitch_hz * (1 + 0.03 * np.sin(np.pi * t / length_s) + (bend - 1) * t / length_s)
        phase = 2 * np.pi * np.cumsum(glide_hz) / rate_hz
        swell = _shape(n, rate_hz, 0.01, np.inf, release_s=0.08)
        swell *= 0.5 + 0.5 * np.sin(np.pi * t / length_s)
        hoot = (np.sin(phase) + 0.12 * np.sin(2 * phase)) * swell * level
        _place(dry, hoot, at_s, rate_hz, 0.45)
    room = _hush(rng, _frames(rate_hz, 0.6), rate_hz, "lowpass", 1200.0)
    room *= _shape(room.shape[1], rate_hz, 0.005, 0.15) / np.sqrt(rate_hz)
    wet = np.stack([oaconvolve(dry[c], room[c])[:frames] for c in range(2)])
    return filtered(dry + 3.0 * wet, rate_hz, "lowpass", min(1800.0, 0.45 * rate_hz))


def heartbeat(rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    """A heart slowing toward sleep: soft, low lub-dubs, from about 70 to 50 beats a minute."""
    thump_hz = rng.uniform(50.0, 60.0)
    dub_s = rng.uniform(0.26, 0.3)
    beats_s = [0.0]
    while beats_s[-1] < 4.5:
        bpm = max(50.0, 70.0 - 20.0 * beats_s[-1] / 4.5)
        beats_s.append(beats_s[-1] + 60.0 / bpm + rng.uniform(-0.01, 0.01))
    total = np.zeros((2, _frames(rate_hz, beats_s[-1] + dub_s + 0.6)))
    n = _frames(rate_hz, 0.5)
    t = np.arange(n) / rate_hz
    for at_s in beats_s:
        for offset_s, lift, level in ((0.0, 1.0, 1.0), (dub_s, 1.15, 0.7)):
            tone = np.sin(2 * np.pi * thump_hz * lift * t) + 0.5 * np.sin(4 * np.pi * thump_hz * t)
            thud = 0.15 * _hush(rng, n, rate_hz, "lowpass", 180.0, channels=1)[0]
            beat = (tone + thud) * _shape(n, rate_hz, 0.015, 0.13, release_s=0.1) * level
            _place(total, beat, at_s + offset_s, rate_hz, 0.5)
    return total


def _effect(name: str, family: Family, generate: Generator) -> Effect:
    return Effect(name, family, generate, (generate.__doc__ or "").strip().splitlines()[0])


EFFECTS: dict[str, Effect] = {
    effect.name: effect
    for effect in (
        _effect("chime", "synthetic", chime),
        _effect("glitch", "synthetic", glitch),
        _effect("door", "natural", door),
        _effect("footsteps", "natural", footsteps),
        _effect("kettle", "natural", kettle),
        _effect("page-turn", "natural", page_turn),
        _effect("owl", "natural", owl),
        _effect("heartbeat", "natural", heartbeat),
    )
}


def render_effect(name: str, rate_hz: int, seed: int) -> np.ndarray:
    """An effect as float32 (2, frames) at CUE_LUFS, its first frame starting the sound and its
    last FADE_S fading to zero."""
    raw = EFFECTS[name].generate(np.random.default_rng(seed), rate_hz)
    fade = min(_frames(rate_hz, FADE_S), raw.shape[1])
    envelope = np.ones(raw.shape[1])
    envelope[raw.shape[1] - fade :] = np.cos(np.linspace(0, np.pi / 2, fade)) ** 2
    levelled = raw * envelope
    for _pass in range(2):  # twice: the meter's absolute gate (-70 LUFS) depends on the level
        levelled = levelled * 10 ** ((CUE_LUFS - loudness_lufs(levelled, rate_hz)) / 20)
    return levelled.astype(np.float32)


def loudness_lufs(samples: np.ndarray, rate_hz: int) -> float:
    """Integrated loudness of (2, frames); a sound shorter than the meter's block is measured
    with silence after it, and one the meter cannot measure at all is judged by its peak."""
    padding = max(0, _frames(rate_hz, _MEASURE_S) - samples.shape[1])
    padded = np.pad(samples, ((0, 0), (0, padding)))
    loudness = float(pyloudnorm.Meter(rate_hz).integrated_loudness(padded.T))
    if np.isfinite(loudness):
        return loudness
    peak = float(np.abs(samples).max())
    return 20 * np.log10(peak) - _PEAK_TO_LOUDNESS_DB if peak > 0 else CUE_LUFS
