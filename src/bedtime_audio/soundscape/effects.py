"""One-shot sound effects for cues: procedural, seeded, and gentle.

Each effect is a short sound that fits the stories, from their machines (a chime, a glitch) to
the home they come back to (a door, footsteps, a kettle, a page, an owl, a slowing heart). None
startles: every onset rises over several milliseconds, the energy sits low (mostly below
4 kHz), and every effect is brought to CUE_LUFS and fades to silence. The seed varies the
details (a footfall's weight, an owl's pitch), so a second owl in a chapter is not a copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyloudnorm

from .noise import decaying_noise, filtered

CUE_LUFS = -24.0
"""Every effect's loudness: under the voices (-18), over the beds (-30)."""
PEAK_DBFS = -12.0
"""No effect peaks above this: a sparse one (footfalls) is brought down below CUE_LUFS."""
ATTACK_S = 0.006
FADE_S = 0.05
_MEASURE_S = 0.4
"""pyloudnorm's block: a shorter sound is measured padded to it."""

Generator = Callable[[np.random.Generator, int], np.ndarray]


@dataclass(frozen=True)
class Effect:
    name: str
    family: Literal["synthetic", "natural"]
    generate: Generator
    """(rng, rate_hz) → float64 (2, frames), any level."""
    description: str


def _seconds(rate_hz: int, length_s: float) -> np.ndarray:
    return np.arange(round(length_s * rate_hz)) / rate_hz


def _stereo(left: np.ndarray, right: np.ndarray | None = None) -> np.ndarray:
    return np.stack([left, left if right is None else right])


def _place(
    total: np.ndarray, sound: np.ndarray, at_s: float, rate_hz: int, pan: float = 0.0
) -> None:
    """Add a mono sound into (2, frames) at at_s, panned (-1 left … 1 right, equal power)."""
    start = round(at_s * rate_hz)
    end = min(total.shape[1], start + sound.size)
    angle = (pan + 1) * np.pi / 4
    total[0, start:end] += sound[: end - start] * np.cos(angle)
    total[1, start:end] += sound[: end - start] * np.sin(angle)


