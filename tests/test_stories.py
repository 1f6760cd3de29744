"""The five stories in scripts/: shape, casting and the arc from synthetic to natural rest."""

from pathlib import Path

import pytest

from bedtime_audio.casting import load_voices
from bedtime_audio.engines import ENGINES
from bedtime_audio.script import parse_script
from bedtime_audio.soundscape import PRESETS

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
    script = parse_script(path)
    first = {layer.preset for scene in script.chapters[0].scenes for layer in scene.soundscape}
    last = {layer.preset for scene in script.chapters[-1].scenes for layer in scene.soundscape}
    assert {PRESETS[name].family for name in first} == {"synthetic"}
    assert {PRESETS[name].family for name in last} == {"natural"}
