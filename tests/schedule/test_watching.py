"""The watcher: a real watchdog observer on a temporary folder refreshing a Registry.

The registries here check the folder on reads at most once an hour, so whatever is applied
was applied by the watcher; tests wait on conditions, with generous bounds.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from watchdog.events import (
    DirModifiedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
)

from week_planner.schedule import registry as registry_module
from week_planner.schedule import watching as watching_module
from week_planner.schedule.registry import Registry
from week_planner.schedule.watching import Watcher, is_change

SAMPLE = Path(__file__).resolve().parents[2] / "schedules" / "khalilabad-1404.yaml"
PROGRAMME = "khalilabad-1404"


def wait_until(condition, seconds: float = 10.0) -> float:
    """Seconds it took ``condition()`` to become true; fails after ``seconds``."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > seconds:
            raise AssertionError(f"not true within {seconds} s")
        time.sleep(0.01)
    return time.monotonic() - began


@pytest.fixture
def watched(schedules_dir):
    """Starts a watcher on ``Registry(schedules_dir, **settings)``; stops it at the end."""
    watchers = []

    def start(**settings) -> Watcher:
        registry = Registry(schedules_dir, interval=3600, **settings)
        watchers.append(Watcher(registry).start())
        # The watch starts before the first load, which read the file twice (its digest,
        # then the load): four events (opened, closed without writing) to be ignored
        # before what a test does.
        wait_until(lambda: watchers[-1].handler.ignored >= 4)
        return watchers[-1]

    yield start
    for watcher in watchers:
        watcher.stop()


def count_reloads(monkeypatch, registry: Registry) -> list:
    """Counts the watcher's forced refreshes (one item per call)."""
    calls = []
    real = registry.refresh

    def counted(force: bool = False) -> bool:
        if force:
            calls.append(force)
        return real(force=force)

    monkeypatch.setattr(registry, "refresh", counted)
    return calls


def replace_atomically(folder: Path, name: str, text: str, scratch: Path) -> None:
    """Writes ``text`` outside the folder and renames it in: one event, no half file."""
    scratch.mkdir(exist_ok=True)
    (scratch / name).write_text(text, encoding="utf-8")
    os.replace(scratch / name, folder / name)


@pytest.mark.parametrize("event, reloads", [
    (FileOpenedEvent("s/a.yaml"), False),
    (FileClosedNoWriteEvent("s/a.yaml"), False),
    (FileModifiedEvent("s/a.yaml"), True),
    (FileClosedEvent("s/a.yaml"), True),
    (FileCreatedEvent("s/a.yml"), True),
    (FileDeletedEvent("s/a.yaml"), True),
    (FileMovedEvent("s/.a.yaml.swp", "s/a.yaml"), True),
    (FileMovedEvent("s/a.yaml", "s/a.yaml.bak"), True),
    (FileModifiedEvent("s/notes.txt"), False),
    (DirModifiedEvent("s"), True),
], ids=lambda value: getattr(value, "event_type", str(value)))
def test_only_changes_reload(event, reloads):
    assert is_change(event) is reloads


def test_reading_a_file_does_not_reload(watched, schedules_dir, monkeypatch):
    watcher = watched()
    reloads = count_reloads(monkeypatch, watcher.registry)
    ignored = watcher.handler.ignored
    for _ in range(3):
        (schedules_dir / SAMPLE.name).read_bytes()
    # Each read is seen (opened, closed without writing) and changes nothing.
    wait_until(lambda: watcher.handler.ignored >= ignored + 6)
    assert not watcher.handler.busy()
    assert reloads == []


def test_a_change_is_applied_and_the_registry_reading_it_does_not_reload_again(
        watched, schedules_dir, tmp_path, monkeypatch):
    watcher = watched()
    registry = watcher.registry
    before = registry.get(PROGRAMME).version
    reloads = count_reloads(monkeypatch, registry)
    ignored = watcher.handler.ignored
    text = SAMPLE.read_text(encoding="utf-8").replace('"16:00"', '"16:30"', 1)
    replace_atomically(schedules_dir, SAMPLE.name, text, tmp_path / "scratch")
    wait_until(lambda: registry.get(PROGRAMME).version != before)
    # The registry read the file twice (its digest, then the load): four events, all
    # ignored; a reload they caused would be gathering or running now.
    wait_until(lambda: watcher.handler.ignored >= ignored + 4)
    wait_until(lambda: not watcher.handler.busy())
    assert reloads == [True]


