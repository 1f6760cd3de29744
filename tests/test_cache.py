"""The chapter cache is written and read a block at a time, and is whole or absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bedtime_audio.cache import AudioCache

RATE = 44100


def test_an_entry_written_in_blocks_reads_back_in_any_blocks(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    samples = np.random.default_rng(1).standard_normal((2, 100_003)).astype(np.float32)
    with cache.writer("k", 2, samples.shape[1], RATE, {"gain_db": -3.5}) as out:
        for lo in range(0, samples.shape[1], 30_000):
            out.write(samples[:, lo : lo + 30_000])
    with cache.reader("k") as found:
        assert found is not None
        assert (found.frames, found.rate_hz, found.meta) == (100_003, RATE, {"gain_db": -3.5})
        np.testing.assert_array_equal(np.concatenate(list(found.blocks(7_777)), axis=1), samples)
        np.testing.assert_array_equal(found.read(99_990, 100_003), samples[:, 99_990:])
    whole = cache.get("k")
    assert whole is not None and np.array_equal(whole.samples, samples)


def test_an_entry_left_half_written_is_not_there(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    with pytest.raises(KeyboardInterrupt), cache.writer("k", 2, 1000, RATE) as out:
        out.write(np.zeros((2, 500), np.float32))
        raise KeyboardInterrupt  # Ctrl-C while a chapter is mastered
    with pytest.raises(ValueError, match="500 frames written of 1000"):
        with cache.writer("k", 2, 1000, RATE) as out:
            out.write(np.zeros((2, 500), np.float32))
    assert cache.get("k") is None
    assert [path.name for path in tmp_path.rglob("*") if path.is_file()] == []
