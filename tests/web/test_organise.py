"""The organisers' desk: signing in with a one-time link, the list of one's programmes, and
keeping everyone else out (web/organise.py, web/organise_auth.py). Editing, publishing,
history and the "add an event" form: test_organise_editing.py."""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil

import pytest
import time_machine
from click.testing import CliRunner
from organise_helpers import (
    MASKED,
    ORGANISER,
    PROGRAMME,
    add_organiser,
    csrf,
    form_values,
    link_path,
    schedule_file,
    sign_in,
    texts,
)
from reminder_helpers import SmtpServer
from sqlalchemy import select

from week_planner import create_app
from week_planner.cli import main
from week_planner.reminders.mail import plain_text
from week_planner.reminders.outbox import reconcile
from week_planner.reminders.sending import Reminders
from week_planner.reminders.sign_in_links import SIGN_IN
from week_planner.store import app_engine, organiser_links, reminder_outbox

STRANGER = "nobody@example.org"


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def app(tmp_path, schedules_dir, smtp):
    return create_app({
        "TESTING": True, "SCHEDULES_DIR": str(schedules_dir),
        "INSTANCE_DIR": str(tmp_path / "instance"), "RELOAD_INTERVAL": 0,
        "BASE_URL": "https://hafte.example.ir", "SMTP_URL": smtp.url,
    })


@pytest.fixture
def client(app):
    add_organiser(app)
    return app.test_client()


def ask_for_link(client, address: str):
    page = client.get("/organise/")
    return client.post("/organise/sign-in", data={"csrf_token": csrf(page), "email": address})


def without_token(body: str) -> str:
    return re.sub(r'value="[^"]+"', "", body)


# -- 1. signing in ----------------------------------------------------------------------------

def test_the_desk_shows_a_persian_sign_in_form_to_anyone_not_signed_in(client):
    page = client.get("/organise/")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert '<html lang="fa" dir="rtl">' in body
    assert "ورود به میز برگزارکنندگان" in body
    assert 'name="csrf_token"' in body


def test_the_form_answers_alike_and_mails_a_link_only_to_an_organiser(app, client, smtp):
    known = ask_for_link(client, ORGANISER.upper())
    unknown = ask_for_link(app.test_client(), STRANGER)
    assert known.status_code == unknown.status_code == 200
    assert without_token(known.get_data(as_text=True)) == \
        without_token(unknown.get_data(as_text=True))
    with app_engine(app).connect() as connection:
        rows = connection.execute(select(reminder_outbox.c.recipient).where(
            reminder_outbox.c.kind == SIGN_IN)).scalars().all()
        links = connection.execute(select(organiser_links.c.email)).scalars().all()
    # The same rows for both: whose address it is is looked at only when sending.
    assert sorted(rows) == sorted(links) == sorted([ORGANISER, STRANGER])
    assert Reminders(app).send_due() == {"sent": 1, "retry": 0, "failed": 0, "cancelled": 1}
    (message,) = smtp.mailbox.parsed()
    assert message["To"] == ORGANISER
    assert "ورود به میز برگزارکنندگان" in message["Subject"]
    text = plain_text(message)
    link = re.search(r"https://hafte\.example\.ir(/organise/sign-in/\S+)", text).group(1)
    assert "۱۵ دقیقه" in text
    # The mailed link signs in.
    page = client.get(link)
    signed = client.post(link, data={"csrf_token": csrf(page)})
    assert signed.status_code == 303
    assert "organiser_session=" in signed.headers["Set-Cookie"]


def test_opening_the_link_shows_a_button_and_only_its_post_signs_in(app, client):
    path = link_path(app)
    page = client.get(path)
    assert page.status_code == 200
    assert "Set-Cookie" not in page.headers or "organiser_session" not in page.headers["Set-Cookie"]
    assert texts(page, "form button") == ["ورود"]
    assert client.get(path).status_code == 200  # a mail scanner's visit used nothing up
    signed = client.post(path, data={"csrf_token": csrf(page)})
    assert signed.status_code == 303 and signed.headers["Location"] == "/organise/"
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/organise/" in cookie
    assert "Secure" not in cookie  # plain HTTP here
    assert "برنامه‌های شما" in client.get("/organise/").get_data(as_text=True)


def test_the_link_needs_its_form_token(app, client):
    path = link_path(app)
    client.get(path)
    refused = client.post(path, data={})
    assert refused.status_code == 400
    assert "organiser_session" not in refused.headers.get("Set-Cookie", "")


