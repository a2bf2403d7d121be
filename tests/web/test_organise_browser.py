"""The organisers' desk in a real headless Chromium (Debian's /usr/bin/chromium, via
Playwright): an organiser signs in with the link ``week-planner organisers link`` prints,
makes a mistake and sees it at its line in Persian while typing, fixes it, previews,
publishes, and sees the public page change.

The app runs in a thread on 127.0.0.1 with its programme clock pinned to Saturday
15 Shahrivar 1404, 10:00 Tehran time. Screenshots of every desk page at 360 and 1280 px
go to ``test-artifacts/organise-*.png``.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from browsing import ARTIFACTS, launch, sync_playwright
from click.testing import CliRunner

from week_planner import create_app
from week_planner.cli import main

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "schedules" / "khalilabad-1404.yaml"
NOW = dt.datetime(2025, 9, 6, 10, 0, tzinfo=ZoneInfo("Asia/Tehran"))
ORGANISER = "clerk@khalilabad.example.ir"
OLD_TITLE = "رژه خودروهای تعاونی تاکسی بی‌سیم"
NEW_TITLE = "رژه بزرگ خودروهای تعاونی تاکسی بی‌سیم"


def buffered(app):
    """Each response read whole before the test server writes it (see test_browser.py)."""
    def application(environ, start_response):
        iterable = app(environ, start_response)
        try:
            return [b"".join(iterable)]
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
    return application


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from werkzeug.serving import make_server

    folder = tmp_path_factory.mktemp("desk")
    schedules = folder / "schedules"
    schedules.mkdir()
    shutil.copy(SAMPLE, schedules / SAMPLE.name)
    settings = {"SCHEDULES_DIR": str(schedules), "INSTANCE_DIR": str(folder / "instance")}
    app = create_app({**settings, "TESTING": True, "RELOAD_INTERVAL": 0,
                      "BASE_URL": "http://127.0.0.1", "CLOCK": lambda: NOW})
    server = make_server("127.0.0.1", 0, buffered(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    environment = {f"WEEK_PLANNER_{name}": value for name, value in settings.items()}
    environment["WEEK_PLANNER_BASE_URL"] = base
    yield base, environment
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def cli(environment: dict, *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=environment)
    assert result.exit_code == 0, result.output
    return result.output


def shoot(page, name: str) -> None:
    """Screenshots of the page as it is, at 360 and at 1280 px; the page is left at 1280."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (360, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"organise-{name}-{width}.png"), full_page=True)
        overflow = page.evaluate("""() => Math.max(document.documentElement.scrollWidth,
                                     document.body.scrollWidth) - window.innerWidth""")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}px"


