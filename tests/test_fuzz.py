"""The front door under careless and hostile input: generated scripts and casting files, some
near the format and some far from it, and numbers on the command line. Every input ends in
success or a BedtimeError that names the file and line, never in another exception (exit 3).

`make test` runs a modest number of examples; `make fuzz` (BEDTIME_FUZZ=1) runs thousands."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import BEDTIME, run_bedtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bedtime_audio.casting import EMPTY_CASTING, cast, load_voices
from bedtime_audio.engines import ENGINES, VoiceInfo
from bedtime_audio.errors import BedtimeError
from bedtime_audio.script import parse_script
from bedtime_audio.soundscape import PRESETS
from bedtime_audio.synth import line_jobs

FUZZ = bool(os.environ.get("BEDTIME_FUZZ"))
OUTCOMES: Counter[str] = Counter()
"""What the generated inputs came to, printed by `make fuzz`."""
SCRATCH = tempfile.TemporaryDirectory(prefix="bedtime-fuzz-")
"""Every generated file's folder, removed with the module's tests."""


def examples(modest: int, fuzzing: int) -> Any:
    return settings(
        max_examples=fuzzing if FUZZ else modest,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


OFFER = (
    VoiceInfo("en-us+f1", "female", "en-us"),
    VoiceInfo("en-gb+m1", "male", "en-gb"),
)

# Text: any character, with the troublesome ones made likely.
HOSTILE = st.sampled_from(
    ["\x00", "\x01", "\x07", "\x1b[31m", "\x7f", "\ud800", "\u202e", "\u2066", "\ufeff", "\t"]
)
TEXT = st.lists(
    st.one_of(st.characters(), HOSTILE, st.sampled_from(["...", "—", "2045", "Dr.", "3:45"])),
    max_size=12,
).map("".join)
WORDS = st.lists(st.sampled_from(["the", "quiet", "city", "slept", "Mira", "rain"]), min_size=1)
NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([0, -0.0, 1e308, 0.5, 2.5, 61, -3]),
)
SCALAR = st.one_of(TEXT, NUMBER, st.booleans(), st.none())


def tree(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """Random YAML trees whose mapping keys are drawn mostly from the format's own words."""
    key = st.one_of(keys, TEXT)
    return st.recursive(
        SCALAR,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(key, inner, max_size=4)
        ),
        max_leaves=12,
    )


SCRIPT_KEYS = st.sampled_from(
    ["title", "cast", "chapters", "scenes", "lines", "soundscape", "pause", "narrator",
     "pacing", "final_speed", "line_pause_s", "gain_db", "lowpass_hz", "rain", "author"]
)  # fmt: skip


@st.composite
def near_scripts(draw: st.DrawFn) -> Any:
    """A script's shape with any part swapped for something random."""
    anything = tree(SCRIPT_KEYS)

    def maybe(value: Any) -> Any:
        return draw(anything) if draw(st.integers(0, 9)) == 0 else value

    line = draw(
        st.one_of(
            st.builds(lambda s, t: {s: t}, st.sampled_from(["narrator", "mira", "owl"]), TEXT),
            st.builds(lambda t: {"narrator": t}, WORDS.map(" ".join)),
            st.builds(lambda n: {"pause": n}, NUMBER),
        )
    )
    bed = draw(
        st.one_of(
            st.sampled_from([*PRESETS, "rian"]),
            st.dictionaries(
                st.sampled_from(sorted(PRESETS)),
                st.dictionaries(st.sampled_from(["gain_db", "lowpass_hz", "gian"]), NUMBER),
                max_size=2,
            ),
        )
    )
    scene = {"lines": maybe([line, maybe(line)]), "soundscape": maybe(bed)}
    chapter = {"title": maybe(draw(TEXT)), "scenes": maybe([maybe(scene)])}
    return {
        "title": maybe(draw(TEXT)),
        "cast": maybe({"narrator": "The storyteller", "mira": maybe(draw(TEXT))}),
        "chapters": maybe([maybe(chapter)]),
        "pacing": maybe({"final_speed": draw(NUMBER), "line_pause_s": draw(NUMBER)}),
    }


def dump(document: Any) -> str:
    try:
        return yaml.safe_dump(document, allow_unicode=True)
    except UnicodeEncodeError:  # a lone surrogate: written as an escape instead
        return yaml.safe_dump(document, allow_unicode=False)


@st.composite
def files(draw: st.DrawFn, documents: st.SearchStrategy[Any]) -> bytes:
    """A generated document as a file: whole, truncated, or with bytes spliced in."""
    data = dump(draw(documents)).encode("utf-8", errors="surrogatepass")
    edit = draw(st.sampled_from(["whole", "whole", "truncate", "splice"]))
    if edit == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if edit == "splice":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(max_size=8)) + data[at:]
    return data


def located(error: BedtimeError, path: Path) -> bool:
    """Every line of the message starts with the file and a line number."""
    return all(
        re.match(rf"{re.escape(str(path))}:\d+: \S", line) for line in str(error).splitlines()
    )


def write(data: bytes, name: str) -> Path:
    folder = Path(tempfile.mkdtemp(dir=SCRATCH.name))
    path = folder / name
    path.write_bytes(data)
    return path


@examples(modest=300, fuzzing=5000)
@given(files(st.one_of(near_scripts(), tree(SCRIPT_KEYS))))
def test_any_script_parses_or_names_its_file_and_line(data: bytes) -> None:
    path = write(data, "story.yaml")
    try:
        plan = cast(parse_script(path), EMPTY_CASTING, "pyttsx3", OFFER)
        line_jobs(plan)  # the text as the engine will be given it
    except BedtimeError as error:
        assert located(error, path), str(error)
        OUTCOMES["script: error with file:line"] += 1
    else:
        OUTCOMES["script: ok"] += 1


