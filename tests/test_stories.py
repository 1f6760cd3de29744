"""The five stories in scripts/: shape, casting and the arc from synthetic to natural rest."""

import itertools
import re
from pathlib import Path

import pytest

from bedtime_audio.casting import load_voices
from bedtime_audio.engines import ENGINES
from bedtime_audio.model import Speech
from bedtime_audio.script import parse_script
from bedtime_audio.soundscape import synthetic_share

ROOT = Path(__file__).parent.parent
SCRIPTS = sorted((ROOT / "scripts").glob("*.yaml"))
CASTING = load_voices(ROOT / "voices.yaml")


def test_there_are_five_stories() -> None:
    assert [p.stem for p in SCRIPTS] == [
        "dream-standard",
        "neurosleep",
        "nocturnal-enhancement",
        "nocturnal-network",
        "sleepsync",
    ]


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_story_shape(path: Path) -> None:
    script = parse_script(path)
    words = sum(len(speech.text.split()) for speech in script.speeches)
    assert 2000 <= words <= 3500
    assert 5 <= len(script.chapters) <= 7
    assert all(chapter.title for chapter in script.chapters)
    assert path.read_text().startswith("# Source: ../shared/seeds/")


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_story_is_fully_cast_on_every_engine(path: Path) -> None:
    script = parse_script(path)
    roles = CASTING.stories[script.slug]
    spoken = {speech.speaker for speech in script.speeches}
    assert spoken <= set(script.cast)
    for speaker in script.cast:
        assert set(roles[speaker].voices) == set(ENGINES), f"{speaker} needs a voice per engine"
    for engine in ENGINES:
        ids = [roles[speaker].voices[engine].voice_id for speaker in script.cast]
        assert len(set(ids)) == len(ids), f"{engine} voices must differ within the story"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_story_moves_from_synthetic_to_natural_rest(path: Path) -> None:
    """Machines lead the first chapter; the last two are natural only; the first half is more
    synthetic than the second (a party may still outshine the opening)."""
    shares = [
        sum(synthetic_share(scene.soundscape) for scene in c.scenes) / len(c.scenes)
        for c in parse_script(path).chapters
    ]
    half = len(shares) // 2
    assert shares[0] >= 0.6
    assert shares[-2:] == [0.0, 0.0]
    assert sum(shares[:half]) / half > sum(shares[-half:]) / half + 0.4


def _sentences(text: str) -> list[str]:
    """Sentences as compared across stories: lower case, words only."""
    found = []
    for sentence in re.split(r"(?<=[.!?])[\"']?\s+", text):
        words = re.findall(r"[a-z']+", sentence.lower())
        if len(words) >= 4:  # "Thank you." may be said in any story
            found.append(" ".join(words))
    return found


def test_no_sentence_or_title_is_shared_between_stories() -> None:
    seen: dict[str, str] = {}
    shared = []
    for path in SCRIPTS:
        script = parse_script(path)
        titles = [c.title for c in script.chapters]
        titles += [s.title for c in script.chapters for s in c.scenes if s.title]
        mine = {f"title: {t.lower()}" for t in titles}
        mine |= {s for speech in script.speeches for s in _sentences(speech.text)}
        shared += [f"{seen[item]} and {script.slug}: {item}" for item in mine if item in seen]
        seen |= dict.fromkeys(mine, script.slug)
    assert shared == []


def test_a_repeated_sentence_is_caught(tmp_path: Path) -> None:
    text = "And perhaps, wherever you are, you can rest now. Goodnight."
    assert _sentences(text) == ["and perhaps wherever you are you can rest now"]


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_every_soundscape_in_a_story_is_heard(path: Path) -> None:
    assert parse_script(path).warnings == ()


def test_a_chapter_soundscape_no_scene_hears_is_warned_of(tmp_path: Path) -> None:
    path = tmp_path / "unheard.yaml"
    path.write_text(
        "title: U\ncast: {n: x}\nchapters:\n"
        "  - title: A\n    soundscape: rain\n    scenes:\n"
        "      - {soundscape: wind, lines: [{n: hi}]}\n"
        "  - title: B\n    scenes:\n      - {soundscape: waves, lines: [{n: hi}]}\n"
        "  - title: C\n    soundscape: crickets\n    scenes:\n"
        "      - {soundscape: wind, lines: [{n: hi}]}\n"
        "  - title: D\n    scenes:\n      - {lines: [{n: hi}]}\n"
    )
    assert parse_script(path).warnings == (
        f"{path}:5: chapters[0].soundscape: no scene hears it (each sets its own soundscape); "
        "remove it or a scene's",
    )


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_the_telling_thins_its_dialogue_chapter_by_chapter(path: Path) -> None:
    """Less dialogue and longer sentences toward sleep, not only in the last chapter."""
    shares, lengths = [], []
    for chapter in parse_script(path).chapters:
        speeches = [x for s in chapter.scenes for x in s.lines if isinstance(x, Speech)]
        words = [len(x.text.split()) for x in speeches]
        said = sum(n for x, n in zip(speeches, words, strict=True) if x.speaker != "narrator")
        shares.append(said / sum(words))
        sentences = [s for x in speeches for s in re.split(r"(?<=[.!?])\s+", x.text) if s]
        lengths.append(sum(words) / len(sentences))
    assert shares[-1] < 0.12 and shares[-2] < 0.25
    assert all(later <= earlier + 0.02 for earlier, later in itertools.pairwise(shares))
    assert all(later > earlier for earlier, later in itertools.pairwise(lengths))
