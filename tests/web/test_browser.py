"""The public pages in a real headless Chromium (Debian's /usr/bin/chromium, via Playwright).

The app runs in a thread on 127.0.0.1 with its clock pinned to Saturday 15 Shahrivar 1404,
10:00 Tehran time (the fifth day of the sample week); the browser's clock is pinned too.
The sample is served with the Friday prayer cancelled and the think tank tentative.
Screenshots and a PDF of the print view go to ``test-artifacts/``.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from browsing import ARTIFACTS, launch, sync_playwright

from week_planner import create_app

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "schedules" / "khalilabad-1404.yaml"
TEHRAN = ZoneInfo("Asia/Tehran")
NOW = dt.datetime(2025, 9, 6, 10, 0, tzinfo=TEHRAN)  # cooperative-visits is on
PROGRAMME = "/khalilabad-1404/"
SAMPLE_OCCURRENCES = 14
SAMPLE_EVENTS = 11


def buffered(app):
    """Read each response whole and close it before the test server writes it: a browser that
    drops a connection early must not leave a static file open (a warning, so an error here)."""
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
def base_url(tmp_path_factory):
    from werkzeug.serving import make_server

    folder = tmp_path_factory.mktemp("site")
    schedules = folder / "schedules"
    schedules.mkdir()
    # The sample, with one event cancelled and one tentative.
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace("    venue: mosalla\n\n  - id: cooperative-visits",
                        "    venue: mosalla\n    status: cancelled\n\n  - id: cooperative-visits", 1)
    text = text.replace("    reminders: [1d, 2h]\n    notify: [organisers]\n\n  - id: best",
                        "    reminders: [1d, 2h]\n    notify: [organisers]\n    status: tentative\n\n"
                        "  - id: best", 1)
    assert text.count("status:") == 2
    (schedules / SAMPLE.name).write_text(text, encoding="utf-8")
    app = create_app({
        "TESTING": True,
        "SCHEDULES_DIR": str(schedules),
        "INSTANCE_DIR": str(folder / "instance"),
        "RELOAD_INTERVAL": 0,
        "BASE_URL": "http://127.0.0.1",
        "CLOCK": lambda: NOW,
    })
    server = make_server("127.0.0.1", 0, buffered(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright()() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


class Visit:
    """A page that records every request it makes and refuses any to another host."""

    def __init__(self, browser, width: int, height: int = 800, now: dt.datetime = NOW):
        self.context = browser.new_context(viewport={"width": width, "height": height},
                                           locale="fa-IR", timezone_id="Europe/London")
        self.requests: list[str] = []
        self.context.on("request", lambda req: self.requests.append(req.url))
        self.context.route("**/*", self._only_local)
        self.page = self.context.new_page()
        self.errors: list[str] = []  # console errors (a refused resource shows here) and crashes
        self.page.on("console", lambda msg: self.errors.append(msg.text)
                     if msg.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.clock.set_fixed_time(now)

    @staticmethod
    def _only_local(route):
        host = urlsplit(route.request.url).hostname
        if host == "127.0.0.1" or route.request.url.startswith("data:"):
            route.continue_()
        else:
            route.abort()

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests
                if not url.startswith("data:") and urlsplit(url).hostname != "127.0.0.1"]

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser):
    opened: list[Visit] = []

    def open_visit(width: int = 360, height: int = 800, now: dt.datetime = NOW) -> Visit:
        found = Visit(browser, width, height, now)
        opened.append(found)
        return found

    yield open_visit
    for found in opened:
        found.close()


def screenshot(page, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def overflow(page) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no horizontal scrolling)."""
    return page.evaluate("""() => Math.max(document.documentElement.scrollWidth,
                                          document.body.scrollWidth) - window.innerWidth""")


