"""Memory does not grow with the story or its tail: each chapter, and each three-minute piece
of the tail, is mixed, mastered and encoded on its own, and the whole-file encodes are
streamed. Scaled down from hours: a story four times as long with a tail nine times as long
needs no more memory than the short one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import BEDTIME, TINY_ARGS, generated_story

GROWTH_MB = 25


def peak_rss_mb(script: Path, tail_s: int, folder: Path) -> float:
    """The render's largest process at its peak, with --jobs 1: speech, mixing and encoding in
    the render's own process (eSpeak NG and ffmpeg in children it waits for)."""
    command = [BEDTIME, "render", str(script), "--out", str(folder / "out"), *TINY_ARGS]
    command += ["--tail", str(tail_s), "--jobs", "1", "-q"]  # the later --tail wins
    env = {**os.environ, "BEDTIME_CACHE": str(folder / "cache")}
    folder.mkdir()
    with open(folder / "stderr", "w+") as log:
        process = subprocess.Popen(command, env=env, stderr=log)
        _pid, status, usage = os.wait4(process.pid, 0)
        log.seek(0)
        assert status == 0, log.read()
    return usage.ru_maxrss / 1024


def test_a_longer_story_and_a_longer_tail_need_no_more_memory(tmp_path: Path) -> None:
    short = peak_rss_mb(generated_story(tmp_path, 3), 200, tmp_path / "short")
    long = peak_rss_mb(generated_story(tmp_path, 12), 1800, tmp_path / "long")
    assert long <= short + GROWTH_MB, (short, long)
