"""The `bedtime` command: parse options, call one function, map errors to exit codes."""

from __future__ import annotations

import errno
import functools
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .cache import default_cache_dir
from .engines import ENGINES, default_engine, load_engine
from .errors import BedtimeError, printable
from .executors import EXECUTORS, default_jobs, return_large_buffers
from .feed import Channel
from .model import Voice
from .text import normalize_text

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_VOICES = Path("voices.yaml")


class FiniteRange(click.FloatRange):
    """A float range that also refuses nan and the infinities: nan passes every comparison."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def handle_errors(command: F) -> F:
    """A BedtimeError, or a full disk, is the user's to fix: its message, exit 1. Anything else
    is a bug: exit 3 with the traceback in a log file."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BedtimeError as exc:
            click.echo(f"error: {printable(str(exc), keep=chr(10))}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted; nothing half-written was kept", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 — the one place that turns a bug into a report
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                click.echo(
                    "error: the disk is full: nothing half-written was kept. Free some space,"
                    " or render with BEDTIME_CACHE and --out on a larger disk (the chapter"
                    " cache takes about 1.3 GB an hour of audio; `bedtime cache prune` clears"
                    " it)",
                    err=True,
                )
                sys.exit(1)
            fd, log = tempfile.mkstemp(prefix="bedtime-crash-", suffix=".log")
            with os.fdopen(fd, "w") as fh:
                fh.write(traceback.format_exc())
            click.echo(f"unexpected error (a bug in bedtime-audio); details in {log}", err=True)
            sys.exit(3)

    return wrapper  # type: ignore[return-value]


class Reporter:
    """Progress on stderr: lines as they come with --verbose; otherwise a 'spoke n/m' or
    'encoded n/m' count rewrites itself on a terminal, and elsewhere is printed at every tenth
    of the way."""

    def __init__(self, quiet: bool, verbose: bool) -> None:
        self.quiet, self.verbose = quiet, verbose
        self.terminal = sys.stderr.isatty()
        self.open_line = False

    def __call__(self, message: str) -> None:
        if self.quiet:
            return
        progress = re.search(r": (?:spoke|encoded) (\d+)/(\d+) ", message)
        if progress and not self.verbose:
            done, total = int(progress[1]), int(progress[2])
            if self.terminal:
                click.echo(f"\r\033[K{message}", err=True, nl=done == total)
                self.open_line = done != total
                return
            if done != total and done % max(1, total // 10):
                return
        if self.open_line:
            click.echo("", err=True)
            self.open_line = False
        click.echo(message, err=True)


def _user_path(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    """A path as the user typed it, with ~ expanded: the core reads it in this process, so a
    relative one stays relative and errors name it as the user wrote it."""
    if isinstance(value, tuple):
        return tuple(path.expanduser() for path in value)
    return value.expanduser() if isinstance(value, Path) else value


EXISTING_FILE = click.Path(exists=True, path_type=Path, dir_okay=False)
"""A file the command reads: it must be there."""


def _output_option(help_text: str | None = None, required: bool = False) -> Callable[[F], F]:
    """-o/--output: the file a command writes (~ expanded)."""
    return click.option(
        "-o",
        "--output",
        type=click.Path(path_type=Path, dir_okay=False),
        callback=_user_path,
        default=None,
        required=required,
        help=help_text,
    )


def _absolute(path: Path) -> Path:
    """A path the core writes to or hands to ffmpeg: absolute, so that no subprocess started
    in another working directory can misread it."""
    return path.expanduser().resolve()


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _voices_option(path: Path | None) -> Path | None:
    if path is not None:
        return path
    return DEFAULT_VOICES if DEFAULT_VOICES.exists() else None


@click.group()
@click.version_option(__version__, prog_name="bedtime")
def main() -> None:
    """Render scene scripts into calm, chaptered bedtime audio."""
    return_large_buffers()


output_folder_argument = click.argument(
    "folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("output"),
    callback=_user_path,
)
scripts_argument = click.argument(
    "scripts",
    nargs=-1,
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    callback=_user_path,
)
voices_option = click.option(
    "--voices",
    "voices_path",
    type=click.Path(path_type=Path, dir_okay=False),
    callback=_user_path,
    help="Casting file (default: ./voices.yaml when present).",
)
engine_option = click.option(
    "--engine",
    type=click.Choice(sorted(ENGINES)),
    default=None,
    help="Speech engine (default: kokoro when installed, else pyttsx3).",
)


@main.command()
@scripts_argument
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("output"),
    show_default=True,
    help="Folder for the rendered stories.",
)
@engine_option
@click.option("--draft", is_flag=True, help="Fast draft voices (the pyttsx3 engine).")
@voices_option
@click.option(
    "--tail",
    "tail_s",
    type=FiniteRange(0, 43200),
    default=600.0,
    show_default=True,
    help="Seconds of ambience after the last line, fading out.",
)
@click.option(
    "--loudness",
    "target_lufs",
    type=FiniteRange(-40, -10),
    default=-20.0,
    show_default=True,
    help="Integrated loudness of the master, LUFS.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 256),
    default=default_jobs(),
    show_default="the number of CPU cores",
    help="Units of work at once (sentences spoken, chapters mixed, stretches encoded); "
    "with --executor dask, workers of the LocalCluster.",
)
@click.option(
    "--executor",
    type=click.Choice(EXECUTORS),
    default="local",
    show_default=True,
    help="Where the work runs: this machine, or a Dask cluster (needs the [distributed] extra).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="A Dask scheduler to render on (tcp://host:port; implies --executor dask). Without "
    "it, --executor dask starts a LocalCluster.",
)
@click.option("--stems", is_flag=True, help="Also write the voice and the bed as FLAC stems.")
@click.option(
    "--format",
    "formats",
    type=click.Choice(("m4b", "mp3", "opus")),
    multiple=True,
    help="Also write this format (repeatable): opus, an Ogg Opus for phones. The M4B and MP3 "
    "are always written.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
@click.option("-v", "--verbose", is_flag=True, help="Print every step.")
@handle_errors
def render(
    scripts: tuple[Path, ...],
    out_dir: Path,
    engine: str | None,
    draft: bool,
    voices_path: Path | None,
    tail_s: float,
    target_lufs: float,
    jobs: int,
    executor: str,
    scheduler: str | None,
    stems: bool,
    formats: tuple[str, ...],
    quiet: bool,
    verbose: bool,
) -> None:
    """Render SCRIPTS into OUT/<slug>/ (M4B, MP3, VTT transcript, render.json)."""
    from .export import Outputs
    from .render import RenderOptions
    from .render import render as render_all

    report = Reporter(quiet, verbose)
    options = RenderOptions(
        _absolute(out_dir),
        default_cache_dir(),
        tail_s,
        target_lufs,
        jobs=jobs,
        executor="dask" if scheduler else executor,
        scheduler=scheduler,
        outputs=Outputs(stems=stems, opus="opus" in formats),
    )
    name = _pick_engine(engine, draft, report)
    for rendered in render_all(list(scripts), _voices_option(voices_path), name, options, report):
        click.echo(_shown(rendered.folder))


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
        for warning in plan.script.warnings:
            click.echo(f"warning: {printable(warning)}", err=True)
        words = sum(len(s.text.split()) for s in plan.script.speeches)
        click.echo(
            f"{plan.script.path}: ok — {len(plan.script.chapters)} chapters, "
            f"{len(plan.script.speeches)} lines, {words} words"
        )


@main.command()
@engine_option
@click.option(
    "--sample",
    "sample",
    default=None,
    help="Audition a script's cast, each speaker in their cast voice (a .yaml), or one voice "
    "or blend: --sample 'af_heart*0.6 + af_bella*0.4'.",
)
@voices_option
@handle_errors
def voices(engine: str | None, sample: str | None, voices_path: Path | None) -> None:
    """List the voices each engine offers, or audition a story's cast or a voice (--sample)."""
    if sample is None:
        for name in [engine] if engine else sorted(ENGINES):
            for info in load_engine(name).voices():
                click.echo(f"{name:8s} {info.voice_id:22s} {info.gender:6s} {info.language}")
        return
    from .preview import audition, audition_voice
    from .render import RenderOptions, prepare

    report = Reporter(quiet=False, verbose=False)
    loaded = load_engine(_pick_engine(engine, False, report))
    script = Path(sample).expanduser()
    if script.suffix not in (".yaml", ".yml") and not script.is_file():
        voice = Voice(loaded.name, sample.strip())
        path = audition_voice(voice, loaded, _absolute(Path("output") / "auditions" / "voices"))
        click.echo(f"{voice.voice_id:22s} {_shown(path)}")
        return
    plan = prepare([script], _voices_option(voices_path), loaded)[0]
    folder = _absolute(Path("output") / "auditions" / plan.script.slug / loaded.name)
    for path in audition(plan, loaded, RenderOptions(folder, default_cache_dir()), report):
        speaker = path.stem
        click.echo(f"{speaker:12s} {plan.voices[speaker].voice_id:22s} {_shown(path)}")


_ACCENT_VOICES = {"kokoro": ("af_heart", "bf_emma"), "pyttsx3": ("en-us", "en-gb")}
"""Voices whose accents `bedtime lexicon` shows when no --voice is given."""


@main.command()
@click.argument("words", nargs=-1, required=True)
@engine_option
@click.option("--voice", default=None, help="Show this voice's accent (default: US and British).")
@voices_option
@handle_errors
def lexicon(
    words: tuple[str, ...], engine: str | None, voice: str | None, voices_path: Path | None
) -> None:
    """Print the phonemes an engine will speak for each word, with and without voices.yaml's
    lexicon, so a name can be checked before a render."""
    from .casting import load_voices

    name = _pick_engine(engine, False, Reporter(quiet=True, verbose=False))
    loaded = load_engine(name)
    entries = load_voices(_voices_option(voices_path)).lexicon_for(name)
    width = max(len(word) for word in words)
    for voice_id in [voice] if voice else _ACCENT_VOICES[name]:
        spoken_by = Voice(name, voice_id)
        click.echo(f"{name}, {voice_id}:")
        for word in words:
            plain = loaded.phonemes(word, spoken_by)
            said = loaded.phonemes(normalize_text(word, entries), spoken_by)
            change = f"  →  {said}   (lexicon)" if said != plain else ""
            click.echo(f"  {word:<{width}}  {plain}{change}")


@main.command()
@click.argument("script", type=click.Path(path_type=Path, dir_okay=False), callback=_user_path)
@click.option("--chapter", type=int, required=True, help="Chapter number, from 1.")
@click.option("--scene", type=int, default=None, help="Scene number within the chapter.")
@click.option("--line", type=int, default=None, help="Line number within the scene.")
@_output_option("WAV file (default: output/preview/<slug>-<part>.wav).")
@engine_option
@click.option("--draft", is_flag=True, help="Fast draft voices (the pyttsx3 engine).")
@voices_option
@click.option("--play/--no-play", default=None, help="Play it (default: on a terminal).")
@handle_errors
def preview(
    script: Path,
    chapter: int,
    scene: int | None,
    line: int | None,
    output: Path | None,
    engine: str | None,
    draft: bool,
    voices_path: Path | None,
    play: bool | None,
) -> None:
    """Render one chapter, scene or line of SCRIPT, with its soundscape, to a WAV."""
    from .preview import Selection
    from .preview import preview as render_preview
    from .render import RenderOptions, prepare

    report = Reporter(quiet=False, verbose=False)
    name = _pick_engine(engine, draft, report)
    loaded = load_engine(name)
    plan = prepare([script], _voices_option(voices_path), loaded)[0]
    part = "-".join(f"{k}{v}" for k, v in (("c", chapter), ("s", scene), ("l", line)) if v)
    out = _absolute(output or Path("output") / "preview" / f"{plan.script.slug}-{part}.wav")
    options = RenderOptions(out.parent, default_cache_dir())
    render_preview(plan, loaded, options, Selection(chapter, scene, line), out, report)
    click.echo(_shown(out))
    player = shutil.which("ffplay") or shutil.which("paplay") or shutil.which("aplay")
    if player and (play if play is not None else sys.stdout.isatty()):
        args = ["-nodisp", "-autoexit", "-loglevel", "quiet"] if player.endswith("ffplay") else []
        subprocess.run([player, *args, str(out)], check=False)


@main.command()
def soundscapes() -> None:
    """List the soundscape presets and the sound effects (cues), with their families."""
    from .soundscape import PRESETS
    from .soundscape.effects import EFFECTS

    for preset in PRESETS.values():
        click.echo(f"{preset.name:14s} {preset.family:10s} {preset.description}")
    click.echo("\neffects, for sfx: on a line or a scene")
    for effect in EFFECTS.values():
        click.echo(f"{effect.name:14s} {effect.family:10s} {effect.description}")


@main.command()
@click.argument("names", nargs=-1, required=True)
@click.option("--seconds", type=FiniteRange(1, 3600), default=30.0, show_default=True)
@_output_option(required=True)
@handle_errors
def soundscape(names: tuple[str, ...], seconds: float, output: Path) -> None:
    """Render preset NAMES, layered, to a WAV for auditioning (at their level in a mix)."""
    from .export import write_wav
    from .model import Layer
    from .soundscape import PRESETS, render_bed
    from .yamlnodes import did_you_mean

    for name in names:
        if name not in PRESETS:
            raise BedtimeError(
                f"unknown soundscape '{name}'{did_you_mean(name, PRESETS)} "
                f"(presets: {', '.join(sorted(PRESETS))})"
            )
    bed = render_bed(tuple(Layer(name) for name in names), seconds, 44100, "audition", *names)
    write_wav(bed, _absolute(output))
    click.echo(str(output))


@main.command()
@click.argument("file", type=EXISTING_FILE, callback=_user_path)
@click.option(
    "--plot",
    type=click.Path(path_type=Path, dir_okay=False),
    callback=_user_path,
    default=None,
    help="PNG of loudness and the bed's brightness over time (default: beside FILE).",
)
@handle_errors
def analyze(file: Path, plot: Path | None) -> None:
    """Loudness, pace and the bed's arc, per chapter, of a rendered M4B or MP3."""
    from .analyze import analyze_file, format_report

    plot = _absolute(plot or file.with_suffix(".png"))
    click.echo(format_report(analyze_file(_absolute(file), plot)))


@main.command()
@click.argument(
    "files",
    nargs=-1,
    required=True,
    type=EXISTING_FILE,
    callback=_user_path,
)
@handle_errors
def listen(files: tuple[Path, ...]) -> None:
    """Transcribe rendered M4B or MP3 files with Whisper tiny.en and score them against the
    script: word error rate per chapter, and each cast name heard right or misheard."""
    from .listen import format_listening, listen

    for number, file in enumerate(files):
        click.echo(("\n" if number else "") + format_listening(listen(_absolute(file))))


@main.command()
@click.argument("file", type=EXISTING_FILE, callback=_user_path)
@click.option(
    "--script",
    type=EXISTING_FILE,
    callback=_user_path,
    default=None,
    help="The scene script to hold the audio to (default: the one render.json names).",
)
@click.option(
    "--threshold",
    type=FiniteRange(0.0, 1.0),
    default=None,
    help="Flag a line when this share of its words is heard otherwise (default: 0.5).",
)
@handle_errors
def proof(file: Path, script: Path | None, threshold: float | None) -> None:
    """Proof-listen a rendered M4B or MP3: Whisper tiny.en transcribes it, and each line whose
    words are heard otherwise than the script writes them is listed, names first."""
    from .proof import DEFAULT_THRESHOLD, format_proof
    from .proof import proof as run_proof

    found = run_proof(
        _absolute(file),
        _absolute(script) if script else None,
        threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
    )
    click.echo(format_proof(found))


@main.command("import")
@click.argument("screenplay", type=EXISTING_FILE, callback=_user_path)
@_output_option("Write the scene script here (never over an existing file); default: print it.")
@handle_errors
def import_screenplay(screenplay: Path, output: Path | None) -> None:
    """Turn a Fountain screenplay into a scene script: sections become chapters, scene
    headings scenes, characters the cast, parentheticals direction, SOUND: lines cues."""
    from .cache import write_atomic
    from .screenplay import import_fountain

    yaml_text = import_fountain(_absolute(screenplay))
    if output is None:
        click.echo(yaml_text, nl=False)
        return
    if output.exists():
        raise BedtimeError(f"{output} exists; bedtime import writes no file over another")
    write_atomic(_absolute(output), yaml_text.encode())
    click.echo(f"wrote {output}; check it with: bedtime check {output}")


@main.command()
@output_folder_argument
@click.option(
    "--base-url",
    required=True,
    metavar="URL",
    help="Where FOLDER is published (https://example.org/stories/).",
)
@click.option("--title", default=Channel.title, show_default=True, help="The podcast's title.")
@click.option("--description", default=Channel.description, help="The podcast's description.")
@click.option("--language", default=Channel.language, show_default=True)
@click.option("--category", default=Channel.category, show_default=True, help="iTunes category.")
@handle_errors
def feed(
    folder: Path, base_url: str, title: str, description: str, language: str, category: str
) -> None:
    """Write FOLDER/feed.xml: every rendered story as a podcast episode (RSS with iTunes and
    Podcasting 2.0 chapters and transcripts)."""
    from .feed import base_url as checked_url
    from .feed import write_feed

    channel = Channel(checked_url(base_url), title, description, language, category)
    click.echo(_shown(write_feed(_absolute(folder), channel)))


@main.command()
@output_folder_argument
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@handle_errors
def serve(folder: Path, host: str, port: int) -> None:
    """Serve FOLDER's listening pages (index.html) to a browser on this machine; Ctrl-C stops."""
    from .serve import make_server, url

    try:
        server = make_server(_absolute(folder), host, port)
    except OSError as error:
        raise BedtimeError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    click.echo(url(server), nl=True)
    click.echo(f"serving {_shown(_absolute(folder))}/ (Ctrl-C to stop)", err=True)
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@main.group()
def cache() -> None:
    """The caches of synthesized lines, mixed chapters and encoded audio."""


@cache.command("info")
def cache_info() -> None:
    """Where the caches are, how many entries, how big."""
    from .cache import STORES, Store

    root = default_cache_dir()
    for name in STORES:
        entries = Store(root / name).entries()
        size_mb = sum(path.stat().st_size for path in entries) / 1e6
        click.echo(f"{name:9s} {len(entries):6d} entries {size_mb:10.1f} MB  {root / name}")


@cache.command("prune")
@click.option(
    "--older-than",
    "days",
    type=FiniteRange(0),
    default=30.0,
    show_default=True,
    help="Remove entries unused for this many days.",
)
@click.option("--all", "everything", is_flag=True, help="Remove every entry.")
def cache_prune(days: float, everything: bool) -> None:
    """Remove cache entries that no render has used lately."""
    from .cache import STORES, Store

    root = default_cache_dir()
    for name in STORES:
        files, size = Store(root / name).prune(0.0 if everything else days * 86400)
        click.echo(f"{name:9s} removed {files} entries, {size / 1e6:.1f} MB")