def test_page_renders_right_to_left_in_vazirmatn_with_persian_digits(visit, base_url):
    tab = visit(360)
    page = tab.page
    page.goto(base_url + PROGRAMME)
    page.evaluate("() => document.fonts.ready")
    assert page.evaluate("() => document.documentElement.getAttribute('dir')") == "rtl"
    assert page.evaluate("() => document.documentElement.lang") == "fa"
    assert page.evaluate("() => getComputedStyle(document.body).direction") == "rtl"
    loaded = page.evaluate("""() => [...document.fonts]
        .filter(f => f.family.replace(/["']/g, '') === 'Vazirmatn' && f.status === 'loaded')
        .map(f => f.weight)""")
    assert "400" in loaded and "700" in loaded
    assert page.evaluate("() => document.fonts.check('16px Vazirmatn', 'سلام')")
    # The title is drawn in Vazirmatn, not in a fallback face.
    family = page.evaluate("() => getComputedStyle(document.querySelector('h1')).fontFamily")
    assert family.startswith('"Vazirmatn"') or family.startswith("Vazirmatn")
    text = page.evaluate("""() => { const copy = document.body.cloneNode(true);
        copy.querySelectorAll('#subscribe, .print-only').forEach(el => el.remove());
        return copy.innerText; }""")
    assert "هفته تعاون ۱۴۰۴ شهرستان خلیل‌آباد" in text  # with its ZWNJ
    assert "۱۱ تا ۱۷ شهریور ۱۴۰۴" in text
    assert not any(ch.isascii() and ch.isdigit() for ch in text), \
        "every digit a visitor reads is Persian"
    events = page.locator(".event")
    assert events.count() == SAMPLE_OCCURRENCES
    assert page.locator("section.day").count() == 7
    screenshot(page, "programme-360")
    assert tab.foreign_requests() == []


@pytest.mark.parametrize("width", [360, 180])
@pytest.mark.parametrize("path", ["/", PROGRAMME, PROGRAMME + "categories/visit/",
                                  PROGRAMME + "events/peoples-visits/",
                                  PROGRAMME + "events/friday-imam-governor-meeting/",
                                  "/no-such-programme/"])
