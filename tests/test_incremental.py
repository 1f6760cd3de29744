"""The producer's loop on the real engine: re-renders after an edit, resume after a crash,
a damaged cache, previews."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
from conftest import BEDTIME, DATA, TINY_ARGS, decode, ffprobe_chapters, run_bedtime

from bedtime_audio.cache import AudioCache
from bedtime_audio.export import Outputs


def pcm_hash(path: Path) -> str:
    return hashlib.sha256(decode(path).tobytes()).hexdigest()


def render(script: Path, out: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    result = run_bedtime(
        "render",
        str(script),
        "--out",
        str(out),
        "--verbose",
        *TINY_ARGS,
        env={"BEDTIME_CACHE": str(cache)},
    )
    assert result.returncode == 0, result.stderr
    return result


def stretches_encoded(result: subprocess.CompletedProcess[str]) -> int:
    """How many stretches of tiny's M4B and MP3 the render encoded, from its progress."""
    counts = re.findall(r"tiny: encoded (\d+)/\1 stretches", result.stderr)
    assert counts, result.stderr
    return int(counts[-1])


def test_one_line_edit_speaks_one_line_and_remixes_one_chapter(tmp_path: Path) -> None:
    cache, out = tmp_path / "cache", tmp_path / "out"
    edited_dir = tmp_path / "edited"
    edited_dir.mkdir()
    edited = edited_dir / "tiny.yaml"
    original = (DATA / "tiny.yaml").read_text()
    edited.write_text(original.replace("Rain began to fall", "Soft rain began to fall"))
    first = render(DATA / "tiny.yaml", out, cache)
    assert "7 sentences spoken, 0 from the cache" in first.stderr
    again = render(DATA / "tiny.yaml", out, cache)
    assert "tiny: up to date" in again.stderr
    after_edit = render(edited, out, cache)
    assert "1 sentences spoken, 6 from the cache" in after_edit.stderr
    assert "'The Humming City' unchanged" in after_edit.stderr
    assert "mixed 'Rain at Last'" in after_edit.stderr
    # a stretch per section (two chapters and the tail) for each of the M4B and the MP3, and
    # every one hears the edited chapter: the first chapter's hears its first seconds
    assert stretches_encoded(first) == stretches_encoded(after_edit) == 6
    # The edited render equals a render of the edited script from nothing.
    fresh = render(edited, tmp_path / "fresh-out", tmp_path / "fresh-cache")
    assert "7 sentences spoken" in fresh.stderr
    assert pcm_hash(out / "tiny" / "tiny.m4b") == pcm_hash(tmp_path / "fresh-out/tiny/tiny.m4b")


