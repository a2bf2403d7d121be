"""Serving, side by side in one run: the service as docs/deploying.md runs it in production
(gunicorn with week_planner.gunicorn_hooks), a bare Flask app returning the same bytes under
the same gunicorn settings (the baseline), and nginx serving the static export
(``week-planner export``) when nginx is installed; each driven by wrk (Debian's ``wrk``)
when present, else by a bounded Python client, on the same requests:

- the whole programme's feed, a category's feed, the programme page;
- the feed answered 304 (If-None-Match), compared with the baseline's 200 of the feed: a
  304 must cost less than sending the body;
- a personal feed (``/<programme>/my/<token>.ics``: nginx passes it to the service).

nginx runs docs/deploying.md's recipe (the copy from nginx, the rest from the service),
which the script checks before measuring.

    .venv/bin/python benchmarks/serving.py [--duration 8] [--connections 32] [--rounds 3]
        [--workers 2] [--threads 4] [--server gunicorn|waitress] [--before DIR]
        [--no-append]

``--before REV`` serves a second copy of the project beside this one — a commit of this
repository (``HEAD~1``, extracted with ``git archive``) or a checkout's folder — so that a
change is measured against what it replaced in the same run.
Targets (ratios to the baseline of the same run): feed, category feed and page ≥ 0.9×, the
304 ≥ 1.0×, p99 under 50 ms at 32 connections. Prints req/s, p50 and p99 with the ratios,
the machine, its load, the date and the versions, and appends the same to
benchmarks/RESULTS.md. Loopback only; every server is stopped at the end. Not part of the
test run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.client import HTTPConnection
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving_servers import (  # noqa: E402
    PROGRAMME,
    ROOT,
    SAMPLE,
    Server,
    check_recipe,
    checkout,
    commit_of,
    nginx_requests,
    requests_of,
    start_bare,
    start_nginx,
    start_service,
)

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

TARGETS = {"feed": 0.9, "category feed": 0.9, "page": 0.9, "304 (If-None-Match)": 1.0,
           "personal feed": 0.9}
P99_TARGET_MS = 50.0


def put_out(report: str, append: bool) -> None:
    """Print a run's report and, unless told not to, append it to RESULTS.md."""
    print()
    print(report)
    if append:
        with open(RESULTS, "a", encoding="utf-8") as handle:
            handle.write("\n" + report + "\n")
        print(f"(appended to {RESULTS.relative_to(RESULTS.parent.parent)})")


# ------------------------------------------------------------------------ load

@dataclass
class Load:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    requests: int = 0
    cpu_us: float = 0.0  # the server's CPU time per request, microseconds
    notes: list[str] = field(default_factory=list)


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, headers: dict, args) -> Load:
    command = ["wrk", f"-t{args.load_threads}", f"-c{args.connections}",
               f"-d{args.duration}s", "--latency", "--timeout", "5s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(command + [url], capture_output=True, text=True,
                            timeout=args.duration + 30).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    count = int(re.search(r"(\d+) requests in", output).group(1))
    return Load(rate, p50, p99, errors + (int(bad.group(1)) if bad else 0), count)