def test_a_file_the_loader_crashes_on_is_read_once(watched, schedules_dir, tmp_path,
                                                   monkeypatch):
    watcher = watched()
    registry = watcher.registry
    loads = []

    def crashing(*args, **kwargs):
        loads.append(args)
        raise RuntimeError("a bug in the loader")

    monkeypatch.setattr(registry_module, "load_file", crashing)
    ignored = watcher.handler.ignored
    text = SAMPLE.read_text(encoding="utf-8").replace('"16:00"', '"16:30"', 1)
    replace_atomically(schedules_dir, SAMPLE.name, text, tmp_path / "scratch")
    wait_until(lambda: [p.code for p in registry.problems()] == ["load-crashed"])
    wait_until(lambda: watcher.handler.ignored >= ignored + 2)  # its digest was read
    wait_until(lambda: not watcher.handler.busy())
    assert len(loads) == 1
    assert registry.get(PROGRAMME) is not None  # the last good version


def test_a_change_is_applied_once_settled_without_a_request(watched, schedules_dir,
                                                            tmp_path):
    settle = 1.0
    long_ago = time.time() - 100
    os.utime(schedules_dir / SAMPLE.name, (long_ago, long_ago))
    watcher = watched(settle=settle)
    registry = watcher.registry
    before = registry.get(PROGRAMME).version
    text = SAMPLE.read_text(encoding="utf-8").replace('"16:00"', '"16:30"', 1)
    replace_atomically(schedules_dir, SAMPLE.name, text, tmp_path / "scratch")
    written = (schedules_dir / SAMPLE.name).stat().st_mtime
    wait_until(lambda: registry.next_check_in() is not None)  # seen, waiting to settle
    assert registry.get(PROGRAMME).version == before
    wait_until(lambda: registry.get(PROGRAMME).version != before, seconds=settle + 5)
    applied = time.time()
    assert applied - written >= settle - 0.05
    assert applied - written < settle + 1.5


def test_a_deleted_file_is_gone_after_the_grace_without_a_request(watched, schedules_dir):
    grace = 1.0
    watcher = watched(gone_grace=grace)
    registry = watcher.registry
    original = registry.get(PROGRAMME)
    began = time.monotonic()
    (schedules_dir / SAMPLE.name).unlink()
    wait_until(lambda: registry.next_check_in() is not None)  # seen, in its grace
    assert registry.get(PROGRAMME) is original and not registry.is_gone(PROGRAMME)
    wait_until(lambda: registry.is_gone(PROGRAMME), seconds=grace + 5)
    assert grace - 0.05 <= time.monotonic() - began < grace + 1.5
    shutil.copy(SAMPLE, schedules_dir / SAMPLE.name)
    wait_until(lambda: registry.get(PROGRAMME) is not None)


def count_looks(monkeypatch, registry: Registry) -> list[str]:
    """The names of the threads that looked at the folder (one item per look)."""
    looks = []
    real = registry._list_folder

    def counted():
        looks.append(threading.current_thread().name)
        return real()

    monkeypatch.setattr(registry, "_list_folder", counted)
    return looks


def test_the_watcher_looks_every_interval_and_readers_leave_the_folder_alone(
        schedules_dir, monkeypatch):
    registry = Registry(schedules_dir, interval=0.1)
    looks = count_looks(monkeypatch, registry)
    watcher = Watcher(registry).start()
    try:
        looks.clear()
        began = time.monotonic()
        while time.monotonic() - began < 1.0:  # requests, as often as they come
            assert registry.get(PROGRAMME) is not None
        wait_until(lambda: len(looks) >= 5)
        assert set(looks) == {"schedules-poll"}
    finally:
        watcher.stop()
    assert not registry.polled
    registry._checked_at -= 1  # an interval has passed: a reader looks itself again
    registry.get(PROGRAMME)
    assert looks[-1] == threading.current_thread().name


def test_a_change_no_event_reports_is_applied_by_the_looks(schedules_dir, tmp_path,
                                                           monkeypatch):
    """A shared folder (NFS) reports nothing of a change made on another machine."""
    monkeypatch.setattr(watching_module, "is_change", lambda event: False)
    registry = Registry(schedules_dir, interval=0.1)
    watcher = Watcher(registry).start()
    try:
        before = registry.get(PROGRAMME).version
        text = SAMPLE.read_text(encoding="utf-8").replace('"16:00"', '"16:30"', 1)
        replace_atomically(schedules_dir, SAMPLE.name, text, tmp_path / "scratch")
        assert wait_until(lambda: registry.get(PROGRAMME).version != before) < 5
    finally:
        watcher.stop()


def test_readers_look_again_when_the_watchers_looks_are_late(schedules_dir, monkeypatch):
    now = [1000.0]
    registry = Registry(schedules_dir, interval=1.0, clock=lambda: now[0])
    looks = count_looks(monkeypatch, registry)
    registry.get(PROGRAMME)
    registry.polled = True  # as while a watcher looks
    now[0] += registry_module.POLLED_LATE_INTERVALS - 0.5
    registry.get(PROGRAMME)
    assert len(looks) == 1
    now[0] += 1  # the watcher's looks stopped coming
    registry.get(PROGRAMME)
    assert len(looks) == 2
