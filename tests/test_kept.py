"""Work kept on disk across restarts (week_planner/kept.py): checked schedule files and
built feeds come back exactly as they were made, only to the service that wrote them,
never stale, and the folder keeps to its size."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from week_planner import create_app, gunicorn_hooks, kept
from week_planner.kept import KeptFiles, code_fingerprint, stable_text
from week_planner.publish.feed_service import feed_service
from week_planner.publish.feeds import Selection
from week_planner.schedule import kept_loads
from week_planner.schedule import registry as registry_module
from week_planner.schedule.kept_loads import KeptLoads
from week_planner.schedule.registry import Registry, registry_of

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "schedules" / "khalilabad-1404.yaml"
SECRET = "a-test-secret-key-of-some-length"
UTC = dt.timezone.utc
BEFORE_THE_WEEK = dt.datetime(2025, 8, 20, 6, 0, tzinfo=UTC)
DURING_THE_WEEK = dt.datetime(2025, 9, 3, 6, 0, tzinfo=UTC)


def _rows(folder: Path):
    """A connection of its own to the kept database in ``folder`` (as another process's)."""
    return sqlite3.connect(folder / kept.DATABASE, isolation_level=None)


def test_what_is_kept_comes_back_only_to_the_service_that_wrote_it(tmp_path):
    files = KeptFiles(tmp_path / "kept", SECRET, "test")
    files.put("a" * 64, b"payload one")
    assert files.get("a" * 64) == b"payload one"
    assert files.get("b" * 64) is None

    assert KeptFiles(tmp_path / "kept", "another-secret-key-entirely", "test").get(
        "a" * 64) is None
    assert KeptFiles(tmp_path / "kept", SECRET, "another purpose").get("a" * 64) is None
    # Under another key, cut short, or with one byte changed: not used.
    database = _rows(tmp_path / "kept")
    data = database.execute("SELECT data FROM kept WHERE key = ?", ("a" * 64,)).fetchone()[0]
    database.execute("INSERT INTO kept (key, size, used, data) "
                     "SELECT ?, size, used, data FROM kept WHERE key = ?", ("c" * 64, "a" * 64))
    assert files.get("c" * 64) is None
    for damaged in (data[:-1], data[:-1] + bytes([data[-1] ^ 1]), "text, not bytes"):
        database.execute("UPDATE kept SET data = ? WHERE key = ?", (damaged, "a" * 64))
        assert files.get("a" * 64) is None
    database.execute("UPDATE kept SET data = ? WHERE key = ?", (data, "a" * 64))
    assert files.get("a" * 64) == b"payload one"


def test_the_database_keeps_its_size_by_deleting_what_was_used_longest_ago(tmp_path):
    folder = tmp_path / "kept"
    files = KeptFiles(folder, SECRET, "test", max_bytes=3500)  # three entries of 1,032
    for name in "abc":
        files.put(name * 64, name.encode() * 1000)
    database = _rows(folder)
    now = time.time()
    for name, age in (("a", 100_000), ("b", 300_000), ("c", 200_000)):
        database.execute("UPDATE kept SET used = ? WHERE key = ?", (now - age, name * 64))
    assert files.get("a" * 64) == b"a" * 1000  # used now: kept longest
    files.put("d" * 64, b"d" * 1000)  # 4,128 bytes: pruned to at most 2,625
    left = [key[0] for key, in database.execute("SELECT key FROM kept ORDER BY key")]
    assert left == ["a", "d"]
    assert database.execute("SELECT SUM(size) FROM kept").fetchone()[0] <= 3500


def test_a_hit_writes_its_time_of_use_only_when_that_is_old(tmp_path):
    files = KeptFiles(tmp_path / "kept", SECRET, "test")
    files.put("a" * 64, b"x")
    database = _rows(tmp_path / "kept")
    recent, old = time.time() - 60, time.time() - kept.TOUCH_SECONDS - 60
    for used, written in ((recent, False), (old, True)):
        database.execute("UPDATE kept SET used = ?", (used,))
        assert files.get("a" * 64) == b"x"
        after = database.execute("SELECT used FROM kept").fetchone()[0]
        assert (after != used) == written


def test_a_folder_that_cannot_be_written_is_a_miss_not_an_error(tmp_path, caplog):
    blocker = tmp_path / "kept"
    blocker.write_text("a file where the folder should be", encoding="utf-8")
    files = KeptFiles(blocker / "loads", SECRET, "test")
    with caplog.at_level(logging.WARNING, logger="week_planner.kept"):
        files.put("a" * 64, b"x")
        files.put("b" * 64, b"y")
    assert files.get("a" * 64) is None
    assert [r.getMessage() for r in caplog.records].count(caplog.records[0].getMessage()) \
        == 1 and "nothing can be kept" in caplog.records[0].getMessage()


def test_a_damaged_database_is_a_warning_and_is_made_again_once_deleted(tmp_path, caplog):
    folder = tmp_path / "kept"
    files = KeptFiles(folder, SECRET, "test")
    files.put("a" * 64, b"x")
    for name in ("", "-wal", "-shm"):
        (folder / (kept.DATABASE + name)).unlink(missing_ok=True)
    (folder / kept.DATABASE).write_bytes(b"not a database " * 1000)
    with caplog.at_level(logging.WARNING, logger="week_planner.kept"):
        assert files.get("a" * 64) is None
        files.put("b" * 64, b"y")
        assert files.get("b" * 64) is None
    [warning] = caplog.records  # once
    assert "delete it" in warning.getMessage()
    (folder / kept.DATABASE).unlink()  # as the warning says
    files.put("b" * 64, b"y")
    assert files.get("b" * 64) == b"y"


def test_a_folder_deleted_while_the_service_runs_is_made_again_and_shared(tmp_path):
    folder = tmp_path / "kept"
    running = KeptFiles(folder, SECRET, "test")
    running.put("a" * 64, b"before")
    shutil.rmtree(folder)
    running.put("b" * 64, b"after")  # into the new file, not the deleted one
    started = KeptFiles(folder, SECRET, "test")
    assert started.get("b" * 64) == b"after" and started.get("a" * 64) is None
    started.put("c" * 64, b"from the other")
    assert running.get("c" * 64) == b"from the other"
    # Deleted again and again: no connection to a deleted file stays open.
    for number in range(5):
        shutil.rmtree(folder)
        running.put(f"{number:064x}", b"x")
    assert started.get(f"{4:064x}") == b"x"  # it follows too
    held = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
            if os.path.islink(f"/proc/self/fd/{fd}")]
    assert not [target for target in held
                if target.startswith(str(folder)) and target.endswith("(deleted)")]


