"""Static export: every public page and feed as files, byte-identical to the live service,
with no same-site link pointing at a file that is not there."""

from __future__ import annotations

import datetime as dt

import pytest
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
            exported = (out / file_for(path)).read_bytes()
            if file_for(path).suffix != ".html":
                assert exported == live.get_data(), path
                continue
            # A page is the live page less its links to forms and personal calendars.
            site = app.config["BASE_URL"]
            kept = [link for link in _same_site_paths(path, live.get_data(), "text/html", site)
                    if not LIVE_ONLY.search(link)]
            assert _same_site_paths(path, exported, "text/html", site) == kept, path
            assert b"/remind/" not in exported and b"/my/" not in exported, path

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


def test_with_the_live_address_forms_and_personal_calendars_link_there(app, tmp_path):
    app.config["CLOCK"] = lambda: PINNED
    out = tmp_path / "site"
    report = export_site(app, out, live_url="https://hafte.example.ir")
    assert report.failed == {}
    page = (out / "khalilabad-1404" / "index.html").read_text(encoding="utf-8")
    assert 'href="https://hafte.example.ir/khalilabad-1404/remind/"' in page
    assert 'href="https://hafte.example.ir/khalilabad-1404/my/"' in page
    assert 'href="https://hafte.example.ir/khalilabad-1404/my/?e=taxi-parade#my-calendar"' in page
    event = (out / "khalilabad-1404" / "events" / "taxi-parade" / "index.html").read_text(
        encoding="utf-8")
    assert "https://hafte.example.ir/khalilabad-1404/events/taxi-parade/remind/" in event
    # Nothing else moved: the pages' own links stay relative to the copy.
    assert 'href="/khalilabad-1404/events/taxi-parade/"' in page


@pytest.mark.browser
def test_the_exported_site_has_no_dead_end_in_a_browser(app, tmp_path):
    # The copy served as plain files: every page and everything it loads answers, the
    # "now / next" box moves on with the device's clock, and no link leads to a 404.
    import functools
    import http.server
    import threading

    from browsing import launch, sync_playwright

    app.config["CLOCK"] = lambda: PINNED
    out = tmp_path / "site"
    export_site(app, out)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    failed = []
    try:
        with sync_playwright()() as playwright:
            browser = launch(playwright)
            context = browser.new_context(viewport={"width": 360, "height": 800})
            context.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
            page = context.new_page()
            page.clock.set_fixed_time(dt.datetime(2025, 9, 6, 13, 0, tzinfo=dt.timezone.utc))
            page.goto(base + "/")
            page.click("a[href='/khalilabad-1404/']")
            page.wait_for_selector(".now-next")
            # 16:30 Tehran: the script says the taxi parade is on, whatever the export said.
            assert "رژه" in page.locator(".now-next .now").inner_text()
            links = page.eval_on_selector_all("a[href^='/']", "els => els.map(e => e.href)")
            for href in sorted(set(links))[:60]:
                assert page.request.get(href.split("#")[0]).ok, href
            page.goto(base + "/khalilabad-1404/events/taxi-parade/")
            assert page.locator(".star, .remind-link, a[data-my-link]").count() == 0
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    assert failed == []
