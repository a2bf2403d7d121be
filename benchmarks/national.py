"""A national week on one machine: 45, 450 and 4,500 programmes × 12 events (real county
names and offices, Persian text; benchmarks/national_data.py), each size measured in a
process of its own, so that its memory is its own:

- cold start: the app and its database schema (SQLite), loading and validating every
  file, syncing every programme's revisions into the store, building every programme's
  feed (its first request) — each part, and the total (target ≤ 2 s at 450, growing
  linearly);
- a restart: the same cold start in a new process, with the database and the instance
  folder the first one left (a deploy, a reboot, a crash: what a service's start
  usually is). It reads the checked files and built feeds that the first process kept
  under instance/kept/ (the file edited below as that process last applied it);
- two gunicorn workers' first look together on an empty instance folder (the slower's
  load, validate and sync), each from the start of the folder as before, and from opposite
  ends sharing instance/kept/ as gunicorn_hooks.py starts them;
- the first start as production runs it: gunicorn as docs/deploying.md says (2 workers ×
  4 threads) launched on an empty instance folder and database, until every programme's
  feed has answered 200 to 4 clients asking over HTTP (the interpreter, the imports and
  both workers' first look included), and the CPU its processes used;
- resident memory after the cold start, and after every programme page has been asked
  for once (target ≤ 150 MB at 450; reported at 4,500);
- one edited file live: from saving a file (with an mtime already older than the settle
  time, as a copy keeping its time is; a file just written waits
  WEEK_PLANNER_SCHEDULE_SETTLE_SECONDS more on purpose) until its feed and its page both
  show the edit, with the folder watched as ``serve`` and gunicorn's workers watch it
  (target ≤ 1 s at 4,500);
- the home page: rendering it (target ≤ 50 ms at 4,500), its size, and answering it from
  memory once rendered;
- a look at the unchanged folder (what the watcher's thread pays once per RELOAD_INTERVAL;
  a request pays it only where no watcher runs).

    .venv/bin/python benchmarks/national.py [--sizes 45 450 4500] [--no-append]

Prints every figure and how it grows from one size to the next (×10 programmes each
step: linear growth is ×10), with the machine, its load and the date, and appends the
same to benchmarks/RESULTS.md. Not part of the test run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from national_data import write_national  # noqa: E402
from serving import load_average, machine, put_out, versions  # noqa: E402
from serving_servers import commit_of, fetch, start_service  # noqa: E402


def memory_mb() -> tuple[float, float]:
    """(resident, peak resident) MB of this process."""
    fields = dict(line.split(":", 1) for line in
                  Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def timed(figures: dict, name: str, function) -> None:
    """Wall-clock seconds as ``<name>_s``, this process's CPU seconds as ``<name>_cpu_s``
    (less disturbed by whatever else the machine runs)."""
    began, cpu = time.perf_counter(), time.process_time()
    function()
    figures[f"{name}_s"] = time.perf_counter() - began
    figures[f"{name}_cpu_s"] = time.process_time() - cpu


def ask_every(client, ids: list[str], form: str) -> None:
    """Asks for ``form`` of every programme once; each must answer 200."""
    for programme_id in ids:
        with client.get(form.format(programme_id)) as response:
            assert response.status_code == 200, programme_id


def started_app(folder: Path, instance: Path):
    """The service on ``folder``, its database schema made (what every measurement
    starts; changes settle for 2 s, as by default)."""
    from week_planner import create_app, store

    app = create_app({
        "SCHEDULES_DIR": str(folder), "INSTANCE_DIR": str(instance),
        "SECRET_KEY": "a-benchmark-secret-key-not-for-production",
        "BASE_URL": "https://hafte-taavon.example.ir", "SCHEDULE_SETTLE_SECONDS": 2.0})
    store.app_engine(app)
    return app


def cold_start(folder: Path, instance: Path, ids: list[str]) -> tuple[dict, object]:
    """The cold start's figures, in this (fresh) process, and the app it started."""
    from week_planner import revision_store
    from week_planner.publish.feed_service import feed_service
    from week_planner.schedule.registry import registry_of

    figures: dict = {"memory_before_mb": memory_mb()[0]}
    synced = [0.0, 0.0]
    real_sync = revision_store.sync_programmes

    def timed_sync(*args, **kwargs):
        began, cpu = time.perf_counter(), time.process_time()
        try:
            return real_sync(*args, **kwargs)
        finally:
            synced[0] += time.perf_counter() - began
            synced[1] += time.process_time() - cpu

    revision_store.sync_programmes = timed_sync
    made = {}

    def make_app() -> None:
        made["app"] = started_app(folder, instance)

    timed(figures, "app_and_schema", make_app)
    app = made["app"]
    registry = registry_of(app)
    timed(figures, "load_and_sync", lambda: registry.refresh(force=True))
    figures["sync_s"], figures["sync_cpu_s"] = synced
    figures["load_s"] = figures["load_and_sync_s"] - synced[0]
    figures["load_cpu_s"] = figures["load_and_sync_cpu_s"] - synced[1]
    assert len(registry.snapshot().programmes) == len(ids), "not every file loaded"
    client = app.test_client()
    timed(figures, "feeds", lambda: ask_every(client, ids, "/{}.ics"))
    for unit in ("s", "cpu_s"):
        figures[f"cold_start_{unit}"] = sum(figures[f"{part}_{unit}"] for part in (
            "app_and_schema", "load_and_sync", "feeds"))
    figures["memory_cold_mb"], _ = memory_mb()
    revision_store.sync_programmes = real_sync
    # What was read from instance/kept/ instead of being made again.
    figures["kept_loads_read"] = registry.kept.files.hits if registry.kept else 0
    feeds_kept = feed_service(app).kept
    figures["kept_feeds_read"] = feeds_kept.hits if feeds_kept else 0
    return figures, app