def test_the_session_cookie_is_secure_behind_an_https_proxy(tmp_path, schedules_dir):
    app = create_app({"TESTING": True, "SCHEDULES_DIR": str(schedules_dir),
                      "INSTANCE_DIR": str(tmp_path / "instance"), "TRUSTED_PROXIES": 1})
    add_organiser(app)
    client = app.test_client()
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    path = link_path(app)
    page = client.get(path, headers=headers)
    signed = client.post(path, data={"csrf_token": csrf(page)}, headers=headers)
    assert signed.status_code == 303
    assert "Secure" in signed.headers["Set-Cookie"]


def test_a_link_works_once(app, client):
    path = link_path(app)
    page = client.get(path)
    assert client.post(path, data={"csrf_token": csrf(page)}).status_code == 303
    other = app.test_client()
    again = other.get(path)
    assert again.status_code == 410
    assert "پیشتر به کار رفته" in again.get_data(as_text=True).replace("‌", "")


def test_a_link_lasts_fifteen_minutes(app, client):
    with time_machine.travel(dt.datetime.now(dt.timezone.utc), tick=False) as traveller:
        path = link_path(app)
        traveller.shift(dt.timedelta(minutes=14))
        page = client.get(path)
        assert page.status_code == 200
        traveller.shift(dt.timedelta(minutes=2))
        assert client.post(path, data={"csrf_token": csrf(page)}).status_code == 410


def test_a_tampered_link_or_another_kind_of_token_is_refused(app, client):
    path = link_path(app)
    assert client.get(path[:-2] + ("AA" if not path.endswith("AA") else "BB")).status_code == 404
    assert client.get("/organise/sign-in/not-a-token").status_code == 404


def test_a_removed_organiser_is_signed_out_and_their_links_sign_nobody_in(app, client):
    path = link_path(app)
    assert sign_in(client, app).status_code == 303
    result = CliRunner().invoke(main, ["organisers", "remove", ORGANISER],
                                env={"WEEK_PLANNER_SCHEDULES_DIR": app.config["SCHEDULES_DIR"],
                                     "WEEK_PLANNER_INSTANCE_DIR": app.config["INSTANCE_DIR"]})
    assert result.exit_code == 0, result.output
    assert "ورود به میز" in client.get("/organise/").get_data(as_text=True)
    assert client.get(f"/organise/{PROGRAMME}/").status_code == 303
    assert app.test_client().get(path).status_code == 410


def test_signing_out_ends_the_session(app, client):
    sign_in(client, app)
    page = client.get("/organise/")
    out = client.post("/organise/sign-out", data={"csrf_token": csrf(page)})
    assert out.status_code == 303
    assert "organiser_session=;" in out.headers["Set-Cookie"]
    assert "ورود به میز" in client.get("/organise/").get_data(as_text=True)


def test_a_session_ends_after_inactivity(app, client):
    app.config["ORGANISER_IDLE_MINUTES"] = 30
    with time_machine.travel(dt.datetime.now(dt.timezone.utc), tick=False) as traveller:
        sign_in(client, app)
        traveller.shift(dt.timedelta(minutes=29))
        assert "برنامه‌های شما" in client.get("/organise/").get_data(as_text=True)
        traveller.shift(dt.timedelta(minutes=29))  # counted from the last request
        assert "برنامه‌های شما" in client.get("/organise/").get_data(as_text=True)
        traveller.shift(dt.timedelta(minutes=31))
        page = client.get("/organise/")
    body = page.get_data(as_text=True)
    assert "بی‌کاری بسته شد" in body and "برنامه‌های شما" not in body
    assert "organiser_session=;" in page.headers["Set-Cookie"]


def test_the_sign_in_form_is_rate_limited_per_client_and_per_address(app, client):
    app.config["SIGN_IN_RATE_LIMIT"] = 6  # per address: 2
    assert ask_for_link(client, ORGANISER).status_code == 200
    assert ask_for_link(client, ORGANISER).status_code == 200
    assert ask_for_link(client, ORGANISER).status_code == 429
    for number in range(3):
        assert ask_for_link(client, f"other{number}@example.org").status_code == 200
    limited = ask_for_link(client, "one-more@example.org")
    assert limited.status_code == 429
    assert "درخواست‌های زیاد" in limited.get_data(as_text=True)


