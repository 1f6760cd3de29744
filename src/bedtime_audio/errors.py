"""The errors a user can act on. Anything else that escapes is a bug."""

from __future__ import annotations

import unicodedata


class BedtimeError(Exception):
    """A problem the user can fix; the CLI prints it and exits 1."""


_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def unprintable(char: str) -> bool:
    """A control character, a lone surrogate, a line or paragraph separator, or a
    bidirectional control: nothing a transcript, a tag or a terminal should receive as it is."""
    return unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in _BIDI_CONTROLS


def printable(text: str, keep: str = "") -> str:
    """The text with every unprintable character but those in `keep` written as an escape
    (\\x1b, \\u202e), so that a message quoting a file cannot recolour the terminal, move its
    cursor or reorder what follows."""
    return "".join(
        ascii(char)[1:-1] if unprintable(char) and char not in keep else char for char in text
    )


class ScriptError(BedtimeError):
    """A problem in a script or casting file, located by file and line."""

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line else path  # line 0: the file as a whole
        super().__init__(printable(f"{where}: {message}"))


class ScriptErrors(BedtimeError):
    """Several problems found in one file, reported together."""

    def __init__(self, errors: list[ScriptError]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(e) for e in errors))


class EngineError(BedtimeError):
    """A speech engine is missing or failed to speak."""


class DependencyError(BedtimeError):
    """A system program or library is missing; the message says how to install it."""


class ExportError(BedtimeError):
    """Encoding or writing an output file failed."""
