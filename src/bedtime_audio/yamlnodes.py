"""Safe YAML with line numbers: read a file into PyYAML nodes and check their shapes."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from .errors import ScriptError, ScriptErrors, unprintable

_CONSTRUCTOR = SafeConstructor()


class StructureError(Exception):
    """The file's shape is broken below this node; stop reading it."""


@dataclass
class Problems:
    """Collects the errors of one file so they are reported together."""

    path: str
    errors: list[ScriptError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Mistakes that do not stop a render: 'path:line: where: message'."""

    def warn(self, node: yaml.Node, where: str, message: str) -> None:
        self.warnings.append(
            str(ScriptError(self.path, node.start_mark.line + 1, f"{where}: {message}"))
        )

    def add(self, node: yaml.Node, where: str, message: str) -> None:
        prefix = f"{where}: " if where else ""
        self.errors.append(ScriptError(self.path, node.start_mark.line + 1, prefix + message))

    def fail(self, node: yaml.Node, where: str, message: str) -> StructureError:
        self.add(node, where, message)
        return StructureError()

    def raise_if_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise ScriptErrors(sorted(self.errors, key=lambda e: e.line))


def compose_file(path: Path, shown: str) -> yaml.Node:
    """The root node of a YAML file, or a ScriptError naming where it is malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        siblings = [str(p.name) for p in path.parent.glob("*.yaml")] if path.parent.is_dir() else []
        raise ScriptError(shown, 0, f"no such file{did_you_mean(path.name, siblings)}") from None
    except UnicodeDecodeError as exc:
        raise ScriptError(shown, 1, f"not UTF-8 text ({exc.reason})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.context_mark or exc.problem_mark
        line = mark.line + 1 if mark else 1
        detail = f"{exc.context}, {exc.problem}" if exc.context else str(exc.problem)
        raise ScriptError(shown, line, f"invalid YAML: {detail}") from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, such as 0x01
        line = text.count("\n", 0, exc.position) + 1
        raise ScriptError(shown, line, f"invalid character {_codepoint(exc.character)}") from None
    except RecursionError:
        raise ScriptError(shown, 1, "invalid YAML: nested too deeply") from None
    if node is None:
        raise ScriptError(shown, 1, "the file is empty")
    return node


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq")
}


def _plain(node: yaml.Node, where: str, problems: Problems) -> None:
    """Refuse tags that would build objects (e.g. !!python/object): plain YAML only."""
    if node.tag not in _PLAIN_TAGS:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise problems.fail(node, where, f"unsupported YAML tag '{tag}' (plain YAML only)")


def mapping(
    node: yaml.Node,
    where: str,
    problems: Problems,
    required: Iterable[str] = (),
    optional: Iterable[str] = (),
    what: str = "a mapping",
) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """Key → (key node, value node); unknown, duplicate and missing keys are reported."""
    _plain(node, where, problems)
    if not isinstance(node, yaml.MappingNode):
        raise problems.fail(node, where, f"expected {what}, got {describe(node)}")
    required, optional = tuple(required), tuple(optional)
    known = required + optional
    entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        if key in entries:
            problems.add(key_node, where, f"duplicate key '{key}'")
        elif known and key not in known:
            problems.add(
                key_node,
                where,
                f"unknown key '{key}'{did_you_mean(key, known)} (expected: {', '.join(known)})",
            )
        else:
            entries[key] = (key_node, value_node)
    for key in required:
        if key not in entries:
            problems.add(node, where, f"missing required key '{key}'")
    return entries


def sequence(node: yaml.Node, where: str, problems: Problems, what: str) -> list[yaml.Node]:
    """The items of a non-empty list of `what`s."""
    _plain(node, where, problems)
    if not isinstance(node, yaml.SequenceNode):
        raise problems.fail(node, where, f"expected a list of {what}s, got {describe(node)}")
    if not node.value:
        raise problems.fail(node, where, f"needs at least one {what}")
    return list(node.value)


def scalar(node: yaml.Node, where: str, problems: Problems) -> Any:
    """The Python value of a scalar node (str, int, float, bool or None)."""
    _plain(node, where, problems)
    if not isinstance(node, yaml.ScalarNode):
        raise problems.fail(node, where, f"expected a single value, got {describe(node)}")
    return _CONSTRUCTOR.construct_object(node)


def text(node: yaml.Node, where: str, problems: Problems) -> str:
    value = scalar(node, where, problems)
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        raise problems.fail(node, where, f"expected text, got {describe(node)}")
    result = str(value).strip()
    if not result:
        raise problems.fail(node, where, "text must not be empty")
    if bad := next((ch for ch in result if unprintable(ch) and ch not in "\t\n"), None):
        raise problems.fail(
            node, where, f"text must not hold control characters (found {_codepoint(bad)})"
        )
    return result


def _codepoint(char: str | int) -> str:
    return f"U+{char if isinstance(char, int) else ord(char):04X}"


def number(node: yaml.Node, where: str, problems: Problems) -> float:
    value = scalar(node, where, problems)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise problems.fail(node, where, f"expected a number, got {describe(node)}")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise problems.fail(node, where, f"expected a finite number, got {describe(node)}")
    return result


def describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag.endswith(":null"):
        return "nothing"
    return f"'{node.value}'"
