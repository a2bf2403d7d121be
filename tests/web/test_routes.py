"""Programme ids share the URL space with the service's own paths: every fixed first path
segment a route uses must be refused as a programme id."""

from __future__ import annotations

import datetime as dt
import re

from week_planner.schedule.loading import load_text
from week_planner.schedule.rules import RESERVED_IDS


def fixed_first_segments(app) -> set[str]:
    segments = set()
    for rule in app.url_map.iter_rules():
        first = rule.rule.lstrip("/").split("/", 1)[0]
        if first and "<" not in first:
            segments.add(first)
    return segments


def test_every_fixed_top_level_path_is_reserved(app):
    segments = fixed_first_segments(app)
    assert {"healthz", "metrics", "static"} <= segments
    assert segments <= RESERVED_IDS, segments - RESERVED_IDS


def test_a_programme_cannot_take_a_reserved_id(app):
    for reserved in sorted(fixed_first_segments(app)):
        if not reserved.replace("-", "").isalnum() or reserved != reserved.lower():
            continue  # not a valid slug anyway (e.g. favicon.ico)
        text = f"""programme:
  id: {reserved}
  title: t
  organiser: o
  from: 1404-06-11
  to: 1404-06-17
categories:
  c: {{label: c}}
events: []
"""
        result = load_text(text, "reserved.yaml")
        assert [p.code for p in result.errors] == ["reserved-id"], reserved


# -- security headers on every HTML response, whatever its status ---------------------------

BEFORE_THE_WEEK = dt.datetime(2025, 8, 25, 9, 0, tzinfo=dt.timezone.utc)
ARGUMENTS = {"programme": "khalilabad-1404", "programme_id": "khalilabad-1404",
             "category": "visit", "event": "think-tank", "event_id": "think-tank",
             "token": "not-a-token", "filename": "site.css"}


def urls(app, **overrides) -> list[str]:
    """One URL for each route of the application, its arguments filled in."""
    values = {**ARGUMENTS, **overrides}
    found = []
    for rule in app.url_map.iter_rules():
        found.append(re.sub(r"<(\w+:)?(\w+)>",
                            lambda m: "1" if m.group(1) == "int:" else values.get(m.group(2), "x"),
                            rule.rule))
    return found


def assert_secured(response, where: str) -> None:
    headers = response.headers
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    policy = headers.get("Content-Security-Policy", "")
    for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'",
                      "form-action 'self'", "frame-ancestors"):
        assert directive in policy, (where, directive)
    assert headers.get("Referrer-Policy") in (
        "no-referrer", "same-origin", "strict-origin-when-cross-origin"), where
    expected = "DENY" if "frame-ancestors 'none'" in policy else "SAMEORIGIN"
    assert headers.get("X-Frame-Options") == expected, where


def html_statuses(client, paths) -> set[int]:
    """Asks for every path by GET and POST; checks and returns the statuses of the HTML
    answers."""
    statuses = set()
    for path in paths:
        for method in ("GET", "POST"):
            response = client.open(path, method=method)
            response.close()  # a static file is streamed from an open file
            if response.mimetype == "text/html":
                assert_secured(response, f"{method} {path} {response.status_code}")
                statuses.add(response.status_code)
            else:
                assert response.headers.get("X-Content-Type-Options") == "nosniff", path
    return statuses


def test_every_html_answer_of_every_route_carries_the_security_headers(app, schedules_dir):
    app.config["CLOCK"] = lambda: BEFORE_THE_WEEK  # the forms are open
    client = app.test_client()
    statuses = html_statuses(client, urls(app))
    statuses |= html_statuses(client, urls(app, programme="no-such-programme",
                                           programme_id="no-such-programme"))
    statuses |= html_statuses(client, ["/no/such/page", "/remind/confirm/"])
    (schedules_dir / "khalilabad-1404.yaml").unlink()  # a deleted programme: 410
    statuses |= html_statuses(client, urls(app))
    # 200 pages, the 400 of a form sent without its token, 404, 405 (POST to a page), 410
    assert {200, 400, 404, 405, 410} <= statuses, statuses


def test_the_500_page_carries_the_security_headers(app, monkeypatch):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer 500, as in production
    registry = app.extensions["week_planner.registry"]

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(registry, "get", broken)
    client = app.test_client()
    for path in ("/khalilabad-1404/", "/khalilabad-1404/remind/"):
        response = client.get(path)
        assert response.status_code == 500 and response.mimetype == "text/html"
        assert_secured(response, path)


def test_subscription_pages_keep_their_stricter_policy(app):
    client = app.test_client()
    form = client.get("/khalilabad-1404/remind/")
    assert form.status_code == 200
    assert "script-src 'none'" in form.headers["Content-Security-Policy"]
    assert form.headers["X-Frame-Options"] == "DENY"
    assert form.headers["Referrer-Policy"] == "no-referrer"
    assert form.headers["Cache-Control"] == "no-store"
    page = client.get("/khalilabad-1404/")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "SAMEORIGIN"


# -- text from the schedule file inside Persian sentences is isolated ------------------------