def test_entries_of_the_layout_before_the_database_are_deleted(tmp_path):
    folder = tmp_path / "kept"
    folder.mkdir()
    old = [folder / ("a" * 64 + ".kept"), folder / f".{'b' * 64}.123.abcd1234",
           folder / "kept.sqlite", folder / "kept.sqlite-wal"]
    for path in old:
        path.write_bytes(b"x" * 1000)
    others = [folder / "notes.txt", folder / ".nfs000000000123"]
    for path in others:
        path.write_text("not ours", encoding="utf-8")
    KeptFiles(folder, SECRET, "test").put("c" * 64, b"y")
    assert not any(path.exists() for path in old) and all(path.exists() for path in others)


@contextlib.contextmanager
def another_process_writing(folder: Path):
    """A write transaction held, for as long as the block runs, by a connection of its
    own (as another process's); the connection is given to the block."""
    writer = _rows(folder)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        yield writer
    finally:
        writer.execute("ROLLBACK")


def test_a_busy_database_is_a_miss_not_a_wait(tmp_path, monkeypatch):
    monkeypatch.setattr(kept, "BUSY_SECONDS", 0.2)
    files = KeptFiles(tmp_path / "kept", SECRET, "test")
    files.put("a" * 64, b"x")
    with another_process_writing(tmp_path / "kept"):
        other = KeptFiles(tmp_path / "kept", SECRET, "test")
        began = time.perf_counter()
        other.put("b" * 64, b"y")
        assert time.perf_counter() - began < 2  # not the 5 s SQLite waits by default
    assert files.get("b" * 64) is None and files.get("a" * 64) == b"x"


