"""Stage 1: a YAML scene script → Script, with file:line for every problem."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import yaml

from .markup import MarkupError, Performance, has_markup, parse_markup
from .model import (
    FILE_LAYER,
    Chapter,
    Cue,
    CueLine,
    Direction,
    Layer,
    Line,
    Pacing,
    Pause,
    Scene,
    Script,
    SoundFile,
    Soundscape,
    Speech,
)
from .sounds import SoundError, check_file
from .soundscape import PRESETS
from .soundscape.effects import EFFECTS
from .yamlnodes import (
    Problems,
    StructureError,
    compose_file,
    describe,
    did_you_mean,
    mapping,
    number,
    scalar,
    sequence,
    text,
)

SPEAKER_ID = re.compile(r"[a-z][a-z0-9_-]*\Z")
MAX_PAUSE_S = 60.0
DEFAULT_SOUNDSCAPE: Soundscape = (Layer("brown-noise"),)
"""The bed of a first chapter that names none; later chapters continue the one before."""
DIRECTION = ("speed", "gain_db", "pause_after", "voice", "bed", "sfx")
"""What a line may say about how it is performed, beside 'speaker: text'."""
SPEED_RANGE = (0.5, 1.5)
GAIN_RANGE_DB = (-20.0, 6.0)
DUCK_RANGE_DB = (0.0, 30.0)
BED_WORDS = {"deeper": 14.0, "lighter": 4.0}
"""`bed:` in words: how far the bed dips under the line, in dB (the mix's own is 8)."""


@dataclass(frozen=True)
class _Scope:
    """What every part of one script is read against."""

    cast: dict[str, str]
    folder: Path
    """Sound files are named relative to the script's folder."""


def parse_script(path: Path) -> Script:
    """Read and validate one scene script; raises ScriptError(s) naming file and line."""
    shown = str(path)
    root = compose_file(path, shown)
    problems = Problems(shown)
    try:
        script = _script(root, path, problems)
    except StructureError:
        script = None
    problems.raise_if_any()
    assert script is not None
    return script


def _script(root: yaml.Node, path: Path, problems: Problems) -> Script:
    top = mapping(
        root,
        "",
        problems,
        required=("title", "cast", "chapters"),
        optional=("author", "description", "narrator", "year", "pacing"),
        what="a script (a mapping with title, cast, chapters)",
    )
    if not {"title", "cast", "chapters"} <= top.keys():
        raise StructureError()
    cast = _cast(top["cast"][1], problems)
    scope = _Scope(cast, path.parent)
    chapters: list[Chapter] = []
    bed = DEFAULT_SOUNDSCAPE
    for index, node in enumerate(sequence(top["chapters"][1], "chapters", problems, "chapter")):
        chapter = _chapter(node, f"chapters[{index}]", scope, bed, problems)
        if chapter is not None:
            chapters.append(chapter)
            bed = chapter.soundscape
    _warn_unheard_soundscapes(
        sequence(top["chapters"][1], "chapters", problems, "chapter"), problems
    )
    optional = {
        key: text(top[key][1], key, problems)
        for key in ("author", "description", "narrator")
        if key in top
    }
    return Script(
        path=str(path),
        slug=path.stem,
        title=text(top["title"][1], "title", problems),
        author=optional.get("author"),
        description=optional.get("description"),
        cast=MappingProxyType(cast),
        chapters=tuple(chapters),
        pacing=_pacing(top["pacing"][1], problems) if "pacing" in top else Pacing(),
        narrator=optional.get("narrator"),
        year=_year(top["year"][1], problems) if "year" in top else None,
        warnings=tuple(problems.warnings),
    )


def _year(node: yaml.Node, problems: Problems) -> int | None:
    value = number(node, "year", problems)
    if value != int(value) or not 1000 <= value <= 9999:
        problems.add(node, "year", f"expected a year like 2026, got {describe(node)}")
        return None
    return int(value)


def _warn_unheard_soundscapes(nodes: list[yaml.Node], problems: Problems) -> None:
    """A chapter's soundscape that no scene hears: every scene of the chapter sets its own, and
    so does every scene that would inherit it in the chapters after."""
    sets = [_keys(node) for node in nodes]
    scenes = []
    for node in nodes:
        scene_nodes = _value(node, "scenes", yaml.SequenceNode)
        scenes.append([_keys(scene) for scene in scene_nodes.value] if scene_nodes else [])
    for index, node in enumerate(nodes):
        bed = _value(node, "soundscape", yaml.Node)
        if bed is None:
            continue
        heard = False
        for later in range(index, len(nodes)):
            if later > index and "soundscape" in sets[later]:
                break
            if any("soundscape" not in scene for scene in scenes[later]):
                heard = True
                break
        if not heard:
            problems.warn(
                bed,
                f"chapters[{index}].soundscape",
                "no scene hears it (each sets its own soundscape); remove it or a scene's",
            )


def _keys(node: yaml.Node) -> set[str]:
    if not isinstance(node, yaml.MappingNode):
        return set()
    return {key.value for key, _value in node.value if isinstance(key, yaml.ScalarNode)}


def _value(node: yaml.Node, key: str, kind: type[yaml.Node]) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return value if isinstance(value, kind) else None
    return None


_PACING_RANGES = {
    "start_speed": (0.5, 1.5),
    "final_speed": (0.5, 1.5),
    "sentence_pause_s": (0.0, 5.0),
    "clause_pause_s": (0.0, 3.0),
    "line_pause_s": (0.0, 10.0),
    "scene_pause_s": (0.0, 30.0),
    "final_pause_scale": (1.0, 4.0),
}


def _pacing(node: yaml.Node, problems: Problems) -> Pacing:
    keys = mapping(node, "pacing", problems, optional=tuple(_PACING_RANGES))
    values = {}
    for key, (_key_node, value_node) in keys.items():
        low, high = _PACING_RANGES[key]
        value = number(value_node, f"pacing.{key}", problems)
        if not low <= value <= high:
            problems.add(value_node, f"pacing.{key}", f"must be {low:g} to {high:g}")
        values[key] = value
    return Pacing(**values)


def _cast(node: yaml.Node, problems: Problems) -> dict[str, str]:
    entries = mapping(node, "cast", problems, what="a mapping of speaker id → description")
    if not entries:
        raise problems.fail(node, "cast", "needs at least one speaker")
    cast: dict[str, str] = {}
    for speaker, (key_node, value_node) in entries.items():
        if speaker == "pause" or not SPEAKER_ID.match(speaker):
            problems.add(
                key_node,
                "cast",
                f"speaker id '{speaker}' must match [a-z][a-z0-9_-]* and not be 'pause'",
            )
            continue
        value = scalar(value_node, f"cast.{speaker}", problems)
        cast[speaker] = "" if value is None else str(value).strip()
    return cast


def _chapter(
    node: yaml.Node, where: str, scope: _Scope, bed: Soundscape, problems: Problems
) -> Chapter | None:
    try:
        keys = mapping(
            node,
            where,
            problems,
            required=("title", "scenes"),
            optional=("soundscape",),
            what="a chapter (a mapping with title and scenes)",
        )
        if "soundscape" in keys:
            bed = parse_soundscape(keys["soundscape"][1], f"{where}.soundscape", scope, problems)
        if "scenes" not in keys:
            return None
        scenes = []
        for index, scene_node in enumerate(
            sequence(keys["scenes"][1], f"{where}.scenes", problems, "scene")
        ):
            scene = _scene(scene_node, f"{where}.scenes[{index}]", scope, bed, problems)
            if scene is not None:
                scenes.append(scene)
        title = text(keys["title"][1], f"{where}.title", problems) if "title" in keys else ""
        return Chapter(title, bed, tuple(scenes), node.start_mark.line + 1)
    except StructureError:
        return None


def _scene(
    node: yaml.Node, where: str, scope: _Scope, bed: Soundscape, problems: Problems
) -> Scene | None:
    try:
        keys = mapping(
            node,
            where,
            problems,
            required=("lines",),
            optional=("title", "soundscape", "music", "sfx"),
            what="a scene (a mapping with lines)",
        )
        title = text(keys["title"][1], f"{where}.title", problems) if "title" in keys else None
        if "soundscape" in keys:
            bed = parse_soundscape(keys["soundscape"][1], f"{where}.soundscape", scope, problems)
        cues: tuple[Cue, ...] = ()
        with contextlib.suppress(StructureError):  # reported; the lines are read on
            if "music" in keys:
                bed = (*bed, _file_layer(keys["music"][1], f"{where}.music", scope, problems))
            if "sfx" in keys:
                cues = _cues(keys["sfx"][1], f"{where}.sfx", scope, problems)
        if "lines" not in keys:
            return None
        line_nodes = sequence(keys["lines"][1], f"{where}.lines", problems, "line")
        lines = [_line(n, f"{where}.lines[{i}]", scope, problems) for i, n in enumerate(line_nodes)]
        return Scene(
            title,
            bed,
            tuple(line for line in lines if line is not None),
            node.start_mark.line + 1,
            cues,
        )
    except StructureError:
        return None


def _line(node: yaml.Node, where: str, scope: _Scope, problems: Problems) -> Line | None:
    """'speaker: text' with the line's direction beside it, 'pause: seconds', or 'sfx: cue'."""
    try:
        if not isinstance(node, yaml.MappingNode) or not node.value:
            raise problems.fail(
                node, where, "a line is a 'speaker: text', 'pause: seconds' or 'sfx: cue' mapping"
            )
        entries: dict[str, tuple[yaml.Node, yaml.Node]] = {
            str(k.value): (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)
        }
        said = [key for key in entries if key not in DIRECTION]
        line_no = node.start_mark.line + 1
        if not said and list(entries) == ["sfx"]:
            return CueLine(_cue(entries["sfx"][1], where, scope, problems), line_no)
        if len(said) != 1:
            raise problems.fail(node, where, _not_one_speaker(said, scope.cast))
        key = said[0]
        key_node, value_node = entries[key]
        if key == "pause":
            if len(entries) > 1:
                raise problems.fail(node, where, "a pause takes no direction; it is silence")
            return _pause(value_node, where, problems)
        if key not in scope.cast:
            hint = did_you_mean(key, [*scope.cast, "pause", *DIRECTION])
            raise problems.fail(
                key_node,
                where,
                f"unknown speaker '{key}'{hint} (cast: {', '.join(sorted(scope.cast))})",
            )
        written = text(value_node, where, problems)
        parts: Performance = ()
        if has_markup(written):
            try:
                written, parts = parse_markup(written)
            except MarkupError as exc:
                raise problems.fail(value_node, where, str(exc)) from None
        if not any(char.isalnum() for char in written):
            raise problems.fail(
                value_node,
                where,
                f"nothing to say in {written!r}: a line needs a word ('pause: seconds' is silence)",
            )
        direction = _direction(entries, f"{where}.{key}", scope, problems)
        return Speech(key, written, line_no, parts, direction)
    except StructureError:
        return None


def _not_one_speaker(said: list[str], cast: dict[str, str]) -> str:
    if not said:
        return "a line needs a speaker ('speaker: text'), 'pause: seconds' or 'sfx: cue'"
    speakers = [key for key in said if key in cast or key == "pause"]
    if len(speakers) > 1:
        return f"one speaker per line, not {', '.join(speakers)}"
    stray = next(key for key in said if key not in speakers)
    return (
        f"unknown key '{stray}'{did_you_mean(stray, [*DIRECTION, *cast])} "
        f"(a line takes a speaker and: {', '.join(DIRECTION)})"
    )


def _pause(node: yaml.Node, where: str, problems: Problems) -> Pause:
    pause_s = number(node, where, problems)
    if not 0 < pause_s <= MAX_PAUSE_S:
        raise problems.fail(node, where, f"pause must be > 0 and <= {MAX_PAUSE_S:g} seconds")
    return Pause(pause_s, node.start_mark.line + 1)


def _direction(
    entries: dict[str, tuple[yaml.Node, yaml.Node]], where: str, scope: _Scope, problems: Problems
) -> Direction:
    values: dict[str, object] = {}
    for key, low, high, field_name in (
        ("speed", *SPEED_RANGE, "speed"),
        ("gain_db", *GAIN_RANGE_DB, "gain_db"),
        ("pause_after", 0.0, MAX_PAUSE_S, "pause_after_s"),
    ):
        if key in entries:
            values[field_name] = _within(entries[key][1], f"{where}.{key}", low, high, problems)
    if "voice" in entries:
        node = entries["voice"][1]
        voice = text(node, f"{where}.voice", problems)
        if voice not in scope.cast:
            problems.add(
                node,
                f"{where}.voice",
                f"'{voice}' is not in the cast{did_you_mean(voice, scope.cast)}: a line is said "
                f"in the voice of another speaker (cast: {', '.join(sorted(scope.cast))})",
            )
        values["voice"] = voice
    if "bed" in entries:
        values["duck_db"] = _duck(entries["bed"][1], f"{where}.bed", problems)
    if "sfx" in entries:
        values["cues"] = _cues(entries["sfx"][1], f"{where}.sfx", scope, problems)
    return Direction(**values)  # type: ignore[arg-type]


def _within(node: yaml.Node, where: str, low: float, high: float, problems: Problems) -> float:
    value = number(node, where, problems)
    if not low <= value <= high:
        problems.add(node, where, f"must be {low:g} to {high:g}, not {value:g}")
    return value


def _duck(node: yaml.Node, where: str, problems: Problems) -> float:
    value = scalar(node, where, problems)
    if isinstance(value, str) and value in BED_WORDS:
        return BED_WORDS[value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _within(node, where, *DUCK_RANGE_DB, problems)
    raise problems.fail(
        node,
        where,
        f"expected deeper, lighter, or how far the bed dips in dB "
        f"({DUCK_RANGE_DB[0]:g} to {DUCK_RANGE_DB[1]:g}), got {describe(node)}",
    )


def _cues(node: yaml.Node, where: str, scope: _Scope, problems: Problems) -> tuple[Cue, ...]:
    """One cue, or a list of cues heard together."""
    if isinstance(node, yaml.SequenceNode):
        return tuple(
            _cue(item, f"{where}[{i}]", scope, problems)
            for i, item in enumerate(sequence(node, where, problems, "cue"))
        )
    return (_cue(node, where, scope, problems),)


def _cue(node: yaml.Node, where: str, scope: _Scope, problems: Problems) -> Cue:
    """An effect's name, or {effect: name | file: path, gain_db: dB}."""
    if isinstance(node, yaml.MappingNode):
        keys = mapping(node, where, problems, optional=("effect", "file", "gain_db"))
        gain_db = (
            _within(keys["gain_db"][1], f"{where}.gain_db", -40.0, 12.0, problems)
            if "gain_db" in keys
            else 0.0
        )
        if ("effect" in keys) == ("file" in keys):
            raise problems.fail(node, where, "a cue names an effect or a file (one of them)")
        if "file" in keys:
            return Cue(_sound_file(keys["file"][1], f"{where}.file", scope, problems), gain_db)
        return Cue(_effect(keys["effect"][1], f"{where}.effect", problems), gain_db)
    return Cue(_effect(node, where, problems))


def _effect(node: yaml.Node, where: str, problems: Problems) -> str:
    name = text(node, where, problems)
    if name not in EFFECTS:
        raise problems.fail(
            node,
            where,
            f"unknown effect '{name}'{did_you_mean(name, EFFECTS)} (effects: "
            f"{', '.join(sorted(EFFECTS))}; or {{file: sounds/x.ogg}} for a recording)",
        )
    return name


def _sound_file(node: yaml.Node, where: str, scope: _Scope, problems: Problems) -> SoundFile:
    name = text(node, where, problems)
    try:
        return check_file(name, scope.folder)
    except SoundError as exc:
        raise problems.fail(node, where, str(exc)) from None


def _file_layer(node: yaml.Node, where: str, scope: _Scope, problems: Problems) -> Layer:
    """A recording looped under the scene: a path, or {file: path, gain_db, lowpass_hz}."""
    if not isinstance(node, yaml.MappingNode):
        return Layer(FILE_LAYER, file=_sound_file(node, where, scope, problems))
    keys = mapping(node, where, problems, required=("file",), optional=("gain_db", "lowpass_hz"))
    file = _sound_file(keys["file"][1], f"{where}.file", scope, problems)
    return Layer(FILE_LAYER, *_tone(keys, where, problems), file)


def parse_soundscape(node: yaml.Node, where: str, scope: _Scope, problems: Problems) -> Soundscape:
    """A preset name, a list of names (or recordings), a mapping name → {gain_db, lowpass_hz},
    or a recording: {file: path, gain_db, lowpass_hz}."""
    if _is_file(node):
        return (_file_layer(node, where, scope, problems),)
    if isinstance(node, yaml.SequenceNode):
        items = [(n, None) for n in sequence(node, where, problems, "preset name")]
    elif isinstance(node, yaml.MappingNode):
        items = list(node.value)
        if not items:
            raise problems.fail(node, where, "needs at least one preset")
    else:
        items = [(node, None)]
    layers = []
    for name_node, settings in items:
        if _is_file(name_node):
            layers.append(_file_layer(name_node, where, scope, problems))
            continue
        name = text(name_node, where, problems)
        if name not in PRESETS:
            problems.add(
                name_node,
                where,
                f"unknown soundscape '{name}'{did_you_mean(name, PRESETS)}"
                f" (presets: {', '.join(sorted(PRESETS))})",
            )
            continue
        layers.append(_layer(name, settings, f"{where}.{name}", problems))
    if not layers:
        raise StructureError()
    return tuple(layers)


def _is_file(node: yaml.Node) -> bool:
    return isinstance(node, yaml.MappingNode) and "file" in _keys(node)


def _layer(name: str, node: yaml.Node | None, where: str, problems: Problems) -> Layer:
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
        return Layer(name)
    keys = mapping(node, where, problems, optional=("gain_db", "lowpass_hz"))
    return Layer(name, *_tone(keys, where, problems))


def _tone(
    keys: dict[str, tuple[yaml.Node, yaml.Node]], where: str, problems: Problems
) -> tuple[float, float | None]:
    """A layer's gain_db and lowpass_hz."""
    gain_db = number(keys["gain_db"][1], f"{where}.gain_db", problems) if "gain_db" in keys else 0.0
    lowpass_hz = None
    if "lowpass_hz" in keys:
        lowpass_hz = number(keys["lowpass_hz"][1], f"{where}.lowpass_hz", problems)
        if not 100 <= lowpass_hz <= 20000:
            problems.add(keys["lowpass_hz"][1], f"{where}.lowpass_hz", "must be 100 to 20000 Hz")
    if not -40 <= gain_db <= 12:
        problems.add(keys["gain_db"][1], f"{where}.gain_db", "must be -40 to +12 dB")
    return gain_db, lowpass_hz