def chime(rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    """A soft glass chime: three inharmonic partials ringing down, a little apart in stereo."""
    t = _seconds(rate_hz, 3.0)
    base = rng.uniform(640, 760)
    partials = ((1.0, 1.0, 1.1), (2.76, 0.35, 0.6), (5.40, 0.12, 0.3))
    detunes = np.array([[1.0], [1.0 + rng.uniform(0.001, 0.003)]])
    total = np.zeros((2, t.size))
    for ratio, level, decay in partials:
        total += level * np.sin(2 * np.pi * base * ratio * detunes * t) * np.exp(-t / decay)
    return total


def glitch(rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    """A gentle digital stutter: a few held, coarse grains of a muted tone, then nothing."""
    total = np.zeros((2, round(1.1 * rate_hz)))
    grain = _seconds(rate_hz, 0.07)
    pitch = rng.uniform(300, 500)
    for number in range(int(rng.integers(4, 7))):
        steps = 8  # a sample-and-hold, coarsely quantised: the sound of a machine
        raw = np.sin(2 * np.pi * pitch * (1 + 0.05 * number) * grain)
        held = np.repeat(raw[:: rate_hz // 4000], rate_hz // 4000)[: grain.size]
        sound = np.round(held * steps) / steps * np.hanning(grain.size)
        _place(
            total,
            filtered(sound, rate_hz, "lowpass", 3000),
            number * 0.13,
            rate_hz,
            rng.uniform(-0.4, 0.4),
        )
    return total


def door(rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    """A wooden door closing softly: a low, damped thud and the latch, muffled."""
    total = np.zeros((2, round(1.2 * rate_hz)))
    t = _seconds(rate_hz, 0.6)
    thud = np.sin(2 * np.pi * rng.uniform(80, 110) * t) * np.exp(-t / 0.09)
    thud += 0.6 * filtered(decaying_noise(rng, rate_hz, 0.6, 0.05), rate_hz, "lowpass", 500)
    _place(total, thud, 0.02, rate_hz)
    latch = filtered(decaying_noise(rng, rate_hz, 0.08, 0.01), rate_hz, "bandpass", (900, 2500))
    _place(total, 0.25 * latch, 0.14, rate_hz, 0.2)
    return total


def footsteps(rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    """Five slow, soft footsteps on a wooden floor, each a little different."""
    total = np.zeros((2, round(3.4 * rate_hz)))
    for number in range(5):
        step = filtered(
            decaying_noise(rng, rate_hz, 0.25, rng.uniform(0.03, 0.05)),
            rate_hz,
            "lowpass",
            rng.uniform(500, 800),
        )
        pan = -0.3 + 0.15 * number
        _place(
            total,
            step * rng.uniform(0.7, 1.0),
            0.02 + number * 0.62 + rng.uniform(0, 0.05),
            rate_hz,
            pan,
        )
    return total


def kettle(rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    """A kettle on the stove: a soft rumble and hiss rising to the boil, then a click off."""
    length_s = 4.0
    t = _seconds(rate_hz, length_s)
    rise = np.clip(t / (length_s - 0.5), 0, 1) ** 2 * (t < length_s - 0.45)
    hiss = filtered(rng.standard_normal((2, t.size)), rate_hz, "bandpass", (700, 3500)) * 0.5
    rumble = filtered(rng.standard_normal((2, t.size)), rate_hz, "lowpass", 200)
    total = (hiss + rumble) * (0.15 + rise)
    click = filtered(decaying_noise(rng, rate_hz, 0.03, 0.004), rate_hz, "bandpass", (1200, 3000))
    _place(total, 0.8 * click, length_s - 0.45, rate_hz)
    return total


def page_turn(rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    """A page turning: a papery swish rising and falling, brighter at its middle."""
    t = _seconds(rate_hz, 0.8)
    shape = np.sin(np.pi * t / t[-1]) ** 3
    noise = rng.standard_normal((2, t.size))
    return filtered(noise, rate_hz, "bandpass", (1200, 4000)) * shape


def owl(rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    """A tawny owl far off: a hoot, a breath, then a longer hoot that bends down, softly."""
    total = np.zeros((2, round(2.6 * rate_hz)))
    pitch = rng.uniform(380, 440)
    for at_s, length_s, bend in ((0.0, 0.45, 0.97), (1.0, 1.1, 0.92)):
        t = _seconds(rate_hz, length_s)
        glide = pitch * (1 + (bend - 1) * t / length_s)
        phase = 2 * np.pi * np.cumsum(glide) / rate_hz
        hoot = (np.sin(phase) + 0.15 * np.sin(2 * phase)) * np.sin(np.pi * t / length_s) ** 2
        _place(total, filtered(hoot, rate_hz, "lowpass", 1500), at_s, rate_hz, 0.5)
    return total


def heartbeat(rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    """A heartbeat slowing from about 70 to 50 beats a minute: soft, low lub-dubs."""
    total = np.zeros((2, round(6.6 * rate_hz)))
    t = _seconds(rate_hz, 0.18)
    at_s, bpm = 0.0, rng.uniform(68, 72)
    while at_s < 5.8:
        for offset_s, freq, level in ((0.0, 55, 1.0), (0.28, 65, 0.6)):
            beat = np.sin(2 * np.pi * freq * t) * np.sin(np.pi * t / t[-1]) ** 2 * level
            _place(total, beat, at_s + offset_s, rate_hz)
        at_s += 60 / bpm
        bpm = max(50.0, bpm - 4.0)
    return total


def _effect(name: str, family: Literal["synthetic", "natural"], generate: Generator) -> Effect:
    return Effect(name, family, generate, (generate.__doc__ or "").strip())


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
    """An effect as float32 (2, frames) at CUE_LUFS (or under PEAK_DBFS): a soft attack, a
    fade to silence."""
    raw = EFFECTS[name].generate(np.random.default_rng(seed), rate_hz)
    frames = raw.shape[1]
    attack, fade = round(ATTACK_S * rate_hz), round(FADE_S * rate_hz)
    envelope = np.ones(frames)
    envelope[:attack] = np.sin(np.linspace(0, np.pi / 2, attack)) ** 2
    envelope[frames - fade :] *= np.cos(np.linspace(0, np.pi / 2, fade)) ** 2
    shaped = raw * envelope
    padded = np.pad(shaped, ((0, 0), (0, max(0, round(_MEASURE_S * rate_hz) - frames))))
    loudness = pyloudnorm.Meter(rate_hz).integrated_loudness(padded.T)
    peak_db = 20 * np.log10(np.abs(shaped).max())
    gain_db = min(CUE_LUFS - loudness, PEAK_DBFS - peak_db)
    return (shaped * 10 ** (gain_db / 20)).astype(np.float32)