def test_workers_making_the_database_together_both_keep_in_wal_mode(tmp_path):
    """Two workers starting on a new folder: while one holds a lock on the database
    before it is in WAL mode, the other waits to switch it (SQLite fails at once) and
    keeps its entries."""
    folder = tmp_path / "kept"
    folder.mkdir()
    first = sqlite3.connect(folder / kept.DATABASE, isolation_level=None,
                            check_same_thread=False)  # released by a timer's thread
    first.execute("BEGIN IMMEDIATE")
    first.execute("CREATE TABLE made_first (x INTEGER)")
    released = threading.Timer(0.3, first.execute, ("COMMIT",))
    released.start()
    try:
        files = KeptFiles(folder, SECRET, "test")
        files.put("a" * 64, b"x")
        assert files.get("a" * 64) == b"x"
    finally:
        released.join()
        first.close()
    with contextlib.closing(_rows(folder)) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_hit_does_not_wait_for_another_process_to_note_its_use(tmp_path):
    files = KeptFiles(tmp_path / "kept", SECRET, "test")
    files.put("a" * 64, b"x")
    old = time.time() - kept.TOUCH_SECONDS - 60
    _rows(tmp_path / "kept").execute("UPDATE kept SET used = ?", (old,))
    with another_process_writing(tmp_path / "kept") as writer:
        began = time.perf_counter()
        assert files.get("a" * 64) == b"x"
        assert time.perf_counter() - began < kept.BUSY_SECONDS / 2
    assert writer.execute("SELECT used FROM kept").fetchone()[0] == old  # noted next time
    assert files.get("a" * 64) == b"x"
    assert writer.execute("SELECT used FROM kept").fetchone()[0] > old


def test_threads_do_not_wait_for_each_other(tmp_path, monkeypatch):
    monkeypatch.setattr(kept, "BUSY_SECONDS", 0.5)
    files = KeptFiles(tmp_path / "kept", SECRET, "test")
    files.put("a" * 64, b"x")
    found = []
    with another_process_writing(tmp_path / "kept"):
        threads = [threading.Thread(target=files.put, args=(f"{n:064x}", b"y"))
                   for n in range(4)]
        threads += [threading.Thread(target=lambda: found.append(files.get("a" * 64)))
                    for _ in range(2)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.perf_counter() - began
    # Each put waits its 0.5 s at once with the others (one after another: 2 s), and a
    # read waits for no write.
    assert took < 1.5 and found == [b"x", b"x"]


def test_a_store_opened_before_a_fork_keeps_nothing_in_the_child(tmp_path, caplog):
    opened = KeptFiles(tmp_path / "kept", SECRET, "test")
    opened.put("a" * 64, b"the parent's")
    unopened = KeptFiles(tmp_path / "kept", SECRET, "test")
    child = os.fork()
    if child == 0:
        code = 1
        try:
            opened.put("b" * 64, b"the child's")
            if opened.get("a" * 64) is None and opened.get("b" * 64) is None:
                unopened.put("c" * 64, b"the child's own")
                code = 0 if unopened.get("a" * 64) == b"the parent's" else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert opened.get("c" * 64) == b"the child's own" and opened.get("b" * 64) is None


def test_stable_text_is_the_same_whatever_the_order_of_a_set():
    one = Selection(events=frozenset(["talk", "visit", "award", "parade"]))
    other = Selection(events=frozenset(["parade", "award", "visit", "talk"]))
    assert stable_text(("p", one, (("k", True),))) == stable_text(("p", other, (("k", True),)))
    assert stable_text(Selection(category="visits")) != stable_text(Selection(events=None))


def test_the_fingerprint_follows_the_source_the_libraries_and_the_zone_rules(
        tmp_path, monkeypatch):
    package = tmp_path / "week_planner"
    (package / "schedule" / "checks").mkdir(parents=True)
    (package / "schedule" / "loading.py").write_text("A = 1\n", encoding="utf-8")
    (package / "schedule" / "checks" / "times.py").write_text("B = 1\n", encoding="utf-8")
    (package / "kept.py").write_text("C = 1\n", encoding="utf-8")
    zones = tmp_path / "zoneinfo"
    zones.mkdir()
    (zones / "tzdata.zi").write_text("# version 2025b\n", encoding="utf-8")
    monkeypatch.setattr(kept, "PACKAGE_DIR", package)
    monkeypatch.setattr(kept.zoneinfo, "TZPATH", (str(zones),))

    def fingerprint(distributions=("PyYAML",), extra=""):
        return code_fingerprint(("schedule", "kept.py"), distributions, extra)

    first = fingerprint()
    assert fingerprint() == first
    (package / "schedule" / "checks" / "times.py").write_text("B = 2\n", encoding="utf-8")
    second = fingerprint()
    (package / "kept.py").write_text("C = 2\n", encoding="utf-8")
    third = fingerprint()
    (zones / "tzdata.zi").write_text("# version 2026a\n", encoding="utf-8")
    fourth = fingerprint()
    assert len({first, second, third, fourth, fingerprint(("PyYAML", "jdatetime")),
                fingerprint(extra="libyaml=False")}) == 6


def test_a_load_is_kept_under_its_bytes_its_name_its_channels_and_the_code(monkeypatch):
    key = KeptLoads.key(b"programme: x", "schedules/a.yaml", None)
    assert KeptLoads.key(b"programme: x", "schedules/a.yaml", None) == key
    assert KeptLoads.key(b"programme: y", "schedules/a.yaml", None) != key
    assert KeptLoads.key(b"programme: x", "schedules/b.yaml", None) != key
    assert KeptLoads.key(b"programme: x", "schedules/a.yaml", ["bale"]) != key
    assert KeptLoads.key(b"programme: x", "schedules/a.yaml", ["bale", "hook"]) == \
        KeptLoads.key(b"programme: x", "schedules/a.yaml", ["hook", "bale"])
    monkeypatch.setattr(kept_loads, "FINGERPRINT", "another version of the loader")
    assert KeptLoads.key(b"programme: x", "schedules/a.yaml", None) != key


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "schedules"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / SAMPLE.name)
    (folder / "broken.yaml").write_text(
        SAMPLE.read_text(encoding="utf-8").replace("id: khalilabad-1404", "id: broken", 1)
        .replace('start: "08:00"', 'start: "25:00"', 1), encoding="utf-8")
    return folder


