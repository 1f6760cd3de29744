"""How fast Kokoro speaks on this machine, by ONNX Runtime thread count and process count.

    .venv/bin/python bench/kokoro_threads.py [--repeats 3]

Prints the real-time factor (seconds of audio per second of wall time; higher is faster) for
a ~100-word paragraph: one process with 1 and with 2 intra-op threads, kokoro-onnx's own
whole-text batching for comparison, and two processes × 1 thread sharing the paragraph's
sentences, as a parallel synth stage would.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time
from typing import Any

from bedtime_audio.engines.kokoro import KokoroEngine
from bedtime_audio.model import Voice
from bedtime_audio.text import normalize_text, split_sentences

PARAGRAPH = (
    "Far away, where the hills fold into one another like sleeping cats, there was a small "
    "village with a single crooked lantern. Every evening, when the sky turned the colour of "
    "warm milk, old Nadine climbed the forty-two steps of the bell tower. She did not ring the "
    "bell. She only listened. The wind told her which children were still awake, and she "
    "hummed to each of them in turn, softly, the way the river hums to the stones. By nine "
    "o'clock the village was quiet, the lantern glowed low, and even the owls spoke in whispers."
)
VOICE = Voice("kokoro", "af_heart")


def timed(engine: KokoroEngine, text: str) -> tuple[float, float]:
    """(audio seconds, wall seconds) for one synthesis."""
    start = time.perf_counter()
    audio = engine.synthesize(text, VOICE)
    return audio.duration_s, time.perf_counter() - start


def one_process(threads: int, repeats: int) -> list[float]:
    engine = KokoroEngine(threads=threads)
    engine.synthesize("Warm up.", VOICE)
    return [
        audio_s / wall_s for audio_s, wall_s in (timed(engine, PARAGRAPH) for _ in range(repeats))
    ]


def kokoro_batching(threads: int, repeats: int) -> list[float]:
    """kokoro-onnx's create() on the whole paragraph, for comparison with sentence by sentence."""
    engine = KokoroEngine(threads=threads)
    kokoro: Any = engine._model()
    text = normalize_text(PARAGRAPH)
    kokoro.create("Warm up.", voice="af_heart")
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        samples, rate_hz = kokoro.create(text, voice="af_heart")
        rates.append(len(samples) / rate_hz / (time.perf_counter() - start))
    return rates


def _worker(text: str, barrier: Any, results: Any) -> None:
    engine = KokoroEngine(threads=1)
    engine.synthesize("Warm up.", VOICE)
    barrier.wait()
    start = time.perf_counter()
    audio_s, _ = timed(engine, text)
    results.put((start, time.perf_counter(), audio_s))


def two_processes() -> float:
    """Aggregate real-time factor of two 1-thread processes, each with half the sentences."""
    sentences = split_sentences(normalize_text(PARAGRAPH))
    half = len(sentences) // 2
    halves = [" ".join(sentences[:half]), " ".join(sentences[half:])]
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(h, barrier, results)) for h in halves]
    for w in workers:
        w.start()
    done = [results.get() for _ in workers]
    for w in workers:
        w.join()
    wall_s = max(end for _, end, _ in done) - min(start for start, _, _ in done)
    return sum(audio_s for _, _, audio_s in done) / wall_s


def report(label: str, rates: list[float]) -> None:
    print(f"{label:<44} RTF best {max(rates):.2f}  median {statistics.median(rates):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{len(PARAGRAPH.split())} words, {os.cpu_count()} CPUs, load average {load}")
    for threads in (1, 2):
        report(
            f"1 process x {threads} thread(s), sentence by sentence", one_process(threads, repeats)
        )
        report(
            f"1 process x {threads} thread(s), kokoro-onnx batching",
            kokoro_batching(threads, repeats),
        )
    report(
        "2 processes x 1 thread, half the sentences each", [two_processes() for _ in range(repeats)]
    )


if __name__ == "__main__":
    main()
