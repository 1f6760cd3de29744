"""Encoded files measured as a listener's player decodes them: ffmpeg's EBU R128 filter gives
the loudness of the whole file and the true peak within each span of it, in one decode."""

from __future__ import annotations

import collections
import re
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ExportError
from .workdir import DIE_WITH_PARENT


@dataclass(frozen=True)
class Measured:
    """An encoded file as a listener's player decodes it, by ffmpeg's EBU R128 filter."""

    integrated_lufs: float
    loudness_range_lu: float
    span_peaks_dbtp: tuple[float, ...]
    """The true peak within each span asked for (or the whole file)."""

    @property
    def true_peak_dbtp(self) -> float:
        return max(self.span_peaks_dbtp)

    def figures(self) -> dict[str, float]:
        return {
            "integrated_lufs": self.integrated_lufs,
            "loudness_range_lu": self.loudness_range_lu,
            "true_peak_dbtp": self.true_peak_dbtp,
        }


def measure_all(
    ffmpeg: str, paths: Sequence[Path], spans: Sequence[tuple[float, float]] = ()
) -> list[Measured]:
    """Measure each file (at once, one ffmpeg each): loudness over the whole file, and the
    true peak within each span of seconds (the whole file when no spans are given).

    The peaks come from the filter's log of every 100 ms frame, read as it is written: one
    filter however many spans, and memory that does not grow with the file."""
    command = [ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-i"]
    graph = ("-filter_complex", "[0:a]ebur128=peak=true:framelog=info", "-f", "null", "-")
    processes = [
        subprocess.Popen(
            [*command, str(path), *graph],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=DIE_WITH_PARENT,
        )
        for path in paths
    ]
    readers = [_Reader(process, spans) for process in processes]
    for reader in readers:
        reader.join()
    return [
        reader.measured(path, process.wait())
        for path, process, reader in zip(paths, processes, readers, strict=True)
    ]


_FRAME = re.compile(r"\bt: *([\d.]+) .* FTPK: *(\S+) +(\S+) dBFS")
_FRAME_S = 0.1
PEAK_STEP_DB = 0.1
"""ebur128 prints true peaks to this step: a peak printed p may be up to p + PEAK_STEP_DB / 2."""


class _Reader(threading.Thread):
    """Follows one ffmpeg's log: the true peak of each span from the frames', and the
    summary (the last lines)."""

    def __init__(self, process: subprocess.Popen[str], spans: Sequence[tuple[float, float]]):
        super().__init__(daemon=True)
        self.process, self.spans = process, spans
        self.peaks = [float("-inf")] * len(spans)
        self.tail: collections.deque[str] = collections.deque(maxlen=_SUMMARY_LINES)
        self.start()

    def run(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.tail.append(line)
            frame = _FRAME.search(line)
            if frame is None:
                continue
            end_s = float(frame[1])
            peak = max(float(frame[2]), float(frame[3]))
            for index, (start, end) in enumerate(self.spans):
                if start < end_s and end_s - _FRAME_S < end and peak > self.peaks[index]:
                    self.peaks[index] = peak

    def measured(self, path: Path, returncode: int) -> Measured:
        log = "".join(self.tail)
        summary = log.rpartition("Summary:")[2]

        def figure(pattern: str) -> float:
            found = re.search(pattern, summary)
            if returncode != 0 or found is None:
                raise ExportError(f"could not measure {path.name}: {log.strip()[-400:]}")
            return float(found[1])

        whole_peak = figure(r"Peak:\s+(-?[\d.]+|-inf) dBFS")
        return Measured(
            figure(r"I:\s+(-?[\d.]+) LUFS"),
            figure(r"LRA:\s+(-?[\d.]+) LU"),
            tuple(self.peaks) if self.spans else (whole_peak,),
        )


_SUMMARY_LINES = 40
