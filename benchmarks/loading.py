"""Benchmark: load and validate 450 programmes × 12 events (a national week).

Prints the time to load and check them all (target: ≤ 2 s on a 2-core machine), and, as a
baseline from the same run, the time PyYAML alone takes to parse the same files, so the
figure can be compared across machines.

    .venv/bin/python benchmarks/loading.py [--programmes 450] [--events 12]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import yaml
from timing import samples_ms

from week_planner.schedule.loading import check_paths, load_text

EVENT = """  - id: event-{n}
    title: برنامه شماره {n} هفته تعاون در شهرستان
    category: {category}
    date: 1404-06-{day:02d}
    start: "{hour:02d}:00"
    end: "{hour:02d}:45"
    venue: {venue}
    hosts: [فرماندار, مسئول اداره تعاون]
    description: توضیح کوتاهی دربارهٔ برنامه، با نیم‌فاصله در تعاونی‌ها.
"""

HEAD = """programme:
  id: county-{p}-1404
  title: هفته تعاون ۱۴۰۴ شهرستان شماره {p}
  organiser: اداره تعاون، کار و رفاه اجتماعی
  from: 1404-06-11
  to: 1404-06-17
  description: |
    ۲۵۵ شرکت تعاونی، نزدیک به ۲۰۰۰ عضو.
categories:
  visit: {{label: بازدید, color: "#2e7d32", reminders: [1d, 1h]}}
  parade: {{label: رژه, color: "#c62828", reminders: [1d, 2h]}}
  meeting: {{label: نشست}}
venues:
  hall: {{name: سالن اجتماعات, address: خیابان امام, location: [35.25, 58.28]}}
  square: {{name: میدان, location: [35.26, 58.29]}}
events:
"""


def write_programmes(folder: Path, programmes: int, events: int) -> None:
    categories = ("visit", "parade", "meeting")
    for p in range(programmes):
        body = [HEAD.format(p=p)]
        for n in range(events):
            body.append(EVENT.format(n=n, category=categories[n % 3], day=11 + n % 7,
                                     hour=8 + n // 7 * 2 + (n % 2) * 5,
                                     venue=("hall", "square")[n % 2]))
        (folder / f"county-{p}.yaml").write_text("".join(body), encoding="utf-8")


def timed(function, repeat: int) -> list[float]:
    """Seconds of each of ``repeat`` calls."""
    return [ms / 1000 for ms in samples_ms(function, repeat)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programmes", type=int, default=450)
    parser.add_argument("--events", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_programmes(folder, args.programmes, args.events)
        files = sorted(folder.glob("*.yaml"))

        results = []
        load = timed(lambda: results.append(check_paths([folder])), args.repeat)
        errors = [p for p in results[-1] for p in p.errors]
        assert not errors, errors[:3]
        loaded = sum(r.programme is not None for r in results[-1])

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        baseline = timed(lambda: [yaml.load(f.read_bytes(), Loader=loader) for f in files],
                         args.repeat)

    best, median = min(load), statistics.median(load)
    print(f"programmes loaded:        {loaded} × {args.events} events")
    print(f"libyaml C loader:         {'yes' if loader.__name__ == 'CSafeLoader' else 'no'}")
    print(f"load + validate (best):   {best:.3f} s   (median {median:.3f} s; target ≤ 2 s)")
    print(f"PyYAML safe_load only:    {min(baseline):.3f} s   (baseline, same files)")
    print(f"ratio to baseline:        {best / min(baseline):.2f}×")
    print(f"per programme:            {best / loaded * 1000:.2f} ms")
    hostile_lines()


# Files with one long line of the kinds that make a regular expression backtrack: each
# must load (with its errors) in about the time of an ordinary file of its size.
HOSTILE = {
    "quote look-alike, then spaces": 'programme:\n  id: x\nevents:\n  - id: e\n    start: "\u201c'
                                     + " " * 200_000 + 'x"\n',
    "': ' in a value, then spaces": "programme:\n  id: x\n  organiser: a: b" + " " * 200_000
                                    + "c\n",
    "reserved first character": "a" + " " * 200_000 + "b: @x\n",
    "e-mail of dots": 'programme:\n  contact: {email: "a@' + "a." * 100_000 + ' "}\n',
}


def hostile_lines() -> None:
    sample = (Path(__file__).resolve().parent.parent / "schedules" /
              "khalilabad-1404.yaml").read_text(encoding="utf-8")
    ordinary = sample * (200_000 // len(sample) + 1)  # as long, parsed to the first error
    base = min(timed(lambda: load_text(ordinary), 3))
    print(f"hostile 200 KB lines (an ordinary file of that size: {base * 1000:.1f} ms):")
    for name, text in HOSTILE.items():
        took = min(timed(lambda: load_text(text), 3))
        print(f"  {name:32s} {took * 1000:8.1f} ms   ({took / base:.2f}×)")


if __name__ == "__main__":
    main()
