"""Benchmark: the worst schedule files a county could save (benchmarks/hostile_schedules.py),
each as close to the 1 MB limit as it gets.

Prints, for each, the time ``load_text`` takes to check it (median of 3), the peak memory
of a fresh process that checks it once (VmHWM) and, as a baseline from the same run,
the time PyYAML's C parser alone takes to read the same bytes (events only, no nodes):
the floor any YAML loader stands on. Targets: every case under 2 s and 200 MB on a
2-core machine.

    .venv/bin/python benchmarks/hostile.py [CASE …]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Run in a fresh interpreter per case, so one case's peak memory is not another's.
MEASURE = """
import json, re, sys, time
sys.path.insert(0, {here!r})
import yaml
from hostile_schedules import CASES
from week_planner.schedule.loading import load_text
def peak_mb():  # VmHWM: ru_maxrss would carry the parent's peak over the fork
    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)) / 1024
data = CASES[{name!r}]()
times = []
for _ in range(3):
    start = time.perf_counter()
    result = load_text(data, "hostile.yaml")
    times.append(time.perf_counter() - start)
report = json.dumps([p.as_dict("fa") for p in result.problems], ensure_ascii=False)
start = time.perf_counter()
try:
    for _ in yaml.parse(data, Loader=yaml.CSafeLoader):
        pass
except yaml.YAMLError:  # the parser stops where the file breaks, as the loader does
    pass
parse = time.perf_counter() - start
print(json.dumps({{"bytes": len(data), "times": times, "parse": parse,
                  "problems": len(result.problems), "report_bytes": len(report.encode()),
                  "ok": result.ok,
                  "peak_mb": peak_mb()}}))
"""


def measure(name: str) -> dict:
    output = subprocess.run([sys.executable, "-c", MEASURE.format(here=str(HERE), name=name)],
                            check=True, capture_output=True, text=True, timeout=300).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    sys.path.insert(0, str(HERE))
    from hostile_schedules import CASES
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", default=list(CASES))
    names = parser.parse_args().cases
    print(f"{platform.node()} · Python {platform.python_version()} · "
          f"{platform.machine()}")
    print(f"{'case':32} {'bytes':>9} {'check s':>8} {'parse s':>8} {'ratio':>6} "
          f"{'peak MB':>8} {'problems':>8} {'report kB':>9}")
    worst_time = worst_memory = 0.0
    for name in names:
        figures = measure(name)
        check = statistics.median(figures["times"])
        worst_time = max(worst_time, check)
        worst_memory = max(worst_memory, figures["peak_mb"])
        print(f"{name:32} {figures['bytes']:>9,} {check:>8.3f} {figures['parse']:>8.3f} "
              f"{check / max(figures['parse'], 1e-6):>6.2f} {figures['peak_mb']:>8.0f} "
              f"{figures['problems']:>8} {figures['report_bytes'] / 1000:>9.1f}")
    print(f"worst: {worst_time:.2f} s (target < 2 s), {worst_memory:.0f} MB "
          f"(target < 200 MB)")


if __name__ == "__main__":
    main()