def test_an_organiser_signs_in_fixes_a_mistake_previews_and_publishes(site):
    base, environment = site
    cli(environment, "organisers", "add", ORGANISER, "--programme", "khalilabad-1404")
    link = cli(environment, "organisers", "link", ORGANISER).strip()
    assert link.startswith(f"{base}/organise/sign-in/")

    with sync_playwright()() as playwright:
        chromium = launch(playwright)
        context = chromium.new_context(viewport={"width": 1280, "height": 900},
                                       locale="fa-IR")
        foreign: list[str] = []
        context.on("request", lambda request: foreign.append(request.url)
                   if urlsplit(request.url).hostname not in ("127.0.0.1", None) else None)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text)
                if message.type == "error" else None)

        # The sign-in form answers alike for any address (the link is printed instead).
        page.goto(f"{base}/organise/")
        shoot(page, "sign-in")
        page.fill("#email", ORGANISER)
        page.get_by_role("button", name="فرستادن پیوند ورود").click()
        assert "اگر این نشانی از آنِ یکی از برگزارکنندگان باشد" in page.locator("main").inner_text()
        shoot(page, "sign-in-sent")

        # The link opens a page with a button: opening it signs nobody in.
        page.goto(link)
        assert page.locator("html").get_attribute("dir") == "rtl"
        assert page.locator("html").get_attribute("lang") == "fa"
        shoot(page, "sign-in-link")
        page.get_by_role("button", name="ورود").click()
        page.wait_for_url(f"{base}/organise/")
        assert "هفته تعاون ۱۴۰۴ شهرستان خلیل‌آباد" in page.locator("main").inner_text()
        assert "منتشر شده" in page.locator(".state-badge").inner_text()
        shoot(page, "programmes")

        page.get_by_role("link", name="ویرایش").click()
        page.wait_for_url(f"{base}/organise/khalilabad-1404/")
        editor = page.locator("#text")
        original = editor.input_value()
        assert "to: 1404-06-17" in original
        assert page.locator("#gutter li").count() == original.count("\n")

        # A mistake: the week ends on a day Shahrivar does not have. The check runs
        # while typing and names it at its line, in Persian.
        mistaken = original.replace("  to: 1404-06-17", "  to: 1404-06-32")
        line = mistaken.splitlines().index("  to: 1404-06-32") + 1
        editor.fill(mistaken)
        problem = page.locator("#problem-list .problem-error").first
        problem.wait_for()
        persian_line = str(line).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
        assert f"سطر {persian_line}" in problem.inner_text()
        assert "تاریخ درستی نیست" in problem.inner_text()
        assert page.locator(f"#line-{line}").get_attribute("class") == "marked-error"
        assert "خطا" in page.locator("#problems-summary").inner_text()
        # The problem's link puts the cursor on its line.
        problem.get_by_role("link").click()
        selected = page.evaluate("() => { const t = document.getElementById('text');"
                                 " return t.value.slice(t.selectionStart, t.selectionEnd); }")
        assert selected == "  to: 1404-06-32"
        shoot(page, "editor-mistake")

        # Publishing it anyway is refused, and the text stays.
        page.get_by_role("button", name="انتشار").click()
        assert "منتشر نشد" in page.locator(".desk-notice").inner_text()
        assert page.locator("#text").input_value().replace("\r\n", "\n") == mistaken

        # Fixed, with a new title for the parade.
        fixed = original.replace(OLD_TITLE, NEW_TITLE)
        page.locator("#text").fill(fixed)
        page.wait_for_function("() => document.getElementById('problems-summary')"
                               ".dataset.state !== 'errors'")
        assert page.locator("#problem-list .problem-error").count() == 0

        # The preview: the page as it will be, "now" on the chosen day and hour.
        page.select_option("#preview_day", "2025-09-06")
        page.fill("#preview_time", "16:30")
        page.get_by_role("button", name="پیش‌نمایش").click()
        assert NEW_TITLE in page.locator("main").inner_text()
        now_box = page.locator(".now-next .now").inner_text()
        assert NEW_TITLE in now_box  # the parade runs 16:00-17:30 that Saturday
        shoot(page, "preview")

        # Meanwhile the file changes on the server: publishing is refused, and the
        # difference shown; having seen it, the organiser publishes again.
        path = Path(environment["WEEK_PLANNER_SCHEDULES_DIR"]) / SAMPLE.name
        path.write_text(original.replace("بازدید از تعاونی‌ها", "بازدید از تعاونی‌های نمونه"),
                        encoding="utf-8")
        page.get_by_role("button", name="انتشار").click()
        assert "پرونده تغییر کرده است" in page.locator(".desk-notice").inner_text()
        assert "تعاونی‌های نمونه" in page.locator(".conflict .diff-removed").first.inner_text()
        shoot(page, "conflict")
        page.get_by_role("button", name="انتشار").click()
        page.wait_for_url(re.compile(r".*/organise/khalilabad-1404/published/\w+$"))
        page.locator("#published-status[data-state=live]").wait_for(timeout=15_000)
        shoot(page, "published")

        page.get_by_role("link", name="دیدن صفحهٔ عمومی").click()
        page.wait_for_url(f"{base}/khalilabad-1404/")
        assert NEW_TITLE in page.locator("main").inner_text()
        assert OLD_TITLE not in page.locator("main").inner_text()

        # The history names who published it.
        page.goto(f"{base}/organise/khalilabad-1404/history/")
        assert ORGANISER in page.locator("main").inner_text()
        shoot(page, "history")
        page.locator(".version a").first.click()
        assert NEW_TITLE in page.locator(".summary").inner_text()
        shoot(page, "version")

        # The refused publications answered 422 and 409, which the console reports.
        assert [e for e in errors if "status of 422" not in e and "status of 409" not in e
                ] == [], errors
        assert not foreign, foreign
        context.close()
        chromium.close()