def test_the_sign_in_form_needs_its_token_and_an_address(client):
    assert client.post("/organise/sign-in", data={"email": ORGANISER}).status_code == 400
    page = client.get("/organise/")
    wrong = client.post("/organise/sign-in", data={"csrf_token": csrf(page), "email": "a@"})
    assert wrong.status_code == 400
    assert "نشانی رایانامه درست نیست" in wrong.get_data(as_text=True)


def test_sign_in_mail_is_never_pruned_with_the_reminders_of_unserved_programmes(app, client):
    ask_for_link(client, ORGANISER)
    engine = app_engine(app)
    reconcile(engine, [], now=dt.datetime.now(dt.timezone.utc), base_url="https://x",
              prune_others=True)
    with engine.connect() as connection:
        status = connection.execute(select(reminder_outbox.c.status).where(
            reminder_outbox.c.kind == SIGN_IN)).scalar_one()
    assert status == "pending"


def test_organisers_commands(app, tmp_path):
    env = {"WEEK_PLANNER_SCHEDULES_DIR": app.config["SCHEDULES_DIR"],
           "WEEK_PLANNER_INSTANCE_DIR": app.config["INSTANCE_DIR"],
           "WEEK_PLANNER_BASE_URL": "https://hafte.example.ir"}

    def run(*args):
        return CliRunner().invoke(main, ["organisers", *args], env=env)

    added = run("add", "Clerk@Khalilabad.Example.IR", "--programme", PROGRAMME,
                "--programme", "khalilabad-1405")
    assert added.exit_code == 0, added.output
    assert f"{ORGANISER}: {PROGRAMME} khalilabad-1405" in added.output
    assert "khalilabad-1405" in added.output  # noted as not served yet
    assert run("add", "minister@example.ir", "--all").exit_code == 0
    assert run("add", "x@example.ir").exit_code == 2  # no programme named
    assert run("add", "x@example.ir", "--programme", "../etc").exit_code == 1
    listed = run("list")
    assert f"{ORGANISER}\t{PROGRAMME} khalilabad-1405" in listed.output
    assert "minister@example.ir\tall programmes" in listed.output
    removed = run("remove", ORGANISER, "--programme", "khalilabad-1405")
    assert removed.exit_code == 0
    assert f"{ORGANISER}\t{PROGRAMME}\n" in run("list").output
    link = run("link", ORGANISER)
    assert link.exit_code == 0
    assert re.fullmatch(r"https://hafte\.example\.ir/organise/sign-in/\S+\n", link.output)
    assert run("link", STRANGER).exit_code == 1
    assert run("remove", ORGANISER).exit_code == 0
    assert run("remove", ORGANISER).exit_code == 1


# -- 2. the list ------------------------------------------------------------------------------

def test_the_list_shows_the_organisers_programmes_only_with_their_state(app, client):
    folder = schedule_file(app).parent
    sample = schedule_file(app).read_text(encoding="utf-8")
    (folder / "draft-1405.yaml").write_text(
        sample.replace(f"id: {PROGRAMME}", "id: draft-1405")
              .replace("  to: 1404-06-17\n", "  to: 1404-06-17\n  draft: true\n"),
        encoding="utf-8")
    (folder / "other-1404.yaml").write_text(
        sample.replace(f"id: {PROGRAMME}", "id: other-1404"), encoding="utf-8")
    add_organiser(app, programmes=("draft-1405",))
    sign_in(client, app)
    page = client.get("/organise/")
    body = page.get_data(as_text=True)
    assert texts(page, ".desk-id") == ["draft-1405", PROGRAMME]
    assert "other-1404" not in body
    assert texts(page, ".state-badge") == ["پیش‌نویس (منتشر نشده)", "منتشر شده"]
    assert f'href="/{PROGRAMME}/"' in body  # its public page
    assert "?preview=" in body  # the draft's preview link
    # A file with errors keeps its last good version online; the list says so.
    schedule_file(app).write_text(sample.replace("to: 1404-06-17", "to: 1404-06-32"),
                                  encoding="utf-8")
    assert "پرونده خطا دارد" in client.get("/organise/").get_data(as_text=True)


def test_the_list_names_who_last_published_and_when(app, client):
    sign_in(client, app)
    editor = client.get(f"/organise/{PROGRAMME}/")
    values = form_values(editor)
    values["text"] = values["text"].replace("بازدید از تعاونی‌ها", "بازدید از تعاونی‌های فعال")
    assert client.post(f"/organise/{PROGRAMME}/", data={**values, "action": "publish"}
                       ).status_code == 303
    page = client.get("/organise/")
    (last,) = texts(page, ".last")
    assert last.startswith("آخرین انتشار از این میز:") and ORGANISER in last


