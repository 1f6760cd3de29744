"""How fast Kokoro speaks on this machine, and the memory it holds, by ONNX Runtime thread
count, process count and thread sharing.

    .venv/bin/python bench/kokoro_threads.py [--repeats 3]

Prints the real-time factor (seconds of audio per second of wall time; higher is faster) for
a ~100-word paragraph: one process with 1 and with 2 intra-op threads, kokoro-onnx's own
whole-text batching for comparison, two processes × 1 thread sharing the paragraph's
sentences, and two threads of one process sharing one 1-thread session, as a render's units
do with --jobs 2. Each alternative runs in a fresh process, and its peak resident memory is
reported (for two processes, the sum of their peaks). Other programs running at the same time
skew the numbers, so each run also reports 'other CPU': the CPU seconds the rest of the
machine used per wall second while it ran (0.00 on a quiet machine).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, NamedTuple

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


class Run(NamedTuple):
    audio_s: float
    wall_s: float
    own_cpu_s: float
    """CPU seconds used by the measured processes."""
    all_cpu_s: float
    """CPU seconds used by the whole machine meanwhile."""

    @property
    def rtf(self) -> float:
        return self.audio_s / self.wall_s

    @property
    def other_cpu(self) -> float:
        return max(0.0, self.all_cpu_s - self.own_cpu_s) / self.wall_s


def machine_cpu_s() -> float:
    """Busy CPU seconds of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        ticks = [int(t) for t in stat.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def measure(speak: Callable[[], float]) -> Run:
    wall, own, machine = time.perf_counter(), time.process_time(), machine_cpu_s()
    audio_s = speak()
    return Run(
        audio_s,
        time.perf_counter() - wall,
        time.process_time() - own,
        machine_cpu_s() - machine,
    )


def peak_mb() -> float:
    """This process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


Measured = tuple[list[Run], float]
"""An alternative's runs, and the peak memory it held, in MB."""


def sentence_by_sentence(threads: int, repeats: int) -> Measured:
    engine = KokoroEngine(threads=threads)
    engine.synthesize("Warm up.", VOICE)
    runs = [measure(lambda: engine.synthesize(PARAGRAPH, VOICE).duration_s) for _ in range(repeats)]
    return runs, peak_mb()


def kokoro_batching(threads: int, repeats: int) -> Measured:
    """kokoro-onnx's create() on the whole paragraph, for comparison with sentence by sentence."""
    kokoro: Any = KokoroEngine(threads=threads)._model()
    text = normalize_text(PARAGRAPH)
    kokoro.create("Warm up.", voice="af_heart")

    def speak() -> float:
        samples, rate_hz = kokoro.create(text, voice="af_heart")
        return len(samples) / rate_hz

    return [measure(speak) for _ in range(repeats)], peak_mb()


def halves() -> list[str]:
    sentences = split_sentences(normalize_text(PARAGRAPH))
    half = len(sentences) // 2
    return [" ".join(sentences[:half]), " ".join(sentences[half:])]


def shared_session(repeats: int) -> Measured:
    """Two threads of one process, each with half the sentences, sharing one 1-thread session
    (ONNX Runtime lets go of the interpreter while it runs)."""
    engine = KokoroEngine(threads=1)
    engine.synthesize("Warm up.", VOICE)

    def speak() -> float:
        with ThreadPoolExecutor(2) as pool:
            spoken = pool.map(lambda text: engine.synthesize(text, VOICE).duration_s, halves())
            return sum(spoken)

    return [measure(speak) for _ in range(repeats)], peak_mb()


def _worker(text: str, barrier: Any, results: Any) -> None:
    engine = KokoroEngine(threads=1)
    engine.synthesize("Warm up.", VOICE)
    barrier.wait()
    cpu, start = time.process_time(), time.perf_counter()
    audio_s = engine.synthesize(text, VOICE).duration_s
    results.put((start, time.perf_counter(), time.process_time() - cpu, audio_s, peak_mb()))


def two_processes(repeats: int) -> Measured:
    """Two 1-thread processes, each with half the sentences, started together; the memory is
    the sum of their peaks."""
    runs, peaks = [], []
    ctx = mp.get_context("spawn")
    for _ in range(repeats):
        barrier, results = ctx.Barrier(3), ctx.Queue()
        workers = [ctx.Process(target=_worker, args=(h, barrier, results)) for h in halves()]
        for worker in workers:
            worker.start()
        barrier.wait()
        machine = machine_cpu_s()
        done = [results.get() for _ in workers]
        all_cpu_s = machine_cpu_s() - machine
        for worker in workers:
            worker.join()
        wall_s = max(end for _, end, *_ in done) - min(start for start, *_ in done)
        own_cpu_s = sum(cpu for _, _, cpu, *_ in done)
        runs.append(Run(sum(audio for *_, audio, _ in done), wall_s, own_cpu_s, all_cpu_s))
        peaks.append(sum(peak for *_, peak in done))
    return runs, max(peaks)


def fresh(alternative: Callable[..., Measured], *args: int) -> Measured:
    """The alternative, run in a process of its own so that its peak memory is its own."""
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(alternative, *args).result()


def report(label: str, measured: Measured) -> None:
    runs, memory_mb = measured
    rtfs = " ".join(f"{run.rtf:.2f}" for run in runs)
    others = " ".join(f"{run.other_cpu:.2f}" for run in runs)
    audio_s = runs[0].audio_s
    print(
        f"{label:<50} audio {audio_s:5.1f} s  RTF {rtfs}  peak {memory_mb:4.0f} MB"
        f"  (other CPU {others})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    print(f"{len(PARAGRAPH.split())} words, {os.cpu_count()} CPUs")
    for threads in (1, 2):
        report(
            f"1 process x {threads} thread(s), sentence by sentence",
            fresh(sentence_by_sentence, threads, repeats),
        )
        report(
            f"1 process x {threads} thread(s), kokoro-onnx batching",
            fresh(kokoro_batching, threads, repeats),
        )
    report("2 processes x 1 thread, half the sentences each", fresh(two_processes, repeats))
    report("2 threads sharing one 1-thread session, half each", fresh(shared_session, repeats))


if __name__ == "__main__":
    main()
