"""Stage 1: a YAML scene script → Script, with file:line for every problem."""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType

import yaml

from .model import Chapter, Layer, Line, Pacing, Pause, Scene, Script, Soundscape, Speech
from .soundscape import PRESETS
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
    chapters: list[Chapter] = []
    bed = DEFAULT_SOUNDSCAPE
    for index, node in enumerate(sequence(top["chapters"][1], "chapters", problems, "chapter")):
        chapter = _chapter(node, f"chapters[{index}]", cast, bed, problems)
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
    node: yaml.Node, where: str, cast: dict[str, str], bed: Soundscape, problems: Problems
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
            bed = parse_soundscape(keys["soundscape"][1], f"{where}.soundscape", problems)
        if "scenes" not in keys:
            return None
        scenes = []
        for index, scene_node in enumerate(
            sequence(keys["scenes"][1], f"{where}.scenes", problems, "scene")
        ):
            scene = _scene(scene_node, f"{where}.scenes[{index}]", cast, bed, problems)
            if scene is not None:
                scenes.append(scene)
        title = text(keys["title"][1], f"{where}.title", problems) if "title" in keys else ""
        return Chapter(title, bed, tuple(scenes), node.start_mark.line + 1)
    except StructureError:
        return None


def _scene(
    node: yaml.Node, where: str, cast: dict[str, str], bed: Soundscape, problems: Problems
) -> Scene | None:
    try:
        keys = mapping(
            node,
            where,
            problems,
            required=("lines",),
            optional=("title", "soundscape"),
            what="a scene (a mapping with lines)",
        )
        title = text(keys["title"][1], f"{where}.title", problems) if "title" in keys else None
        if "soundscape" in keys:
            bed = parse_soundscape(keys["soundscape"][1], f"{where}.soundscape", problems)
        if "lines" not in keys:
            return None
        line_nodes = sequence(keys["lines"][1], f"{where}.lines", problems, "line")
        lines = [_line(n, f"{where}.lines[{i}]", cast, problems) for i, n in enumerate(line_nodes)]
        return Scene(
            title, bed, tuple(line for line in lines if line is not None), node.start_mark.line + 1
        )
    except StructureError:
        return None


def _line(node: yaml.Node, where: str, cast: dict[str, str], problems: Problems) -> Line | None:
    try:
        if not isinstance(node, yaml.MappingNode) or len(node.value) != 1:
            raise problems.fail(
                node, where, "a line is one 'speaker: text' or 'pause: seconds' mapping"
            )
        ((key_node, value_node),) = node.value
        key, line_no = str(key_node.value), node.start_mark.line + 1
        if key == "pause":
            pause_s = number(value_node, where, problems)
            if not 0 < pause_s <= MAX_PAUSE_S:
                raise problems.fail(
                    value_node, where, f"pause must be > 0 and <= {MAX_PAUSE_S:g} seconds"
                )
            return Pause(pause_s, line_no)
        if key not in cast:
            hint = did_you_mean(key, [*cast, "pause"])
            raise problems.fail(
                key_node, where, f"unknown speaker '{key}'{hint} (cast: {', '.join(sorted(cast))})"
            )
        said = text(value_node, where, problems)
        if not any(char.isalnum() for char in said):
            raise problems.fail(
                value_node,
                where,
                f"nothing to say in {said!r}: a line needs a word ('pause: seconds' is silence)",
            )
        return Speech(key, said, line_no)
    except StructureError:
        return None


def parse_soundscape(node: yaml.Node, where: str, problems: Problems) -> Soundscape:
    """A preset name, a list of names, or a mapping name → {gain_db, lowpass_hz}."""
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


def _layer(name: str, node: yaml.Node | None, where: str, problems: Problems) -> Layer:
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
        return Layer(name)
    keys = mapping(node, where, problems, optional=("gain_db", "lowpass_hz"))
    gain_db = number(keys["gain_db"][1], f"{where}.gain_db", problems) if "gain_db" in keys else 0.0
    lowpass_hz = None
    if "lowpass_hz" in keys:
        lowpass_hz = number(keys["lowpass_hz"][1], f"{where}.lowpass_hz", problems)
        if not 100 <= lowpass_hz <= 20000:
            problems.add(keys["lowpass_hz"][1], f"{where}.lowpass_hz", "must be 100 to 20000 Hz")
    if not -40 <= gain_db <= 12:
        problems.add(keys["gain_db"][1], f"{where}.gain_db", "must be -40 to +12 dB")
    return Layer(name, gain_db, lowpass_hz)