def test_a_ministry_editor_sees_every_programme(app):
    add_organiser(app, "minister@example.ir", programmes=(), all_programmes=True)
    client = app.test_client()
    sign_in(client, app, "minister@example.ir")
    page = client.get("/organise/")
    assert texts(page, ".desk-id") == [PROGRAMME]
    assert "آغاز برنامهٔ تازه" in page.get_data(as_text=True)


# -- 7. nobody else gets in -------------------------------------------------------------------

def test_an_organiser_cannot_reach_another_programme(app, client):
    folder = schedule_file(app).parent
    shutil.copy(schedule_file(app), folder / "other.yaml")
    other = folder / "other.yaml"
    other.write_text(other.read_text(encoding="utf-8").replace(
        f"id: {PROGRAMME}", "id: other-1404"), encoding="utf-8")
    before = other.read_bytes()
    sign_in(client, app)
    token = csrf(client.get(f"/organise/{PROGRAMME}/"))
    for method, path, data in [
            ("get", "/organise/other-1404/", None),
            ("post", "/organise/other-1404/", {"csrf_token": token, "text": "x",
                                               "action": "publish"}),
            ("get", "/organise/other-1404/download", None),
            ("get", "/organise/other-1404/history/", None),
            ("post", "/organise/other-1404/upload", {"csrf_token": token}),
            ("post", "/organise/other-1404/history/1/restore", {"csrf_token": token}),
            ("get", "/organise/new", None)]:
        answer = getattr(client, method)(path, data=data)
        assert answer.status_code == 403, path
        assert "دسترسی ندارید" in answer.get_data(as_text=True)
    answer = client.post("/organise/other-1404/check", data="x",
                         headers={"X-CSRFToken": token})
    assert answer.status_code == 403
    assert other.read_bytes() == before


def test_no_page_of_a_programme_without_signing_in(app, client):
    for path in (f"/organise/{PROGRAMME}/", f"/organise/{PROGRAMME}/download",
                 f"/organise/{PROGRAMME}/history/", "/organise/new"):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["Location"] == "/organise/"
    posted = client.post(f"/organise/{PROGRAMME}/", data={"text": "<b>متن نیمه‌کاره</b>",
                                                            "action": "publish"})
    assert posted.status_code == 401
    body = posted.get_data(as_text=True)
    assert "ورود به میز" in body
    # A text posted after the session ended is shown, to be copied, not lost.
    assert "&lt;b&gt;متن نیمه‌کاره&lt;/b&gt;" in body


@pytest.mark.parametrize("programme", ["KHALILABAD-1404", "..", "khalilabad_1404",
                                       "a" * 65])
def test_a_programme_id_that_could_not_be_a_file_name_is_not_found(app, programme):
    add_organiser(app, "minister@example.ir", programmes=(), all_programmes=True)
    client = app.test_client()
    sign_in(client, app, "minister@example.ir")
    assert client.get(f"/organise/{programme}/").status_code == 404


def test_every_desk_page_is_private_and_carries_the_security_headers(app, client):
    pages = [client.get("/organise/"), client.get(link_path(app))]
    sign_in(client, app)
    pages += [client.get("/organise/"), client.get(f"/organise/{PROGRAMME}/"),
              client.get(f"/organise/{PROGRAMME}/history/"),
              client.get("/organise/other-1404/")]
    for page in pages:
        headers = page.headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Cache-Control"] == "no-store"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Robots-Tag"] == "noindex"


def test_every_action_is_logged_with_the_masked_address(app, client, caplog):
    caplog.set_level(logging.INFO, logger="week_planner")
    sign_in(client, app)
    client.get(f"/organise/{PROGRAMME}/download")
    client.get("/organise/other-1404/")
    logged = "\n".join(record.getMessage() for record in caplog.records
                       if record.name == "week_planner.organise")
    assert f"organiser {MASKED}: signed in" in logged
    assert f"organiser {MASKED}: downloaded {PROGRAMME}" in logged
    assert f"organiser {MASKED}: was refused other-1404" in logged
    everything = "\n".join(record.getMessage() for record in caplog.records)
    assert ORGANISER not in everything
    assert "/organise/sign-in/[token]" in everything  # the request log masks the link