MIXED_TITLE = 'Co-op <Forum> & "ICA" 2025'


def mixed_app(tmp_path, schedules_dir):
    """The sample programme with a Latin venue, address, host and title."""
    from week_planner import create_app
    path = schedules_dir / "khalilabad-1404.yaml"
    text = path.read_text(encoding="utf-8")
    for old, new in (("    name: سالن اجتماعات فرمانداری\n", "    name: Grand Hall 3\n"),
                     ("    address: خلیل‌آباد، خیابان امام خمینی، فرمانداری شهرستان\n",
                      "    address: Imam Khomeini St. 12\n"),
                     ("hosts: [امام جمعه خلیل‌آباد, فرماندار]",
                      'hosts: [امام جمعه خلیل‌آباد, "Dr. Sara Karimi (UNDP)", فرماندار]'),
                     ("title: نشست هم‌اندیشی مدیران تعاونی‌ها", f"title: '{MIXED_TITLE}'")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return create_app({"TESTING": True, "SCHEDULES_DIR": str(schedules_dir),
                       "INSTANCE_DIR": str(tmp_path / "instance"), "RELOAD_INTERVAL": 0,
                       "CLOCK": lambda: BEFORE_THE_WEEK})


def bdi_texts(element) -> list[str]:
    return [bdi.text_content() for bdi in element.cssselect("bdi")]


def test_schedule_text_inside_persian_sentences_is_isolated_and_escaped(tmp_path,
                                                                        schedules_dir):
    from lxml import html as lxml_html
    app = mixed_app(tmp_path, schedules_dir)
    client = app.test_client()
    page = lxml_html.fromstring(client.get("/khalilabad-1404/").data)
    card = page.cssselect("li.event[data-key^='friday-imam-governor-meeting']")[0]
    assert bdi_texts(card.cssselect(".venue-name")[0]) == ["Grand Hall 3",
                                                          "Imam Khomeini St. 12"]
    assert bdi_texts(card.cssselect(".hosts")[0]) == [
        "امام جمعه خلیل‌آباد", "Dr. Sara Karimi (UNDP)", "فرماندار"]
    assert "نشست" in bdi_texts(card.cssselect(".meta")[0])  # the category's label
    footer = page.cssselect("footer")[0]
    assert "اداره تعاون، کار و رفاه اجتماعی شهرستان خلیل‌آباد" in bdi_texts(footer)

    event = lxml_html.fromstring(client.get(
        "/khalilabad-1404/events/friday-imam-governor-meeting/").data)
    assert bdi_texts(event.cssselect(".host-list")[0])[1] == "Dr. Sara Karimi (UNDP)"
    remind = client.get("/khalilabad-1404/events/think-tank/remind/")
    assert bdi_texts(lxml_html.fromstring(remind.data).cssselect("h1")[0]) == [MIXED_TITLE]
    assert "<Forum>" not in remind.get_data(as_text=True)  # escaped, not markup
    assert "&lt;Forum&gt;" in remind.get_data(as_text=True)
    app.config["CLOCK"] = lambda: dt.datetime(2025, 9, 7, 15, 30, tzinfo=dt.timezone.utc)
    over = client.get("/khalilabad-1404/events/think-tank/remind/")
    message = lxml_html.fromstring(over.data).cssselect("p[role=status]")[0]
    assert bdi_texts(message) == [MIXED_TITLE]
    assert message.text_content().startswith(f"«{MIXED_TITLE}» برگزار شده است")
    assert "<Forum>" not in over.get_data(as_text=True)


def test_a_latin_venue_and_address_keep_their_order_in_chromium(tmp_path, schedules_dir):
    """In a right-to-left line the venue's name comes first, at the right, then its
    address; without isolation a Latin name and address ran together left to right, the
    address first. Nothing overflows a 360 px phone."""
    import threading

    from browsing import ARTIFACTS, launch, sync_playwright
    from reminder_helpers import free_port
    from werkzeug.serving import make_server
    app = mixed_app(tmp_path, schedules_dir)
    app.testing = False
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright()() as playwright:
            browser = launch(playwright)
            try:
                for width in (360, 1280):
                    page = browser.new_page(viewport={"width": width, "height": 800})
                    page.goto(f"http://127.0.0.1:{port}/khalilabad-1404/")
                    card = page.locator(
                        "li.event[data-key^='friday-imam-governor-meeting']").first
                    # the first line box of each (the address may wrap)
                    name, address = (card.locator(".venue-name bdi").nth(n).evaluate(
                        "e => { const r = e.getClientRects()[0];"
                        " return {x: r.x, y: r.y, width: r.width}; }") for n in (0, 1))
                    if abs(name["y"] - address["y"]) < 2:  # on one line: name at the right
                        assert name["x"] >= address["x"] + address["width"] - 1, width
                    else:
                        assert address["y"] > name["y"], width
                    assert page.evaluate("document.documentElement.scrollWidth") <= width
                    ARTIFACTS.mkdir(exist_ok=True)
                    card.screenshot(path=str(ARTIFACTS / f"mixed-venue-card-{width}.png"))
                    page.close()
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