def test_no_horizontal_scrolling(visit, base_url, path, width):
    tab = visit(width)
    page = tab.page
    page.goto(base_url + path)
    page.evaluate("() => document.fonts.ready")
    name = (path.strip("/").replace("/", "_") or "index") + f"-{width}"
    if width == 180 or path in ("/", "/no-such-programme/") or "events" in path:
        screenshot(page, name)
    assert overflow(page) <= 0, f"{path} is wider than {width} px"
    # No element pokes out of the viewport either (overflow hidden would hide it).
    sticking_out = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(el => { const r = el.getBoundingClientRect();
                        return r.width > 0 && (r.left < -1 || r.right > window.innerWidth + 1); })
        .filter(el => !el.classList.contains('skip-link'))
        .map(el => el.tagName + '.' + el.className + ': ' + el.textContent.slice(0, 40))""")
    assert sticking_out == []
    assert tab.foreign_requests() == []


def test_feed_address_breaks_only_after_a_slash_or_hyphen_on_a_phone(visit, base_url):
    tab = visit(360)
    page = tab.page
    page.goto(base_url + PROGRAMME + "categories/visit/")
    page.evaluate("() => document.fonts.ready")
    code = page.locator(".calendar-address code")
    address = code.inner_text()  # copied whole: no space or break character added
    assert address.startswith("http") and address.endswith(PROGRAMME + "categories/visit.ics")
    assert not any(character.isspace() or character == "\u200b" for character in address)
    # the characters that end a line of the address, except the last line
    line_ends = code.evaluate("""e => {
        const chars = [];
        const walker = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode())
            for (let i = 0; i < node.length; i++) {
                const range = document.createRange();
                range.setStart(node, i); range.setEnd(node, i + 1);
                chars.push([node.data[i], range.getClientRects()[0].top]);
            }
        return chars.filter((c, i) => i + 1 < chars.length && chars[i + 1][1] > c[1] + 2)
                    .map(c => c[0]);
    }""")
    assert line_ends and set(line_ends) <= {"/", "-"}, line_ends


def test_category_filter(visit, base_url):
    tab = visit(360)
    page = tab.page
    page.goto(base_url + PROGRAMME)
    chip = page.locator("nav.filter a", has_text="بازدید و دیدار")
    assert "(۲)" in chip.inner_text()  # two events: peoples-visits, cooperative-visits
    chip.click()
    page.wait_for_url("**/categories/visit/")
    assert page.locator("nav.filter a[aria-current=page]").inner_text().startswith("بازدید و دیدار")
    categories = page.eval_on_selector_all(".event", "els => els.map(e => e.dataset.category)")
    assert categories == ["visit"] * 5  # 3 + 2 occurrences
    titles = page.eval_on_selector_all(".event .title", "els => els.map(e => e.innerText)")
    assert set(titles) == {"دیدارهای مردمی در روستاها و مساجد", "بازدید از تعاونی‌ها"}
    # Every day is still there (its anchor works on every page), empty ones say so.
    assert page.locator("section.day").count() == 7
    assert page.locator("section.day .empty").count() == 3
    screenshot(page, "category-visit-360")
    page.locator("nav.filter a", has_text="همه").click()
    page.wait_for_url("**" + PROGRAMME)
    assert page.locator(".event").count() == SAMPLE_OCCURRENCES
    assert tab.foreign_requests() == []


def test_now_box_and_highlight_follow_the_programme_clock(visit, base_url):
    page = visit(360).page
    page.goto(base_url + PROGRAMME)
    box = page.locator(".now-next")
    assert "بازدید از تعاونی‌ها" in box.locator(".now").inner_text()
    assert "رژه خودروهای تعاونی تاکسی بی‌سیم" in box.locator(".next").inner_text()
    now = page.locator(".event.is-now")
    assert now.count() == 1
    assert now.get_attribute("data-key") == "cooperative-visits@2025-09-06"
    assert now.locator(".now-badge").is_visible()
    screenshot(page, "now-next-360", full_page=False)


def test_script_moves_the_highlight_with_the_device_clock(visit, base_url):
    # The page was rendered at 10:00; the visitor looks at it again at 16:30.
    later = dt.datetime(2025, 9, 6, 16, 30, tzinfo=TEHRAN)
    page = visit(360, now=later).page
    page.goto(base_url + PROGRAMME)
    page.wait_for_function("() => document.querySelector('.event.is-now') !== null")
    keys = page.eval_on_selector_all(".event.is-now", "els => els.map(e => e.dataset.key)")
    assert keys == ["taxi-parade"]
    past = page.eval_on_selector_all(".event.is-past", "els => els.map(e => e.dataset.key)")
    assert "cooperative-visits@2025-09-06" in past and "think-tank" not in past


def test_page_works_without_javascript(browser, base_url):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 800})
    try:
        page = context.new_page()
        page.goto(base_url + PROGRAMME)
        assert page.locator(".event").count() == SAMPLE_OCCURRENCES
        page.locator("nav.filter a", has_text="نشست").click()
        page.wait_for_url("**/categories/meeting/")
        assert page.locator(".event").count() == 2
        page.locator(".event .title a").first.click()
        page.wait_for_url("**/events/friday-imam-governor-meeting/")
        assert page.locator("h1").inner_text() == "نشست با امام جمعه و فرماندار"
    finally:
        context.close()


def _reads_in_order(boxes: list[dict]) -> list[str]:
    """Pairs of successive boxes that go backwards in right-to-left reading order."""
    wrong = []
    for before, after in zip(boxes, boxes[1:]):
        next_line = after["top"] >= before["bottom"] - 2
        same_line_leftwards = (after["top"] < before["bottom"] - 2
                               and after["bottom"] > before["top"] + 2
                               and after["right"] <= before["left"] + 2)
        if not (next_line or same_line_leftwards):
            wrong.append(f"{before['text']!r} → {after['text']!r}")
    return wrong


@pytest.mark.parametrize("path", [PROGRAMME, PROGRAMME + "events/cooperative-visits/"])
def test_tab_reaches_every_link_in_reading_order(visit, base_url, path):
    page = visit(360).page
    page.goto(base_url + path)
    focusable = page.evaluate("""() => [...document.querySelectorAll(
            'a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex="-1"])')]
        .filter(el => !el.disabled && el.getClientRects().length > 0
                      || el.classList.contains('skip-link'))
        .map(el => el.outerHTML)""")
    assert len(focusable) > 10
    reached, boxes = [], []
    for _ in range(len(focusable)):
        page.keyboard.press("Tab")
        info = page.evaluate("""() => { const el = document.activeElement;
            const r = el.getBoundingClientRect();
            return {html: el.outerHTML, text: el.innerText, top: r.top + scrollY,
                    bottom: r.bottom + scrollY, left: r.left, right: r.right}; }""")
        reached.append(info["html"])
        boxes.append(info)
    assert reached == focusable
    assert 'class="skip-link"' in reached[0]
    # Skip the skip link (it floats over the bar while focused); the rest reads top to
    # bottom and right to left.
    assert _reads_in_order(boxes[1:]) == []


def test_skip_link_jumps_to_the_content(visit, base_url):
    page = visit(360).page
    page.goto(base_url + PROGRAMME)
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    # The next stop is inside the main content, past the site bar.
    assert page.evaluate("() => document.querySelector('main').contains(document.activeElement)")


def test_print_view(visit, base_url):
    tab = visit(800, 1100)
    page = tab.page
    page.goto(base_url + PROGRAMME)
    page.evaluate("() => document.fonts.ready")
    page.emulate_media(media="print")
    for hidden in (".filter", ".day-nav", ".now-next", ".site-bar", ".actions", ".map-links"):
        assert not page.locator(hidden).first.is_visible(), f"{hidden} prints"
    assert page.locator("section.day").count() == 7
    assert all(page.locator(".event").nth(i).is_visible() for i in range(SAMPLE_OCCURRENCES))
    assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") in (
        "rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")
    assert page.evaluate("() => getComputedStyle(document.querySelector('.event')).breakInside") \
        == "avoid"
    assert page.locator("footer .print-only").first.is_visible()  # the live programme's address
    # The subscribe code and the events' descriptions are on paper too; the stars are not.
    assert page.locator(".print-qr svg").is_visible()
    assert ".ics" in page.locator(".print-qr figcaption").inner_text()
    described = page.locator(".event .description")
    assert described.count() >= 1 and described.first.is_visible()
    assert not page.locator(".star").first.is_visible()
    screenshot(page, "programme-print")
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = page.pdf(path=str(ARTIFACTS / "programme-print.pdf"), format="A4")
    assert pdf.startswith(b"%PDF")
    assert tab.foreign_requests() == []


def test_the_footer_lines_up_with_the_main_column(visit, base_url):
    page = visit(1280).page
    page.goto(base_url + PROGRAMME)
    edges = page.evaluate("""() => {
        const inner = e => { const r = e.getBoundingClientRect(), s = getComputedStyle(e);
            return [r.left + parseFloat(s.paddingLeft), r.right - parseFloat(s.paddingRight)]; };
        return [inner(document.querySelector('main')),
                inner(document.querySelector('.site-footer'))]; }""")
    assert edges[0] == edges[1]


def test_no_request_leaves_localhost(visit, base_url):
    tab = visit(1024)
    page = tab.page
    for path in ("/", PROGRAMME, PROGRAMME + "categories/ceremony/",
                 PROGRAMME + "events/taxi-parade/"):
        page.goto(base_url + path)
        page.wait_for_load_state("networkidle")
    page.emulate_media(media="print")
    page.goto(base_url + PROGRAMME)
    page.wait_for_load_state("networkidle")
    assert tab.errors == []
    page.goto(base_url + "/missing/")  # a 404 page logs its status, nothing else
    assert [e for e in tab.errors if "404" not in e] == []
    assert tab.requests, "requests were recorded"
    assert any(url.endswith(".woff2") for url in tab.requests)
    assert any(url.endswith(".css") for url in tab.requests)
    assert tab.foreign_requests() == []


def test_cancelled_and_tentative_events_are_marked_clearly(visit, base_url):
    page = visit(360).page
    page.goto(base_url + PROGRAMME)
    cancelled = page.locator(".event[data-key='friday-prayer']")
    assert cancelled.locator(".status-cancelled").inner_text() == "لغو شد"
    assert cancelled.locator(".status-cancelled").is_visible()
    for part in (".title", ".when"):
        decoration = cancelled.locator(part).evaluate(
            "el => getComputedStyle(el).textDecorationLine")
        assert "line-through" in decoration
    tentative = page.locator(".event[data-key='think-tank']")
    assert tentative.locator(".status-tentative").inner_text() == "هنوز قطعی نیست"
    assert tentative.evaluate("el => getComputedStyle(el).borderTopStyle") == "dashed"
    assert "line-through" not in tentative.locator(".title").evaluate(
        "el => getComputedStyle(el).textDecorationLine")
    page.locator("[id='1404-06-14']").scroll_into_view_if_needed()
    page.locator("[id='1404-06-14']").screenshot(path=str(ARTIFACTS / "cancelled-360.png"))


def test_script_never_marks_a_cancelled_event_as_on_now(visit, base_url):
    during_prayer = dt.datetime(2025, 9, 5, 12, 0, tzinfo=TEHRAN)
    page = visit(360, now=during_prayer).page
    page.goto(base_url + PROGRAMME)
    page.wait_for_function("() => document.querySelector('.event.is-past') !== null")
    assert page.locator(".event.is-now").count() == 0


def _in_viewport(page, selector: str) -> bool:
    """Whether the element's top edge is on screen, not somewhere below it."""
    return page.evaluate("""(selector) => { const r = document.querySelector(selector)
        .getBoundingClientRect(); return r.height > 0 && r.top >= 0 && r.top < window.innerHeight; }""",
                         selector)


