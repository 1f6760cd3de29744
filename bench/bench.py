"""bedtime-audio's benchmark: where a batch render's time and memory go, measured in one run.

    .venv/bin/python bench/bench.py [--stories scripts/*.yaml] [--engines pyttsx3,kokoro]
                                    [--tail 600] [--long-hours 3] [--long-tail 28800]

For each engine, every render from the command line in a fresh cache:
  - raw engine: the engine alone speaking every sentence of the stories, in one process;
  - raw encode: ffmpeg alone encoding the rendered audio to AAC and MP3, as the export does;
  - the pipeline, cold, with --jobs 1 and --jobs 2, and its overhead at --jobs 1:
    pipeline ÷ (raw engine + raw encode);
  - real-time factors (seconds of finished audio, tail included, per wall second);
  - the stories rendered again unchanged, and after a one-line edit, as shares of the cold time;
  - peak memory: the most the render's processes held at once (sampled: their proportional set
    sizes, which count shared pages once), and the largest one (resident set size);
  - how busy the machine's cores were meanwhile.
Then, with pyttsx3, peak memory of a generated long story with a long tail against the first
story with no tail: what a night of ambience costs.
Absolute times on a shared machine are noise; compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEDTIME = str(ROOT / ".venv" / "bin" / "bedtime")


@dataclass(frozen=True)
class Run:
    wall_s: float
    peak_mb: float
    """The most the render's processes held at once (proportional set sizes)."""
    largest_mb: float
    """The largest single process: sampled, for the eSpeak NG sentences are spoken in the fork
    server's children, which the render never waits for and so never counts in its resource
    usage."""
    busy: float
    """The share of the machine's CPU time that was busy meanwhile (/proc/stat): how much of
    the cores the render used, with nothing else running."""


