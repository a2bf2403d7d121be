"""Benchmark: a national schedules folder (450 programmes × 12 events) behind the Registry.

Prints:

- the first load of the folder (the loader's own figure, benchmarks/loading.py);
- a look at the unchanged folder, which a request pays at most once per RELOAD_INTERVAL:
  with files older than the file system's clock tick it only stats them (target ≤ 20 ms);
  with files written in the last two seconds it also compares their content;
- what requests wait while the whole folder reloads in another thread: the reads made
  during the reload, their 99th percentile (target ≤ 1 ms) and the slowest, which waits
  only for the interpreter to switch threads (target ≤ 50 ms; before readers stopped
  waiting on a load, it was the whole reload, seconds).

    .venv/bin/python benchmarks/registry.py [--programmes 450] [--events 12]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from loading import write_programmes
from timing import samples_ms

from week_planner.schedule import registry as registry_module
from week_planner.schedule.registry import Registry


def age(folder: Path, seconds: float) -> None:
    """Sets every file's modification time ``seconds`` in the past."""
    then = time.time() - seconds
    for path in folder.glob("*.yaml"):
        os.utime(path, (then, then))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programmes", type=int, default=450)
    parser.add_argument("--events", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_programmes(folder, args.programmes, args.events)
        age(folder, 3600)
        registry = Registry(folder, interval=0)
        [first] = samples_ms(lambda: registry.refresh(force=True), 1)
        assert len(registry.snapshot().programmes) == args.programmes

        unchanged = samples_ms(lambda: registry.refresh(force=True), 20)
        age(folder, 0.5)  # touched: the signature moved, the content did not
        registry.refresh(force=True)
        recent = samples_ms(lambda: registry.refresh(force=True), 20)

        # Every file gets new content, then one thread reloads them all while this one
        # reads as requests do (each read tries to look at the folder: interval 0).
        before = registry.get("county-0-1404").version
        for path in folder.glob("*.yaml"):
            path.write_text(path.read_text(encoding="utf-8").replace(
                "نشست}", "نشست با اعضا}"), encoding="utf-8")
        age(folder, 3600)
        loading = threading.Event()

        def load_file(*args, **kwargs):
            loading.set()
            return real_load_file(*args, **kwargs)

        real_load_file = registry_module.load_file
        registry_module.load_file = load_file
        reload_ms: list[float] = []
        loader = threading.Thread(
            target=lambda: reload_ms.extend(samples_ms(lambda: registry.refresh(force=True),
                                                       1)))
        reads: list[float] = []
        loader.start()
        loading.wait()
        while loader.is_alive():
            began = time.perf_counter()
            registry.get("county-0-1404")
            reads.append((time.perf_counter() - began) * 1000)
            time.sleep(0.001)  # a request does more than read the registry
        loader.join()
        assert registry.get("county-0-1404").version != before

    reads.sort()
    print(f"programmes:                        {args.programmes} × {args.events} events")
    print(f"first load:                        {first / 1000:.3f} s")
    print(f"unchanged folder, files settled:   {statistics.median(unchanged):.1f} ms "
          f"(median of 20; target ≤ 20 ms)")
    print(f"unchanged folder, files just saved: {statistics.median(recent):.1f} ms "
          f"(content compared for 2 s after a save)")
    print(f"whole folder reloaded in:          {reload_ms[0] / 1000:.3f} s")
    print(f"reads during the reload:           {len(reads)}, slowest {reads[-1]:.2f} ms, "
          f"99th percentile {reads[int(len(reads) * 0.99)]:.2f} ms "
          f"(targets ≤ 50 ms, ≤ 1 ms)")


if __name__ == "__main__":
    main()
