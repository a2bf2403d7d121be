"""Offline use and accessibility.

In Debian's Chromium (through Playwright): a visited programme page comes back with no
network (the browser context is set offline and the page reloaded) with its stylesheets,
its font, its feed and a note saying when the copy was saved, on the live site and in the
static export; personal pages and forms never come back from the device; the manifest is
linked and Chromium reads it without an error. axe-core (npm's, in node_modules) finds no
serious or critical violation on any kind of page, and keyboard focus is visible on
everything that takes it. Through Flask's test client: the worker's and the manifests'
headers and contents, and what the export writes for them.

The app runs in a thread on 127.0.0.1 with its clock pinned to Saturday 15 Shahrivar
1404, 10:00 Tehran time; the browser's clock is pinned too. Screenshots go to
``test-artifacts/``.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import json
import re
import struct
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from browsing import ARTIFACTS, launch, sync_playwright

from week_planner import create_app
from week_planner.web.export import LIVE_ONLY, export_site
from week_planner.web.offline import NEVER_KEPT, precached_files

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "schedules" / "khalilabad-1404.yaml"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
TEHRAN = ZoneInfo("Asia/Tehran")
NOW = dt.datetime(2025, 9, 6, 10, 0, tzinfo=TEHRAN)
PROGRAMME = "/khalilabad-1404/"
FEED = "/khalilabad-1404.ics"
GONE = "/old-week-1403/"
PAGES_CACHE = "week-planner-pages-1"
SITE_BAR_BLUE = "rgb(11, 92, 138)"

browser_test = pytest.mark.browser


# -- the site and the browser -----------------------------------------------------------

def buffered(app):
    """Each response read whole and closed before the test server writes it (a browser
    that drops a connection must not leave a static file open)."""
    def application(environ, start_response):
        iterable = app(environ, start_response)
        try:
            return [b"".join(iterable)]
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
    return application


class Site:
    def __init__(self, app, url: str):
        self.app = app
        self.url = url


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from werkzeug.serving import make_server

    folder = tmp_path_factory.mktemp("site")
    schedules = folder / "schedules"
    schedules.mkdir()
    text = SAMPLE.read_text(encoding="utf-8")
    (schedules / SAMPLE.name).write_text(text, encoding="utf-8")
    # A second programme, deleted once it was served: its pages answer 410.
    gone = schedules / "old-week-1403.yaml"
    gone.write_text(text.replace("id: khalilabad-1404", "id: old-week-1403", 1),
                    encoding="utf-8")
    app = create_app({
        "TESTING": True,
        "SCHEDULES_DIR": str(schedules),
        "INSTANCE_DIR": str(folder / "instance"),
        "RELOAD_INTERVAL": 0,
        "BASE_URL": "http://127.0.0.1",
        "CLOCK": lambda: NOW,
    })
    client = app.test_client()
    assert client.get(GONE).status_code == 200
    gone.unlink()
    assert client.get(GONE).status_code == 410
    server = make_server("127.0.0.1", 0, buffered(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Site(app, f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright()() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


class Tab:
    """One browser context (its own caches and service workers) with one page; records
    every request and every console error."""

    def __init__(self, browser, width: int, height: int = 800):
        self.context = browser.new_context(viewport={"width": width, "height": height},
                                           locale="fa-IR", timezone_id="Asia/Tehran")
        self.requests: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda message: self.errors.append(message.text)
                     if message.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.clock.set_fixed_time(NOW)

    def kept(self) -> list[str]:
        """The paths in the worker's cache of pages and feeds."""
        return self.page.evaluate("""async (name) => {
            const cache = await caches.open(name);
            return (await cache.keys()).map(r => new URL(r.url).pathname + new URL(r.url).search);
        }""", PAGES_CACHE)

    def cached_anywhere(self) -> list[str]:
        """Every address in every cache of this site."""
        return self.page.evaluate("""async () => {
            const found = [];
            for (const name of await caches.keys()) {
                const cache = await caches.open(name);
                for (const request of await cache.keys()) found.push(request.url);
            }
            return found; }""")

    def wait_until_kept(self, *paths: str, timeout: float = 15) -> None:
        """Until the worker controls the page, has its static files and keeps ``paths``."""
        self.page.wait_for_function("() => navigator.serviceWorker.controller !== null",
                                    timeout=timeout * 1000)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if set(paths) <= set(self.kept()) and self.page.evaluate("""async () => {
                    const names = await caches.keys();
                    const name = names.find(n => n.startsWith('week-planner-static-'));
                    if (!name) return false;
                    const cache = await caches.open(name);
                    return !!(await cache.match('/static/site.css')) &&
                           !!(await cache.match('/static/fonts/Vazirmatn-Bold.woff2')); }"""):
                return
            time.sleep(0.1)
        raise AssertionError(f"not kept: {set(paths) - set(self.kept())}")

    def close(self):
        self.context.close()


