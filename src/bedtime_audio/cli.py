"""The `bedtime` command: parse options, call one function, map errors to exit codes."""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .cache import LineCache, default_cache_dir
from .engines import ENGINES, default_engine, load_engine
from .errors import BedtimeError

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_VOICES = Path("voices.yaml")


def handle_errors(command: F) -> F:
    """A BedtimeError is the user's to fix: its message, exit 1. Anything else is a bug: exit 3
    with the traceback in a log file."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BedtimeError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted; nothing half-written was kept", err=True)
            sys.exit(130)
        except Exception:  # noqa: BLE001 — the one place that turns a bug into a report
            fd, log = tempfile.mkstemp(prefix="bedtime-crash-", suffix=".log")
            with os.fdopen(fd, "w") as fh:
                fh.write(traceback.format_exc())
            click.echo(f"unexpected error (a bug in bedtime-audio); details in {log}", err=True)
            sys.exit(3)

    return wrapper  # type: ignore[return-value]


def _voices_option(path: Path | None) -> Path | None:
    if path is not None:
        return path
    return DEFAULT_VOICES if DEFAULT_VOICES.exists() else None


@click.group()
@click.version_option(__version__, prog_name="bedtime")
def main() -> None:
    """Render scene scripts into calm, chaptered bedtime audio."""


scripts_argument = click.argument(
    "scripts", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False)
)
voices_option = click.option(
    "--voices", "voices_path", type=click.Path(path_type=Path, dir_okay=False),
    help="Casting file (default: ./voices.yaml when present).",
)
engine_option = click.option(
    "--engine", type=click.Choice(sorted(ENGINES)), default=None,
    help="Speech engine (default: kokoro when installed, else pyttsx3).",
)


@main.command()
@scripts_argument
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("output"), show_default=True, help="Folder for the rendered stories.")
@engine_option
@click.option("--draft", is_flag=True, help="Fast draft voices (the pyttsx3 engine).")
@voices_option
@click.option("--tail", "tail_s", type=click.FloatRange(0, 7200), default=600.0,
              show_default=True, help="Seconds of ambience after the last line, fading out.")
@click.option("--loudness", "target_lufs", type=click.FloatRange(-40, -10), default=-20.0,
              show_default=True, help="Integrated loudness of the master, LUFS.")
@click.option("--jobs", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Lines synthesized at once.")
@click.option("--quiet", is_flag=True, help="Print only errors.")
@handle_errors
def render(scripts: tuple[Path, ...], out_dir: Path, engine: str | None, draft: bool,
           voices_path: Path | None, tail_s: float, target_lufs: float, jobs: int,
           quiet: bool) -> None:
    """Render SCRIPTS into OUT/<slug>/ (M4B, MP3, VTT transcript, render.json)."""
    from .render import RenderOptions
    from .render import render as render_all

    def report(message: str) -> None:
        if not quiet:
            click.echo(message, err=True)

    options = RenderOptions(out_dir, LineCache(default_cache_dir()), tail_s, target_lufs, jobs)
    name = _pick_engine(engine, draft, report)
    for rendered in render_all(list(scripts), _voices_option(voices_path), name, options, report):
        click.echo(str(rendered.folder))


def _pick_engine(engine: str | None, draft: bool, report: Callable[[str], None]) -> str:
    if draft:
        return "pyttsx3"
    if engine is not None:
        return engine
    name, reason = default_engine()
    if reason is not None:
        report(f"notice: drafting with pyttsx3 because Kokoro is not available: {reason}")
    return name


@main.command()
@scripts_argument
@voices_option
@engine_option
@handle_errors
def check(scripts: tuple[Path, ...], voices_path: Path | None, engine: str | None) -> None:
    """Validate SCRIPTS and their casting without rendering."""
    from .render import prepare

    engines = [engine] if engine else sorted(ENGINES)
    for name in engines:
        plans = prepare(list(scripts), _voices_option(voices_path), load_engine(name))
    for plan in plans:
        for notice in plan.notices:
            click.echo(f"notice: {notice}", err=True)
        words = sum(len(s.text.split()) for s in plan.script.speeches)
        click.echo(f"{plan.script.path}: ok — {len(plan.script.chapters)} chapters, "
                   f"{len(plan.script.speeches)} lines, {words} words")


@main.command()
@engine_option
@handle_errors
def voices(engine: str | None) -> None:
    """List the voices each engine offers."""
    for name in [engine] if engine else sorted(ENGINES):
        for info in load_engine(name).voices():
            click.echo(f"{name:8s} {info.voice_id:22s} {info.gender:6s} {info.language}")
