"""Encoded files measured as a listener's player decodes them: ffmpeg's EBU R128 filter gives
the loudness of the whole file and the true peak within each span of it, in one decode."""

from __future__ import annotations

import re
import subprocess
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
    true peak within each span of seconds (the whole file when no spans are given)."""
    parts = [f"[0:a]asplit={len(spans) + 1}[whole]" + "".join(f"[s{i}]" for i in range(len(spans)))]
    parts.append(f"[whole]ebur128@whole={'framelog=verbose' if spans else _TRUE_PEAK}[out]")
    parts += [
        f"[s{i}]atrim=start={start:.3f}:end={end:.3f},ebur128@s{i}={_TRUE_PEAK},anullsink"
        for i, (start, end) in enumerate(spans)
    ]
    graph = ("-filter_complex", ";".join(parts), "-map", "[out]", "-f", "null", "-")
    processes = [
        subprocess.Popen(
            [ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-i", str(path), *graph],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=DIE_WITH_PARENT,
        )
        for path in paths
    ]
    return [
        _summaries(path, process.communicate()[1], process.returncode, len(spans))
        for path, process in zip(paths, processes, strict=True)
    ]


_TRUE_PEAK = "peak=true:framelog=verbose"
_SUMMARY = re.compile(r"\[ebur128@(\w+) @ [^\]]*\] Summary:\n(.*?)(?=\n\[|\Z)", re.DOTALL)


def _summaries(path: Path, log: str, returncode: int, spans: int) -> Measured:
    """The figures from each ebur128 instance's summary (the last one printed under a name)."""
    blocks = {match[1]: match[2] for match in _SUMMARY.finditer(log)}

    def figure(name: str, pattern: str) -> float:
        found = re.search(pattern, blocks.get(name, ""))
        if returncode != 0 or found is None:
            raise ExportError(f"could not measure {path.name}: {log.strip()[-400:]}")
        return float(found[1])

    peak = r"Peak:\s+(-?[\d.]+|-inf) dBFS"
    return Measured(
        figure("whole", r"I:\s+(-?[\d.]+) LUFS"),
        figure("whole", r"LRA:\s+(-?[\d.]+) LU"),
        tuple(figure(f"s{i}", peak) for i in range(spans)) if spans else (figure("whole", peak),),
    )