def test_my_programme_answers_in_view_on_a_phone(visit, base_url):
    tab = visit(390, 844)
    page = tab.page
    page.goto(base_url + PROGRAMME + "my/")
    # nothing ticked: a message, announced and on screen, not a silent reload
    page.click("form.my-choice button[type=submit]")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "دست‌کم یک برنامه را علامت بزنید" in alert.inner_text()
    assert _in_viewport(page, "[role=alert]")
    # styled as an error (its stylesheet is on the page even without a calendar box)
    assert alert.evaluate("e => getComputedStyle(e).color") == "rgb(183, 28, 28)"
    # two events ticked: the new calendar is in view without scrolling down to it
    page.check("input[name=e][value='think-tank']")
    page.check("input[name=e][value='best-cooperatives-award']")
    page.click("form.my-choice button[type=submit]")
    page.wait_for_selector("#my-calendar section.subscribe")
    page.evaluate("() => document.fonts.ready")
    assert page.get_by_role("alert").count() == 0
    assert _in_viewport(page, "#my-calendar")
    assert _in_viewport(page, "#my-calendar .calendar-actions a")
    assert page.locator("input[name=e][value='think-tank']").is_checked()
    screenshot(page, "my-programme-390", full_page=False)
    assert overflow(page) <= 0
    assert tab.foreign_requests() == []