def test_a_restart_reads_the_checked_files_instead_of_checking_them_again(
        tmp_path, monkeypatch):
    folder = _folder(tmp_path)

    def registry() -> Registry:
        return Registry(folder, kept=KeptLoads(KeptFiles(tmp_path / "kept", SECRET, "l")))

    first = registry()
    before = first.snapshot()
    assert first.kept.files.misses == 2 and first.kept.files.hits == 0
    assert [p.code for p in first.problems()] and len(before.programmes) == 1

    def no_loading(*args, **kwargs):
        raise AssertionError("a kept file was loaded again")

    monkeypatch.setattr(registry_module, "load_text", no_loading)
    second = registry()
    after = second.snapshot()
    assert second.kept.files.hits == 2
    assert after.programmes == before.programmes
    assert [p.format("fa") for p in second.problems()] == \
        [p.format("fa") for p in first.problems()]
    monkeypatch.undo()

    # A file changed while the service was stopped is loaded again.
    path = folder / SAMPLE.name
    path.write_text(path.read_text(encoding="utf-8").replace(
        "title: ", "title: ویرایش‌شده ", 1), encoding="utf-8")
    third = registry()
    programme = next(iter(third.snapshot().programmes.values()))
    assert programme.title.startswith("ویرایش‌شده ")
    assert (third.kept.files.hits, third.kept.files.misses) == (1, 1)


class Runs:
    """Pickles into a call of ``os.system``."""

    def __reduce__(self):
        return (os.system, ("touch ran",))


def test_a_kept_entry_is_unpickled_only_into_a_load(tmp_path, monkeypatch):
    """Even one signed with the right key (a leaked secret key): no code runs."""
    monkeypatch.chdir(tmp_path)
    loads = KeptLoads(KeptFiles(tmp_path / "kept", SECRET, "l"))
    key = KeptLoads.key(b"x", "x.yaml", None)
    for payload in (pickle.dumps({"not": "a load"}), b"not a pickle at all",
                    pickle.dumps(Runs()), pickle.dumps([dt.date(2025, 9, 2), Runs()]),
                    pickle.dumps(getattr)):
        loads.files.put(key, payload)
        assert loads.get(key) is None
    assert not (tmp_path / "ran").exists()