def python_client(url: str, headers: dict, args) -> Load:
    """A bounded keep-alive client, one thread per connection (much slower than wrk: only
    its ratios mean something)."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    deadline = time.monotonic() + args.duration
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def run() -> None:
        connection = HTTPConnection(host, int(port), timeout=5)
        mine = []
        while time.monotonic() < deadline:
            began = time.perf_counter()
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status >= 400:
                    errors[0] += 1
            except OSError:
                errors[0] += 1
                connection.close()
                connection = HTTPConnection(host, int(port), timeout=5)
                continue
            mine.append((time.perf_counter() - began) * 1000)
        connection.close()
        with lock:
            latencies.extend(mine)

    started = time.monotonic()
    threads = [threading.Thread(target=run) for _ in range(args.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    elapsed = time.monotonic() - started
    return Load(len(latencies) / elapsed, latencies[len(latencies) // 2],
                latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], errors[0],
                len(latencies), notes=["python client"])


def measured(drive, server: Server, path: str, headers: dict, args) -> Load:
    """``drive``'s figures, with the server's CPU time per request."""
    before = server.cpu_seconds()
    load = drive(server.base + path, headers, args)
    if load.requests:
        load.cpu_us = (server.cpu_seconds() - before) / load.requests * 1e6
    return load


# --------------------------------------------------------------------- report

def versions() -> str:
    parts = [f"Python {platform.python_version()}"]
    for package in ("flask", "werkzeug", "gunicorn"):
        try:
            parts.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pass
    for command in (["nginx", "-v"], ["wrk", "-v"]):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10)
            text = (done.stdout + done.stderr).strip().splitlines()[0]
            parts.append(text.replace("nginx version: ", "").split(" [")[0])
        except (OSError, IndexError, subprocess.TimeoutExpired):
            pass
    return ", ".join(parts)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}: {model}, {os.cpu_count()} cores, {platform.system()} " \
           f"{platform.release()}"


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--load-threads", type=int, default=2, help="wrk's threads")
    parser.add_argument("--rounds", type=int, default=3, help="medians over this many")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--server", choices=("gunicorn", "waitress"), default="gunicorn",
                        help="waitress: one process, as 'week-planner serve' runs it")
    parser.add_argument("--before", help="a commit or a checkout to serve beside this one")
    parser.add_argument("--no-nginx", action="store_true")
    parser.add_argument("--python-client", action="store_true", help="even if wrk is here")
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--settings", nargs="+", metavar="WORKERSxTHREADS",
                        help="compare gunicorn settings instead (2x4 4x2 …), each service "
                             "against a bare app under the same settings, in one run")
    args = parser.parse_args()
    drive = python_client if args.python_client or not shutil.which("wrk") else wrk
    if args.settings:
        sweep(args, drive)
        return

    started_at = dt.datetime.now(dt.timezone.utc)
    load_at_start = load_average()
    tmp = Path(tempfile.mkdtemp(prefix="week-planner-serving-"))
    servers: list[Server] = []
    try:
        (tmp / "schedules").mkdir()
        before_source = None
        if args.before:
            before_source, args.before_label = checkout(args.before, tmp)
        # The sample as the older copy knows it (a newer one reads older files); its old
        # mtime has it applied at once.
        sample = before_source / SAMPLE.relative_to(ROOT) if before_source else SAMPLE
        shutil.copy2(sample, tmp / "schedules" / SAMPLE.name)

        def started(server: Server) -> Server:
            servers.append(server)
            server.wait_for(f"/{PROGRAMME}/")
            return server

        service = started(start_service(tmp, "service", ROOT, args))
        plans = {"service": (service, requests_of(service))}
        if args.before:
            before = started(start_service(tmp, "before", before_source, args))
            plans["before"] = (before, requests_of(before))
        bare = started(start_bare(tmp, service, plans["service"][1], args))
        bare_requests = {name: (path, {}) for name, (path, _) in plans["service"][1].items()}
        bare_requests["304 (If-None-Match)"] = bare_requests["feed"]  # the 200 it replaces
        plans["bare Flask"] = (bare, bare_requests)
        nginx = None if args.no_nginx else start_nginx(tmp, args, service)
        if nginx is not None:
            started(nginx)
            nginx.behind = service  # what it passes on costs the service's CPU too
            check_recipe(nginx, service, plans["service"][1])
            plans["nginx (export)"] = (nginx, nginx_requests(nginx, plans["service"][1]))

        results: dict[tuple[str, str], list[Load]] = {}
        order = list(plans)
        for round_number in range(args.rounds):
            for name in TARGETS:
                # Each round starts with another server, so none always runs first.
                shift = round_number % len(order)
                for label in order[shift:] + order[:shift]:
                    server, wanted = plans[label]
                    if name not in wanted:
                        continue
                    path, headers = wanted[name]
                    load = measured(drive, server, path, headers, args)
                    results.setdefault((label, name), []).append(load)
                    print(f"  round {round_number + 1} {name:<20} {label:<15} "
                          f"{load.requests_per_second:9.0f} req/s  p50 {load.p50_ms:6.2f} ms"
                          f"  p99 {load.p99_ms:6.2f} ms  CPU {load.cpu_us:5.0f} µs/req  "
                          f"(load {load_average()})", flush=True)
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    report = render(results, list(plans), args, started_at, load_at_start, drive)
    put_out(report, append=not args.no_append)


def sweep(args, drive) -> None:
    """The service and a bare app under each of several gunicorn settings, all measured
    in turn in each round, so that the machine's load falls on every setting alike."""
    settings = [tuple(int(n) for n in text.lower().split("x")) for text in args.settings]
    started_at = dt.datetime.now(dt.timezone.utc)
    load_at_start = load_average()
    tmp = Path(tempfile.mkdtemp(prefix="week-planner-serving-"))
    servers: list[Server] = []
    plans = {}
    try:
        (tmp / "schedules").mkdir()
        shutil.copy2(SAMPLE, tmp / "schedules" / SAMPLE.name)
        for workers, threads in settings:
            chosen = argparse.Namespace(**{**vars(args), "workers": workers,
                                           "threads": threads})
            name = f"{workers}x{threads}"
            service = start_service(tmp, f"service-{name}", ROOT, chosen)
            servers.append(service)
            service.wait_for(f"/{PROGRAMME}/")
            wanted = requests_of(service)
            bare = start_bare(tmp, service, wanted, chosen, f"bare-{name}")
            servers.append(bare)
            bare.wait_for(f"/{PROGRAMME}/")
            bare_wanted = {key: (path, {}) for key, (path, _) in wanted.items()}
            bare_wanted["304 (If-None-Match)"] = bare_wanted["feed"]
            plans[(workers, threads)] = ((service, wanted), (bare, bare_wanted))
        results: dict[tuple, list[Load]] = {}
        for round_number in range(args.rounds):
            for name in TARGETS:
                for setting, pair in plans.items():
                    for kind, (server, wanted) in zip(("service", "bare"), pair):
                        path, headers = wanted[name]
                        load = measured(drive, server, path, headers, args)
                        results.setdefault((setting, kind, name), []).append(load)
                        print(f"  round {round_number + 1} {name:<20} {kind:<8} "
                              f"{setting[0]}×{setting[1]} {load.requests_per_second:8.0f} "
                              f"req/s  p99 {load.p99_ms:6.1f} ms  (load {load_average()})",
                              flush=True)
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def median(key, attribute):
        return statistics.median(getattr(load, attribute) for load in results[key])

    header = ["gunicorn workers × threads"] + [f"{name}: req/s (p99 ms), ÷ bare"
                                               for name in TARGETS]
    rows = []
    for setting in plans:
        row = [f"{setting[0]} × {setting[1]}"]
        for name in TARGETS:
            rate = median((setting, "service", name), "requests_per_second")
            baseline = median((setting, "bare", name), "requests_per_second")
            row.append(f"{rate:,.0f} ({median((setting, 'service', name), 'p99_ms'):.1f}),"
                       f" {rate / baseline:.2f}")
        rows.append(row)
    client = "wrk" if drive is wrk else "a Python client"
    report = "\n".join([
        f"## {started_at:%Y-%m-%d %H:%M} UTC — gunicorn settings (benchmarks/serving.py "
        f"--settings)",
        "",
        f"- machine: {machine()}; load average (1, 5, 15 min) {load_at_start} at the start,"
        f" {load_average()} at the end",
        f"- versions: {versions()}; service {commit_of(ROOT)}",
        f"- the service and a bare Flask app under each setting; {client} with "
        f"{args.connections} connections, {args.duration} s per measurement, median of "
        f"{args.rounds} rounds; the 304 against the bare app's 200 of the feed",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ])
    put_out(report, append=not args.no_append)


