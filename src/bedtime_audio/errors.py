"""The errors a user can act on. Anything else that escapes is a bug."""

from __future__ import annotations


class BedtimeError(Exception):
    """A problem the user can fix; the CLI prints it and exits 1."""


class ScriptError(BedtimeError):
    """A problem in a script or casting file, located by file and line."""

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        super().__init__(f"{path}:{line}: {message}")


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