VOICE_KEYS = st.sampled_from(
    ["lexicon", "defaults", "stories", "tiny", "narrator", "mira", *ENGINES, "voice", "speed",
     "pitch", "gender", "female", "male"]
)  # fmt: skip


@st.composite
def near_voices(draw: st.DrawFn) -> Any:
    voice = draw(
        st.fixed_dictionaries(
            {"voice": st.one_of(st.just("en-us+f1"), TEXT)},
            optional={"speed": NUMBER, "pitch": NUMBER, "gender": SCALAR},
        )
    )
    role = {draw(st.sampled_from([*ENGINES, "gender"])): voice}
    return draw(
        st.fixed_dictionaries(
            {},
            optional={
                "lexicon": st.dictionaries(TEXT, TEXT, max_size=3),
                "defaults": st.just({"narrator": role}),
                "stories": st.just({"tiny": {"mira": role}}),
            },
        )
    )


@examples(modest=200, fuzzing=1000)
@given(files(st.one_of(near_voices(), tree(VOICE_KEYS))))
def test_any_casting_file_loads_or_names_its_file_and_line(data: bytes) -> None:
    path = write(data, "voices.yaml")
    script = parse_script(Path(__file__).parent / "data" / "tiny.yaml")
    try:
        plan = cast(script, load_voices(path), "pyttsx3", OFFER)
        line_jobs(plan)
    except BedtimeError as error:
        assert located(error, path), str(error)
        OUTCOMES["voices: error with file:line"] += 1
    else:
        OUTCOMES["voices: ok"] += 1


@examples(modest=8, fuzzing=200)
@given(files(st.one_of(near_scripts(), tree(SCRIPT_KEYS))))
def test_check_on_the_command_line_never_crashes(data: bytes) -> None:
    path = write(data, "story.yaml")
    result = run_bedtime("check", "story.yaml", "--engine", "pyttsx3", cwd=path.parent)
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr
    if result.returncode == 1:
        assert result.stderr.startswith("error: story.yaml:"), result.stderr
    OUTCOMES[f"check exit {result.returncode}"] += 1


NUMERIC_OPTIONS = [
    ("render", "--tail"),
    ("render", "--loudness"),
    ("render", "--jobs"),
    ("soundscape", "--seconds"),
    ("preview", "--chapter"),
    ("preview", "--scene"),
    ("cache prune", "--older-than"),
]


@examples(modest=3, fuzzing=40)
@given(
    option=st.sampled_from(NUMERIC_OPTIONS),
    value=st.one_of(
        st.sampled_from(["nan", "-nan", "inf", "-inf", "1e999", "-0", "0x10", "", "١٢"]),
        NUMBER.map(str),
    ),
)
def test_numbers_on_the_command_line_are_checked(option: tuple[str, str], value: str) -> None:
    command, flag = option
    story = str(Path(__file__).parent / "data" / "tiny.yaml")
    rest = {
        "render": [story, "--draft", "--out", tempfile.mkdtemp()],
        "soundscape": ["rain", "-o", str(Path(tempfile.mkdtemp()) / "bed.wav")],
        "preview": [story, "--draft", "--no-play", "--chapter", "1"],
        "cache prune": [],
    }[command]
    if flag == "--scene" or flag == "--chapter":  # a real part would render; keep it short
        rest += ["--line", "1"] if flag == "--scene" else ["--scene", "1", "--line", "1"]
    env = {"BEDTIME_CACHE": tempfile.mkdtemp()}
    result = run_bedtime(*command.split(), *rest, f"{flag}={value}", env=env)
    assert result.returncode in (0, 1, 2), result.stderr
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr
    OUTCOMES[f"{command} {flag}: exit {result.returncode}"] += 1


@st.composite
def valid_scripts(draw: st.DrawFn) -> str:
    """Small scripts that `check` accepts, with free text in their lines."""
    said = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=30)
    text = st.tuples(WORDS.map(" ".join), said).map(lambda p: f"{p[0]} {p[1]}")
    chapters = draw(st.integers(1, 2))
    document = {
        "title": draw(text),
        "cast": {"narrator": "The storyteller"},
        "chapters": [
            {
                "title": draw(text),
                "soundscape": draw(st.sampled_from(sorted(PRESETS))),
                "scenes": [{"lines": [{"narrator": draw(text)}, {"pause": 0.5}]}],
            }
            for _ in range(chapters)
        ],
    }
    return dump(document)


@pytest.mark.slow
@examples(modest=2, fuzzing=20)
@given(valid_scripts())
def test_what_check_accepts_renders(document: str) -> None:
    path = write(document.encode(), "story.yaml")
    checked = run_bedtime("check", "story.yaml", "--engine", "pyttsx3", cwd=path.parent)
    if checked.returncode != 0:  # the text drew something check refuses, with file:line
        assert checked.stderr.startswith("error: story.yaml:"), checked.stderr
        return
    result = subprocess.run(
        [BEDTIME, "render", "story.yaml", "--draft", "--tail", "0", "-q"],
        cwd=path.parent,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (path.parent / "output" / "story" / "story.m4b").stat().st_size > 0
    OUTCOMES["rendered"] += 1


def teardown_module() -> None:
    SCRATCH.cleanup()
    if FUZZ:
        for outcome, count in sorted(OUTCOMES.items()):
            print(f"fuzz: {count:6d}  {outcome}")
