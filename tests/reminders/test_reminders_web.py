"""Subscription pages (CSRF, double opt-in by mail or SMS code, unsubscribe, rate limit),
organiser channels through apprise and the reminder CLI commands. Mail goes to a real
SMTP server, SMS and channel messages to a real HTTP server on loopback.

A form only queues its confirmation; ``deliver(app)`` does what the scheduler does with it
(claims what is due and sends it), so each test sees the mail or SMS only after it."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from lxml import html as lxml_html
from reminder_helpers import Mailbox, SmtpServer, free_port
from sqlalchemy import select

from week_planner import create_app
from week_planner.cli import main
from week_planner.reminders.planning import channel_target
from week_planner.reminders.sending import Reminders
from week_planner.reminders.subscribers import add_subscriber, remove_subscribers
from week_planner.store import app_engine, rate_hits, reminder_outbox, subscribers
from week_planner.tokens import link_token, subscription_serializer, subscription_tag

UTC = dt.timezone.utc
BEFORE_THE_WEEK = dt.datetime(2025, 8, 25, 9, 0, tzinfo=UTC)
AFTER_THE_WEEK = dt.datetime(2025, 9, 9, 9, 0, tzinfo=UTC)
# 19:00 Tehran on Sunday 16 Shahrivar: the think tank (16:00–18:00) is over, so are the
# parade and every visit (the last began 18:30); only Monday's award is still to come.
THINK_TANK_OVER = dt.datetime(2025, 9, 7, 15, 30, tzinfo=UTC)
ADDRESS = "Participant.One@Example.org"


class Receiver(BaseHTTPRequestHandler):
    received: list = []
    down: set = set()  # paths that answer 503 (a service that is down) and keep nothing

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path in self.down:
            self.send_response(503)
            self.end_headers()
            return
        self.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


class SessionCountingMailbox(Mailbox):
    """Also counts SMTP sessions (each client's EHLO), mail or none."""

    def __init__(self):
        super().__init__()
        self.sessions = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock:
            self.sessions += 1
        return responses


class SessionCountingSmtpServer(SmtpServer):
    def __init__(self):
        self.port = free_port()
        self.mailbox = SessionCountingMailbox()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)


@pytest.fixture
def smtp():
    """The real SMTP server of conftest, counting sessions too: a form must open none."""
    server = SessionCountingSmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def webhook():
    """An HTTP server that keeps what apprise's json:// posts to it."""
    handler = type("Handler", (Receiver,), {"received": [], "down": set()})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.received = handler.received
    server.down = handler.down
    server.url = f"json://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def channels_file(tmp_path, webhook):
    path = tmp_path / "private" / "channels.yaml"
    path.parent.mkdir()
    path.write_text(f"organisers:\n  - {webhook.url}/organisers\n"
                    f"sms:\n  - {webhook.url}/sms/{{phone}}\n", encoding="utf-8")
    return path


@pytest.fixture
def app(tmp_path, schedules_dir, smtp, channels_file):
    return create_app({
        "TESTING": True, "SCHEDULES_DIR": str(schedules_dir),
        "INSTANCE_DIR": str(tmp_path / "instance"), "RELOAD_INTERVAL": 0,
        "BASE_URL": "https://hafte.example.ir", "SMTP_URL": smtp.url,
        "CHANNELS": str(channels_file), "SUBSCRIBE_RATE_LIMIT": 6,
    })


@pytest.fixture
def clock():
    with time_machine.travel(BEFORE_THE_WEEK, tick=True) as traveller:
        yield traveller


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def rows(app, table):
    with app_engine(app).connect() as connection:
        return connection.execute(select(table)).all()


def reminder_rows(app):
    return [row for row in rows(app, reminder_outbox) if row.kind == "reminder"]


def deliver(app) -> dict[str, int]:
    """What the scheduler does with a confirmation a form queued: send what is due."""
    return Reminders(app).send_due()


def assert_private(response):
    text = response.get_data(as_text=True).lower()
    assert "participant.one" not in text and "example.org" not in text
    assert "9121234567" not in text


def test_subscribe_by_mail_with_double_opt_in(app, smtp, clock):
    client = app.test_client()
    page = client.get("/khalilabad-1404/remind/")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assert 'value="category:visit"' in html and "بازدید و دیدار" in html
    response = client.post("/khalilabad-1404/remind/", data={
        "csrf_token": csrf(html), "scope": "category:visit", "channel": "email",
        "address": ADDRESS})
    assert response.status_code == 200
    assert "نامه‌ای فرستادیم" in response.get_data(as_text=True)
    assert_private(response)
    (subscriber,) = rows(app, subscribers)
    assert (subscriber.address, subscriber.scope, subscriber.confirmed_at) == (
        "participant.one@example.org", "category:visit", None)
    # no reminder before confirmation; the confirmation itself waits in the outbox
    (queued,) = rows(app, reminder_outbox)
    assert (queued.kind, queued.status, queued.channel, queued.recipient) == (
        "confirmation", "pending", "email", "participant.one@example.org")
    assert smtp.mailbox.sessions == 0

    assert deliver(app)["sent"] == 1
    (message,) = smtp.mailbox.parsed()
    assert message["To"] == "participant.one@example.org"
    assert "بازدید و دیدار" in message.get_body(("plain",)).get_content()
    link = re.search(r"https://hafte\.example\.ir(/remind/confirm/[\w.-]+)",
                     message.get_body(("plain",)).get_content()).group(1)
    confirm_page = client.get(link)
    assert confirm_page.status_code == 200
    assert rows(app, subscribers)[0].confirmed_at is None  # a GET (a link scanner) is not enough
    # what is confirmed is said before the button and after it, with when it comes
    (what,) = lxml_html.fromstring(confirm_page.data).cssselect(".remind-what")
    assert what.text_content() == "یادآوری‌های «بازدید و دیدار — هفته تعاون ۱۴۰۴ شهرستان خلیل‌آباد»"
    done = client.post(link, data={"csrf_token": csrf(confirm_page.get_data(as_text=True))})
    assert done.status_code == 200 and "یادآوری فعال شد" in done.get_data(as_text=True)
    done_page = lxml_html.fromstring(done.data)
    listed = [" ".join(item.text_content().split())
              for item in done_page.cssselect(".remind-next li")]
    assert len(listed) == 5  # the first five of ten, soonest first
    assert listed[0] == ("دیدارهای مردمی در روستاها و مساجد چهارشنبه ۱۲ شهریور ۱۴۰۴، ساعت "
                         "۱۸:۳۰ یادآوری: ۱۱ شهریور، ساعت ۱۸:۳۰")
    assert listed[1].endswith("یادآوری: ۱۲ شهریور، ساعت ۱۷:۳۰")  # 1d, then 1h before
    assert listed[4].startswith("بازدید از تعاونی‌ها شنبه ۱۵ شهریور ۱۴۰۴، ساعت ۰۹:۰۰")
    assert "و ۵ یادآوری دیگر" in " ".join(done_page.text_content().split())
    assert_private(done)
    assert rows(app, subscribers)[0].confirmed_at is not None
    planned = {(row.event_id, row.offset_seconds, row.status) for row in reminder_rows(app)
               if row.channel == "email"}
    assert planned == {("peoples-visits", 86400, "pending"), ("peoples-visits", 3600, "pending"),
                       ("cooperative-visits", 86400, "pending"),
                       ("cooperative-visits", 3600, "pending")}