def test_only_the_services_user_can_read_what_is_kept(tmp_path):
    files = KeptFiles(tmp_path / "kept", SECRET, "test")
    files.put("a" * 64, b"a draft programme")
    assert (tmp_path / "kept").stat().st_mode & 0o777 == 0o700
    made = list((tmp_path / "kept").iterdir())
    assert {path.name for path in made} >= {kept.DATABASE, kept.DATABASE + "-wal"}
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in made)
    # A file made readable by others (copied in, say) is made private again when opened.
    del files
    (tmp_path / "kept" / kept.DATABASE).chmod(0o644)
    KeptFiles(tmp_path / "kept", SECRET, "test").get("a" * 64)
    assert (tmp_path / "kept" / kept.DATABASE).stat().st_mode & 0o777 == 0o600


def test_processes_sharing_the_database_keep_to_its_size_together(tmp_path, monkeypatch):
    monkeypatch.setattr(kept, "RECOUNT_WRITES", 4)
    folder = tmp_path / "kept"
    workers = [KeptFiles(folder, SECRET, "test", max_bytes=20_000) for _ in range(4)]
    workers[0].put("0" * 64, b"")  # the database made
    database = _rows(folder)
    largest = 0
    for number in range(200):
        workers[number % 4].put(f"{number:064x}", b"x" * 968)  # 1,000 bytes an entry
        largest = max(largest, database.execute("SELECT SUM(size) FROM kept").fetchone()[0])
    # Each counts again after 4 of its own writes: at most 4 × 4 entries past the size.
    assert 20_000 < largest <= 20_000 + 16 * 1000


class Clock:
    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def _app(tmp_path: Path, folder: Path, clock: Clock, instance: str = "instance", **extra):
    return create_app({
        "TESTING": True, "SCHEDULES_DIR": str(folder),
        "INSTANCE_DIR": str(tmp_path / instance), "RELOAD_INTERVAL": 0,
        "BASE_URL": "https://hafte.example.ir", "SECRET_KEY": SECRET, "CLOCK": clock,
        **extra})


FEEDS = ["/khalilabad-1404.ics", "/khalilabad-1404/categories/visit.ics",
         "/khalilabad-1404/events/best-cooperatives-award.ics"]


def _feeds(app) -> list[tuple[bytes, str, str]]:
    found = []
    with app.test_client() as client:
        for url in FEEDS:
            response = client.get(url)
            assert response.status_code == 200, url
            found.append((response.get_data(), response.headers["ETag"],
                          response.headers["Last-Modified"]))
    return found


def test_a_restarted_service_serves_the_feeds_it_built_without_building_them(tmp_path):
    folder = _folder(tmp_path)
    clock = Clock(BEFORE_THE_WEEK)
    first = _app(tmp_path, folder, clock)
    built = _feeds(first)
    assert feed_service(first).builds == len(FEEDS)

    second = _app(tmp_path, folder, clock)
    assert _feeds(second) == built
    assert feed_service(second).builds == 0

    # The week begins: the feeds change, and what the restarted service builds is what a
    # service that keeps nothing builds.
    clock.now = DURING_THE_WEEK
    during = _feeds(second)
    assert feed_service(second).builds == len(FEEDS)
    assert during != built
    keeping_nothing = _app(tmp_path, folder, clock, "instance", KEPT_MB=0)
    assert _feeds(keeping_nothing) == during
    assert feed_service(keeping_nothing).builds == len(FEEDS)


def test_nothing_is_kept_when_keeping_is_turned_off(tmp_path):
    folder = _folder(tmp_path)
    app = _app(tmp_path, folder, Clock(BEFORE_THE_WEEK), "bare", KEPT_MB=0)
    _feeds(app)
    assert not (tmp_path / "bare" / "kept").exists()
    assert app.extensions["week_planner.registry"].kept is None


def test_a_service_with_another_secret_key_builds_everything_again(tmp_path):
    folder = _folder(tmp_path)
    clock = Clock(BEFORE_THE_WEEK)
    built = _feeds(_app(tmp_path, folder, clock))
    other = _app(tmp_path, folder, clock, SECRET_KEY="another-secret-key-of-some-length")
    assert _feeds(other) == built
    assert feed_service(other).builds == len(FEEDS)
    assert other.extensions["week_planner.registry"].kept.files.hits == 0


