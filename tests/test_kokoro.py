"""The Kokoro engine: voices and checks without the model, then speech from the real model.

Speech tests use short texts so the suite stays fast, and share one engine (one ONNX session).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from bedtime_audio.assets import MODEL_SHA256, kokoro_paths
from bedtime_audio.audio import Audio
from bedtime_audio.engines import load_engine
from bedtime_audio.engines.kokoro import (
    MAX_PIECE_CHARS,
    RATE_HZ,
    SENTENCE_PAUSE_S,
    VOICE_IDS,
    KokoroEngine,
    parse_blend,
)
from bedtime_audio.errors import DependencyError, EngineError
from bedtime_audio.model import Voice

TEXT = "Goodnight, little fox. The moon is up."
WORDS = 7

Speak = Callable[..., Audio]


@pytest.fixture(scope="module")
def speak() -> Speak:
    """Synthesize with one shared engine, remembering each result; skips without the model."""
    try:
        kokoro_paths()
    except DependencyError as exc:
        pytest.skip(f"Kokoro model not assembled: {exc}")
    engine = KokoroEngine()

    @cache
    def spoken(text: str, voice_id: str = "af_heart", speed: float = 1.0) -> Audio:
        return engine.synthesize(text, Voice("kokoro", voice_id, speed))

    return spoken


def rms(audio: Audio) -> float:
    return float(np.sqrt(np.mean(np.square(audio.samples))))


def test_registry_builds_the_engine_with_a_version_naming_runtime_and_model() -> None:
    engine = load_engine("kokoro")
    assert engine.name == "kokoro"
    assert engine.version.startswith("kokoro-onnx-0.6.1+kokoro-v1.0-int8-")
    assert MODEL_SHA256[:12] in engine.version
    assert "+kokoro-js@1.2.1+" in engine.version  # the voices
    assert engine.version.endswith(f"+pieces-{MAX_PIECE_CHARS}")  # how sentences are cut


def test_voices_are_listed_from_their_ids() -> None:
    voices = {v.voice_id: v for v in KokoroEngine().voices()}
    assert len(voices) == 28
    assert (voices["af_heart"].gender, voices["af_heart"].language) == ("female", "en-us")
    assert (voices["am_adam"].gender, voices["am_adam"].language) == ("male", "en-us")
    assert (voices["bf_emma"].gender, voices["bf_emma"].language) == ("female", "en-gb")
    assert voices["bm_george"].description == "British English, male"


def test_importing_the_engine_leaves_the_runtime_unloaded() -> None:
    code = (
        "import sys; from bedtime_audio.engines.kokoro import KokoroEngine; KokoroEngine().voices()"
        "; print(sorted({'kokoro_onnx', 'onnxruntime'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_engine_gives_its_working_memory_back_after_speaking(speak: Speak) -> None:
    """ONNX Runtime's arena keeps what the longest sentence took unless told to shrink: a
    worker that mixes a chapter between sentences would hold both."""
    code = (
        "from bedtime_audio.engines.kokoro import KokoroEngine\n"
        "from bedtime_audio.model import Voice\n"
        "def held(): return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
        "engine, voice = KokoroEngine(1), Voice('kokoro', 'af_heart')\n"
        "engine.synthesize('Hush now.', voice)\n"
        "before = held()\n"
        f"engine.synthesize({LONG_SENTENCE!r}, voice)\n"
        "print(before, held())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before_mb, after_mb = map(float, out.stdout.split())
    assert after_mb <= before_mb + 100, (before_mb, after_mb)  # without shrinking: +330 MB


LONG_SENTENCE = (
    "The lanterns along the harbour wall went out one by one, and the boats leaned against "
    "their ropes while the tide came in slowly, carrying the smell of salt and cold stone "
    "up the steps to the sleeping town, where every window was already dark and quiet."
)


def test_blends_parse_with_default_weights() -> None:
    assert parse_blend("af_bella:0.6+af_sky:0.4") == [("af_bella", 0.6), ("af_sky", 0.4)]
    assert parse_blend("af_sky + bf_emma:2") == [("af_sky", 1.0), ("bf_emma", 2.0)]
    assert parse_blend("af_heart*0.6 + af_bella * 0.4") == [("af_heart", 0.6), ("af_bella", 0.4)]


@pytest.mark.parametrize(
    ("voice", "message"),
    [
        (
            Voice("kokoro", "af_owl"),
            "kokoro: unknown voice 'af_owl' in 'af_owl' (voices: af_alloy, ",
        ),
        (Voice("kokoro", "af_sky:x"), "kokoro: weight 'x' in 'af_sky:x' is not a number"),
        (Voice("kokoro", "af_sky:-1"), "kokoro: weight -1.0 in 'af_sky:-1' is negative"),
        (Voice("kokoro", "af_sky:0"), "kokoro: voice 'af_sky:0' has no positive weight"),
        (Voice("kokoro", "af_sky", 2.5), "kokoro: speed 2.5 is outside 0.5\u20132.0"),
    ],
)
def test_bad_voices_are_engine_errors(voice: Voice, message: str) -> None:
    with pytest.raises(EngineError) as caught:
        KokoroEngine().synthesize("Hello.", voice)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("text", ["", "   \n\t", "..."])
def test_nothing_to_say_is_an_engine_error(text: str) -> None:
    with pytest.raises(EngineError, match="kokoro: nothing to say in "):
        KokoroEngine().synthesize(text, Voice("kokoro", "af_heart"))


def test_voice_ids_cover_the_english_voices() -> None:
    prefixes = sorted({v[:3] for v in VOICE_IDS})
    assert prefixes == ["af_", "am_", "bf_", "bm_"]


@pytest.mark.kokoro
def test_speech_is_24k_mono_and_as_long_as_its_words(speak: Speak) -> None:
    audio = speak(TEXT)
    assert (audio.rate_hz, audio.channels, audio.samples.dtype) == (RATE_HZ, 1, np.float32)
    assert RATE_HZ == 24_000
    assert 1.5 <= WORDS / audio.duration_s <= 4.0  # words per second, calm to brisk
    assert rms(audio) > 0.02
    assert np.abs(audio.samples).max() <= 1.0


@pytest.mark.kokoro
def test_sentences_are_joined_with_a_pause(speak: Speak) -> None:
    zero = (speak(TEXT).samples[0] == 0).astype(np.int8)
    edges = np.diff(np.concatenate([[0], zero, [0]]))
    runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    assert (
        round(SENTENCE_PAUSE_S * RATE_HZ) <= runs.max() < round((SENTENCE_PAUSE_S + 0.05) * RATE_HZ)
    )


@pytest.mark.kokoro
def test_a_long_sentence_is_spoken_in_pieces_of_a_few_seconds(
    speak: Speak, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model call holds memory for all the speech it makes, so a long sentence is spoken a
    clause or two at a time, and slow speech in shorter clauses."""
    pieces: list[float] = []
    spoken = KokoroEngine._speak

    def timed(self: KokoroEngine, *args: object) -> np.ndarray:
        samples = spoken(self, *args)
        pieces.append(samples.size / RATE_HZ)
        return samples

    monkeypatch.setattr(KokoroEngine, "_speak", timed)
    whole = speak(LONG_SENTENCE, speed=0.75)
    assert len(pieces) >= 3
    assert max(pieces) < 8.0, pieces
    assert whole.duration_s > sum(pieces)  # with a short pause where each piece joins the next


