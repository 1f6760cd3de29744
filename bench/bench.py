"""bedtime-audio's benchmark: real-time factors and memory, measured in one run.

    .venv/bin/python bench/bench.py [--story scripts/dream-standard.yaml] [--engines pyttsx3,kokoro]

For each engine, in a fresh line cache:
  - engine RTF: seconds of speech per wall second while speaking the story's lines;
  - pipeline RTF: seconds of finished audio (tail included, and story alone) per wall second of
    a whole cold render, with the time split into speaking, mixing/mastering and encoding;
  - the same story re-rendered unchanged, and after a one-line edit, as ratios of the cold time;
  - peak memory of the render process (the speaking workers are separate processes).
Each measurement runs in its own process. Absolute times on a shared machine are noise; the
ratios within one run are what to compare.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(story: Path, engine: str, cache: Path, out: Path, tail_s: float) -> dict:
    """One render in this process; prints its figures as JSON."""
    import os

    os.environ["BEDTIME_CACHE"] = str(cache)
    from bedtime_audio.engines import load_engine
    from bedtime_audio.render import RenderOptions, prepare, render_story

    loaded = load_engine(engine)
    plan = prepare([story], ROOT / "voices.yaml", loaded)[0]
    options = RenderOptions(out, cache, tail_s=tail_s)
    result = render_story(plan, loaded, options, lambda message: None)
    report = json.loads((result.folder / "render.json").read_text())
    speech_s = sum(line["end_s"] - line["start_s"] for line in report["lines"])
    total_s = result.synth_s + result.mix_s + result.encode_s
    return {
        "engine": engine,
        "spoken": result.spoken,
        "cached": result.cached,
        "duration_s": result.duration_s,
        "story_s": result.duration_s - tail_s,
        "speech_s": speech_s,
        "synth_s": result.synth_s,
        "mix_s": result.mix_s,
        "encode_s": result.encode_s,
        "total_s": total_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "loudness": report["loudness"],
    }


def run(story: Path, engine: str, cache: Path, out: Path, tail_s: float) -> dict:
    result = subprocess.run(
        [
            sys.executable,
            __file__,
            "--one",
            str(story),
            "--engines",
            engine,
            "--cache",
            str(cache),
            "--out",
            str(out),
            "--tail",
            str(tail_s),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


def edited_copy(story: Path, folder: Path) -> Path:
    """The story with its first narrator line changed by one word."""
    text = story.read_text()
    marker = "  - narrator: "
    at = text.index(marker) + len(marker)
    copy = folder / story.name
    copy.write_text(text[:at] + "Softly, " + text[at:])
    return copy


def bench_engine(story: Path, engine: str, tail_s: float) -> None:
    work = Path(tempfile.mkdtemp(prefix="bedtime-bench-"))
    try:
        cache, out = work / "cache", work / "out"
        cold = run(story, engine, cache, out, tail_s)
        same = run(story, engine, cache, out, tail_s)
        edit_dir = work / "edited"
        edit_dir.mkdir()
        edited = run(edited_copy(story, edit_dir), engine, cache, out, tail_s)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\n== {engine}: {story.name} "
        f"({cold['story_s'] / 60:.1f} min story + {tail_s / 60:.0f} min tail)"
    )
    print(
        f"engine RTF              {cold['speech_s'] / cold['synth_s']:7.2f}x  "
        f"({cold['speech_s']:.0f} s of speech in {cold['synth_s']:.0f} s)"
    )
    print(
        f"pipeline RTF, all audio {cold['duration_s'] / cold['total_s']:7.2f}x  "
        f"({cold['duration_s']:.0f} s in {cold['total_s']:.0f} s)"
    )
    print(f"pipeline RTF, story     {cold['story_s'] / cold['total_s']:7.2f}x")
    for stage in ("synth", "mix", "encode"):
        print(f"  {stage:7s} share         {cold[f'{stage}_s'] / cold['total_s']:7.1%}")
    print(
        f"unchanged re-render     {same['total_s'] / cold['total_s']:7.1%} of cold "
        f"({same['spoken']} lines spoken)"
    )
    print(
        f"one-line edit           {edited['total_s'] / cold['total_s']:7.1%} of cold "
        f"({edited['spoken']} lines spoken)"
    )
    print(f"peak memory (render)    {cold['peak_rss_mb']:7.0f} MB")
    print(f"loudness                {cold['loudness']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--story", type=Path, default=ROOT / "scripts" / "dream-standard.yaml")
    parser.add_argument("--engines", default="pyttsx3,kokoro")
    parser.add_argument("--tail", type=float, default=600.0)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.engines, args.cache, args.out, args.tail)))
        return
    for engine in args.engines.split(","):
        bench_engine(args.story.resolve(), engine, args.tail)


if __name__ == "__main__":
    main()
