"""``week-planner check``: the lines organisers read, the JSON tools read, the exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from week_planner.cli import main

DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parent.parent


def run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env or {})


def test_sample_folder_is_clean():
    result = run("check", str(ROOT / "schedules"))
    assert result.exit_code == 0, result.output
    assert ": error:" not in result.output and ": warning:" not in result.output


def test_errors_print_file_line_column_in_persian_and_exit_1():
    path = DATA / "bad" / "invalid-date-shahrivar-32.yaml"
    result = run("check", str(path))
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first.startswith(f"{path}:16:11: error: ")
    assert "شهریور" in first and "[invalid-date]" in first


def test_english_on_request():
    path = DATA / "bad" / "invalid-date-shahrivar-32.yaml"
    result = run("check", "--lang", "en", str(path))
    assert result.exit_code == 1
    assert "Shahrivar 1404 has 31 days" in result.output


def test_json_for_tools():
    path = DATA / "bad" / "duplicate-event-id.yaml"
    result = run("check", "--format", "json", "--lang", "en", str(path))
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["errors"] == 1
    [problem] = report["problems"]
    assert problem["code"] == "duplicate-event-id"
    assert (problem["line"], problem["column"]) == (19, 9)
    assert problem["file"] == str(path)
    assert problem["path"] == "events[1].id"


def test_warnings_alone_exit_0():
    result = run("check", str(DATA / "good" / "warnings.yaml"))
    assert result.exit_code == 0
    assert ":23:5: warning:" in result.output


def test_usage_error_exits_2():
    assert run("check", "/no/such/file.yaml").exit_code == 2
    assert run("check", "--format", "xml").exit_code == 2


def test_duplicate_programme_ids_across_files(tmp_path):
    for name in ("a.yaml", "b.yaml"):
        shutil.copy(ROOT / "schedules" / "khalilabad-1404.yaml", tmp_path / name)
    result = run("check", "--lang", "en", str(tmp_path))
    assert result.exit_code == 1
    lines = [l for l in result.output.splitlines() if "duplicate-programme-id" in l]
    assert len(lines) == 2
    assert str(tmp_path / "a.yaml") in lines[1] and str(tmp_path / "b.yaml") in lines[0]


def test_unknown_channel_is_a_warning(tmp_path):
    channels = tmp_path / "channels.yaml"
    channels.write_text("press: ['json://localhost/hook']\n", encoding="utf-8")
    result = run("check", "--lang", "en", "--channels", str(channels),
                 str(ROOT / "schedules"))
    assert result.exit_code == 0
    assert "'organisers' is not defined in the channels file" in result.output
    channels.write_text("organisers: ['json://localhost/hook']\n", encoding="utf-8")
    result = run("check", "--channels", str(channels), str(ROOT / "schedules"))
    assert result.exit_code == 0 and ": warning:" not in result.output