@pytest.mark.kokoro
def test_same_text_and_voice_give_identical_samples(speak: Speak) -> None:
    again = KokoroEngine().synthesize(TEXT, Voice("kokoro", "af_heart"))
    np.testing.assert_array_equal(again.samples, speak(TEXT).samples)


@pytest.mark.kokoro
def test_distinct_voices_sound_different(speak: Speak) -> None:
    heart, adam = speak(TEXT, "af_heart"), speak(TEXT, "bm_george")
    frames = min(heart.frames, adam.frames)
    assert not np.allclose(heart.samples[:, :frames], adam.samples[:, :frames], atol=0.01)
    assert rms(adam) > 0.02


@pytest.mark.kokoro
def test_a_blend_differs_from_its_voices_and_is_the_same_every_time(speak: Speak) -> None:
    blend = speak(TEXT, "af_heart*0.6 + af_bella*0.4")
    assert rms(blend) > 0.02
    for single in (speak(TEXT, "af_heart"), speak(TEXT, "af_bella")):
        assert blend.frames != single.frames or not np.array_equal(blend.samples, single.samples)
    again = KokoroEngine().synthesize(TEXT, Voice("kokoro", "af_heart:0.6+af_bella:0.4"))
    assert np.array_equal(again.samples, blend.samples), "the same blend, either spelling"


@pytest.mark.kokoro
def test_slower_speech_is_longer(speak: Speak) -> None:
    ratio = speak(TEXT, speed=0.8).duration_s / speak(TEXT, speed=1.0).duration_s
    assert 1.1 < ratio < 1.4


@pytest.mark.kokoro
def test_bedtime_voices_auditions_a_blend(speak: Speak, tmp_path: Path) -> None:
    from conftest import BEDTIME

    def sample(voice: str) -> Path:
        done = subprocess.run(
            [BEDTIME, "voices", "--engine", "kokoro", "--sample", voice],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        path = tmp_path / done.stdout.split()[-1]
        assert path.parent == tmp_path / "output" / "auditions" / "voices"
        return path

    blend = sample("af_heart*0.6 + af_bella*0.4").read_bytes()
    assert len(blend) > 44100
    assert blend != sample("af_heart").read_bytes()
    wrong = subprocess.run(
        [BEDTIME, "voices", "--engine", "kokoro", "--sample", "af_heart*0.6 + af_nobody*0.4"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert wrong.returncode == 1 and "kokoro has no voice" in wrong.stderr
