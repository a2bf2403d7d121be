"""``week-planner check``: the lines organisers read, the JSON tools read, the exit codes."""

from __future__ import annotations

import json
import os
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
    for word in ("error", "warning", "خطا", "هشدار"):
        assert f": {word}:" not in result.output


def test_errors_print_file_line_column_in_persian_and_exit_1():
    path = DATA / "bad" / "invalid-date-shahrivar-32.yaml"
    result = run("check", str(path))
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first.startswith(f"{path}:16:11: خطا: ")
    assert "شهریور" in first and "[invalid-date]" in first
    assert "error" not in first


def test_english_on_request():
    path = DATA / "bad" / "invalid-date-shahrivar-32.yaml"
    result = run("check", "--lang", "en", str(path))
    assert result.exit_code == 1
    assert "Shahrivar 1404 has 31 days" in result.output
    assert result.output.startswith(f"{path}:16:11: error: ")


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
    assert ":23:5: هشدار:" in result.output
    assert ":23:5: warning:" in run("check", "--lang", "en",
                                    str(DATA / "good" / "warnings.yaml")).output


def test_usage_error_exits_2():
    assert run("check", "/no/such/file.yaml").exit_code == 2
    assert run("check", "--format", "xml").exit_code == 2


def copy_sample(folder: Path, name: str, modified: int) -> Path:
    path = folder / name
    shutil.copy(ROOT / "schedules" / "khalilabad-1404.yaml", path)
    os.utime(path, ns=(modified * 10**9, modified * 10**9))
    return path


def test_duplicate_programme_id_is_reported_on_the_copy_only_at_the_id(tmp_path):
    # A copy of the sample made later (a newer file) sorts before the original by name:
    # the original keeps its id, as the server keeps serving it, and only the copy is wrong.
    original = copy_sample(tmp_path, "khalilabad-1404.yaml", 1_700_000_000)
    copy = copy_sample(tmp_path, "khalilabad-1404 - Copy.yaml", 1_700_000_500)
    result = run("check", "--format", "json", "--lang", "en", str(tmp_path))
    assert result.exit_code == 1
    report = json.loads(result.output)
    [problem] = [p for p in report["problems"] if p["code"] == "duplicate-programme-id"]
    assert problem["file"] == str(copy)
    assert (problem["line"], problem["column"]) == (8, 7)  # "  id: khalilabad-1404"
    assert problem["path"] == "programme.id"
    assert str(original) in problem["message"]
    files = {entry["file"]: entry for entry in report["files"]}
    assert files[str(original)]["ok"] and files[str(original)]["programme"] == "khalilabad-1404"
    assert not files[str(copy)]["ok"] and files[str(copy)]["programme"] is None


def test_duplicate_programme_id_with_equal_times_goes_to_the_later_name(tmp_path):
    copy_sample(tmp_path, "a.yaml", 1_700_000_000)
    later = copy_sample(tmp_path, "b.yaml", 1_700_000_000)
    result = run("check", str(tmp_path))
    lines = [l for l in result.output.splitlines() if "duplicate-programme-id" in l]
    assert lines == [lines[0]] and lines[0].startswith(f"{later}:8:7: خطا: ")
    assert "«khalilabad-1404»" in lines[0] and str(tmp_path / "a.yaml") in lines[0]


def test_unknown_channel_is_a_warning(tmp_path):
    channels = tmp_path / "channels.yaml"
    channels.write_text("press: ['json://localhost/hook']\n", encoding="utf-8")
    result = run("check", "--lang", "en", "--channels", str(channels),
                 str(ROOT / "schedules"))
    assert result.exit_code == 0
    assert "'organisers' is not defined in the channels file" in result.output
    channels.write_text("organisers: ['json://localhost/hook']\n", encoding="utf-8")
    result = run("check", "--channels", str(channels), str(ROOT / "schedules"))
    assert result.exit_code == 0 and ": هشدار:" not in result.output


def test_json_keeps_english_severity_and_gives_the_parser_detail(tmp_path):
    path = tmp_path / "broken.yaml"
    text = (ROOT / "schedules" / "khalilabad-1404.yaml").read_text(encoding="utf-8")
    path.write_text(text.replace("    title: نشست با امام جمعه", "    title:نشست با امام جمعه"),
                    encoding="utf-8")
    result = run("check", "--format", "json", str(path))
    [problem] = json.loads(result.output)["problems"]
    assert problem["severity"] == "error" and problem["code"] == "yaml-syntax"
    line = text.splitlines().index("    title: نشست با امام جمعه و فرماندار") + 1
    assert (problem["line"], problem["column"]) == (line, 10)
    assert "«title:»" in problem["message"] and "could not" not in problem["message"]
    assert "could not find expected ':'" in problem["detail"]


def test_a_mistyped_command_is_answered_in_persian_and_in_english_on_request():
    from click.testing import CliRunner
    runner = CliRunner()
    persian = runner.invoke(main, ["check", "--bogus"])
    assert persian.exit_code == 2
    assert "خطا: گزینهٔ '--bogus' وجود ندارد." in persian.output
    assert "طرز استفاده:" in persian.output and "Usage:" not in persian.output
    wrong = runner.invoke(main, ["check", "--lang", "xx"])
    assert "هیچ‌یک از 'fa', 'en' نیست" in wrong.output
    english = runner.invoke(main, ["check", "--lang", "en", "--bogus"])
    assert "Error: No such option '--bogus'." in english.output
    assert runner.invoke(main, ["nope"]).output.count("فرمان 'nope' وجود ندارد") == 1
