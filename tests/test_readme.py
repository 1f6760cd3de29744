"""The README's commands exactly as a newcomer types them: `bedtime` run from a fresh folder that
holds a copy of scripts/ and voices.yaml, with relative paths and the default options (so no
--out), the way the product is used rather than the way the other tests call it."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
from conftest import BEDTIME, DATA, ROOT, decode, ffprobe_chapters, run_bedtime

from bedtime_audio.export import PUBLISHING
from bedtime_audio.script import parse_script

STORY = "nocturnal-network"
"""The shortest of the five stories."""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh folder, as after `git clone`; its name has a space and a non-ASCII letter."""
    folder = tmp_path_factory.mktemp("bedtime") / "Gute Nacht ü"
    shutil.copytree(ROOT / "scripts", folder / "scripts")
    shutil.copy(ROOT / "voices.yaml", folder)
    return folder


@pytest.fixture(scope="module")
def rendered(project: Path) -> Path:
    result = run_bedtime("render", f"scripts/{STORY}.yaml", "--draft", "--tail", "0", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"output/{STORY}"
    return project / "output" / STORY


def test_render_writes_the_story_into_output(rendered: Path) -> None:
    titles = [
        chapter.title for chapter in parse_script(ROOT / "scripts" / f"{STORY}.yaml").chapters
    ]
    assert sorted(p.name for p in rendered.iterdir()) == sorted(
        [f"{STORY}.m4b", f"{STORY}.mp3", f"{STORY}.vtt", *PUBLISHING, "render.json"]
    )
    meter = pyloudnorm.Meter(44100)
    for ext in ("m4b", "mp3"):
        path = rendered / f"{STORY}.{ext}"
        assert [c["tags"]["title"] for c in ffprobe_chapters(path)] == titles
        samples = decode(path).T.astype(np.float64)
        assert meter.integrated_loudness(samples) == pytest.approx(-20.0, abs=1.0)
    report = json.loads((rendered / "render.json").read_text())
    assert all(f["true_peak_dbtp"] <= -1.5 for f in report["files"].values())


def test_check_accepts_every_story(project: Path) -> None:
    result = subprocess.run(
        f"'{BEDTIME}' check scripts/*.yaml", shell=True, cwd=project, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert len([line for line in result.stdout.splitlines() if ": ok — " in line]) == 5
    assert "scripts/dream-standard.yaml: ok" in result.stdout


def test_preview_writes_under_output(project: Path) -> None:
    result = run_bedtime(
        "preview", f"scripts/{STORY}.yaml", "--chapter", "1", "--scene", "1", "--draft", cwd=project
    )
    assert result.returncode == 0, result.stderr
    wav = result.stdout.strip()
    assert wav == f"output/preview/{STORY}-c1-s1.wav"
    assert decode(project / wav).shape[1] > 44100


def test_analyze_reads_a_relative_path(project: Path, rendered: Path) -> None:
    result = run_bedtime("analyze", f"output/{STORY}/{STORY}.m4b", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "LUFS" in result.stdout
    assert (rendered / f"{STORY}.png").stat().st_size > 10_000


def test_feed_and_serve_as_the_readme_types_them(project: Path, rendered: Path) -> None:
    result = subprocess.run(
        f"'{BEDTIME}' feed output/ --base-url https://example.org/bedtime/ "
        '--title "Bedtime stories"',
        shell=True,
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "output/feed.xml\n"
    feed = (project / "output" / "feed.xml").read_text()
    assert f"https://example.org/bedtime/{STORY}/{STORY}.mp3" in feed
    server = subprocess.Popen(
        [BEDTIME, "serve", "--port", "0"], cwd=project, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        address = server.stdout.readline().strip()
        assert address.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{address}{STORY}/index.html", timeout=10) as page:
            assert f"{STORY}.mp3" in page.read().decode()
        with urllib.request.urlopen(address, timeout=10) as library:
            assert f'href="{STORY}/index.html"' in library.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.parametrize(
    ("args", "env", "folder"),
    [
        (["-o", "renders/été"], {"BEDTIME_CACHE": "cache dir"}, "renders/été/tiny"),
        (["--out=~/renders", "--voices=~/voices.yaml"], {}, "home/renders/tiny"),
        (["--out", "../elsewhere"], {"BEDTIME_CACHE": "~/cache"}, "../elsewhere/tiny"),
    ],
    ids=["relative-out-and-cache", "tilde", "parent-folder"],
)
def test_paths_as_users_type_them(
    tmp_path: Path, args: list[str], env: dict[str, str], folder: str
) -> None:
    work = tmp_path / "work"
    (work / "home").mkdir(parents=True)
    shutil.copy(DATA / "tiny.yaml", work)
    shutil.copy(DATA / "voices.yaml", work / "home")
    home = {"HOME": str(work / "home")}
    result = run_bedtime(
        "render", "tiny.yaml", "--draft", "--tail", "0", "-q", *args, cwd=work, env=home | env
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (work / folder).iterdir()) == sorted(
        ["render.json", "tiny.m4b", "tiny.mp3", "tiny.vtt", *PUBLISHING]
    )
    if "BEDTIME_CACHE" in env:
        cache = Path(env["BEDTIME_CACHE"].replace("~", str(work / "home")))
        assert list((work / cache / "lines").iterdir()), "the cache lies where it was asked"


@pytest.mark.parametrize("variable", ["BEDTIME_CACHE", "BEDTIME_MODELS"])
def test_relative_and_tilde_folders_in_the_environment_are_made_absolute(
    variable: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bedtime_audio.assets import models_dir
    from bedtime_audio.cache import default_cache_dir

    folder = {"BEDTIME_CACHE": default_cache_dir, "BEDTIME_MODELS": models_dir}[variable]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv(variable, "some folder/ü")
    assert folder() == tmp_path / "some folder" / "ü"
    monkeypatch.setenv(variable, "~/x")
    assert folder() == tmp_path / "home" / "x"
