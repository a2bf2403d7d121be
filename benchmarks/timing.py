"""Timing shared by the benchmark scripts (run as ``python benchmarks/<name>.py``)."""

from __future__ import annotations

import statistics
import time


def samples_ms(function, repeat: int) -> list[float]:
    """Milliseconds of each of ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def median_ms(function, repeat: int) -> float:
    """Median milliseconds of ``repeat`` calls."""
    return statistics.median(samples_ms(function, repeat))
