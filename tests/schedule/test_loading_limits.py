"""The worst files a county could save: each is answered with a short report, in bounded
memory, and never with a traceback (benchmarks/hostile.py prints their times)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from week_planner.schedule.loading import load_text
from week_planner.schedule.rules import MAX_PROBLEMS

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from hostile_schedules import CASES  # noqa: E402

# What each case must be told (a code among its problems).
TOLD = {
    "events-each-with-a-bad-date": "too-many-problems",
    "events-each-with-many-errors": "too-many-problems",
    "valid-events-many-dates": "too-many",
    "unknown-keys": "too-many-problems",
    "duplicate-keys": "too-many-problems",
    "many-reminders": "too-many",
    "many-dates": "too-many",
    "many-categories": "too-many",
    "long-description": "too-long",
    "long-line-of-dots": "too-long",
    "long-broken-line": "yaml-syntax",
    "flat-sequence": "too-many",
    "deep-nesting": "yaml-syntax",
}


def test_every_case_states_what_it_must_be_told():
    assert set(TOLD) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_worst_case_gets_a_short_report(name):
    data = CASES[name]()
    assert 190_000 < len(data) <= 1_000_000
    result = load_text(data, f"{name}.yaml")
    assert result.programme is None
    assert TOLD[name] in {problem.code for problem in result.problems}
    assert len(result.problems) <= MAX_PROBLEMS + 1
    report = json.dumps([problem.as_dict("fa") for problem in result.problems],
                        ensure_ascii=False)
    assert len(report.encode()) < 100_000


def test_a_long_list_is_counted_not_read():
    result = load_text(CASES["events-each-with-a-bad-date"](), "many.yaml")
    [too_many] = [p for p in result.problems if p.code == "too-many"]
    assert too_many.args["found"] > 10_000 and too_many.args["limit"] == 500
    [rest] = [p for p in result.problems if p.code == "too-many-problems"]
    # 500 events read, each with one bad date: 100 listed, the other 400 (and the
    # too-many line's place) counted.
    assert rest.args["count"] + len(result.problems) - 1 == 501


# The peak resident size of this process since it started (VmHWM: unlike ru_maxrss, it
# does not carry over the high-water mark of the test process it was forked from).
MEASURE = """
import re, sys
sys.path.insert(0, {benchmarks!r})
from hostile_schedules import CASES
from week_planner.schedule.loading import load_text
for name in sys.argv[1:]:
    load_text(CASES[name](), name)
with open("/proc/self/status") as status:
    print(int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)) // 1024)
"""


@pytest.mark.parametrize("name", ["valid-events-many-dates", "many-categories",
                                  "duplicate-keys", "events-each-with-a-bad-date"])
def test_worst_case_stays_under_200_mb(name):
    # A fresh interpreter, so the peak is this case's alone.
    output = subprocess.run(
        [sys.executable, "-c", MEASURE.format(benchmarks=str(BENCHMARKS)), name],
        check=True, capture_output=True, text=True, timeout=120).stdout
    assert int(output.split()[-1]) < 200, output


def test_the_memory_measure_can_fail():
    # The same measure sees a large allocation: it is not blind.
    output = subprocess.run(
        [sys.executable, "-c", "x = bytearray(300 * 1024 * 1024)\n" +
         MEASURE.format(benchmarks=str(BENCHMARKS))],
        check=True, capture_output=True, text=True, timeout=120).stdout
    assert int(output.split()[-1]) >= 300