def test_a_killed_render_resumes_to_the_same_samples(tmp_path: Path, tiny_render: Path) -> None:
    cache, out = tmp_path / "cache", tmp_path / "out"
    env = {**os.environ, "BEDTIME_CACHE": str(cache)}
    process = subprocess.Popen(
        [BEDTIME, "render", str(DATA / "tiny.yaml"), "--out", str(out), "--verbose", *TINY_ARGS],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stderr is not None
    for line in process.stderr:  # kill it mid-render, after the first chapter is mixed
        if "mixed 'The Humming City'" in line:
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (out / "tiny" / "tiny.m4b").exists(), "nothing half-written under a real name"
    assert [p.name[:6] for p in (out / "tiny").iterdir()] == [".tiny-"], "its working folder"
    time.sleep(0.5)
    assert not encoders_writing_into(out), "the encoders die with the render"
    resumed = render(DATA / "tiny.yaml", out, cache)
    assert "0 sentences spoken, 7 from the cache" in resumed.stderr
    assert "'The Humming City' unchanged" in resumed.stderr
    for ext in ("m4b", "mp3"):
        assert pcm_hash(out / "tiny" / f"tiny.{ext}") == pcm_hash(tiny_render / f"tiny.{ext}")
    assert sorted(p.name for p in (out / "tiny").iterdir()) == sorted(Outputs().names("tiny")), (
        "the killed render's working folder is gone"
    )


def encoders_writing_into(folder: Path) -> list[str]:
    """Command lines of running processes that name a path inside `folder`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg.startswith(str(folder).encode()) for arg in args):
            found.append(b" ".join(args).decode(errors="replace"))
    return found


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_cache_entry_is_spoken_again(tmp_path: Path, damage: str) -> None:
    cache, out = tmp_path / "cache", tmp_path / "out"
    render(DATA / "tiny.yaml", out, cache)
    clean = pcm_hash(out / "tiny" / "tiny.mp3")
    victim = AudioCache(cache / "lines").entries()[0]
    blob = bytearray(victim.read_bytes())
    if damage == "truncate":
        victim.write_bytes(blob[: len(blob) // 2])
    else:
        blob[-100] ^= 0xFF
        victim.write_bytes(bytes(blob))
    (out / "tiny" / "render.json").unlink()  # so the story is not simply up to date
    again = render(DATA / "tiny.yaml", out, cache)
    assert "1 sentences spoken, 6 from the cache" in again.stderr
    assert pcm_hash(out / "tiny" / "tiny.mp3") == clean


def test_preview_renders_one_line_with_its_bed(tmp_path: Path) -> None:
    wav = tmp_path / "line.wav"
    result = run_bedtime(
        "preview",
        str(DATA / "tiny.yaml"),
        "--chapter",
        "1",
        "--scene",
        "1",
        "--line",
        "2",
        "--draft",
        "--no-play",
        "-o",
        str(wav),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(wav)
    with wave.open(str(wav)) as audio:
        assert (audio.getnchannels(), audio.getframerate()) == (2, 44100)
        seconds = audio.getnframes() / 44100
    assert 20 < seconds < 30  # lead-in, one short line, lead-out and the bed's fade


def test_preview_names_a_part_that_does_not_exist() -> None:
    result = run_bedtime("preview", str(DATA / "tiny.yaml"), "--chapter", "3", "--draft")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {DATA / 'tiny.yaml'}: there is no chapter 3 (the story has 2)"
    )


def test_soundscape_audition_and_listing(tmp_path: Path) -> None:
    listing = run_bedtime("soundscapes")
    assert "rain           natural" in listing.stdout
    assert "server-hum     synthetic" in listing.stdout
    wav = tmp_path / "rain.wav"
    result = run_bedtime("soundscape", "rain", "crickets", "--seconds", "3", "-o", str(wav))
    assert result.returncode == 0, result.stderr
    samples = decode(wav)
    assert samples.shape == (2, 3 * 44100)
    assert np.sqrt(np.mean(samples**2)) > 0.005
    unknown = run_bedtime("soundscape", "rian", "-o", str(wav))
    assert unknown.returncode == 1 and "did you mean 'rain'?" in unknown.stderr


def test_cache_info_and_prune(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    render(DATA / "tiny.yaml", tmp_path / "out", cache)
    env = {"BEDTIME_CACHE": str(cache)}
    info = run_bedtime("cache", "info", env=env).stdout
    assert info.startswith("lines          7 entries")
    # two chapters and the tail, and any section mastered again under a lower peak ceiling
    counts = dict(re.findall(r"^(\w+) +(\d+) entries", info, re.MULTILINE))
    assert int(counts["chapters"]) >= 3 and int(counts["encoded"]) >= 3, info
    older = cache / "lines" / "ab" / f"ab{'0' * 62}.clip"  # written by an older bedtime-audio
    older.parent.mkdir(exist_ok=True)
    older.write_bytes(b"BTA2" + bytes(64))
    kept = run_bedtime("cache", "prune", env=env).stdout
    assert "lines     removed 1 entries" in kept
    assert not older.exists()
    gone = run_bedtime("cache", "prune", "--all", env=env).stdout
    assert "lines     removed 7 entries" in gone
    assert AudioCache(cache / "lines").entries() == []


def test_stems_add_up_to_the_mix(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_bedtime(
        "render", str(DATA / "tiny.yaml"), "--out", str(out), "--stems", *TINY_ARGS
    )
    assert result.returncode == 0, result.stderr
    folder = out / "tiny"
    voice, bed = decode(folder / "tiny.voice.flac"), decode(folder / "tiny.bed.flac")
    mix = decode(folder / "tiny.m4b")
    assert voice.shape == bed.shape
    assert abs(voice.shape[1] - mix.shape[1]) < 4096  # AAC pads its last frame
    meter = pyloudnorm.Meter(44100)

    def lufs(samples: np.ndarray) -> float:
        return float(meter.integrated_loudness(samples.T.astype(np.float64)))

    # The stems take the master's gain and its limiter's, so they add up to the mix.
    assert lufs(voice + bed) == pytest.approx(lufs(mix[:, : voice.shape[1]]), abs=0.1)
    assert lufs(bed) < lufs(voice) - 8
    files = json.loads((folder / "render.json").read_text())["files"]
    assert {name for name in files} == {
        f"tiny.{ext}" for ext in ("m4b", "mp3", "voice.flac", "bed.flac")
    }
    assert all(figures["true_peak_dbtp"] <= -1.5 for figures in files.values())


def test_a_render_killed_while_speaking_leaves_no_workers(tmp_path: Path) -> None:
    process = speaking(DATA / "tiny.yaml", tmp_path, "spoke 1/")
    workers = descendants(process.pid)
    assert workers, "eSpeak NG speaks each sentence in a process of its own"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 5  # each goes with the process it serves
    while (running := _running(workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running == {}


def _running(pids: set[int]) -> dict[int, str]:
    """Those of the processes still running (not exited and waiting to be reaped), with what
    each runs."""
    running = {}
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if state not in ("Z", "X"):
            running[pid] = f"{state} {command.decode(errors='replace')[:200]}"
    return running


def speaking(script: Path, tmp_path: Path, progress: str) -> subprocess.Popen[str]:
    """A render with two jobs, once its progress has printed `progress`. It starts with
    Ctrl-C at its default even where the tests run with it ignored (a shell without job control
    ignores it in whatever it starts with `&`, and so would the render)."""
    env = {**os.environ, "BEDTIME_CACHE": str(tmp_path / "cache")}
    process = subprocess.Popen(
        [BEDTIME, "render", str(script), "--out", str(tmp_path / "out"), "-v", "-j", "2"]
        + list(TINY_ARGS),
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stderr is not None
    for line in process.stderr:
        if progress in line:
            break
    return process


def descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def peak_rss_mb(*args: str, cwd: Path) -> float:
    """The largest resident memory of `bedtime args` (or any process it waited for)."""
    script = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, BEDTIME, *args], cwd=cwd, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1]) / 1024


def test_a_long_tail_needs_no_more_memory_than_a_short_one(tmp_path: Path) -> None:
    """The tail is mixed, mastered and cached a few minutes at a time, two pieces at once with
    two jobs: four times the tail, the same peak memory, within 100 MB (an hour's tail once
    took 10 GB, 2.8 MB a second)."""
    render = ("render", str(DATA / "tiny.yaml"), "--draft", "-q", "-j", "2", *TINY_ARGS[4:])
    short = peak_rss_mb(*render, "--tail", "360", "--out", "short", cwd=tmp_path)
    long = peak_rss_mb(*render, "--tail", "1440", "--out", "long", cwd=tmp_path)
    assert long <= short + 100, (short, long)  # the old whole-tail mix: +4 GB
    chapters = ffprobe_chapters(tmp_path / "long" / "tiny" / "tiny.m4b")
    assert chapters[-1]["tags"]["title"] == "Drift off"
    assert float(chapters[-1]["end_time"]) - float(chapters[-1]["start_time"]) == pytest.approx(
        1440, abs=0.1
    )


def test_ctrl_c_while_speaking_stops_at_once_and_leaves_no_workers(tmp_path: Path) -> None:
    """Ctrl-C reaches the render alone here (as from a supervisor): the sentences still queued
    for the workers are dropped, not spoken first (which took 20 s)."""
    said = "is one that takes a while to say, as it goes on and on for a good long time."
    lines = "".join(f"          - lena: Line number {n} {said}\n" for n in range(400))
    script = tmp_path / "long.yaml"
    script.write_text(
        "title: Long\ncast: {lena: x}\nchapters:\n  - title: A\n    scenes:\n      - lines:\n"
        + lines
    )
    process = speaking(script, tmp_path, "spoke 2/")
    workers = descendants(process.pid)
    os.kill(process.pid, signal.SIGINT)
    interrupted = time.monotonic()
    rest = process.communicate(timeout=120)[1]
    assert time.monotonic() - interrupted < 8, "the queued sentences were spoken first"
    assert process.returncode == 130
    assert "interrupted; nothing half-written was kept" in rest
    time.sleep(2)
    assert [pid for pid in workers if Path(f"/proc/{pid}").exists()] == []
    assert not (tmp_path / "out" / "long" / "long.m4b").exists()


def test_editing_one_sentence_of_a_line_speaks_that_sentence_alone(tmp_path: Path) -> None:
    from bedtime_audio.engines import load_engine
    from bedtime_audio.render import prepare
    from bedtime_audio.synth import synthesize

    script = tmp_path / "three.yaml"
    line = "The tide went out. The gulls grew quiet. A lamp came on in the harbour."
    story = "title: T\ncast: {lena: x}\nchapters:\n  - title: A\n    scenes:\n      - lines:\n"
    script.write_text(story + f"          - lena: {line}\n")
    engine = load_engine("pyttsx3")
    cache = AudioCache(tmp_path / "lines")
    first = synthesize(prepare([script], DATA / "voices.yaml", engine)[0], engine, cache, jobs=1)
    assert (first.synthesized, first.cached) == (3, 0)
    script.write_text(story + f"          - lena: {line.replace('grew quiet', 'slept')}\n")
    plan = prepare([script], DATA / "voices.yaml", engine)[0]
    edited = synthesize(plan, engine, cache, jobs=1)
    assert (edited.synthesized, edited.cached) == (1, 2)
    (clip,) = edited.clips.values()
    (before,) = first.clips.values()
    assert [s.key for s in clip.sentences][::2] == [s.key for s in before.sentences][::2]
    assert clip.gain_db == pytest.approx(before.gain_db, abs=1.5)