def measure(folder: Path, instance: Path, ids: list[str]) -> dict:
    """Everything for one size, in this (fresh) process."""
    from week_planner.schedule.registry import registry_of
    from week_planner.schedule.watching import start_watching
    from week_planner.web.pages import page_cache
    from week_planner.web.prepared import prepared_responses

    figures, app = cold_start(folder, instance, ids)
    registry = registry_of(app)
    client = app.test_client()
    timed(figures, "pages", lambda: ask_every(client, ids, "/{}/"))
    figures["memory_pages_mb"], figures["memory_peak_mb"] = memory_mb()

    renders = []
    for _ in range(5):
        page_cache(app).clear()
        prepared_responses(app).clear()
        began = time.perf_counter()
        with client.get("/") as response:
            body = response.get_data()
        renders.append(time.perf_counter() - began)
    figures["home_render_ms"] = statistics.median(renders) * 1000
    figures["home_bytes"] = len(body)
    began = time.perf_counter()
    for _ in range(100):
        client.get("/").close()
    figures["home_memory_ms"] = (time.perf_counter() - began) * 10

    looks = []
    for _ in range(5):
        began = time.perf_counter()
        registry.refresh(force=True)
        looks.append(time.perf_counter() - began)
    figures["folder_look_ms"] = statistics.median(looks) * 1000

    watcher = start_watching(registry)
    try:
        figures["edit_live_s"] = [edit_live(client, folder, ids[len(ids) // 2], n)
                                  for n in range(3)]
    finally:
        watcher.stop()
    return figures


def edit_live(client, folder: Path, programme_id: str, number: int) -> float:
    """Seconds from saving an edit of ``programme_id``'s file until its feed and page show
    it (asked for every 5 ms, as visitors would)."""
    path = folder / f"{programme_id}.yaml"
    text = path.read_text(encoding="utf-8")
    marker = f"ویرایش {number + 1}".encode("utf-8")
    edited = text.replace("title: تجلیل از تعاونی‌های برتر",
                          f"title: تجلیل از تعاونی‌های برتر ({marker.decode()})", 1)
    assert edited != text
    temporary = path.with_suffix(".tmp")
    temporary.write_text(edited, encoding="utf-8")
    settled = time.time() - 10
    os.utime(temporary, (settled, settled))
    began = time.perf_counter()
    temporary.replace(path)  # an editor's save: write aside, then rename over
    path_feed, path_page = f"/{programme_id}.ics", f"/{programme_id}/"
    while time.perf_counter() - began < 30:
        with client.get(path_feed) as feed, client.get(path_page) as page:
            if marker in feed.get_data() and marker in page.get_data():
                return time.perf_counter() - began
        time.sleep(0.005)
    raise SystemExit(f"the edit of {programme_id} did not show in 30 s")


def child(args) -> None:
    import zoneinfo
    # PyPI's tzdata, as the tests use; before the service is imported, which notes the
    # zone rules in use (kept.code_fingerprint).
    zoneinfo.reset_tzpath(to=[])
    ids = json.loads(Path(args.ids).read_text(encoding="utf-8"))
    if args.first_look_from is not None:
        figures = first_look(Path(args.folder), Path(args.instance), ids,
                             args.first_look_from)
    elif args.restart:
        figures, _ = cold_start(Path(args.folder), Path(args.instance), ids)
    else:
        figures = measure(Path(args.folder), Path(args.instance), ids)
    print(json.dumps(figures))


def first_look(folder: Path, instance: Path, ids: list[str], start: float) -> dict:
    """One worker's first look (load, validate, sync) from ``start`` in the folder, as
    gunicorn_hooks sets it: seconds, and the files it read from instance/kept/."""
    from week_planner.schedule.registry import registry_of

    app = started_app(folder, instance)
    registry = registry_of(app)
    registry.first_look_from = start
    began = time.perf_counter()
    registry.refresh(force=True)
    assert len(registry.snapshot().programmes) == len(ids), "not every file loaded"
    return {"seconds": time.perf_counter() - began, "kept_read": registry.kept.files.hits}


def child_command(tmp: Path, instance: str, *flags: str) -> list[str]:
    return [sys.executable, __file__, "--child", "--folder", str(tmp / "schedules"),
            "--instance", str(tmp / instance), "--ids", str(tmp / "ids.json"), *flags]


CHILD_ENV = {**os.environ, "WEEK_PLANNER_SCHEDULE_GONE_GRACE_SECONDS": "60"}


def run_child(tmp: Path, *flags: str) -> dict:
    done = subprocess.run(child_command(tmp, "instance", *flags), capture_output=True,
                          text=True, timeout=3600, env=CHILD_ENV)
    if done.returncode != 0:
        raise SystemExit(f"{tmp.name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def two_workers(tmp: Path, starts: tuple[float, float], instance: str) -> float:
    """Seconds until both of two processes started together on an empty instance folder
    have loaded every file (the slower one's first look)."""
    processes = [subprocess.Popen(
        child_command(tmp, instance, "--first-look-from", str(start)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CHILD_ENV)
        for start in starts]
    found = []
    for process in processes:
        out, error = process.communicate(timeout=3600)
        if process.returncode != 0:
            raise SystemExit(f"{tmp.name} ({instance}) failed:\n{error[-3000:]}")
        found.append(json.loads(out.strip().splitlines()[-1])["seconds"])
    return max(found)


def production_start(tmp: Path, ids: list[str], clients: int = 4) -> dict:
    """Seconds from launching gunicorn (docs/deploying.md's settings) on an empty instance
    folder until every programme's feed has answered 200, asked by ``clients`` threads
    (each asks its share in turn, again while the port is not open yet); and the CPU
    seconds gunicorn's processes used."""
    settings = SimpleNamespace(server="gunicorn", workers=2, threads=4)
    began = time.perf_counter()
    server = start_service(tmp, "production", HERE.parent, settings)
    done: list[float] = []
    failures: list[str] = []

    def ask(share: list[str]) -> None:
        for programme_id in share:
            deadline = time.monotonic() + 600
            while True:
                try:
                    status = fetch(f"{server.base}/{programme_id}.ics")[0]
                    break
                except OSError:  # not listening yet, or no answer within fetch's 10 s
                    if time.monotonic() > deadline or server.process.poll() is not None:
                        failures.append(f"{programme_id}: the service did not answer")
                        return
                    time.sleep(0.02)
            if status != 200:
                failures.append(f"{programme_id}: {status}")
        done.append(time.perf_counter() - began)

    try:
        threads = [threading.Thread(target=ask, args=(ids[n::clients],))
                   for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        cpu = server.cpu_seconds()
    finally:
        server.stop()
    if failures:
        raise SystemExit(f"{tmp.name} (production) failed: {failures[:5]}")
    return {"production_start_s": max(done), "production_start_cpu_s": cpu}


def growth(values: list) -> str:
    if not all(isinstance(value, (int, float)) for value in values):
        return "—"
    steps = [f"×{later / earlier:.1f}" for earlier, later in zip(values, values[1:])
             if earlier]
    return ", ".join(steps) if steps else "—"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[45, 450, 4500])
    parser.add_argument("--events", type=int, default=12)
    parser.add_argument("--no-append", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--instance", help=argparse.SUPPRESS)
    parser.add_argument("--ids", help=argparse.SUPPRESS)
    parser.add_argument("--restart", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--first-look-from", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    started_at = dt.datetime.now(dt.timezone.utc)
    load_at_start = load_average()
    results = {}
    for size in args.sizes:
        tmp = Path(tempfile.mkdtemp(prefix=f"week-planner-national-{size}-"))
        try:
            ids = write_national(tmp / "schedules", size, args.events)
            (tmp / "ids.json").write_text(json.dumps(ids), encoding="utf-8")
            results[size] = run_child(tmp)
            # The same service started again: its database and instance folder kept.
            restart = run_child(tmp, "--restart")
            results[size].update({f"restart_{key}": value for key, value in restart.items()})
            # Two gunicorn workers' first start, as before (each checks every file) and as
            # gunicorn_hooks starts them (from opposite ends, sharing instance/kept/).
            results[size]["two_alike_s"] = two_workers(tmp, (0.0, 0.0), "alike")
            results[size]["two_apart_s"] = two_workers(tmp, (0.0, 0.5), "apart")
            results[size].update(production_start(tmp, ids))
            figures = results[size]
            print(f"{size:>5} programmes: cold start {figures['cold_start_s']:.2f} s, "
                  f"restart {figures['restart_cold_start_s']:.2f} s, "
                  f"memory {figures['memory_pages_mb']:.0f} MB, edit live "
                  f"{max(figures['edit_live_s']):.2f} s, home page "
                  f"{figures['home_render_ms']:.1f} ms (load {load_average()})", flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    report = render(results, args, started_at, load_at_start)
    put_out(report, append=not args.no_append)


ROWS = [
    ("first start, total (s; ≤ 2 at 450)", "cold_start_s", "{:.2f}"),
    ("… of it this process's CPU (s)", "cold_start_cpu_s", "{:.2f}"),
    ("… app and database schema (s)", "app_and_schema_s", "{:.2f}"),
    ("… load and validate every file (s; CPU)", "load", "{:.2f}; {:.2f}"),
    ("… sync every programme's revisions (s; CPU)", "sync", "{:.2f}; {:.2f}"),
    ("… build every programme's feed (s; CPU)", "feeds", "{:.2f}; {:.2f}"),
    ("restart, total (s; ≤ 2 at 450)", "restart_cold_start_s", "{:.2f}"),
    ("… of it this process's CPU (s)", "restart_cold_start_cpu_s", "{:.2f}"),
    ("… app and database schema (s)", "restart_app_and_schema_s", "{:.2f}"),
    ("… load and validate every file (s; CPU)", "restart_load", "{:.2f}; {:.2f}"),
    ("… sync every programme's revisions (s; CPU)", "restart_sync", "{:.2f}; {:.2f}"),
    ("… build every programme's feed (s; CPU)", "restart_feeds", "{:.2f}; {:.2f}"),
    ("… checked files and built feeds read from instance/kept/", "restart_kept", "{}"),
    ("two workers' first look together, each from the start (s)", "two_alike_s", "{:.2f}"),
    ("… from opposite ends, sharing instance/kept/ (s)", "two_apart_s", "{:.2f}"),
    ("first start as production runs it: gunicorn 2 × 4 launched, until every feed "
     "answered (s; CPU of its processes)", "production_start", "{:.2f}; {:.2f}"),
    ("resident memory after the cold start (MB)", "memory_cold_mb", "{:.0f}"),
    ("… after every page was asked once (MB; ≤ 150 at 450)", "memory_pages_mb", "{:.0f}"),
    ("… peak (MB)", "memory_peak_mb", "{:.0f}"),
    ("rendering every programme page once (s; CPU)", "pages", "{:.2f}; {:.2f}"),
    ("one edited file live, slowest of 3 (s; ≤ 1 at 4,500)", "edit_live_max", "{:.2f}"),
    ("home page, rendered (ms; ≤ 50 at 4,500)", "home_render_ms", "{:.1f}"),
    ("home page, from memory (ms)", "home_memory_ms", "{:.2f}"),
    ("home page size (kB)", "home_kb", "{:.0f}"),
    ("a look at the unchanged folder (ms)", "folder_look_ms", "{:.1f}"),
]


def render(results: dict, args, started_at, load_at_start) -> str:
    sizes = list(results)
    for figures in results.values():
        figures["edit_live_max"] = max(figures["edit_live_s"])
        figures["restart_kept"] = (f"{figures['restart_kept_loads_read']:,}, "
                                   f"{figures['restart_kept_feeds_read']:,}")
        figures["home_kb"] = figures["home_bytes"] / 1024
    lines = [
        f"## {started_at:%Y-%m-%d %H:%M} UTC — a national week (benchmarks/national.py)",
        "",
        f"- machine: {machine()}; load average (1, 5, 15 min) {load_at_start} at the start,"
        f" {load_average()} at the end",
        f"- versions: {versions()}; service {commit_of(HERE.parent)}; SQLite",
        f"- programmes × {args.events} events, one process per size; the edit is applied "
        f"by the folder watcher, its file already settled",
        "",
        "| figure | " + " | ".join(f"{size:,}" for size in sizes) + " | growth |",
        "|---|" + "---|" * (len(sizes) + 1),
    ]
    for label, key, form in ROWS:
        if ";" in form:  # wall-clock and CPU seconds
            pairs = [(results[size][f"{key}_s"], results[size][f"{key}_cpu_s"])
                     for size in sizes]
            values = [wall for wall, _ in pairs]
            cells = [form.format(*pair) for pair in pairs]
        else:
            values = [results[size][key] for size in sizes]
            cells = [form.format(value) for value in values]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {growth(values)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
