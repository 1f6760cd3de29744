from pathlib import Path

import pytest

from bedtime_audio.casting import cast, load_voices
from bedtime_audio.engines import VoiceInfo
from bedtime_audio.engines.pyttsx3 import Pyttsx3Engine
from bedtime_audio.errors import ScriptError, ScriptErrors
from bedtime_audio.model import Voice
from bedtime_audio.script import parse_script

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
OFFERED = Pyttsx3Engine().voices()


def test_story_casting_wins_over_defaults_and_the_rest_is_auto_cast(tmp_path: Path) -> None:
    voices = tmp_path / "voices.yaml"
    voices.write_text(
        "defaults:\n  narrator:\n    pyttsx3: {voice: en-gb+m1}\n  lena:\n"
        "    pyttsx3: {voice: en-gb+m2}\n"
        "stories:\n  tiny:\n    lena:\n      pyttsx3: {voice: en-us+f3, speed: 0.9, pitch: 60}\n"
    )
    plan = cast(parse_script(DATA / "tiny.yaml"), load_voices(voices), "pyttsx3", OFFERED)
    assert plan.voices["narrator"] == Voice("pyttsx3", "en-gb+m1")
    assert plan.voices["lena"] == Voice("pyttsx3", "en-us+f3", 0.9, 60)
    assert plan.notices == (
        f"tiny: 'kai' has no pyttsx3 voice in {voices}; auto-cast as {plan.voices['kai'].voice_id}",
    )


def test_auto_casting_is_distinct_and_deterministic() -> None:
    script = parse_script(ROOT / "scripts" / "dream-standard.yaml")
    empty = load_voices(None)
    first = cast(script, empty, "pyttsx3", OFFERED)
    again = cast(script, empty, "pyttsx3", OFFERED)
    assert first.voices == again.voices
    ids = [voice.voice_id for voice in first.voices.values()]
    assert len(set(ids)) == len(ids) == len(script.cast)
    assert len(first.notices) == len(script.cast)


def test_gender_steers_auto_casting(tmp_path: Path) -> None:
    voices = tmp_path / "voices.yaml"
    voices.write_text("stories:\n  tiny:\n    lena: {gender: female}\n    kai: {gender: male}\n")
    plan = cast(parse_script(DATA / "tiny.yaml"), load_voices(voices), "pyttsx3", OFFERED)
    genders = {info.voice_id: info.gender for info in OFFERED}
    assert genders[plan.voices["lena"].voice_id] == "female"
    assert genders[plan.voices["kai"].voice_id] == "male"


def test_blends_of_offered_voices_are_accepted(tmp_path: Path) -> None:
    offered = (VoiceInfo("af_bella", "female", "en-us"), VoiceInfo("af_sky", "female", "en-us"))
    voices = tmp_path / "voices.yaml"
    voices.write_text("defaults:\n  narrator:\n    kokoro: {voice: 'af_bella:0.6+af_sky:0.4'}\n")
    plan = cast(parse_script(DATA / "tiny.yaml"), load_voices(voices), "kokoro", offered)
    assert plan.voices["narrator"].voice_id == "af_bella:0.6+af_sky:0.4"


def test_a_big_cast_is_auto_cast_with_blends_once_every_voice_is_taken(tmp_path: Path) -> None:
    from bedtime_audio.engines.kokoro import VOICE_IDS, parse_blend

    offered = tuple(
        VoiceInfo(v, "female" if v[1] == "f" else "male", "en-gb" if v[0] == "b" else "en-us")
        for v in VOICE_IDS
    )
    speakers = [f"s{n}" for n in range(len(offered) + 12)]
    script = tmp_path / "crowd.yaml"
    script.write_text(
        "title: Crowd\ncast:\n"
        + "".join(f"  {s}: someone\n" for s in speakers)
        + "chapters:\n  - title: A\n    scenes:\n      - lines:\n"
        + "".join(f"          - {s}: Hello.\n" for s in speakers)
    )
    plan = cast(parse_script(script), load_voices(None), "kokoro", offered)
    ids = [voice.voice_id for voice in plan.voices.values()]
    assert len(set(ids)) == len(ids), "every speaker sounds like no other"
    blends = [voice_id for voice_id in ids if "+" in voice_id]
    assert len(blends) == 12
    for blend in blends:
        (one, _), (other, _) = parse_blend(blend)
        assert one[0] == other[0], "a blend keeps to one accent"
    assert cast(parse_script(script), load_voices(None), "kokoro", offered).voices == plan.voices


def _problems(tmp_path: Path, text: str, engine: str = "pyttsx3") -> list[str]:
    voices = tmp_path / "voices.yaml"
    voices.write_text(text)
    with pytest.raises((ScriptError, ScriptErrors)) as caught:
        cast(parse_script(DATA / "tiny.yaml"), load_voices(voices), engine, OFFERED)
    return [line.replace(f"{voices}:", "voices.yaml:") for line in str(caught.value).splitlines()]


def test_casting_errors_name_file_and_line(tmp_path: Path) -> None:
    assert _problems(
        tmp_path, "stories:\n  tiny:\n    lenna:\n      pyttsx3: {voice: en-us}\n"
    ) == [
        "voices.yaml:3: stories.tiny.lenna: 'lenna' is not in the cast of "
        f"{DATA / 'tiny.yaml'} (cast: kai, lena, narrator)"
    ]
    assert _problems(tmp_path, "defaults:\n  narrator:\n    pyttsx3: {voice: en-xx+f9}\n") == [
        "voices.yaml:2: narrator: pyttsx3 has no voice 'en-xx+f9' "
        "(see 'bedtime voices --engine pyttsx3')"
    ]
    assert _problems(
        tmp_path,
        "defaults:\n  narrator:\n    pytsx3: {voice: a}\n    kokoro: {voice: b, speed: 9}\n",
    ) == [
        "voices.yaml:3: defaults.narrator: unknown key 'pytsx3' (did you mean 'pyttsx3'?)"
        " (expected: pyttsx3, kokoro, gender)",
        "voices.yaml:4: defaults.narrator.kokoro.speed: must be 0.5 to 2.0",
    ]


def test_casting_numbers_must_be_finite_and_text_printable(tmp_path: Path) -> None:
    assert _problems(
        tmp_path,
        'lexicon:\n  Mira: "Mee\\x01ra"\n'
        "defaults:\n  narrator:\n    pyttsx3: {voice: en-us+f1, speed: .nan, pitch: .inf}\n",
    ) == [
        "voices.yaml:2: lexicon.Mira: text must not hold control characters (found U+0001)",
        "voices.yaml:5: defaults.narrator.pyttsx3.speed: expected a finite number, got '.nan'",
    ]
