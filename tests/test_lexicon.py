"""The lexicon: entries are checked against the phonemes the real engines speak."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import run_bedtime

from bedtime_audio.casting import load_voices
from bedtime_audio.engines import load_engine
from bedtime_audio.errors import ScriptError
from bedtime_audio.model import Voice
from bedtime_audio.text import is_phonemes, normalize_text

ROOT = Path(__file__).parent.parent
CASTING = load_voices(ROOT / "voices.yaml")
ACCENTS = {"kokoro": ("af_heart", "bf_emma"), "pyttsx3": ("en-us", "en-gb")}
ENTRIES = [
    (word, engine, form)
    for word, forms in CASTING.lexicon.items()
    for engine, form in forms.items()
    for engine in ([engine] if engine else list(ACCENTS))
]


def test_the_casting_has_lexicon_entries() -> None:
    assert {word for word, _engine, _form in ENTRIES} >= {"Roshan"}


@pytest.mark.parametrize(("word", "engine", "form"), ENTRIES, ids=lambda x: str(x))
def test_each_entry_changes_the_engine_s_phonemes_to_the_ones_it_names(
    word: str, engine: str, form: str
) -> None:
    speaker = load_engine(engine)
    lexicon = CASTING.lexicon_for(engine)
    for voice_id in ACCENTS[engine]:
        voice = Voice(engine, voice_id)
        plain = speaker.phonemes(word, voice)
        said = speaker.phonemes(normalize_text(f"{word}.", lexicon), voice).rstrip(".")
        assert said != plain, f"{word} on {voice_id}: the entry changes nothing"
        if engine == "kokoro" and is_phonemes(form):
            assert said == form.strip("/")
        elif engine == "pyttsx3" and is_phonemes(form):
            assert _espeak_mnemonics(form, voice_id) == form.strip("[]")
        else:  # a respelling: said as the respelling is said
            assert said == speaker.phonemes(form, voice)


def _espeak_mnemonics(text: str, language: str) -> str:
    done = subprocess.run(
        ["espeak-ng", "-q", "-x", "-v", language, text], capture_output=True, text=True
    )
    return done.stdout.strip()


def test_kokoro_speaks_ipa_in_the_text_and_possessives_take_their_ending() -> None:
    engine = load_engine("kokoro")
    voice = Voice("kokoro", "af_heart")
    assert engine.phonemes("/ɹˈoʊʃən/'s coat, /ɹˈoʊʃən/.", voice) == "ɹˈoʊʃənz kˈoʊt, ɹˈoʊʃən."
    assert engine.phonemes("/kˈæts/'s tail", voice) == "kˈætsɪz tˈeɪl"
    said = engine.synthesize("/ɹˈoʊʃən/ smiled.", voice)
    assert 0.5 < said.trim_silence().duration_s < 2.0  # the name and a word, not the slashes


def test_espeak_reads_mnemonics_as_phonemes_through_pyttsx3() -> None:
    """Spelled out, "[[r'oUS@n]]" would take seconds; read as phonemes it is one word."""
    engine = load_engine("pyttsx3")
    voice = Voice("pyttsx3", "en-us")
    phonemes = engine.synthesize("[[r'oUS@n]]", voice).trim_silence().duration_s
    spelled = engine.synthesize("r apostrophe o U S at n", voice).trim_silence().duration_s
    name = engine.synthesize("Roshan", voice).trim_silence().duration_s
    assert phonemes < spelled / 2
    assert phonemes == pytest.approx(name, abs=0.3)


def _casting(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "voices.yaml"
    path.write_text(text)
    return path


def test_entries_are_per_engine_and_phonemes_must_suit_the_engine(tmp_path: Path) -> None:
    casting = load_voices(
        _casting(tmp_path, "lexicon:\n  Siobhan: Shi-vawn\n  Roshan: {kokoro: /ɹˈoʊʃən/}\n")
    )
    assert dict(casting.lexicon_for("kokoro")) == {"Siobhan": "Shi-vawn", "Roshan": "/ɹˈoʊʃən/"}
    assert dict(casting.lexicon_for("pyttsx3")) == {"Siobhan": "Shi-vawn"}
    with pytest.raises(
        ScriptError, match=r"voices\.yaml:2: lexicon\.Roshan: '/ɹˈoʊʃən/' is kokoro"
    ):
        load_voices(_casting(tmp_path, "lexicon:\n  Roshan: /ɹˈoʊʃən/\n"))
    with pytest.raises(
        ScriptError, match=r":2: lexicon\.Roshan\.pyttsx3: pyttsx3 takes phonemes as"
    ):
        load_voices(_casting(tmp_path, "lexicon:\n  Roshan: {pyttsx3: /ɹˈoʊʃən/}\n"))
    with pytest.raises(ScriptError, match=r":2: lexicon\.Roshan: unknown key 'kokroo'.*kokoro"):
        load_voices(_casting(tmp_path, "lexicon:\n  Roshan: {kokroo: /ɹˈoʊʃən/}\n"))


def test_bedtime_lexicon_prints_the_phonemes_before_and_after(tmp_path: Path) -> None:
    path = _casting(tmp_path, "lexicon:\n  Roshan: {kokoro: /ɹˈoʊʃən/}\n")
    done = run_bedtime(
        "lexicon",
        "Roshan",
        "Kai",
        "--engine",
        "kokoro",
        "--voice",
        "af_heart",
        "--voices",
        str(path),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "kokoro, af_heart:",
        "  Roshan  ɹˈɑːʃən  →  ɹˈoʊʃən   (lexicon)",
        "  Kai     kˈaɪ",
    ]
