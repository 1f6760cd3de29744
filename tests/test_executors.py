"""Where the work runs changes nothing: one job, two jobs and a Dask LocalCluster render the
same files from cold caches, and a Dask worker killed mid-render still ends in the same files."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import BEDTIME, DATA, TINY_ARGS, generated_story, run_bedtime

pytest.importorskip("distributed")


def outputs(out: Path) -> dict[str, str]:
    """Every story's audio and transcript, by name, as sha256."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(out.glob("*/*"))
        if path.suffix in (".m4b", ".mp3", ".vtt")
    }


def spoken(cache: Path) -> dict[str, str]:
    """Every sentence in a line cache, by key, as sha256: where two renders part, the first
    difference is usually one sentence spoken differently."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((cache / "lines").glob("*/*"))
    }


def rendered(scripts: list[Path], folder: Path, *options: str) -> dict[str, str]:
    """The files of a render from a cold cache, and (under "lines") its sentences."""
    out = folder / "out"
    result = run_bedtime(
        "render",
        *map(str, scripts),
        "--out",
        str(out),
        *TINY_ARGS,
        *options,
        env={"BEDTIME_CACHE": str(folder / "cache")},
    )
    assert result.returncode == 0, result.stderr
    return {**outputs(out), "lines": spoken(folder / "cache")}


@pytest.fixture(scope="module")
def stories(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return [DATA / "tiny.yaml", generated_story(tmp_path_factory.mktemp("scripts"), 3)]


@pytest.fixture(scope="module")
def one_job(stories: list[Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    files = rendered(stories, tmp_path_factory.mktemp("one-job"), "--jobs", "1")
    assert len(files) == 7
    assert len(files["lines"]) > 16
    return files


def test_two_jobs_render_the_same_files_as_one(
    stories: list[Path], one_job: dict[str, str], tmp_path: Path
) -> None:
    assert rendered(stories, tmp_path, "--jobs", "2") == one_job


def test_a_dask_local_cluster_renders_the_same_files(
    stories: list[Path], one_job: dict[str, str], tmp_path: Path
) -> None:
    assert rendered(stories, tmp_path, "--executor", "dask", "--jobs", "2") == one_job


def test_a_dask_worker_killed_mid_render_still_renders_the_same_files(
    stories: list[Path], one_job: dict[str, str], tmp_path: Path
) -> None:
    process = subprocess.Popen(
        [BEDTIME, "render", *map(str, stories), "--out", str(tmp_path / "out"), "-v"]
        + ["--executor", "dask", "--jobs", "2", *TINY_ARGS],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "BEDTIME_CACHE": str(tmp_path / "cache")},
    )
    assert process.stderr is not None
    log = []
    for line in process.stderr:
        log.append(line)
        if "spoke 3/" in line:
            break
    workers = dask_workers(process.pid)
    assert len(workers) == 2, workers
    os.kill(workers[0], signal.SIGKILL)
    log += process.stderr.readlines()
    assert process.wait() == 0, "".join(log)
    assert {**outputs(tmp_path / "out"), "lines": spoken(tmp_path / "cache")} == one_job


def dask_workers(render_pid: int) -> list[int]:
    """The LocalCluster's worker processes: the render's children that Dask spawned."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rpartition(")")[2].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if parent == render_pid and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return sorted(found)
