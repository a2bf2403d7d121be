"""The registry: reloads changed files, keeps the last good version, remembers deletions."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from week_planner.registry import Registry

SAMPLE = Path(__file__).resolve().parent.parent / "schedules" / "khalilabad-1404.yaml"


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
    from week_planner import create_app, get_registry
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
