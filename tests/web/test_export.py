"""Static export: every public page and feed as files, byte-identical to the live service,
with no same-site link pointing at a file that is not there."""

from __future__ import annotations

import datetime as dt

from click.testing import CliRunner

from week_planner import get_registry
from week_planner.cli import main
from week_planner.web.export import LIVE_ONLY, _same_site_paths, export_site, file_for

PINNED = dt.datetime(2025, 9, 6, 10, 0, tzinfo=dt.timezone.utc)


def test_export_writes_every_page_and_feed_with_live_bytes(app, tmp_path):
    app.config["CLOCK"] = lambda: PINNED
    out = tmp_path / "site"
    report = export_site(app, out, ("/khalilabad-1404/schedule.json",
                                    "/khalilabad-1404/schedule.xml"))
    assert report.failed == {}
    programme = get_registry(app).get("khalilabad-1404")
    expected = {"/", "/khalilabad-1404/", "/khalilabad-1404.ics",
                "/khalilabad-1404/changes/", "/khalilabad-1404/changes.atom",
                "/khalilabad-1404/schedule.json", "/khalilabad-1404/schedule.xml"}
    for event in programme.events:
        expected |= {f"/khalilabad-1404/events/{event.id}/",
                     f"/khalilabad-1404/events/{event.id}.ics"}
    for category in programme.categories:
        expected |= {f"/khalilabad-1404/categories/{category}/",
                     f"/khalilabad-1404/categories/{category}.ics"}
    assert expected <= set(report.written)
    assert any(p.endswith(".woff2") for p in report.written)
    assert any(p.endswith(".css") for p in report.written)
    assert (out / "404.html").is_file()

    client = app.test_client()
    for path in report.written:
        with client.get(path) as live:
            assert live.status_code == 200
            assert (out / file_for(path)).read_bytes() == live.get_data(), path

    # Every same-site link in the exported pages and stylesheets points at a written file.
    for path in report.written:
        file = out / file_for(path)
        content_type = ("text/html" if file.suffix == ".html" else
                        "text/css" if file.suffix == ".css" else "")
        for link in _same_site_paths(path, file.read_bytes(), content_type,
                                     app.config["BASE_URL"]):
            if LIVE_ONLY.search(link):
                continue
            assert (out / file_for(link)).is_file(), f"{path} links to missing {link}"


def test_export_command_uses_the_given_base_url(tmp_path, schedules_dir, monkeypatch):
    monkeypatch.setenv("WEEK_PLANNER_SCHEDULES_DIR", str(schedules_dir))
    monkeypatch.setenv("WEEK_PLANNER_INSTANCE_DIR", str(tmp_path / "instance"))
    out = tmp_path / "site"
    result = CliRunner().invoke(main, ["export", str(out), "--base-url",
                                       "https://static.example.ir/"])
    assert result.exit_code == 0, result.output
    feed = (out / "khalilabad-1404.ics").read_text(encoding="utf-8")
    assert "URL:https://static.example.ir/khalilabad-1404/events/" in feed
    assert (out / "khalilabad-1404" / "schedule.json").is_file()
    assert (out / "khalilabad-1404" / "changes.atom").is_file()


def test_paths_never_escape_the_folder():
    assert str(file_for("/")) == "index.html"
    assert str(file_for("/a/")) == "a/index.html"
    assert str(file_for("/a.ics")) == "a.ics"