def render(results, labels, args, started_at, load_at_start, drive) -> str:
    def median(label, name, attribute):
        loads = results.get((label, name))
        return None if not loads else statistics.median(getattr(load, attribute) for load in loads)

    labels = ["bare Flask"] + [label for label in labels if label != "bare Flask"]
    header = ["request"]
    for label in labels:
        header += [f"{label}: req/s (p50 / p99 ms)"] + \
            ([] if label == "bare Flask" else ["÷ bare"])
    rows = []
    verdicts = []
    for name, target in TARGETS.items():
        row = [name]
        baseline = median("bare Flask", name, "requests_per_second")
        for label in labels:
            rate = median(label, name, "requests_per_second")
            if rate is None:
                row += ["—"] + ([] if label == "bare Flask" else ["—"])
                continue
            row.append(f"{rate:,.0f} ({median(label, name, 'p50_ms'):.1f} / "
                       f"{median(label, name, 'p99_ms'):.1f})")
            if label != "bare Flask":
                row.append(f"**{rate / baseline:.2f}**" if label == "service"
                           else f"{rate / baseline:.2f}")
        rows.append(row)
        rate = median("service", name, "requests_per_second")
        p99 = median("service", name, "p99_ms")
        errors = sum(load.errors for load in results.get(("service", name), []))
        verdicts.append(f"{name}: {rate / baseline:.2f}× (target ≥ {target}×, "
                        f"{'met' if rate / baseline >= target else 'NOT met'}), p99 "
                        f"{p99:.1f} ms (target < {P99_TARGET_MS:.0f} ms, "
                        f"{'met' if p99 < P99_TARGET_MS else 'NOT met'})"
                        + (f", {errors} errors" if errors else ""))
    cpu_header = ["request"] + [f"{label}: CPU µs/request" for label in labels] + \
        [f"bare ÷ {label}" for label in labels if label != "bare Flask"]
    cpu_rows = []
    for name in TARGETS:
        baseline = median("bare Flask", name, "cpu_us")
        cells = [median(label, name, "cpu_us") for label in labels]
        cpu_rows.append([name] + ["—" if cell is None else f"{cell:,.0f}" for cell in cells]
                        + ["—" if cell is None or not cell else f"{baseline / cell:.2f}"
                           for label, cell in zip(labels, cells) if label != "bare Flask"])
    client = "wrk" if drive is wrk else "a Python client (wrk not installed)"
    lines = [
        f"## {started_at:%Y-%m-%d %H:%M} UTC — serving (benchmarks/serving.py)",
        "",
        f"- machine: {machine()}; load average (1, 5, 15 min) {load_at_start} at the start,"
        f" {load_average()} at the end",
        f"- versions: {versions()}",
        f"- service: {commit_of(ROOT)}"
        + (f"; before: {args.before_label}" if args.before else ""),
        (f"- waitress, one process × {args.threads} threads" if args.server == "waitress"
         else f"- gunicorn {args.workers} workers × {args.threads} threads (gthread)")
        + f" for the service and the bare Flask app; {client} with {args.connections} connections "
        f"({args.load_threads} threads), {args.duration} s per measurement, median of "
        f"{args.rounds} rounds; the 304 is compared with the bare app's 200 of the feed",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        *(f"- {verdict}" for verdict in verdicts),
        "",
        "The servers' own CPU time per request (all their processes, and for nginx the "
        "service's behind it; less disturbed by other work on the machine than req/s; "
        "bare ÷ server above 1 is cheaper than the baseline):",
        "",
        "| " + " | ".join(cpu_header) + " |",
        "|" + "---|" * len(cpu_header),
        *("| " + " | ".join(row) + " |" for row in cpu_rows),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
