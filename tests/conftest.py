"""Shared fixtures: a private line cache, and the tiny story rendered once with the real parts."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
BEDTIME = str(ROOT / ".venv" / "bin" / "bedtime")
TINY_ARGS = ("--engine", "pyttsx3", "--tail", "40", "--voices", str(DATA / "voices.yaml"))
"""How the tests render tests/data/tiny.yaml."""


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test renders into its own line cache, never the user's."""
    cache = tmp_path_factory.mktemp("line-cache")
    os.environ["BEDTIME_CACHE"] = str(cache)
    return cache


def run_bedtime(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BEDTIME, *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


def decode(path: Path, rate_hz: int = 44100) -> np.ndarray:
    """Decode any audio file with ffmpeg into float32 (channels, frames)."""
    pcm = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(path),
            "-f",
            "f32le",
            "-ac",
            "2",
            "-ar",
            str(rate_hz),
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(pcm, dtype="<f4").reshape(-1, 2).T


def ffprobe(path: Path, *show: str) -> dict:
    """What ffprobe reports of a file: `show` as ffprobe's -show_… options, read as JSON."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", *show, "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def ffprobe_chapters(path: Path) -> list[dict]:
    return ffprobe(path, "-show_chapters")["chapters"]


@pytest.fixture(scope="session")
def tiny_render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/data/tiny.yaml rendered with eSpeak NG and a 40 s tail."""
    out = tmp_path_factory.mktemp("render")
    result = run_bedtime("render", str(DATA / "tiny.yaml"), "--out", str(out), *TINY_ARGS)
    assert result.returncode == 0, result.stderr
    return out / "tiny"


_WORDS = ("lantern", "river", "window", "pillow", "cloud", "harbour", "meadow", "candle")


def generated_story(folder: Path, chapters: int) -> Path:
    """A story of `chapters` chapters of sixteen different sentences each, in the voices of
    tests/data/voices.yaml, told at one pace throughout: every chapter about as long."""
    lines = []
    for chapter in range(chapters):
        lines.append(f"  - title: Part {chapter + 1}\n    soundscape: [rain]\n    scenes:")
        lines.append("      - lines:")
        for n in range(16):
            word = _WORDS[(n + chapter) % len(_WORDS)]
            speaker = ("narrator", "lena", "kai")[n % 3]
            lines.append(
                f"          - {speaker}: The {word} of chapter {chapter + 1} "
                f"was quiet, the {n + 1}th time."
            )
    cast = "cast:\n  narrator: The storyteller\n  lena: A teacher\n  kai: A teenager\n"
    path = folder / f"generated-{chapters}.yaml"
    pacing = "pacing:\n  final_speed: 0.9\n  final_pause_scale: 1.0\n"
    path.write_text(f"title: A Longer Night\n{cast}{pacing}chapters:\n" + "\n".join(lines) + "\n")
    return path
