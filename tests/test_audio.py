import numpy as np
import pytest

from bedtime_audio.audio import Audio


def sine(freq_hz: float, seconds: float, rate_hz: int, channels: int = 1) -> Audio:
    t = np.arange(round(seconds * rate_hz)) / rate_hz
    return Audio(np.tile(0.5 * np.sin(2 * np.pi * freq_hz * t), (channels, 1)), rate_hz)


def test_audio_is_immutable() -> None:
    audio = sine(440, 0.1, 8000)
    with pytest.raises(ValueError):
        audio.samples[0, 0] = 1.0


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize(("src", "dst"), [(22050, 44100), (24000, 44100), (44100, 22050)])
def test_resample_keeps_duration_and_pitch(src: int, dst: int, channels: int) -> None:
    out = sine(440, 1.0, src, channels).resample(dst)
    assert out.rate_hz == dst and out.channels == channels
    assert out.frames == pytest.approx(dst, abs=1)
    spectrum = np.abs(np.fft.rfft(out.samples[0]))
    assert np.fft.rfftfreq(out.frames, 1 / dst)[spectrum.argmax()] == pytest.approx(440, abs=1.5)


def test_gain_scales_by_decibels() -> None:
    audio = sine(440, 0.1, 8000)
    np.testing.assert_allclose(audio.gain(-6.0206).samples, audio.samples / 2, atol=1e-6)


def test_conform_duplicates_mono_to_stereo() -> None:
    stereo = sine(440, 0.1, 22050).conform(44100, 2)
    assert stereo.channels == 2 and stereo.rate_hz == 44100
    np.testing.assert_array_equal(stereo.samples[0], stereo.samples[1])


def test_trim_silence_keeps_a_margin() -> None:
    body = sine(440, 0.5, 10000)
    padded = Audio(np.pad(body.samples, ((0, 0), (3000, 4000))), 10000)
    trimmed = padded.trim_silence(keep_s=0.05)
    assert trimmed.duration_s == pytest.approx(0.5 + 2 * 0.05, abs=0.002)


def test_pcm16_round_trip() -> None:
    audio = sine(440, 0.1, 8000, channels=2)
    back = Audio.from_pcm16(audio.pcm16(), 8000, channels=2)
    np.testing.assert_allclose(back.samples, audio.samples, atol=1 / 32768)