def test_stars_keep_my_programme_in_the_browser(visit, base_url):
    tab = visit(360, 800)
    page = tab.page
    page.goto(base_url + PROGRAMME)
    stars = page.locator("button.star")
    assert stars.count() == SAMPLE_OCCURRENCES - 1  # the cancelled Friday prayer has none
    for index in range(stars.count()):
        box = stars.nth(index).bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44
    think_tank = page.locator("button.star[data-event='think-tank']")
    assert think_tank.get_attribute("aria-pressed") == "false"
    think_tank.click()
    assert think_tank.get_attribute("aria-pressed") == "true"
    my_link = page.locator(".programme-header a[data-my-link]")
    assert my_link.get_attribute("href").endswith("/my/?e=think-tank#my-calendar")
    assert "(۱)" in my_link.inner_text()
    page.reload()  # kept in this browser
    assert page.locator("button.star[data-event='think-tank']").get_attribute(
        "aria-pressed") == "true"
    page.goto(base_url + PROGRAMME + "events/best-cooperatives-award/")
    page.locator(".event-page button.star").click()
    assert "(۲)" in page.locator(".event-page a[data-my-link]").inner_text()
    screenshot(page, "event-starred-360", full_page=False)
    page.locator(".event-page a[data-my-link]").click()
    page.wait_for_selector("#my-calendar section.subscribe")
    assert page.locator("input[name=e][value='think-tank']").is_checked()
    assert page.locator("input[name=e][value='best-cooperatives-award']").is_checked()
    for label in page.locator("form.my-choice label").all():
        assert label.bounding_box()["height"] >= 44
    feed_url = page.locator("#my-calendar .calendar-address code").inner_text().strip()
    feed = page.request.get(base_url + "/" + feed_url.split("/", 3)[3])
    assert feed.ok and feed.text().count("BEGIN:VEVENT") == 2
    screenshot(page, "my-programme-starred-360", full_page=False)
    # Taking a star away on the programme page takes it out of "my programme".
    page.goto(base_url + PROGRAMME)
    page.locator("button.star[data-event='think-tank']").first.click()
    assert page.locator(".programme-header a[data-my-link]").get_attribute("href").endswith(
        "/my/?e=best-cooperatives-award#my-calendar")
    assert tab.errors == [] and tab.foreign_requests() == []