def _many(tmp_path: Path, count: int) -> Path:
    folder = tmp_path / "many"
    folder.mkdir()
    text = SAMPLE.read_text(encoding="utf-8")
    for number in range(count):
        (folder / f"p{number}.yaml").write_text(
            text.replace("id: khalilabad-1404", f"id: p{number}", 1), encoding="utf-8")
    return folder


def test_workers_starting_together_check_each_file_about_once(tmp_path, monkeypatch):
    """Two workers' first looks start at opposite ends of the folder and read from the
    kept folder what the other has checked: here one is halfway when the other starts."""
    folder = _many(tmp_path, 6)
    loaded: list[tuple[str, str]] = []
    real = registry_module.load_text

    def recorded(data, filename, **kwargs):
        loaded.append((worker, Path(filename).name))
        return real(data, filename, **kwargs)

    monkeypatch.setattr(registry_module, "load_text", recorded)

    def registry(start: float) -> Registry:
        found = Registry(folder, kept=KeptLoads(KeptFiles(tmp_path / "kept", SECRET, "l")))
        found.first_look_from = start
        return found

    worker = "second"
    second = registry(0.5)
    second.snapshot()
    assert [name for _, name in loaded] == [f"p{n}.yaml" for n in (3, 4, 5, 0, 1, 2)]
    assert list(second.snapshot().files) == sorted(second.snapshot().files)  # as listed

    loaded.clear()
    worker = "first"
    first = registry(0.0)
    first.snapshot()
    assert loaded == [] and first.kept.files.hits == 6
    assert first.snapshot().programmes == second.snapshot().programmes


def test_gunicorn_workers_start_their_first_look_at_different_places(tmp_path):
    folder = _folder(tmp_path)
    starts = []
    for age in (1, 2, 3, 4):
        app = _app(tmp_path, folder, Clock(BEFORE_THE_WEEK), f"instance-{age}",
                   RELOAD_INTERVAL=3600)
        worker = SimpleNamespace(age=age, cfg=SimpleNamespace(workers=2), wsgi=app)
        gunicorn_hooks.post_worker_init(worker)
        app.extensions["week_planner.watcher"].stop()
        starts.append(registry_of(app).first_look_from)
    assert starts == [0.0, 0.5, 0.0, 0.5]


def test_a_load_that_cannot_be_kept_is_served_all_the_same(tmp_path, monkeypatch):
    def unpicklable(*args, **kwargs):
        raise pickle.PicklingError("a value pickle cannot write")

    monkeypatch.setattr(kept_loads.pickle, "dumps", unpicklable)
    registry = Registry(_folder(tmp_path),
                        kept=KeptLoads(KeptFiles(tmp_path / "kept", SECRET, "l")))
    assert list(registry.snapshot().programmes) == ["khalilabad-1404"]
    assert "load-crashed" not in [problem.code for problem in registry.problems()]
    assert _rows(tmp_path / "kept").execute("SELECT COUNT(*) FROM kept").fetchone() == (0,)


TOKEN_OF = """
import datetime as dt
from types import SimpleNamespace
from week_planner.publish.feed_service import FeedService
from week_planner.revision_store import ProgrammeRevisions, Revision
moment = dt.datetime(2025, 9, 1, tzinfo=dt.timezone.utc)
revision = Revision("p", "talk", "talk", 2, {"category": "visit"}, False, moment, moment,
                    frozenset({"award", "meeting", "parade", "ceremony", "talk", None}))
service = FeedService(SimpleNamespace())
print(service._remember(ProgrammeRevisions("p", {"title": "p"}, "v", None, (revision,),
                                           moment)).token)
"""


def test_a_programmes_token_is_the_same_in_every_process():
    """It is part of the key of the feeds kept on disk: a set inside it must not follow
    each process's string hash seed."""
    tokens = {subprocess.run([sys.executable, "-c", TOKEN_OF], capture_output=True,
                             text=True, check=True, timeout=60,
                             env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout
              for seed in range(1, 6)}
    assert len(tokens) == 1
