"""Asking for a reminder as a person does, in a real headless Chromium on a 360 px phone:
fill the form, get the confirmation mail (real SMTP server, sent by the reminder scheduler
running beside the web server, as under ``week-planner serve``), open its link, confirm."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from browsing import ARTIFACTS, launch, sync_playwright
from reminder_helpers import SmtpServer, free_port
from sqlalchemy import select

from week_planner import create_app
from week_planner.reminders.scheduler import start_background
from week_planner.store import app_engine, subscribers

pytestmark = pytest.mark.browser

BEFORE_THE_WEEK = dt.datetime(2025, 8, 25, 9, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def site(tmp_path, schedules_dir):
    from werkzeug.serving import make_server
    smtp = SmtpServer().start()
    port = free_port()
    app = create_app({"SCHEDULES_DIR": str(schedules_dir),
                      "INSTANCE_DIR": str(tmp_path / "instance"), "RELOAD_INTERVAL": 0,
                      "BASE_URL": f"http://127.0.0.1:{port}", "SMTP_URL": smtp.url,
                      # A week before the sample week: its reminders are still to come.
                      "CLOCK": lambda: BEFORE_THE_WEEK})
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheduler = start_background(app)
    yield app, f"http://127.0.0.1:{port}", smtp
    server.shutdown()
    server.server_close()
    scheduler.shutdown()
    smtp.stop()
    app_engine(app).dispose()


def test_ask_for_a_reminder_on_a_phone(site):
    app, base, smtp = site
    with sync_playwright()() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 360, "height": 740})
            page.goto(f"{base}/khalilabad-1404/events/think-tank/remind/")
            assert page.locator("html").get_attribute("dir") == "rtl"
            assert page.locator("h1").inner_text() == \
                "یادآوری «نشست هم\u200cاندیشی مدیران تعاونی\u200cها»"
            assert page.evaluate("document.documentElement.scrollWidth") <= 360
            box = page.locator("#address").bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 360
            assert page.locator("#address").evaluate("e => getComputedStyle(e).direction") \
                == "ltr"  # an address is typed left to right
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "remind-event-360.png"), full_page=True)
            page.fill("#address", "Participant@Example.org")
            page.click("button[type=submit]")
            page.wait_for_selector("text=نامه‌ای فرستادیم")
            assert "participant" not in page.content().lower()

            assert smtp.mailbox.wait_for(1, timeout=5)
            text = smtp.mailbox.parsed()[0].get_body(("plain",)).get_content()
            link = re.search(r"http://127\.0\.0\.1:\d+/remind/confirm/[\w.-]+", text).group(0)
            page.goto(link)
            page.click("button[type=submit]")
            page.wait_for_selector("text=یادآوری فعال شد")
            assert page.evaluate("document.documentElement.scrollWidth") <= 360
        finally:
            browser.close()
    with app_engine(app).connect() as connection:
        (row,) = connection.execute(select(subscribers)).all()
    assert row.scope == "event:think-tank" and row.confirmed_at is not None
