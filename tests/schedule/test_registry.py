"""The registry: reloads changed files, keeps the last good version, remembers deletions."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from week_planner import create_app, get_registry
from week_planner.config import load_settings
from week_planner.schedule import registry as registry_module
from week_planner.schedule.registry import Registry

SAMPLE = Path(__file__).resolve().parents[2] / "schedules" / "khalilabad-1404.yaml"


def write(path: Path, text: str, tick: int) -> None:
    path.write_text(text, encoding="utf-8")
    # Distinct modification times even on file systems with coarse timestamps.
    os.utime(path, ns=(tick * 10**9, tick * 10**9))


def test_valid_edit_is_applied_and_invalid_edit_keeps_last_good(schedules_dir):
    registry = Registry(schedules_dir, interval=0)
    path = schedules_dir / SAMPLE.name
    original = registry.get("khalilabad-1404")
    assert original is not None and original.event("taxi-parade").start_time.hour == 16
    changes = []
    registry.on_change(lambda old, new: changes.append(sorted(new.programmes)))

    text = SAMPLE.read_text(encoding="utf-8")
    write(path, text.replace('start: "16:00"\n    end: "17:30"',
                             'start: "17:00"\n    end: "18:30"'), 1)
    edited = registry.get("khalilabad-1404")
    assert edited.event("taxi-parade").start_time.hour == 17
    assert edited.version != original.version
    assert changes == [["khalilabad-1404"]]

    write(path, text.replace("date: 1404-06-15", "date: 1404-06-40"), 2)
    assert registry.get("khalilabad-1404") is edited  # the last good version stays
    [problem] = registry.problems()
    assert problem.code == "invalid-date" and problem.file.endswith(SAMPLE.name)
    assert changes == [["khalilabad-1404"]]  # nothing served changed

    write(path, text, 3)
    assert registry.get("khalilabad-1404").event("taxi-parade").start_time.hour == 16
    assert registry.problems() == []


def test_deleted_file_is_gone(schedules_dir):
    registry = Registry(schedules_dir, interval=0)
    assert [p.id for p in registry.programmes()] == ["khalilabad-1404"]
    (schedules_dir / SAMPLE.name).unlink()
    assert registry.get("khalilabad-1404") is None
    assert registry.is_gone("khalilabad-1404")
    assert registry.programmes() == []
    shutil.copy(SAMPLE, schedules_dir / "again.yaml")
    assert registry.get("khalilabad-1404") is not None
    assert not registry.is_gone("khalilabad-1404")


def test_checks_the_folder_at_most_once_per_interval(schedules_dir):
    now = [100.0]
    registry = Registry(schedules_dir, interval=1.0, clock=lambda: now[0])
    assert registry.get("khalilabad-1404") is not None
    (schedules_dir / SAMPLE.name).unlink()
    now[0] += 0.5
    assert registry.get("khalilabad-1404") is not None  # not looked at yet
    now[0] += 0.6
    assert registry.get("khalilabad-1404") is None


def test_second_file_with_same_id_is_not_served(schedules_dir):
    registry = Registry(schedules_dir, interval=0)
    first = registry.get("khalilabad-1404")
    shutil.copy(SAMPLE, schedules_dir / "zz-copy.yaml")
    assert registry.get("khalilabad-1404") is first
    codes = [(p.code, Path(p.file).name) for p in registry.problems()]
    assert ("duplicate-programme-id", "zz-copy.yaml") in codes


def test_drafts_are_not_listed_but_can_be_fetched(schedules_dir):
    text = SAMPLE.read_text(encoding="utf-8").replace(
        "  timezone: Asia/Tehran\n", "  timezone: Asia/Tehran\n  draft: true\n")
    write(schedules_dir / SAMPLE.name, text, 5)
    registry = Registry(schedules_dir, interval=0)
    assert registry.programmes() == []
    assert registry.get("khalilabad-1404").draft
    assert len(registry.programmes(include_drafts=True)) == 1


def test_missing_folder_serves_nothing(tmp_path):
    registry = Registry(tmp_path / "absent", interval=0)
    assert registry.programmes() == [] and registry.problems() == []


def test_channels_file_makes_unknown_notify_names_warnings(tmp_path, schedules_dir):
    channels = tmp_path / "private" / "channels.yaml"
    channels.parent.mkdir()
    channels.write_text("press: ['json://127.0.0.1:9/hook']\n", encoding="utf-8")
    app = create_app({"INSTANCE_DIR": str(tmp_path / "i"), "SCHEDULES_DIR": str(schedules_dir),
                      "CHANNELS": str(channels)})
    registry = get_registry(app)
    assert registry.get("khalilabad-1404") is not None  # warnings do not stop a programme
    warned = {(p.code, p.args["value"]) for p in registry.problems()}
    assert warned == {("unknown-channel", "organisers")}


def test_a_deleted_draft_is_unknown_not_gone(schedules_dir):
    text = SAMPLE.read_text(encoding="utf-8").replace(
        "  timezone: Asia/Tehran\n", "  timezone: Asia/Tehran\n  draft: true\n")
    write(schedules_dir / SAMPLE.name, text, 6)
    registry = Registry(schedules_dir, interval=0)
    assert registry.get("khalilabad-1404").draft
    (schedules_dir / SAMPLE.name).unlink()
    assert registry.get("khalilabad-1404") is None
    assert not registry.is_gone("khalilabad-1404")  # a 404, revealing nothing


# ------------------------------------------------------------------ reading while loading

TAXI_PARADE = 'start: "16:00"\n    end: "17:30"'
TAXI_PARADE_LATER = 'start: "17:00"\n    end: "18:30"'  # the same length: the same size


def held_up_loads(monkeypatch):
    """Makes the registry's loads wait until ``release`` is set; ``started`` is set when
    one is under way."""
    started, release = threading.Event(), threading.Event()
    real = registry_module.load_file

    def slow(*args, **kwargs):
        started.set()
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(registry_module, "load_file", slow)
    return started, release


def answer_in_a_thread(function):
    """``function()``'s value and how long it took, called from another thread as a
    request would be; None when it did not answer within 5 s."""
    answers = []

    def call():
        began = time.monotonic()
        value = function()
        answers.append((value, time.monotonic() - began))

    thread = threading.Thread(target=call)
    thread.start()
    thread.join(5)
    return answers[0] if answers else None


def test_a_reader_is_served_the_current_version_while_a_file_loads(schedules_dir,
                                                                   monkeypatch):
    registry = Registry(schedules_dir, interval=0)
    original = registry.get("khalilabad-1404")
    started, release = held_up_loads(monkeypatch)
    path = schedules_dir / SAMPLE.name
    write(path, SAMPLE.read_text(encoding="utf-8").replace(TAXI_PARADE, TAXI_PARADE_LATER), 1)
    loader = threading.Thread(target=registry.refresh, kwargs={"force": True})
    loader.start()
    try:
        assert started.wait(10)
        for read in (lambda: registry.get("khalilabad-1404"),
                     lambda: registry.programmes()[0], registry.problems):
            answer = answer_in_a_thread(read)
            assert answer is not None, "a reader waited for the load"
            value, seconds = answer
            assert seconds < 0.5
            assert value in (original, [])
    finally:
        release.set()
        loader.join(10)
    assert registry.get("khalilabad-1404").event("taxi-parade").start_time.hour == 17


def test_the_first_read_waits_for_the_first_load(schedules_dir, monkeypatch):
    """Before the first load there is nothing to serve: a 404 would be a lie."""
    registry = Registry(schedules_dir, interval=0)
    started, release = held_up_loads(monkeypatch)
    loader = threading.Thread(target=registry.refresh, kwargs={"force": True})
    loader.start()
    found = []
    reader = threading.Thread(target=lambda: found.append(registry.get("khalilabad-1404")))
    try:
        assert started.wait(10)
        reader.start()
        reader.join(0.3)
        assert reader.is_alive()
    finally:
        release.set()
        loader.join(10)
        reader.join(10)
    assert found[0] is not None


# ------------------------------------------------------------- what is read, and how often

class Clocks:
    """A monotonic clock and a wall clock, moved on together by hand."""

    def __init__(self):
        self.now = 1000.0
        self.wall = 1_750_000_000.0

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall += seconds

    def registry(self, folder: Path, **settings) -> Registry:
        return Registry(folder, interval=0, clock=lambda: self.now,
                        wall_clock=lambda: self.wall, **settings)


def write_at(path: Path, text: str, wall: float) -> None:
    """Writes ``text`` with its modification time at ``wall`` (seconds)."""
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(int(wall * 1e9), int(wall * 1e9)))


def count_calls(monkeypatch, name: str) -> list:
    """Counts the calls of ``week_planner.schedule.registry.<name>`` (one item per call)."""
    calls = []
    real = getattr(registry_module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(registry_module, name, counted)
    return calls


def test_a_rewrite_of_the_same_size_within_one_clock_tick_is_noticed(schedules_dir,
                                                                     monkeypatch):
    clocks = Clocks()
    path = schedules_dir / SAMPLE.name
    text = SAMPLE.read_text(encoding="utf-8")
    write_at(path, text, clocks.wall - 0.1)
    registry = clocks.registry(schedules_dir)
    assert registry.get("khalilabad-1404").event("taxi-parade").start_time.hour == 16

    # Same size, same modification time: only the content tells.
    write_at(path, text.replace(TAXI_PARADE, TAXI_PARADE_LATER), clocks.wall - 0.1)
    assert registry.get("khalilabad-1404").event("taxi-parade").start_time.hour == 17

    # Once the modification time is older than any clock tick, the signature is trusted
    # and the file is neither parsed nor even read again.
    loads, digests = count_calls(monkeypatch, "load_file"), count_calls(monkeypatch, "_digest")
    clocks.advance(3)
    registry.refresh()
    assert loads == [] and len(digests) == 1  # read once more, found unchanged
    for _ in range(3):
        registry.refresh()
    assert loads == [] and len(digests) == 1


def test_a_touched_file_is_not_parsed_again(schedules_dir, monkeypatch):
    registry = Registry(schedules_dir, interval=0)
    path = schedules_dir / SAMPLE.name
    os.utime(path, ns=(10**9, 10**9))
    first = registry.get("khalilabad-1404")
    loads = count_calls(monkeypatch, "load_file")
    changes = []
    registry.on_change(lambda old, new: changes.append(new))
    os.utime(path, ns=(2 * 10**9, 2 * 10**9))
    assert registry.get("khalilabad-1404") is first
    assert loads == [] and changes == []
    [state] = registry.snapshot().files.values()
    assert state.signature[0] == 2 * 10**9  # and not looked at again


def test_a_crashing_loader_is_reported_once_and_the_last_good_version_stays(
        schedules_dir, monkeypatch, caplog):
    registry = Registry(schedules_dir, interval=0)
    original = registry.get("khalilabad-1404")
    calls = []

    def crashing(*args, **kwargs):
        calls.append(args)
        raise RuntimeError("a bug in the loader")

    real = registry_module.load_file
    monkeypatch.setattr(registry_module, "load_file", crashing)
    path = schedules_dir / SAMPLE.name
    text = SAMPLE.read_text(encoding="utf-8")
    write(path, text.replace(TAXI_PARADE, TAXI_PARADE_LATER), 1)
    for _ in range(5):
        registry.refresh(force=True)
    assert registry.get("khalilabad-1404") is original
    [problem] = registry.problems()
    assert (problem.code, problem.severity) == ("load-crashed", "error")
    assert problem.file.endswith(SAMPLE.name)
    assert "last good version" in problem.text("en")
    assert len(calls) == 1  # not retried while the file is unchanged
    tracebacks = [record for record in caplog.records if record.exc_info]
    assert len(tracebacks) == 1 and "a bug in the loader" in caplog.text

    monkeypatch.setattr(registry_module, "load_file", real)
    write(path, text.replace(TAXI_PARADE, TAXI_PARADE_LATER), 2)  # touched: not read
    assert registry.get("khalilabad-1404") is original and len(registry.problems()) == 1
    write(path, text.replace(TAXI_PARADE, 'start: "18:00"\n    end: "19:30"'), 3)
    assert registry.get("khalilabad-1404").event("taxi-parade").start_time.hour == 18
    assert registry.problems() == []


# ----------------------------------------------------------------------- settling

def test_a_changed_file_is_applied_once_it_has_settled(schedules_dir):
    clocks = Clocks()
    path = schedules_dir / SAMPLE.name
    text = SAMPLE.read_text(encoding="utf-8")
    write_at(path, text, clocks.wall - 100)
    registry = clocks.registry(schedules_dir, settle=2.0)
    original = registry.get("khalilabad-1404")
    assert original is not None and registry.next_check_in() is None

    write_at(path, text.replace(TAXI_PARADE, TAXI_PARADE_LATER), clocks.wall)
    assert registry.get("khalilabad-1404") is original  # maybe still being written
    assert registry.next_check_in() == pytest.approx(2.0)
    clocks.advance(1.5)
    # Written again: the wait starts over.
    write_at(path, text.replace('"16:00"', '"15:00"', 1), clocks.wall)
    assert registry.get("khalilabad-1404") is original
    assert registry.next_check_in() == pytest.approx(2.0)
    clocks.advance(1.5)
    assert registry.get("khalilabad-1404") is original
    clocks.advance(0.5)
    applied = registry.get("khalilabad-1404")
    assert applied.event("taxi-parade").start_time.hour == 15
    assert registry.next_check_in() is None


def test_a_file_dated_ahead_of_the_clock_settles_after_two_looks(schedules_dir):
    """A file copied from a machine whose clock is ahead never looks old enough: it is
    applied once it kept its size and time for the settle time."""
    clocks = Clocks()
    path = schedules_dir / SAMPLE.name
    text = SAMPLE.read_text(encoding="utf-8")
    write_at(path, text, clocks.wall - 100)
    registry = clocks.registry(schedules_dir, settle=2.0)
    original = registry.get("khalilabad-1404")
    write_at(path, text.replace(TAXI_PARADE, TAXI_PARADE_LATER), clocks.wall + 3600)
    assert registry.get("khalilabad-1404") is original
    assert registry.next_check_in() == pytest.approx(2.0)
    clocks.advance(2.0)
    assert registry.get("khalilabad-1404").event("taxi-parade").start_time.hour == 17


def test_a_new_file_is_not_served_before_it_has_settled(tmp_path):
    clocks = Clocks()
    folder = tmp_path / "schedules"
    folder.mkdir()
    registry = clocks.registry(folder, settle=2.0)
    assert registry.programmes() == []
    write_at(folder / SAMPLE.name, SAMPLE.read_text(encoding="utf-8"), clocks.wall - 0.5)
    assert registry.get("khalilabad-1404") is None
    assert registry.next_check_in() == pytest.approx(1.5)
    clocks.advance(1.5)
    assert registry.get("khalilabad-1404") is not None


# ------------------------------------------------------------------- vanished files

def test_a_vanished_file_is_gone_only_after_the_grace(schedules_dir):
    clocks = Clocks()
    registry = clocks.registry(schedules_dir, gone_grace=60)
    original = registry.get("khalilabad-1404")
    changes = []
    registry.on_change(lambda old, new: changes.append(sorted(new.gone)))
    (schedules_dir / SAMPLE.name).unlink()
    assert registry.get("khalilabad-1404") is original
    assert not registry.is_gone("khalilabad-1404")
    assert registry.next_check_in() == pytest.approx(60)
    clocks.advance(59)
    assert registry.get("khalilabad-1404") is original
    clocks.advance(1)
    assert registry.get("khalilabad-1404") is None
    assert registry.is_gone("khalilabad-1404")
    assert changes == [["khalilabad-1404"]]


def test_a_file_back_within_the_grace_was_never_gone(schedules_dir):
    clocks = Clocks()
    registry = clocks.registry(schedules_dir, gone_grace=60)
    original = registry.get("khalilabad-1404")
    changes = []
    registry.on_change(lambda old, new: changes.append(new))
    path = schedules_dir / SAMPLE.name
    text = path.read_text(encoding="utf-8")
    path.unlink()
    clocks.advance(30)
    assert registry.get("khalilabad-1404") is original
    write(path, text, 7)  # saved again, the same text
    clocks.advance(60)
    assert registry.get("khalilabad-1404") is original
    assert not registry.is_gone("khalilabad-1404") and registry.next_check_in() is None
    assert changes == []


def test_nothing_is_gone_while_the_folder_is_missing(schedules_dir, caplog):
    clocks = Clocks()
    registry = clocks.registry(schedules_dir)  # no grace at all
    original = registry.get("khalilabad-1404")
    moved = schedules_dir.with_name("elsewhere")
    schedules_dir.rename(moved)
    for _ in range(3):
        clocks.advance(3600)
        assert registry.get("khalilabad-1404") is original
        assert not registry.is_gone("khalilabad-1404")
    assert not registry.snapshot().folder_readable
    warnings = [r for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(warnings) == 1  # logged once, not on every look

    schedules_dir.write_text("a file where the folder should be", encoding="utf-8")
    assert registry.get("khalilabad-1404") is original
    schedules_dir.unlink()

    moved.rename(schedules_dir)
    assert registry.get("khalilabad-1404") is original
    assert registry.snapshot().folder_readable
    (schedules_dir / SAMPLE.name).unlink()
    assert registry.is_gone("khalilabad-1404")  # an empty folder that can be read: gone


def test_a_copy_is_served_once_the_original_is_deleted(schedules_dir):
    registry = Registry(schedules_dir, interval=0)
    shutil.copy(SAMPLE, schedules_dir / "zz-copy.yaml")
    assert registry.get("khalilabad-1404").source.endswith(SAMPLE.name)
    (schedules_dir / SAMPLE.name).unlink()
    served = registry.get("khalilabad-1404")
    assert served is not None and served.source.endswith("zz-copy.yaml")
    assert not registry.is_gone("khalilabad-1404")
    assert registry.problems() == []


# ------------------------------------------------------------ many events removed at once

def cut_before(text: str, event_id: str) -> str:
    """The sample with its events from ``event_id`` on removed."""
    return text[:text.index(f"  - id: {event_id}\n")]


def test_a_version_that_loses_most_events_is_published_with_a_warning(schedules_dir):
    registry = Registry(schedules_dir, interval=0)
    assert len(registry.get("khalilabad-1404").events) == 11
    path = schedules_dir / SAMPLE.name
    text = SAMPLE.read_text(encoding="utf-8")
    write(path, cut_before(text, "cooperative-advantages-talk"), 1)  # 5 of 11 kept
    assert len(registry.get("khalilabad-1404").events) == 5  # applied all the same
    [warning] = registry.problems()
    assert (warning.code, warning.severity) == ("many-events-removed", "warning")
    assert warning.args == {"removed": 6, "before": 11, "after": 5}
    assert warning.file.endswith(SAMPLE.name)
    assert "6" in warning.text("en") and "۶" in warning.text("fa")
    assert registry.problems() == [warning]  # it stays until the file changes again

    write(path, cut_before(text, "cooperative-advantages-talk"), 2)  # touched: the same
    assert registry.problems() == [warning]
    write(path, cut_before(text, "cooperative-advantages-talk").replace(
        "  to: 1404-06-17\n", "  to: 1404-06-18\n"), 3)
    assert registry.problems() == []


def test_removing_a_few_events_is_not_flagged(schedules_dir):
    registry = Registry(schedules_dir, interval=0)
    registry.get("khalilabad-1404")
    write(schedules_dir / SAMPLE.name,
          cut_before(SAMPLE.read_text(encoding="utf-8"), "friday-prayer"), 1)  # 6 of 11
    assert len(registry.get("khalilabad-1404").events) == 6
    assert registry.problems() == []


# -------------------------------------------------------------------------- settings

def test_the_service_waits_and_scripts_do_not(tmp_path, schedules_dir):
    defaults = load_settings({"INSTANCE_DIR": str(tmp_path / "i")}, {})
    assert defaults["SCHEDULE_SETTLE_SECONDS"] == 2.0
    assert defaults["SCHEDULE_GONE_GRACE_SECONDS"] == 60.0
    app = create_app({"INSTANCE_DIR": str(tmp_path / "i"), "SCHEDULES_DIR": str(schedules_dir),
                      "SCHEDULE_SETTLE_SECONDS": 5, "SCHEDULE_GONE_GRACE_SECONDS": 120})
    registry = get_registry(app)
    assert (registry.settle, registry.gone_grace) == (5, 120)
    assert (Registry(schedules_dir).settle, Registry(schedules_dir).gone_grace) == (0, 0)


def test_only_the_first_look_at_a_national_folder_freezes_what_it_loaded(tmp_path):
    """A cold start of many programmes freezes them (gc.freeze), so the collector's full
    passes no longer walk them; a small folder, and any later look, freezes nothing."""
    import gc
    minimal = (Path(__file__).resolve().parents[1] / "data" / "good" / "minimal.yaml"
               ).read_text(encoding="utf-8")
    small, national = tmp_path / "small", tmp_path / "national"
    for folder, count in ((small, 3), (national, registry_module.FREEZE_FIRST_LOOK_FILES)):
        folder.mkdir()
        for number in range(count):
            (folder / f"p{number}.yaml").write_text(
                minimal.replace("good-1404", f"p{number}"), encoding="utf-8")
    gc.collect()
    frozen = gc.get_freeze_count()
    try:
        Registry(small).refresh()
        assert gc.get_freeze_count() == frozen
        registry = Registry(national)
        registry.refresh()
        assert len(registry.programmes()) == registry_module.FREEZE_FIRST_LOOK_FILES
        assert gc.get_freeze_count() > frozen
        assert gc.isenabled()
        frozen = gc.get_freeze_count()
        (national / "p0.yaml").write_text(minimal.replace("good-1404", "p0-new"),
                                          encoding="utf-8")
        registry.refresh(force=True)
        assert registry.get("p0-new") is not None
        assert gc.get_freeze_count() <= frozen  # the old version freed, nothing added
    finally:
        gc.unfreeze()  # the rest of the test run collects as usual