def test_event_page_subscription_and_one_click_unsubscribe(app, smtp, clock):
    client = app.test_client()
    page = client.get("/khalilabad-1404/events/think-tank/remind/")
    html = page.get_data(as_text=True)
    assert "نشست هم\u200cاندیشی مدیران تعاونی\u200cها" in html
    assert "۱ روز، ۲ ساعت پیش از آن" in html
    client.post("/khalilabad-1404/events/think-tank/remind/", data={
        "csrf_token": csrf(html), "scope": "event:think-tank", "channel": "email",
        "address": ADDRESS})
    deliver(app)
    link = re.search(r"/remind/confirm/[\w.-]+",
                     smtp.mailbox.parsed()[0].get_body(("plain",)).get_content()).group(0)
    client.post(link, data={"csrf_token": csrf(client.get(link).get_data(as_text=True))})
    mine = [row for row in reminder_rows(app) if row.channel == "email"]
    assert {(row.event_id, row.status) for row in mine} == {("think-tank", "pending")}
    assert len(mine) == 2

    (subscriber,) = rows(app, subscribers)
    # the link every reminder mail carries (test_reminders.py reads it from a real one)
    url = "/remind/unsubscribe/" + link_token(app, "unsubscribe", subscriber.link_key)
    assert client.get(url).status_code == 200
    assert len(rows(app, subscribers)) == 1  # GET only shows the button
    # RFC 8058: a mail program posts this with no cookie and no CSRF token
    response = app.test_client().post(url, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "لغو شد" in response.get_data(as_text=True)
    assert rows(app, subscribers) == []
    assert {row.status for row in reminder_rows(app) if row.channel == "email"} == \
        {"cancelled"}
    assert client.post(url[:-3] + "xyz").status_code == 404  # tampered


def earlier_link(app, purpose, subscriber_id, programme_id, channel, address):
    """A link as earlier versions made them: the row id and a tag, signed."""
    tag = subscription_tag(app, subscriber_id, programme_id, channel, address)
    return subscription_serializer(app, purpose).dumps([subscriber_id, tag])


def test_old_links_do_not_reach_a_later_subscription_with_the_same_id(app, smtp, clock):
    """SQLite gives a deleted row's id to the next one: a link from an old mail (one-click
    unsubscribe, or a confirmation still within its time) must not act on it."""
    engine = app_engine(app)
    now = dt.datetime.now(UTC)
    first, _ = add_subscriber(engine, "khalilabad-1404", "programme", "email",
                              "first@example.org", "web", now, confirmed=True)
    old_unsubscribe = "/remind/unsubscribe/" + earlier_link(
        app, "unsubscribe", first, "khalilabad-1404", "email", "first@example.org")
    old_confirm = "/remind/confirm/" + earlier_link(
        app, "confirm", first, "khalilabad-1404", "email", "first@example.org")
    remove_subscribers(engine, [first], now)
    second, _ = add_subscriber(engine, "khalilabad-1404", "programme", "email",
                               "second@example.org", "web", now, confirmed=False)
    assert second == first  # the id is given again
    client = app.test_client()
    answer = app.test_client().post(old_unsubscribe, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200 and "لغو شد" in answer.get_data(as_text=True)
    page = client.get(old_confirm)
    assert page.status_code == 410  # an earlier version's confirm link: ask again
    assert client.post(old_confirm).status_code == 410
    (row,) = rows(app, subscribers)
    assert (row.address, row.confirmed_at) == ("second@example.org", None)


def test_unsubscribe_links_in_mails_already_sent_still_work(app, smtp, clock):
    engine = app_engine(app)
    now = dt.datetime.now(UTC)
    kept, _ = add_subscriber(engine, "khalilabad-1404", "programme", "email",
                             "kept@example.org", "web", now, confirmed=True)
    leaving, _ = add_subscriber(engine, "khalilabad-1404", "programme", "email",
                                "leaving@example.org", "web", now, confirmed=True)
    old_link = "/remind/unsubscribe/" + earlier_link(
        app, "unsubscribe", leaving, "khalilabad-1404", "email", "leaving@example.org")
    assert app.test_client().get(old_link).status_code == 200
    answer = app.test_client().post(old_link, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200 and "لغو شد" in answer.get_data(as_text=True)
    assert [row.id for row in rows(app, subscribers)] == [kept]
    # a link of an earlier version with the wrong key, or of another kind, is no link
    assert app.test_client().post(old_link[:-4] + "abcd").status_code == 404
    other_kind = "/remind/unsubscribe/" + earlier_link(
        app, "confirm", kept, "khalilabad-1404", "email", "kept@example.org")
    assert app.test_client().post(other_kind).status_code == 404
    assert [row.id for row in rows(app, subscribers)] == [kept]


def test_forms_need_their_csrf_token_and_a_valid_address(app, smtp, clock):
    client = app.test_client()
    html = client.get("/khalilabad-1404/remind/").get_data(as_text=True)
    no_token = client.post("/khalilabad-1404/remind/", data={
        "scope": "programme", "channel": "email", "address": ADDRESS})
    assert no_token.status_code == 400
    bad = client.post("/khalilabad-1404/remind/", data={
        "csrf_token": csrf(html), "scope": "programme", "channel": "email",
        "address": "not-an-address"})
    assert bad.status_code == 400 and "درست نیست" in bad.get_data(as_text=True)
    wrong_scope = client.post("/khalilabad-1404/remind/", data={
        "csrf_token": csrf(html), "scope": "event:nope", "channel": "email",
        "address": ADDRESS})
    assert wrong_scope.status_code == 400
    # an address mail could not be sent to (SMTPUTF8) is refused, not accepted then lost
    unicode_local = client.post("/khalilabad-1404/remind/", data={
        "csrf_token": csrf(html), "scope": "programme", "channel": "email",
        "address": "علی@example.org"})
    assert unicode_local.status_code == 400 and "درست نیست" in unicode_local.get_data(as_text=True)
    assert rows(app, subscribers) == [] and smtp.mailbox.count() == 0
    # a Persian domain is fine: written in its ASCII (punycode) form
    persian_domain = client.post("/khalilabad-1404/remind/", data={
        "csrf_token": csrf(html), "scope": "programme", "channel": "email",
        "address": "Ali@تعاون.ir"})
    assert persian_domain.status_code == 200
    deliver(app)
    assert smtp.mailbox.parsed()[0]["To"] == "ali@xn--mgbf9bxcj.ir"
    (row,) = rows(app, subscribers)
    assert row.address == "ali@xn--mgbf9bxcj.ir"
    assert client.get("/no-such-programme/remind/").status_code == 404
    assert client.get("/khalilabad-1404/events/no-such-event/remind/").status_code == 404


def test_a_wrong_address_comes_back_as_typed_and_escaped(app, smtp, clock):
    client = app.test_client()
    html = client.get("/khalilabad-1404/remind/").get_data(as_text=True)
    typed = 'ali"><b>x</b>@example'
    bad = client.post("/khalilabad-1404/remind/", data={
        "csrf_token": csrf(html), "scope": "category:visit", "channel": "email",
        "address": typed})
    assert bad.status_code == 400
    assert bad.headers["Cache-Control"] == "no-store"
    body = bad.get_data(as_text=True)
    assert "نشانی رایانامه درست نیست." in body
    assert "<b>x</b>" not in body  # escaped, not markup
    page = lxml_html.fromstring(body)
    (field,) = page.cssselect("input#address")
    assert field.get("value") == typed
    assert page.cssselect("select#scope option[selected]")[0].get("value") == "category:visit"
    # corrected, it goes through, and no page after that shows the address
    good = client.post("/khalilabad-1404/remind/", data={
        "csrf_token": csrf(body), "scope": "category:visit", "channel": "email",
        "address": ADDRESS})
    assert good.status_code == 200 and "نامه‌ای فرستادیم" in good.get_data(as_text=True)
    assert good.headers["Cache-Control"] == "no-store"
    assert_private(good)
    again = client.get("/khalilabad-1404/remind/")
    assert_private(again)
    assert lxml_html.fromstring(again.data).cssselect("input#address")[0].get("value") is None


def _assert_nothing_offered(response, *words):
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = lxml_html.fromstring(response.data)
    assert not page.cssselect("form") and not page.cssselect("input#address")
    text = " ".join(page.text_content().split())
    for word in words:
        assert word in text
    assert "یادآوری فعال شد" not in text and "نامه‌ای فرستادیم" not in text


def test_no_reminder_is_offered_once_the_week_is_over(app, smtp):
    client = app.test_client()
    with time_machine.travel(AFTER_THE_WEEK, tick=False):
        page = client.get("/khalilabad-1404/remind/")
        answer = client.post("/khalilabad-1404/remind/", data={
            "scope": "programme", "channel": "email", "address": ADDRESS})
        event_page = client.get("/khalilabad-1404/events/best-cooperatives-award/remind/")
    for response in (page, answer):
        _assert_nothing_offered(response, "هفته به پایان رسیده است",
                                "یادآوری دیگری فرستاده نمی‌شود")
    _assert_nothing_offered(event_page, "«تجلیل از تعاونی‌های برتر» برگزار شده است")
    assert rows(app, subscribers) == [] and smtp.mailbox.count() == 0


def test_an_event_that_is_over_and_its_category_are_not_offered(app, smtp):
    client = app.test_client()
    with time_machine.travel(THINK_TANK_OVER, tick=False):
        form_page = client.get("/khalilabad-1404/remind/")
        token = csrf(form_page.get_data(as_text=True))
        # a valid form token does not make the finished event's page take a subscription
        event_answer = client.post("/khalilabad-1404/events/think-tank/remind/", data={
            "csrf_token": token, "scope": "event:think-tank", "channel": "email",
            "address": ADDRESS})
        ended_category = client.post("/khalilabad-1404/remind/", data={
            "csrf_token": token, "scope": "category:visit", "channel": "email",
            "address": ADDRESS})
        still_to_come = client.post("/khalilabad-1404/remind/", data={
            "csrf_token": token, "scope": "category:award", "channel": "email",
            "address": ADDRESS})
        deliver(app)
    offered = [option.get("value") for option in
               lxml_html.fromstring(form_page.data).cssselect("select#scope option")]
    assert offered == ["programme", "category:award"]
    _assert_nothing_offered(event_answer,
                            "«نشست هم‌اندیشی مدیران تعاونی‌ها» برگزار شده است")
    assert ended_category.status_code == 400
    (error,) = lxml_html.fromstring(ended_category.data).cssselect(".form-error")
    assert "«بازدید و دیدار» در پیش نیست" in error.text_content()
    # the label from the schedule file is isolated from the Persian sentence around it
    assert [bdi.text for bdi in error.cssselect("bdi")] == ["بازدید و دیدار"]
    assert still_to_come.status_code == 200
    (subscriber,) = rows(app, subscribers)
    assert subscriber.scope == "category:award" and smtp.mailbox.count() == 1


def test_an_event_without_reminders_still_offers_change_notices_until_it_starts(app, smtp):
    """The tribute (08:00–09:00 on the first day) has no reminders, but a subscriber is
    told if it moves or is cancelled: offered until it starts, with no promise of a
    reminder before it."""
    client = app.test_client()
    tehran = dt.timezone(dt.timedelta(hours=3, minutes=30))
    with time_machine.travel(dt.datetime(2025, 9, 2, 7, 0, tzinfo=tehran), tick=False):
        before = client.get("/khalilabad-1404/events/martyrs-tribute/remind/")
        offered = [option.get("value") for option in lxml_html.fromstring(
            client.get("/khalilabad-1404/remind/").data).cssselect("select#scope option")]
    with time_machine.travel(dt.datetime(2025, 9, 2, 8, 30, tzinfo=tehran), tick=False):
        started = client.get("/khalilabad-1404/events/martyrs-tribute/remind/")
    assert before.status_code == 200
    text = " ".join(lxml_html.fromstring(before.data).text_content().split())
    assert "یادآوری فرستاده نمی‌شود، ولی اگر زمان یا مکان آن تغییر کند" in text
    assert "پیش از آغاز برنامه پیامی برایتان می‌فرستیم" not in text
    assert lxml_html.fromstring(before.data).cssselect("form input#address")
    assert "category:ceremony" in offered
    _assert_nothing_offered(started, "«ادای احترام به شهدای انقلاب» آغاز شده است")


def test_confirmed_after_the_event_promises_nothing(app, smtp):
    client = app.test_client()
    with time_machine.travel(dt.datetime(2025, 9, 7, 12, 0, tzinfo=UTC), tick=False):
        html = client.get("/khalilabad-1404/events/think-tank/remind/").get_data(as_text=True)
        assert client.post("/khalilabad-1404/events/think-tank/remind/", data={
            "csrf_token": csrf(html), "scope": "event:think-tank", "channel": "email",
            "address": ADDRESS}).status_code == 200
        deliver(app)
    link = re.search(r"/remind/confirm/[\w.-]+",
                     smtp.mailbox.parsed()[0].get_body(("plain",)).get_content()).group(0)
    with time_machine.travel(THINK_TANK_OVER, tick=False):
        page = client.get(link)
        done = client.post(link, data={"csrf_token": csrf(page.get_data(as_text=True))})
    assert done.status_code == 200
    text = done.get_data(as_text=True)
    assert "یادآوری فعال شد" not in text and "در پیش نیست" in text


def test_confirmation_link_expires(app, smtp):
    with time_machine.travel(BEFORE_THE_WEEK, tick=False):
        client = app.test_client()
        html = client.get("/khalilabad-1404/remind/").get_data(as_text=True)
        client.post("/khalilabad-1404/remind/", data={
            "csrf_token": csrf(html), "scope": "programme", "channel": "email",
            "address": ADDRESS})
        deliver(app)
    link = re.search(r"/remind/confirm/[\w.-]+",
                     smtp.mailbox.parsed()[0].get_body(("plain",)).get_content()).group(0)
    with time_machine.travel(BEFORE_THE_WEEK + dt.timedelta(days=2, minutes=1), tick=False):
        assert client.get(link).status_code == 410
    with time_machine.travel(BEFORE_THE_WEEK + dt.timedelta(days=1), tick=False):
        assert client.get(link).status_code == 200


def test_subscriptions_are_rate_limited(app, smtp, clock):
    client = app.test_client()
    html = client.get("/khalilabad-1404/remind/").get_data(as_text=True)
    codes = [client.post("/khalilabad-1404/remind/", data={
        "csrf_token": csrf(html), "scope": "programme", "channel": "email",
        "address": f"p{n}@example.org"}).status_code for n in range(8)]
    assert codes == [200] * 6 + [429] * 2
    # one address cannot be flooded with confirmations from many clients either
    other = app.test_client()
    html = other.get("/khalilabad-1404/remind/").get_data(as_text=True)
    codes = [other.post("/khalilabad-1404/remind/", data={
        "csrf_token": csrf(html), "scope": "programme", "channel": "email",
        "address": "target@example.org"},
        environ_base={"REMOTE_ADDR": f"10.0.0.{n}"}).status_code for n in range(4)]
    assert codes == [200, 200, 429, 429]


def test_rate_limit_is_one_for_every_worker_and_slides(tmp_path, schedules_dir, smtp,
                                                       database_url):
    """Two web workers (two apps on one database) share the count; an hour later the
    address may ask again. Only digests are kept."""
    apps = [create_app({
        "TESTING": True, "SCHEDULES_DIR": str(schedules_dir), "DATABASE_URL": database_url,
        "INSTANCE_DIR": str(tmp_path / "instance"), "RELOAD_INTERVAL": 0,
        "SMTP_URL": smtp.url, "SUBSCRIBE_RATE_LIMIT": 6}) for _ in range(2)]

    def ask(app, client_address):
        client = app.test_client()
        html = client.get("/khalilabad-1404/remind/").get_data(as_text=True)
        return client.post("/khalilabad-1404/remind/", data={
            "csrf_token": csrf(html), "scope": "programme", "channel": "email",
            "address": "target@example.org"},
            environ_base={"REMOTE_ADDR": client_address}).status_code

    with time_machine.travel(BEFORE_THE_WEEK, tick=False) as traveller:
        assert [ask(apps[0], "10.0.0.1"), ask(apps[1], "10.0.0.2"),
                ask(apps[1], "10.0.0.3"), ask(apps[0], "10.0.0.4")] == [200, 200, 429, 429]
        traveller.shift(dt.timedelta(minutes=61))
        assert ask(apps[1], "10.0.0.5") == 200
    keys = " ".join(row.key for row in rows(apps[0], rate_hits))
    assert "target" not in keys and "10.0.0" not in keys
    for app in apps:
        app_engine(app).dispose()


def test_subscribe_by_sms_with_a_code(app, webhook, clock):
    client = app.test_client()
    html = client.get("/khalilabad-1404/remind/").get_data(as_text=True)
    assert 'value="sms"' in html
    response = client.post("/khalilabad-1404/remind/", data={
        "csrf_token": csrf(html), "scope": "category:parade", "channel": "sms",
        "address": "۰۹۱۲ ۱۲۳ ۴۵۶۷"})
    assert response.status_code == 302
    code_page = response.headers["Location"]
    assert webhook.received == []  # not inside the request
    deliver(app)
    ((path, body),) = webhook.received
    assert path == "/sms/09121234567"
    code = re.search(r"\d{6}", body["message"]).group(0)
    page = client.get(code_page)
    assert_private(page)
    token = csrf(page.get_data(as_text=True))
    wrong = "000000" if code != "000000" else "111111"
    assert client.post(code_page, data={"csrf_token": token, "code": wrong}).status_code == 400
    persian = code.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    done = client.post(code_page, data={"csrf_token": token, "code": persian})
    assert done.status_code == 200 and "یادآوری فعال شد" in done.get_data(as_text=True)
    sms_rows = [row for row in reminder_rows(app) if row.channel == "sms"]
    assert {(row.event_id, row.recipient) for row in sms_rows} == {
        ("taxi-parade", "09121234567")}

    # and the SMS reminder itself goes through the gateway
    # taxi-parade: 1404-06-15 16:00 Tehran = 2025-09-06 12:30 UTC; 2 h before:
    reminders = Reminders(app, lambda: dt.datetime(2025, 9, 6, 10, 31, tzinfo=UTC))
    reminders.send_due()
    texts = [body["message"] for path, body in webhook.received if path.startswith("/sms/")]
    assert len(texts) == 3  # the code, then the 2 h and the (late) 1 d reminder
    assert any("رژه خودروهای تعاونی تاکسی بی‌سیم" in text and "۱۶:۰۰" in text
               for text in texts)


def test_sms_code_attempts_are_limited(app, webhook, clock):
    client = app.test_client()
    html = client.get("/khalilabad-1404/remind/").get_data(as_text=True)
    code_page = client.post("/khalilabad-1404/remind/", data={
        "csrf_token": csrf(html), "scope": "programme", "channel": "sms",
        "address": "09121234567"}).headers["Location"]
    deliver(app)
    code = re.search(r"\d{6}", webhook.received[0][1]["message"]).group(0)
    token = csrf(client.get(code_page).get_data(as_text=True))
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        client.post(code_page, data={"csrf_token": token, "code": wrong})
    assert client.post(code_page, data={"csrf_token": token, "code": code}).status_code == 429
    assert rows(app, subscribers)[0].confirmed_at is None


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "", html)


def test_mail_form_answers_alike_for_new_pending_and_subscribed_addresses(app, smtp, clock):
    """A stranger learns nothing from the answer: the same page, and no mail sent while
    the request runs (it took some 200 ms more with a distant server, for a new or
    pending address only); only the scheduler sends, and nothing to a confirmed one."""
    add_subscriber(app_engine(app), "khalilabad-1404", "programme", "email",
                   "subscribed@example.org", "organiser", dt.datetime.now(UTC), confirmed=True)
    client = app.test_client()
    token = csrf(client.get("/khalilabad-1404/remind/").get_data(as_text=True))

    def ask(address):
        return client.post("/khalilabad-1404/remind/", data={
            "csrf_token": token, "scope": "programme", "channel": "email", "address": address})

    ask("pending@example.org")
    deliver(app)
    assert smtp.mailbox.count() == 1
    sessions = smtp.mailbox.sessions
    answers = [ask(address) for address in
               ("new@example.org", "pending@example.org", "subscribed@example.org")]
    assert smtp.mailbox.sessions == sessions  # no SMTP session inside any request
    assert {(answer.status_code, answer.get_data()) for answer in answers} == \
        {(answers[0].status_code, answers[0].get_data())}
    assert answers[0].status_code == 200
    assert "نامه‌ای فرستادیم" in answers[0].get_data(as_text=True)
    assert len({tuple(sorted((k, v) for k, v in answer.headers.items() if k != "Date"))
                for answer in answers}) == 1
    # the same work for each: one confirmation queued
    queued = [row.recipient for row in rows(app, reminder_outbox)
              if row.kind == "confirmation" and row.status == "pending"]
    assert sorted(queued) == ["new@example.org", "pending@example.org",
                              "subscribed@example.org"]
    assert deliver(app) == {"sent": 2, "retry": 0, "failed": 0, "cancelled": 1}
    assert sorted(message["To"] for message in smtp.mailbox.parsed()[1:]) == \
        ["new@example.org", "pending@example.org"]


def test_sms_form_does_not_tell_whether_a_number_is_subscribed(app, webhook, clock):
    add_subscriber(app_engine(app), "khalilabad-1404", "programme", "sms", "09121234567",
                   "organiser", dt.datetime.now(UTC), confirmed=True)
    client = app.test_client()
    html = client.get("/khalilabad-1404/remind/").get_data(as_text=True)

    def ask(number):
        answer = client.post("/khalilabad-1404/remind/", data={
            "csrf_token": csrf(html), "scope": "programme", "channel": "sms",
            "address": number})
        assert answer.status_code == 302
        return answer.headers["Location"]

    ask("09351112233")  # asked for before, not confirmed
    deliver(app)
    assert len(webhook.received) == 1
    pages = [ask(number) for number in ("09131234567", "09351112233", "09121234567")]
    assert len(webhook.received) == 1  # no SMS inside any request
    assert all(re.fullmatch(r"/remind/code/[\w.-]+", page) for page in pages)
    assert len(set(pages)) == 3
    bodies = {without_csrf(client.get(page).get_data(as_text=True)) for page in pages}
    assert len(bodies) == 1
    deliver(app)  # codes for the two numbers still to confirm, nothing to the subscribed one
    assert sorted(path for path, body in webhook.received[1:]) == \
        ["/sms/09131234567", "/sms/09351112233"]


def token_payload(link: str):
    """What a link's token carries, read as anyone can (base64 JSON before the signature)."""
    token = link.rsplit("/", 1)[1]
    payload = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_links_name_no_subscription_and_change_each_time(app, webhook, smtp, clock):
    """The code link once carried the subscriber's row id in plain base64, the same each
    time a number was asked for: now a random key, new for every request."""
    client = app.test_client()
    html = client.get("/khalilabad-1404/remind/").get_data(as_text=True)

    def ask(channel, address):
        return client.post("/khalilabad-1404/remind/", data={
            "csrf_token": csrf(html), "scope": "programme", "channel": channel,
            "address": address})

    pages = [ask("sms", "09121234567").headers["Location"] for _ in range(2)]
    (subscriber,) = rows(app, subscribers)
    payloads = [token_payload(page) for page in pages]
    assert payloads[0] != payloads[1]
    for payload in payloads:
        assert isinstance(payload, str) and len(payload) >= 32
        assert payload not in (str(subscriber.id), subscriber.link_key)
    assert sorted(payloads) == sorted(row.key for row in rows(app, reminder_outbox))

    # the code link is no confirm link, whatever is done to it
    key_of_code_link = payloads[1]
    for forged in (pages[1].replace("/remind/code/", "/remind/confirm/"),
                   "/remind/confirm/" + link_token(app, "confirm", key_of_code_link)):
        assert client.get(forged).status_code == 404
        assert client.post(forged, data={"csrf_token": csrf(html)}).status_code == 404
    assert rows(app, subscribers)[0].confirmed_at is None

    ask("email", ADDRESS)
    deliver(app)
    text = smtp.mailbox.parsed()[0].get_body(("plain",)).get_content()
    confirm_link = re.search(r"/remind/confirm/[\w.-]+", text).group(0)
    mail_subscriber = [row for row in rows(app, subscribers) if row.channel == "email"][0]
    assert token_payload(confirm_link) not in (str(mail_subscriber.id),
                                               mail_subscriber.link_key)
    # nor does a confirm link open the code page (where it would be a way in by guesses)
    assert client.get(confirm_link.replace("/confirm/", "/code/")).status_code == 410


def test_plus_addresses_of_one_mailbox_share_its_rate_limit(app, smtp, clock):
    """name+1@, name+2@… reach one mailbox: together they get a third of the limit (2 of
    6), and each mail still goes to the address as typed."""
    client = app.test_client()
    html = client.get("/khalilabad-1404/remind/").get_data(as_text=True)

    def ask(address, client_address):
        return client.post("/khalilabad-1404/remind/", data={
            "csrf_token": csrf(html), "scope": "programme", "channel": "email",
            "address": address}, environ_base={"REMOTE_ADDR": client_address}).status_code

    codes = [ask(f"Target+{n}@Example.org", f"10.0.1.{n}") for n in range(3)]
    assert codes == [200, 200, 429]
    assert ask("target@example.org", "10.0.1.8") == 429
    assert ask("target-2@example.org", "10.0.1.9") == 200  # another mailbox
    deliver(app)
    assert sorted(message["To"] for message in smtp.mailbox.parsed()) == [
        "target+0@example.org", "target+1@example.org", "target-2@example.org"]


def test_request_log_masks_the_tokens_in_paths(app, smtp, clock, caplog):
    client = app.test_client()
    html = client.get("/khalilabad-1404/remind/").get_data(as_text=True)
    code_page = client.post("/khalilabad-1404/remind/", data={
        "csrf_token": csrf(html), "scope": "programme", "channel": "sms",
        "address": "09121234567"}).headers["Location"]
    code_token = code_page.rsplit("/", 1)[1]
    (subscriber,) = rows(app, subscribers)
    unsubscribe_token = link_token(app, "unsubscribe", subscriber.link_key)
    my_token = client.get("/khalilabad-1404/my/?e=think-tank").get_data(as_text=True)
    my_token = re.search(r"/khalilabad-1404/my/([\w.-]+)\.ics", my_token).group(1)
    tokens = [code_token, unsubscribe_token, my_token, "made-up-token"]
    with caplog.at_level("INFO", logger="week_planner.requests"):
        assert client.get(code_page).status_code == 200
        assert client.get(f"/remind/unsubscribe/{unsubscribe_token}").status_code == 200
        assert client.get(f"/khalilabad-1404/my/{my_token}.ics").status_code == 200
        assert client.get("/remind/confirm/made-up-token").status_code == 404
        assert client.put(f"/remind/unsubscribe/{unsubscribe_token}").status_code == 405
    lines = [record.getMessage() for record in caplog.records
             if record.name == "week_planner.requests"]
    assert len(lines) == 5
    assert not [line for line in lines if any(token in line for token in tokens)]
    assert " /remind/code/[token] 200 " in lines[0]
    assert " /khalilabad-1404/my/[token].ics 200 " in lines[2]
    assert " PUT /remind/unsubscribe/[token] 405 " in lines[4]


def test_serve_sends_the_confirmation_at_once(tmp_path, schedules_dir, smtp, clock):
    """Under ``week-planner serve`` the scheduler runs in the web process: the form wakes
    it, so the mail goes out at once, not at the next sweep (an hour away here)."""
    from week_planner.reminders.scheduler import start_background
    app = create_app({"TESTING": True, "SCHEDULES_DIR": str(schedules_dir),
                      "INSTANCE_DIR": str(tmp_path / "instance"), "RELOAD_INTERVAL": 0,
                      "SMTP_URL": smtp.url, "REMINDER_SWEEP_INTERVAL": 3600})
    scheduler = start_background(app)
    try:
        client = app.test_client()
        html = client.get("/khalilabad-1404/remind/").get_data(as_text=True)
        sessions = smtp.mailbox.sessions
        assert client.post("/khalilabad-1404/remind/", data={
            "csrf_token": csrf(html), "scope": "programme", "channel": "email",
            "address": ADDRESS}).status_code == 200
        assert smtp.mailbox.wait_for(1, timeout=10)
        assert smtp.mailbox.sessions == sessions + 1
    finally:
        scheduler.shutdown()
        app_engine(app).dispose()
    (message,) = smtp.mailbox.parsed()
    assert message["To"] == "participant.one@example.org"
    assert "/remind/confirm/" in message.get_body(("plain",)).get_content()


def test_organiser_channel_gets_reminders(app, webhook):
    reminders = Reminders(app, lambda: dt.datetime(2025, 9, 1, tzinfo=UTC))
    reminders.reconcile()
    organisers = channel_target("organisers", f"{webhook.url}/organisers")
    planned = {(row.event_id, row.recipient) for row in rows(app, reminder_outbox)}
    assert planned == {("cooperative-visits", organisers), ("taxi-parade", organisers),
                       ("think-tank", organisers), ("best-cooperatives-award", organisers)}
    reminders.clock = lambda: dt.datetime(2025, 9, 6, 12, 31, tzinfo=UTC)  # think-tank - 1d
    # sent: think-tank's 1 d, and cooperative-visits' second day's 1 d (late, not started);
    # taxi-parade began a minute ago and the first visits day this morning: missed
    assert reminders.send_due()["sent"] == 2
    bodies = [body for path, body in webhook.received if path == "/organisers"]
    assert len(bodies) == 2
    assert any(body["title"] == "یادآوری: نشست هم\u200cاندیشی مدیران تعاونی\u200cها"
               for body in bodies)


def test_organiser_channel_hears_of_a_move_and_a_cancellation(app, webhook, schedules_dir):
    """The group that was told "16:00" is told of "18:00", then that it is off, once each."""
    moment = dt.datetime(2025, 9, 1, tzinfo=UTC)
    reminders = Reminders(app, lambda: moment)
    reminders.reconcile()
    sample = schedules_dir / "khalilabad-1404.yaml"
    text = sample.read_text(encoding="utf-8")
    think_tank = '    date: 1404-06-16\n    start: "16:00"\n    duration: 2h\n    venue: farmandari\n'
    assert text.count(think_tank) == 1
    before = sample.stat().st_mtime_ns
    sample.write_text(text.replace(think_tank, think_tank.replace('"16:00"', '"18:00"')),
                      encoding="utf-8")
    # the same size: move the mtime on, whatever the file system's clock resolution
    os.utime(sample, ns=(before + 10**9, before + 10**9))
    reminders.registry.refresh(force=True)
    assert reminders.reconcile().notices == 1
    assert reminders.reconcile().notices == 0
    text = sample.read_text(encoding="utf-8")
    sample.write_text(text.replace("    notify: [organisers]\n\n  - id: best",
                                   "    notify: [organisers]\n    status: cancelled\n\n"
                                   "  - id: best"), encoding="utf-8")
    reminders.registry.refresh(force=True)
    assert reminders.reconcile().notices == 1
    assert reminders.send_due()["sent"] == 2
    titles = [body["title"] for path, body in webhook.received if path == "/organisers"]
    assert titles == ["تغییر برنامه: نشست هم\u200cاندیشی مدیران تعاونی\u200cها",
                      "لغو شد: نشست هم\u200cاندیشی مدیران تعاونی\u200cها"]
    moved = [body["message"] for path, body in webhook.received][0]
    assert "۱۸:۰۰" in moved
    moment = dt.datetime(2025, 9, 7, 14, tzinfo=UTC)  # past every reminder of the meeting
    reminders.send_due()
    assert not [body for path, body in webhook.received[2:] if "هم\u200cاندیشی" in body["title"]]


def test_a_replaced_channel_url_does_not_get_a_sent_reminder_again(app, webhook,
                                                                  channels_file):
    """A new bot token is a new URL of the same group: the last reminder before the
    meeting, already sent, does not go out again after the change."""
    channels_file.write_text(f"organisers:\n  - {webhook.url}/old-token\n", encoding="utf-8")
    moment = dt.datetime(2025, 9, 1, tzinfo=UTC)
    reminders = Reminders(app, lambda: moment)
    reminders.reconcile()
    for moment in (dt.datetime(2025, 9, 6, 12, 31, tzinfo=UTC),  # think-tank - 1 d
                   dt.datetime(2025, 9, 7, 10, 31, tzinfo=UTC)):  # think-tank - 2 h
        reminders.send_due()
    channels_file.write_text(f"organisers:\n  - {webhook.url}/new-token\n", encoding="utf-8")
    moment += dt.timedelta(minutes=1)
    reminders.reconcile()
    reminders.send_due()
    think_tank = [path for path, body in webhook.received if "هم\u200cاندیشی" in body["title"]]
    assert think_tank == ["/old-token", "/old-token"]
    # and what is still to come goes to the new URL
    assert any(row.recipient == channel_target("organisers", f"{webhook.url}/new-token")
               and row.status == "pending" for row in rows(app, reminder_outbox))


def test_one_url_of_a_channel_down_is_retried_alone(app, webhook, channels_file):
    """Telegram up and Bale down: Telegram gets the reminder once, Bale when it is back."""
    channels_file.write_text(f"organisers:\n  - {webhook.url}/telegram\n"
                             f"  - {webhook.url}/bale\n", encoding="utf-8")
    webhook.down.add("/bale")
    moment = dt.datetime(2025, 9, 1, tzinfo=UTC)
    reminders = Reminders(app, lambda: moment)
    reminders.reconcile()
    moment = dt.datetime(2025, 9, 6, 12, 31, tzinfo=UTC)  # think-tank - 1 d
    assert reminders.send_due() == {"sent": 2, "retry": 2, "failed": 0, "cancelled": 0}
    webhook.down.clear()
    moment += dt.timedelta(minutes=1)  # past the first retry delay
    assert reminders.send_due()["sent"] == 2
    moment += dt.timedelta(hours=1)
    assert reminders.send_due()["sent"] == 0
    paths = sorted(path for path, body in webhook.received)
    assert paths == ["/bale", "/bale", "/telegram", "/telegram"]  # two events, once each
    assert not any(webhook.url.partition("://")[2] in row.recipient
                   for row in rows(app, reminder_outbox))


# -- command line ----------------------------------------------------------------------------

@pytest.fixture
def cli_env(app, tmp_path, schedules_dir, smtp, channels_file):
    return {"WEEK_PLANNER_SCHEDULES_DIR": str(schedules_dir),
            "WEEK_PLANNER_INSTANCE_DIR": str(tmp_path / "instance"),
            "WEEK_PLANNER_BASE_URL": "https://hafte.example.ir",
            "WEEK_PLANNER_SMTP_URL": smtp.url,
            "WEEK_PLANNER_CHANNELS": str(channels_file)}


def test_cli_subscribers_add_import_list_remove(app, cli_env, tmp_path, clock):
    runner = CliRunner()
    result = runner.invoke(main, ["subscribers", "add", "Official@Example.org",
                                  "--programme", "khalilabad-1404", "--event", "think-tank"],
                           env=cli_env)
    assert result.exit_code == 0, result.output
    assert "added: o***@e***.org" in result.output
    csv_file = tmp_path / "officials.csv"
    csv_file.write_text("address,event,category\nbakhshdar@example.org,,parade\n"
                        "09351112233,taxi-parade,\n", encoding="utf-8")
    result = runner.invoke(main, ["subscribers", "import", str(csv_file),
                                  "--programme", "khalilabad-1404"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "2 added, 0 already subscribed" in result.output
    listed = runner.invoke(main, ["subscribers", "list"], env=cli_env)
    assert "official@example.org" not in listed.output
    assert listed.output.count("confirmed\torganiser") == 3
    full = runner.invoke(main, ["subscribers", "list", "--show-addresses"], env=cli_env)
    assert "official@example.org" in full.output and "09351112233" in full.output
    assert {row.recipient for row in rows(app, reminder_outbox) if row.event_id == "taxi-parade"
            and row.channel != "apprise"} == {"bakhshdar@example.org", "09351112233"}

    removed = runner.invoke(main, ["subscribers", "remove", "official@example.org",
                                   "--programme", "khalilabad-1404"], env=cli_env)
    assert removed.exit_code == 0 and "1 subscription(s) removed" in removed.output
    again = runner.invoke(main, ["subscribers", "remove", "official@example.org",
                                 "--programme", "khalilabad-1404"], env=cli_env)
    assert again.exit_code == 1
    bad = runner.invoke(main, ["subscribers", "add", "x@example.org", "--programme",
                               "khalilabad-1404", "--event", "nope"], env=cli_env)
    assert bad.exit_code == 1 and "no event 'nope'" in bad.output


def test_cli_subscribers_add_without_the_channels_setting_leaves_channel_reminders(
        app, cli_env, clock):
    """The server knows the organiser channels; a command run in a shell without that
    setting adds a subscriber and must not cancel the channels' reminders."""
    Reminders(app).reconcile()
    channel_rows = {row.id for row in rows(app, reminder_outbox)
                    if row.channel == "apprise" and row.status == "pending"}
    assert channel_rows
    without_channels = {name: value for name, value in cli_env.items()
                        if name != "WEEK_PLANNER_CHANNELS"}
    for command in (["subscribers", "add", "official@example.org", "--programme",
                     "khalilabad-1404"],):
        result = CliRunner().invoke(main, command, env=without_channels)
        assert result.exit_code == 0, result.output
    after = {row.id: row.status for row in rows(app, reminder_outbox)}
    assert {after[row_id] for row_id in channel_rows} == {"pending"}
    assert any(row.recipient == "official@example.org" and row.status == "pending"
               for row in rows(app, reminder_outbox))
    # the server's own sweep, which knows the channels, still decides about them
    assert Reminders(app).reconcile().cancelled == 0


def test_cli_reminders_list_and_preview(app, cli_env, clock):
    runner = CliRunner()
    runner.invoke(main, ["subscribers", "add", "official@example.org",
                         "--programme", "khalilabad-1404", "--event", "think-tank"], env=cli_env)
    listed = runner.invoke(main, ["reminders", "list", "--due"], env=cli_env)
    assert listed.exit_code == 0, listed.output
    # Jalali times in Tehran: think-tank 16:00 on 1404-06-16, 1 d and 2 h before
    assert ("1404-06-15 16:00:00\tpending\treminder\tkhalilabad-1404/think-tank\t-1d\t"
            in listed.output)
    assert "1404-06-16 14:00:00\tpending\treminder\tkhalilabad-1404/think-tank\t-2h" in listed.output
    assert "email:o***@e***.org" in listed.output and "official@" not in listed.output
    preview = runner.invoke(main, ["reminders", "preview", "taxi-parade"], env=cli_env)
    assert preview.exit_code == 0, preview.output
    assert "Subject: یادآوری: رژه خودروهای تعاونی تاکسی بی‌سیم" in preview.output
    assert "۱ روز تا آغاز" in preview.output and "[attachment: taxi-parade.ics" in preview.output


def test_cli_channels_test(app, cli_env, webhook):
    runner = CliRunner()
    result = runner.invoke(main, ["channels", "test", "organisers"], env=cli_env)
    assert result.exit_code == 0, result.output
    ((path, body),) = webhook.received
    assert path == "/organisers" and "آزمایشی" in body["message"]
    missing = runner.invoke(main, ["channels", "test", "nobody"], env=cli_env)
    assert missing.exit_code == 1 and "no channel 'nobody'" in missing.output


def test_second_sms_gateway_is_a_backup_not_a_second_text(app, webhook, channels_file, clock):
    channels_file.write_text(f"sms:\n  - {webhook.url}/first/{{phone}}\n"
                             f"  - {webhook.url}/second/{{phone}}\n", encoding="utf-8")
    client = app.test_client()

    def subscribe(number):
        html = client.get("/khalilabad-1404/remind/").get_data(as_text=True)
        return client.post("/khalilabad-1404/remind/", data={
            "csrf_token": csrf(html), "scope": "programme", "channel": "sms",
            "address": number})

    assert subscribe("09121234567").status_code == 302
    webhook.down.add("/first/09351112233")
    assert subscribe("09351112233").status_code == 302
    assert deliver(app)["sent"] == 2
    assert [path for path, body in webhook.received] == [
        "/first/09121234567", "/second/09351112233"]


def test_gateway_down_logs_no_number(tmp_path, schedules_dir, smtp, caplog, clock):
    channels = tmp_path / "private" / "down.yaml"
    channels.parent.mkdir(exist_ok=True)
    channels.write_text(f"sms:\n  - json://127.0.0.1:{free_port()}/sms/{{phone}}\n",
                        encoding="utf-8")
    app = create_app({"TESTING": True, "SCHEDULES_DIR": str(schedules_dir),
                      "INSTANCE_DIR": str(tmp_path / "instance"), "RELOAD_INTERVAL": 0,
                      "SMTP_URL": smtp.url, "CHANNELS": str(channels)})
    client = app.test_client()
    html = client.get("/khalilabad-1404/remind/").get_data(as_text=True)
    with caplog.at_level("DEBUG"):
        response = client.post("/khalilabad-1404/remind/", data={
            "csrf_token": csrf(html), "scope": "programme", "channel": "sms",
            "address": "09121234567"})
        # the gateway is down: the form does not know, the outbox tries again later
        assert response.status_code == 302
        assert deliver(app)["retry"] == 1
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "not sent" in logged
    assert "9121234567" not in logged
    (row,) = rows(app, reminder_outbox)
    assert row.kind == "confirmation" and row.status == "pending" and row.last_error
    assert "9121234567" not in row.last_error
    app_engine(app).dispose()


def test_smtp_refusal_text_is_masked_in_the_outbox(app, smtp):
    smtp.mailbox.answer = "550 5.1.1 <official@example.org>: Recipient address rejected"
    reminders = Reminders(app, lambda: dt.datetime(2025, 9, 1, tzinfo=UTC))
    add_subscriber(reminders.engine, "khalilabad-1404", "event:think-tank", "email",
                   "official@example.org", "organiser", reminders.clock(), confirmed=True)
    reminders.reconcile()
    reminders.clock = lambda: dt.datetime(2025, 9, 6, 12, 31, tzinfo=UTC)
    assert reminders.send_due()["failed"] == 1
    (row,) = [row for row in rows(app, reminder_outbox) if row.status == "failed"]
    assert "o***@e***.org" in row.last_error and "official@" not in row.last_error