def render(scripts: list[Path], engine: str, work: Path, *options: str) -> Run:
    """`bedtime render` from the command line, its process tree's memory sampled meanwhile."""
    env = {**os.environ, "BEDTIME_CACHE": str(work / "cache")}
    command = [BEDTIME, "render", *map(str, scripts), "--engine", engine, "-q", *options]
    started, cpu = time.perf_counter(), _cpu_ticks()
    process = subprocess.Popen(
        [*command, "--out", str(work / "out")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peak = [0.0, 0.0]
    sampler = threading.Thread(target=_sample, args=(process, peak), daemon=True)
    sampler.start()
    _pid, status, usage = os.wait4(process.pid, 0)
    wall_s = time.perf_counter() - started
    (busy_after, total_after), (busy_before, total_before) = _cpu_ticks(), cpu
    sampler.join()
    if status != 0:
        sys.exit(f"{' '.join(command)} failed: {process.stderr.read().decode()}")  # type: ignore[union-attr]
    return Run(
        wall_s,
        peak[0],
        max(peak[1], usage.ru_maxrss / 1024),
        (busy_after - busy_before) / (total_after - total_before),
    )


def _cpu_ticks() -> tuple[int, int]:
    """The machine's busy and total CPU ticks since boot: /proc/stat's first line, user to
    steal (guest time is already counted in user)."""
    ticks = [int(field) for field in Path("/proc/stat").read_text().split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return sum(ticks) - idle, sum(ticks)


def _sample(process: subprocess.Popen[bytes], peak: list[float]) -> None:
    """peak[0]: the most the process tree held at once (proportional set sizes, so that the
    pages its processes share, ffmpeg's libraries say, count once); peak[1]: its largest
    process (resident set size)."""
    while process.returncode is None and Path(f"/proc/{process.pid}").exists():
        sizes = [_sizes_mb(pid) for pid in _tree(process.pid)]
        held = sum(pss for pss, _rss in sizes)
        peak[0], peak[1] = max(peak[0], held), max(peak[1], *(rss for _pss, rss in sizes), 0.0)
        time.sleep(0.2)


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            children.setdefault(int(stat.read_text().rpartition(")")[2].split()[1]), []).append(
                int(stat.parent.name)
            )
        except (OSError, IndexError):
            continue
    found, todo = [root], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _sizes_mb(pid: int) -> tuple[float, float]:
    """A process's proportional and resident set sizes."""
    try:
        fields = dict(
            line.split(":", 1)
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
        )
        return int(fields["Pss"].split()[0]) / 1024, int(fields["Rss"].split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        return 0.0, 0.0


RAW_ENGINE = """
import json, sys, time
from pathlib import Path
from bedtime_audio.engines import load_engine
from bedtime_audio.render import prepare
from bedtime_audio.synth import line_jobs
engine = load_engine(sys.argv[1])
plans = prepare([Path(p) for p in sys.argv[2:]], Path("voices.yaml"), engine)
sentences = {(said.text, said.voice) for plan in plans for job in line_jobs(plan)
             for said in job.sentences}
engine.synthesize("Warm up.", next(iter(sentences))[1])
started, audio_s = time.perf_counter(), 0.0
for sentence, voice in sorted(sentences, key=repr):
    audio_s += engine.synthesize(sentence, voice).duration_s
print(json.dumps([time.perf_counter() - started, audio_s, len(sentences)]))
"""


def raw_engine(scripts: list[Path], engine: str) -> tuple[float, float, int]:
    """Seconds the engine alone takes for every sentence, seconds of speech, sentences."""
    import json

    out = subprocess.run(
        [sys.executable, "-c", RAW_ENGINE, engine, *map(str, scripts)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    wall_s, audio_s, count = json.loads(out.splitlines()[-1])
    return wall_s, audio_s, count


def raw_encode(files: list[Path], work: Path) -> float:
    """Seconds ffmpeg alone takes to encode the same audio to AAC and MP3."""
    total = 0.0
    for index, path in enumerate(files):
        pcm = work / f"{index}.f32"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ar", "44100", str(pcm)],
            check=True,
        )
        for codec in (
            ("-c:a", "aac", "-b:a", "128k", "-f", "adts"),
            ("-c:a", "libmp3lame", "-q:a", "2", "-f", "mp3"),
        ):
            started = time.perf_counter()
            subprocess.run(
                [
                    "ffmpeg",
                    "-v",
                    "error",
                    "-f",
                    "f32le",
                    "-ar",
                    "44100",
                    "-ac",
                    "2",
                    "-i",
                    str(pcm),
                    *codec,
                    "-y",
                    os.devnull,
                ],
                check=True,
            )
            total += time.perf_counter() - started
        pcm.unlink()
    return total


def duration_s(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out)


def edited(story: Path, folder: Path) -> Path:
    """The story with its first narrator line changed by one word."""
    text = story.read_text()
    marker = "  - narrator: "
    at = text.index(marker) + len(marker)
    folder.mkdir(exist_ok=True)
    copy = folder / story.name
    copy.write_text(text[:at] + "Softly, " + text[at:])
    return copy


def memory(peak_mb: float, largest_mb: float, sign: str = "") -> str:
    return f"{peak_mb:{sign}7.0f} MB all processes, {largest_mb:{sign}.0f} MB largest"


def row(label: str, value: str) -> None:
    print(f"  {label:<40} {value}")


def bench_engine(scripts: list[Path], engine: str, tail: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="bedtime-bench-"))
    try:
        one = render(scripts, engine, work / "one", "--jobs", "1", "--tail", tail)
        two = render(scripts, engine, work / "two", "--jobs", "2", "--tail", tail)
        same = render(scripts, engine, work / "two", "--jobs", "2", "--tail", tail)
        edit = render(
            [edited(scripts[0], work / "edited"), *scripts[1:]],
            engine,
            work / "two",
            *("--jobs", "2", "--tail", tail),
        )
        m4bs = sorted((work / "one" / "out").glob("*/*.m4b"))
        audio_s = sum(duration_s(path) for path in m4bs)
        engine_s, speech_s, sentences = raw_engine(scripts, engine)
        encode_s = raw_encode(m4bs, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\n== {engine}: {len(scripts)} stories, {audio_s / 60:.1f} min of audio ({tail} s tails)"
    )
    row(
        "raw engine, all sentences",
        f"{engine_s:7.1f} s  ({sentences} sentences, {speech_s / engine_s:.1f}x real time)",
    )
    row("raw encode, AAC + MP3", f"{encode_s:7.1f} s")
    for label, run in (("--jobs 1", one), ("--jobs 2", two)):
        row(
            f"pipeline {label}, cold",
            f"{run.wall_s:7.1f} s  RTF {audio_s / run.wall_s:.2f}x, cores {run.busy:.0%} busy",
        )
    row(
        "overhead at --jobs 1",
        f"{one.wall_s / (engine_s + encode_s):7.2f}x  (pipeline / (raw engine + raw encode))",
    )
    row("speed-up, --jobs 1 -> 2", f"{one.wall_s / two.wall_s:7.2f}x")
    row("unchanged re-render", f"{same.wall_s / two.wall_s:7.1%} of cold ({same.wall_s:.1f} s)")
    row("one-line edit", f"{edit.wall_s / two.wall_s:7.1%} of cold ({edit.wall_s:.1f} s)")
    for label, run in (("--jobs 1", one), ("--jobs 2", two)):
        row(
            f"peak memory {label}",
            memory(run.peak_mb, run.largest_mb),
        )


def long_story(script: Path, hours: float, folder: Path) -> Path:
    """The story with its chapters repeated until it is about `hours` long at the bedtime pace
    (115 words a minute)."""
    import yaml

    original = yaml.safe_load(script.read_text())
    chapters = original["chapters"]
    words = 0.0
    story: list[dict] = []
    while words < hours * 60 * 115:
        chapter = dict(chapters[len(story) % len(chapters)])
        chapter["title"] = f"{chapter['title']} ({len(story) + 1})"
        story.append(chapter)
        words += len(str(chapter).split()) * 0.8
    path = folder / script.name  # the same slug, so voices.yaml casts it
    path.write_text(yaml.safe_dump({**original, "chapters": story}))
    return path


def bench_memory(scripts: list[Path], hours: float, tail_s: float) -> None:
    work = Path(tempfile.mkdtemp(prefix="bedtime-bench-"))
    try:
        short = render(scripts[:1], "pyttsx3", work / "short", "--tail", "0")
        story = long_story(scripts[0], hours, work)
        long = render([story], "pyttsx3", work / "long", "--tail", str(tail_s))
        short_s = duration_s(next((work / "short" / "out").glob("*/*.m4b")))
        long_s = duration_s(next((work / "long" / "out").glob("*/*.m4b")))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n== memory, pyttsx3 (--jobs {os.cpu_count()})")
    for label, run, seconds in (
        ("short story, no tail", short, short_s),
        ("long story + long tail", long, long_s),
    ):
        row(
            f"{label} ({seconds / 3600:.2f} h)",
            f"{memory(run.peak_mb, run.largest_mb)}, RTF {seconds / run.wall_s:.1f}x",
        )
    row(
        "growth",
        memory(long.peak_mb - short.peak_mb, long.largest_mb - short.largest_mb, "+"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--stories", type=Path, nargs="+", default=sorted((ROOT / "scripts").glob("*.yaml"))
    )
    parser.add_argument("--engines", default="pyttsx3,kokoro")
    parser.add_argument("--tail", default="600")
    parser.add_argument("--long-hours", type=float, default=3.0)
    parser.add_argument("--long-tail", type=float, default=28800.0)
    args = parser.parse_args()
    scripts = [path.resolve() for path in args.stories]
    print(f"bedtime-audio bench: {os.cpu_count()} CPUs, {len(scripts)} stories")
    for engine in args.engines.split(","):
        if engine:
            bench_engine(scripts, engine, args.tail)
    if args.long_hours > 0:
        bench_memory(scripts, args.long_hours, args.long_tail)


if __name__ == "__main__":
    main()