@pytest.fixture
def tab(browser):
    opened: list[Tab] = []

    def open_tab(width: int = 360, height: int = 800) -> Tab:
        found = Tab(browser, width, height)
        opened.append(found)
        return found

    yield open_tab
    for found in opened:
        found.close()


def screenshot(page, name: str, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def fonts_loaded(page) -> list[str]:
    page.evaluate("() => document.fonts.ready")
    return page.evaluate("""() => [...document.fonts]
        .filter(f => f.family.replace(/["']/g, '') === 'Vazirmatn' && f.status === 'loaded')
        .map(f => f.weight)""")


def offline_note(page) -> str:
    note = page.locator(".offline-note")
    note.wait_for(timeout=5000)
    return note.inner_text()


# -- offline ----------------------------------------------------------------------------

@browser_test
@pytest.mark.parametrize("width", [360, 1280])
def test_a_visited_programme_page_works_offline(tab, site, width):
    visit = tab(width)
    page = visit.page
    page.goto(site.url + PROGRAMME)
    visit.wait_until_kept(PROGRAMME, FEED)
    assert "400" in fonts_loaded(page)
    assert page.locator(".offline-note").count() == 0  # online: the page as served
    screenshot(page, f"offline-programme-online-{width}")

    visit.context.set_offline(True)
    page.reload()
    text = offline_note(page)
    assert "اکنون به تارنما دسترسی نیست" in text and "آخرین به‌روزرسانی:" in text
    # When it was saved, in Persian digits (the worker's clock, not the pinned one).
    assert re.search(r"[۰-۹]{4}.*[۰-۹]{2}:[۰-۹]{2}", text), text
    assert not re.search(r"[0-9]", text)
    assert page.locator("h1").inner_text() == "هفته تعاون ۱۴۰۴ شهرستان خلیل‌آباد"
    assert page.locator(".event").count() == 14
    # Its stylesheets, font and scripts came from the device.
    assert page.evaluate("() => getComputedStyle(document.querySelector('.site-bar'))"
                         ".backgroundColor") == SITE_BAR_BLUE
    assert page.evaluate("() => getComputedStyle(document.querySelector('.subscribe'))"
                         ".borderTopStyle") != "none", "calendar.css is missing"
    assert {"400", "700"} <= set(fonts_loaded(page))
    assert page.evaluate("() => document.fonts.check('16px Vazirmatn', 'سلام')")
    assert page.locator("button.star").count() > 0, "my.js did not run"
    assert page.locator(".event.is-now").count() == 1
    screenshot(page, f"offline-programme-offline-{width}")
    screenshot(page, f"offline-programme-offline-{width}-full", full_page=True)
    assert visit.errors == []
    assert all(url.startswith(site.url) for url in visit.requests)


@browser_test
def test_the_programme_feed_is_there_offline(tab, site):
    visit = tab()
    page = visit.page
    page.goto(site.url + PROGRAMME)
    visit.wait_until_kept(PROGRAMME, FEED)
    visit.context.set_offline(True)
    feed = page.evaluate("""(path) => fetch(path).then(async r =>
        ({status: r.status, type: r.headers.get('Content-Type'), body: await r.text()}))""",
                         FEED)
    assert feed["status"] == 200 and feed["type"].startswith("text/calendar")
    assert feed["body"].startswith("BEGIN:VCALENDAR") and feed["body"].count("BEGIN:VEVENT") == 14
    # A feed that was never opened is not there.
    failed = page.evaluate("""() => fetch('/khalilabad-1404/categories/award.ics')
        .then(() => false, () => true)""")
    assert failed


@browser_test
def test_a_category_and_an_event_page_come_back_with_their_feeds(tab, site):
    visit = tab()
    page = visit.page
    category = PROGRAMME + "categories/visit/"
    event = PROGRAMME + "events/think-tank/"
    page.goto(site.url + category)
    visit.wait_until_kept(category, "/khalilabad-1404/categories/visit.ics")
    page.goto(site.url + event)  # through the worker now: kept as it passes
    title = page.locator("h1").inner_text()
    visit.wait_until_kept(category, event, "/khalilabad-1404/events/think-tank.ics")
    visit.context.set_offline(True)
    page.reload()
    assert "آخرین به‌روزرسانی" in offline_note(page)
    assert page.locator("h1").inner_text() == title
    screenshot(page, "offline-event-offline-360")
    page.goto(site.url + category)
    assert "آخرین به‌روزرسانی" in offline_note(page)
    assert page.locator(".event").count() == 5
    screenshot(page, "offline-category-offline-360")


@browser_test
def test_personal_pages_and_forms_never_come_from_the_device(tab, site):
    visit = tab()
    page = visit.page
    page.goto(site.url + PROGRAMME)
    visit.wait_until_kept(PROGRAMME, FEED)
    page.goto(site.url + PROGRAMME + "my/?e=think-tank&build=1")
    token_feed = page.locator("#my-calendar .calendar-address code").inner_text()
    personal = "/" + token_feed.split("/", 3)[3]
    assert "/my/" in personal and personal.endswith(".ics")
    assert page.evaluate("(path) => fetch(path).then(r => r.status)", personal) == 200
    page.goto(site.url + PROGRAMME + "my/")
    page.goto(site.url + PROGRAMME + "remind/")
    page.goto(site.url + PROGRAMME + "events/think-tank/remind/")
    page.goto(site.url + PROGRAMME + "?preview=x")
    page.goto(site.url + PROGRAMME)
    kept = visit.cached_anywhere()
    assert not [url for url in kept if re.search(r"/my/|/remind/|\?", url)], kept

    visit.context.set_offline(True)
    for path in ("my/", "remind/"):
        page.goto(site.url + PROGRAMME + path)
        # The page that says it needs the network, never a copy of the form.
        assert page.locator("h1").inner_text() == "اکنون به تارنما دسترسی نیست"
        assert page.locator("form, input").count() == 0
    screenshot(page, "offline-personal-offline-360")
    page.set_viewport_size({"width": 1280, "height": 800})
    screenshot(page, "offline-personal-offline-1280")
    # (The browser's own HTTP cache may keep it for its max-age: the worker does not.)
    assert page.evaluate("""(path) => fetch(path, {cache: 'no-store'})
        .then(() => 'served', () => 'refused')""", personal) == "refused"
    page.goto(site.url + PROGRAMME)  # while the programme itself is there
    assert "آخرین به‌روزرسانی" in offline_note(page)


@browser_test
def test_back_online_the_page_offers_the_fresh_copy(tab, site):
    visit = tab()
    page = visit.page
    page.goto(site.url + PROGRAMME)
    visit.wait_until_kept(PROGRAMME, FEED)
    visit.context.set_offline(True)
    page.reload()
    offline_note(page)
    visit.context.set_offline(False)
    again = page.locator(".offline-note button")
    again.wait_for()
    assert again.inner_text() == "دیدن نسخهٔ تازه"
    text = page.locator(".offline-note").inner_text()
    assert "اتصال برقرار شد" in text and "دسترسی نیست" not in text
    assert "آخرین به‌روزرسانی" in text
    screenshot(page, "offline-back-online-360")
    again.click()
    page.wait_for_load_state()
    page.wait_for_function("() => document.querySelector('.offline-note') === null")


@browser_test
def test_the_manifest_is_linked_and_chromium_reads_it(tab, site):
    visit = tab()
    page = visit.page
    page.goto(site.url + PROGRAMME)
    href = page.locator("link[rel=manifest]").get_attribute("href")
    assert href == "/khalilabad-1404/manifest.webmanifest"
    manifest = json.loads(page.request.get(site.url + href).text())
    assert manifest["name"] == "هفته تعاون ۱۴۰۴ شهرستان خلیل‌آباد"
    assert manifest["start_url"] == PROGRAMME and manifest["dir"] == "rtl"
    cdp = visit.context.new_cdp_session(page)
    read = cdp.send("Page.getAppManifest")
    assert read["url"] == site.url + href
    assert read["errors"] == []
    # Every icon is an image of the size it claims.
    for icon in manifest["icons"]:
        size = page.evaluate("""(src) => new Promise((done, fail) => {
            const image = new Image(); image.onload = () => done([image.naturalWidth,
            image.naturalHeight]); image.onerror = fail; image.src = src; })""", icon["src"])
        if icon["sizes"] != "any":
            assert "x".join(map(str, size)) == icon["sizes"]
    visit.wait_until_kept(PROGRAMME, FEED)
    # Nothing keeps a phone from adding it to its home screen (but the test browser's
    # private profile).
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert [error["errorId"] for error in errors if error["errorId"] != "in-incognito"] == []
    page.goto(site.url + "/")
    assert page.locator("link[rel=manifest]").get_attribute("href") == "/manifest.webmanifest"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@browser_test
def test_the_static_export_works_offline(tab, site, tmp_path):
    out = tmp_path / "export"
    report = export_site(site.app, out)
    assert report.failed == {}
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        visit = tab()
        page = visit.page
        page.goto(url + PROGRAMME)
        visit.wait_until_kept(PROGRAMME, FEED)
        visit.context.set_offline(True)
        page.reload()
        assert "آخرین به‌روزرسانی" in offline_note(page)
        assert page.evaluate("() => getComputedStyle(document.querySelector('.site-bar'))"
                             ".backgroundColor") == SITE_BAR_BLUE
        assert {"400", "700"} <= set(fonts_loaded(page))
        screenshot(page, "offline-export-offline-360")
        page.goto(url + PROGRAMME + "events/think-tank/")  # never opened
        assert page.locator("h1").inner_text() == "اکنون به تارنما دسترسی نیست"
        assert visit.errors == []
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


# -- accessibility ----------------------------------------------------------------------

PAGE_KINDS = {
    "home": "/",
    "province": "/provinces/khorasan-razavi/",
    "search": "/search/?q=%D8%AE%D9%84%DB%8C%D9%84",
    "search without a result": "/search/?q=zzz",
    "programme": PROGRAMME,
    "category": PROGRAMME + "categories/visit/",
    "event": PROGRAMME + "events/cooperative-visits/",
    "event without venue link": PROGRAMME + "events/think-tank/",
    "my programme": PROGRAMME + "my/",
    "my programme with a calendar": PROGRAMME + "my/?e=think-tank&e=taxi-parade&build=1",
    "my programme with nothing ticked": PROGRAMME + "my/?build=1",
    "remind form": PROGRAMME + "remind/",
    "event remind form": PROGRAMME + "events/think-tank/remind/",
    "changes": PROGRAMME + "changes/",
    "404": "/no-such-programme/",
    "410": GONE,
    "offline": "/offline.html",
}
SERIOUS = ("serious", "critical")
# WCAG 2.0 to 2.2, levels A and AA (2.2 adds the 24 px target size), and axe's best
# practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe_violations(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now. axe is put
    into the page by the test tool, past the page's Content-Security-Policy."""
    if not AXE.is_file():
        pytest.skip(f"axe-core is missing at {AXE} (npm ci)")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("""(tags) => axe.run(document, {resultTypes: ['violations'],
            runOnly: {type: 'tag', values: tags}})
        .then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)})))""",
                           AXE_TAGS)
    return [violation for violation in result if violation["impact"] in SERIOUS]


@browser_test
@pytest.mark.parametrize("kind", sorted(PAGE_KINDS))
def test_axe_finds_nothing_serious(tab, site, kind):
    visit = tab(360)
    page = visit.page
    page.goto(site.url + PAGE_KINDS[kind])
    page.evaluate("() => document.fonts.ready")
    assert axe_violations(page) == []
    # Nothing the page loads or runs (the worker's registration included) is refused by
    # its Content-Security-Policy; a page answered with 400 (a form sent with nothing
    # ticked), 404 or 410 logs its status, nothing else.
    page.wait_for_load_state("networkidle")
    assert [error for error in visit.errors if not re.search(r"\b(400|404|410)\b", error)] == []
    if kind == "programme":
        page.set_viewport_size({"width": 1280, "height": 900})
        assert axe_violations(page) == []


@browser_test
def test_axe_finds_nothing_serious_on_a_page_shown_offline(tab, site):
    visit = tab(360)
    page = visit.page
    page.goto(site.url + PROGRAMME)
    visit.wait_until_kept(PROGRAMME, FEED)
    visit.context.set_offline(True)
    page.reload()
    offline_note(page)
    assert axe_violations(page) == []


FOCUSABLE = """() => [...document.querySelectorAll(
        'a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex="-1"])')]
    .filter(el => !el.disabled && el.type !== 'hidden' && el.getClientRects().length > 0
                  || el.classList.contains('skip-link')).length"""
FOCUS_RING = """() => { const el = document.activeElement; const style = getComputedStyle(el);
    return {html: el.outerHTML.slice(0, 120), style: style.outlineStyle,
            width: parseFloat(style.outlineWidth), colour: style.outlineColor}; }"""


@browser_test
@pytest.mark.parametrize("path", [PROGRAMME, PROGRAMME + "events/think-tank/",
                                  PROGRAMME + "my/?e=think-tank&build=1",
                                  PROGRAMME + "remind/", PROGRAMME + "changes/",
                                  "/no-such-programme/"])
def test_keyboard_focus_is_visible_on_everything_that_takes_it(tab, site, path):
    visit = tab(1280, 900)
    page = visit.page
    page.goto(site.url + path)
    page.evaluate("() => document.fonts.ready")
    count = page.evaluate(FOCUSABLE)
    assert count > 3
    unseen = []
    for index in range(count):
        page.keyboard.press("Tab")
        ring = page.evaluate(FOCUS_RING)
        if ring["style"] == "none" or ring["width"] < 2:
            unseen.append(ring["html"])
        if index == 3:
            screenshot(page, "focus-" + (path.strip("/").replace("/", "_")
                                         .replace("?", "_").replace("&", "_") or "index"))
    assert unseen == []


# -- the worker, the manifests and the export through Flask's test client ---------------

def test_the_worker_is_served_at_the_root_for_the_whole_site(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Content-Security-Policy"] == "default-src 'self'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = response.get_data(as_text=True)
    assert re.search(r'const STATIC_CACHE = "week-planner-static-" \+ VERSION;', body)
    # Every file it preloads is there.
    preloaded = json.loads(re.search(r"const PRECACHE = (\[.*?\]);", body).group(1))
    assert "/static/site.css" in preloaded and "/offline.html" in preloaded
    assert "/static/fonts/Vazirmatn-Regular.woff2" in preloaded
    for path in preloaded:
        with client.get(path) as found:
            assert found.status_code == 200, path
    again = client.get("/sw.js", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_the_static_cache_is_named_after_the_files_version(app, tmp_path):
    from week_planner.web import offline

    before = offline.static_version(app)
    assert re.fullmatch(r"[0-9a-f]{12}", before)
    assert offline.static_version(app) == before
    copy = tmp_path / "static"
    copy.mkdir()
    for name in precached_files(app):
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((Path(app.static_folder) / name).read_bytes())
    app.static_folder = str(copy)
    assert offline.static_version(app) == before
    (copy / "site.css").write_text("body { color: red; }\n", encoding="utf-8")
    assert offline.static_version(app) != before


@pytest.mark.parametrize("path", ["/khalilabad-1404/my/", "/khalilabad-1404/my/abc.ics",
                                  "/khalilabad-1404/remind/",
                                  "/khalilabad-1404/events/think-tank/remind/",
                                  "/remind/confirm/abc", "/remind/code/abc",
                                  "/remind/unsubscribe/abc", "/organise/",
                                  "/organise/khalilabad-1404/history/", "/healthz",
                                  "/metrics", "/sw.js"])
def test_the_worker_never_keeps_personal_paths(path):
    assert re.search(NEVER_KEPT, path)


@pytest.mark.parametrize("path", ["/", "/khalilabad-1404/", "/khalilabad-1404.ics",
                                  "/khalilabad-1404/categories/visit/",
                                  "/khalilabad-1404/events/think-tank/",
                                  "/khalilabad-1404/changes/"])
def test_the_worker_keeps_public_pages(path):
    assert not re.search(NEVER_KEPT, path) and not LIVE_ONLY.search(path)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("path, start", [("/manifest.webmanifest", "/"),
                                         ("/khalilabad-1404/manifest.webmanifest",
                                          "/khalilabad-1404/")])
def test_the_manifests_name_the_site_in_persian_with_icons(client, path, start):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/manifest+json; charset=utf-8"
    manifest = json.loads(response.get_data(as_text=True))
    assert manifest["start_url"] == start and manifest["id"] == start
    assert manifest["scope"] == "/" and manifest["display"] == "standalone"
    assert manifest["lang"] == "fa" and manifest["dir"] == "rtl"
    assert manifest["short_name"] == "هفتهٔ تعاون"
    assert re.search("[\u0600-\u06ff]", manifest["name"])
    sizes = {}
    for icon in manifest["icons"]:
        with client.get(icon["src"]) as found:
            assert found.status_code == 200
            assert found.content_type.startswith(icon["type"])
            if icon["type"] == "image/png":
                width, height = _png_size(found.get_data())
                assert icon["sizes"] == f"{width}x{height}"
                sizes.setdefault(icon["purpose"], set()).add(width)
    assert {192, 512} <= sizes["any"] and sizes["maskable"] == {512}
    assert client.get(path, headers={"If-None-Match": response.headers["ETag"]}
                      ).status_code == 304


def test_a_draft_or_unknown_programme_has_no_manifest(client, schedules_dir):
    assert client.get("/no-such/manifest.webmanifest").status_code == 404
    sample = schedules_dir / SAMPLE.name
    sample.write_text(sample.read_text(encoding="utf-8").replace(
        "  timezone: Asia/Tehran\n", "  timezone: Asia/Tehran\n  draft: true\n", 1),
        encoding="utf-8")
    assert client.get("/khalilabad-1404/manifest.webmanifest").status_code == 404


def test_pages_link_their_manifest_and_the_worker_script(client):
    programme = client.get(PROGRAMME).get_data(as_text=True)
    assert '<link rel="manifest" href="/khalilabad-1404/manifest.webmanifest">' in programme
    assert 'src="/static/offline.js" data-worker="/sw.js"' in programme
    assert '<link rel="alternate" type="text/calendar" title="تقویم" href="/khalilabad-1404.ics">' \
        in programme
    home = client.get("/").get_data(as_text=True)
    assert '<link rel="manifest" href="/manifest.webmanifest">' in home
    assert 'data-worker="/sw.js"' in home
    # The subscription forms run no script: they carry none.
    form = client.get(PROGRAMME + "remind/")
    assert "script-src 'none'" in form.headers["Content-Security-Policy"]
    assert "<script" not in form.get_data(as_text=True)


def test_the_offline_page_is_persian_and_not_indexed(client):
    response = client.get("/offline.html")
    assert response.status_code == 200 and response.headers["X-Robots-Tag"] == "noindex"
    body = response.get_data(as_text=True)
    assert '<html lang="fa" dir="rtl">' in body and "اکنون به تارنما دسترسی نیست" in body


def test_the_export_writes_the_worker_the_manifests_and_what_the_worker_preloads(app, tmp_path):
    out = tmp_path / "site"
    report = export_site(app, out)
    assert report.failed == {}
    client = app.test_client()
    worker = (out / "sw.js").read_bytes()
    assert worker == client.get("/sw.js").get_data()
    preloaded = json.loads(re.search(rb"const PRECACHE = (\[.*?\]);", worker).group(1))
    for path in preloaded:
        assert (out / path.lstrip("/")).is_file(), path
    for path in ("manifest.webmanifest", "khalilabad-1404/manifest.webmanifest",
                 "offline.html", "static/icon-512.png", "static/icon-maskable-512.png"):
        assert (out / path).is_file(), path
