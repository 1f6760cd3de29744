"""The draft engine, on the real pyttsx3 and eSpeak NG."""

import numpy as np
import pytest

from bedtime_audio.engines import load_engine
from bedtime_audio.errors import EngineError
from bedtime_audio.model import Voice

TEXT = "The city hummed softly, all night long."


@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    return load_engine("pyttsx3")


def test_speaks_mono_22050_with_plausible_duration(engine) -> None:  # type: ignore[no-untyped-def]
    audio = engine.synthesize(TEXT, Voice("pyttsx3", "en-us+f3"))
    assert audio.rate_hz == 22050 and audio.channels == 1
    assert 1.0 < audio.duration_s < 5.0  # seven words at about 175 words a minute
    assert np.sqrt(np.mean(audio.samples**2)) > 0.01


def test_same_line_same_samples(engine) -> None:  # type: ignore[no-untyped-def]
    voice = Voice("pyttsx3", "en-gb+m3", 0.9, 40)
    first = engine.synthesize(TEXT, voice)
    engine.synthesize("Something else in between, to disturb any state.", voice)
    np.testing.assert_array_equal(first.samples, engine.synthesize(TEXT, voice).samples)


def test_long_text_is_complete(engine) -> None:  # type: ignore[no-untyped-def]
    words = " ".join([TEXT] * 12)  # eSpeak's first long text in a process used to come back empty
    audio = engine.synthesize(words, Voice("pyttsx3", "en-us"))
    assert audio.duration_s > 12 * 1.5


def test_voices_and_speeds_differ(engine) -> None:  # type: ignore[no-untyped-def]
    female = engine.synthesize(TEXT, Voice("pyttsx3", "en-us+f3"))
    male = engine.synthesize(TEXT, Voice("pyttsx3", "en-us+m3"))
    assert female.frames != male.frames or not np.array_equal(female.samples, male.samples)
    slow = engine.synthesize(TEXT, Voice("pyttsx3", "en-us+f3", speed=0.7))
    assert slow.duration_s > female.duration_s * 1.25


def test_empty_text_is_an_engine_error(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EngineError, match="empty text"):
        engine.synthesize("   ", Voice("pyttsx3", "en-us"))


def test_offers_female_and_male_english_voices(engine) -> None:  # type: ignore[no-untyped-def]
    voices = engine.voices()
    assert {v.gender for v in voices} == {"female", "male"}
    assert all(v.language.startswith("en") for v in voices)


def test_every_offered_voice_speaks_as_itself(engine) -> None:  # type: ignore[no-untyped-def]
    """Each voice `bedtime voices` offers loads in eSpeak NG: none falls back to another (en-gb's
    variants once all spoke as the default British voice)."""
    takes = {
        info.voice_id: engine.synthesize("Good night.", Voice("pyttsx3", info.voice_id)).samples
        for info in engine.voices()
    }
    distinct = {np.asarray(samples).tobytes() for samples in takes.values()}
    assert len(distinct) == len(takes)


def test_a_voice_espeak_lacks_is_an_engine_error(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EngineError, match="no voice 'xx-none\\+f2'"):
        engine.synthesize(TEXT, Voice("pyttsx3", "xx-none+f2"))