def test_the_my_programme_alert_takes_focus(visit, base_url):
    page = visit(390, 844).page
    page.goto(base_url + PROGRAMME + "my/?build=1")
    page.wait_for_function("document.activeElement.getAttribute('role') === 'alert'")


def test_the_now_next_box_and_today_mark_follow_the_device_clock(visit, base_url):
    # The server rendered the page at 10:00 on 15 Shahrivar (the visits on now, the taxi
    # parade next); a page left open is looked at again later.
    tab = visit(360)
    page = tab.page
    page.goto(base_url + PROGRAMME)
    box = page.locator(".now-next")
    assert "بازدید از تعاونی‌ها" in box.locator(".now").inner_text()
    rendered = box.inner_html()
    page.clock.set_fixed_time(NOW + dt.timedelta(minutes=1))
    page.evaluate("() => new Promise(r => setTimeout(r, 0))")
    page.clock.run_for(31_000)
    assert box.inner_html() == rendered  # nothing moved: the server's rendering stands
    # 16:30: the taxi parade is on, the visits of tomorrow morning are next, with their day.
    page.clock.set_fixed_time(dt.datetime(2025, 9, 6, 16, 30, tzinfo=TEHRAN))
    page.clock.run_for(31_000)
    page.wait_for_function("() => document.querySelector('.now-next .now').innerText"
                           ".includes('رژه')")
    assert "یکشنبه ۱۶ شهریور ۱۴۰۴، ۰۹:۰۰ تا ۱۲:۰۰ بازدید از تعاونی‌ها" in \
        box.locator(".next").inner_text()
    assert box.locator(".next a").get_attribute("href").endswith("/events/cooperative-visits/")
    assert page.locator(".day.is-today").get_attribute("id") == "1404-06-15"
    screenshot(page, "now-next-later-360", full_page=False)
    # The next morning: "today" moves to Sunday, with its badge and the day list's mark.
    page.clock.set_fixed_time(dt.datetime(2025, 9, 7, 9, 0, tzinfo=TEHRAN))
    page.clock.run_for(31_000)
    page.wait_for_function("() => document.querySelector('.day.is-today').id === '1404-06-16'")
    assert page.locator(".day.is-today .today-badge").count() == 1
    assert page.locator(".today-badge").count() == 1
    assert page.locator(".day-nav a[aria-current=date]").get_attribute("href") == "#1404-06-16"
    # After the week: the box says it has ended, and no day is today.
    page.clock.set_fixed_time(dt.datetime(2025, 9, 10, 9, 0, tzinfo=TEHRAN))
    page.clock.run_for(31_000)
    page.wait_for_function("() => document.querySelector('.now-next h2').innerText"
                           ".includes('پایان یافته')")
    assert page.locator(".day.is-today").count() == 0
    assert "به پایان رسیده است" in box.inner_text()
    assert tab.errors == []
