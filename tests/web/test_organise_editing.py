"""The organisers' desk editor: check, preview and publish (atomically, refused when the file
changed meanwhile), upload and download, the "add an event" form, history and restore, and
a new programme from the template (web/organise_editor.py, web/organise_files.py,
web/organise_events.py, web/organise_history.py). Signing in and who gets in:
test_organise.py."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import stat

import pytest
import yaml
from lxml import html as lxml_html
from werkzeug.test import encode_multipart
from organise_helpers import (
    ORGANISER,
    PROGRAMME,
    add_organiser,
    csrf,
    form_values,
    schedule_file,
    sign_in,
    texts,
)

from week_planner import create_app
from week_planner.schedule.loading import load_text
from week_planner.schedule.registry import registry_of
from week_planner.web import organise_files
from week_planner.web.organise import next_week_year
from week_planner.web.organise_events import EventFields, add_event, fields_for

EDITOR = f"/organise/{PROGRAMME}/"
OLD_TITLE = "رژه خودروهای تعاونی تاکسی بی‌سیم"
NEW_TITLE = "رژه بزرگ خودروهای تعاونی"


@pytest.fixture
def client(app):
    add_organiser(app)
    client = app.test_client()
    sign_in(client, app)
    return client


def editing(client, change=None) -> dict:
    """The editor's form as opened now, its text changed by ``change``."""
    values = form_values(client.get(EDITOR))
    if change is not None:
        values["text"] = change(values["text"])
    return values


def retitled(text: str) -> str:
    return text.replace(OLD_TITLE, NEW_TITLE)


def mistaken(text: str) -> str:
    return text.replace("  to: 1404-06-17", "  to: 1404-06-32")


def line_of(text: str, line: str) -> int:
    return text.splitlines().index(line) + 1


def persian(number: int) -> str:
    return str(number).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))


# -- 3. the editor ----------------------------------------------------------------------------

def test_the_editor_shows_the_file_with_line_numbers(app, client):
    page = client.get(EDITOR)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    text = schedule_file(app).read_text(encoding="utf-8")
    assert form_values(page)["text"] == text
    assert form_values(page)["base"] == organise_files.digest_of(text.encode())
    assert texts(page, "#gutter li")[:3] == ["۱", "۲", "۳"]
    assert len(texts(page, "#gutter li")) == text.count("\n")
    textarea = lxml_html.fromstring(body).cssselect("textarea#text")[0]
    assert (textarea.get("dir"), textarea.get("wrap"), textarea.get("spellcheck")) == \
        ("auto", "off", "false")
    assert '<html lang="fa" dir="rtl">' in body
    assert texts(page, "button[name=action]") == ["بررسی", "پیش‌نمایش", "انتشار",
                                                   "افزودن به متن"]


def test_check_names_each_problem_at_its_line_in_persian_without_javascript(app, client):
    values = editing(client, mistaken)
    line = line_of(values["text"], "  to: 1404-06-32")
    page = client.post(EDITOR, data={**values, "action": "check"})
    assert page.status_code == 200
    (problem,) = texts(page, "#problem-list .problem-error")
    assert f"سطر {persian(line)}" in problem and "تاریخ درستی نیست" in problem
    assert page.get_data(as_text=True).count(f'href="#line-{line}"') == 1
    assert f'<li id="line-{line}" class="marked-error">' in page.get_data(as_text=True)
    assert "۱ خطا" in texts(page, "#problems-summary")[0]
    # The text comes back as typed, to be corrected.
    assert form_values(page)["text"] == values["text"]


def test_the_check_endpoint_answers_in_json_for_the_editors_script(app, client):
    values = editing(client, mistaken)
    answer = client.post(f"{EDITOR}check", data=values["text"].encode("utf-8"),
                         content_type="text/plain; charset=utf-8",
                         headers={"X-CSRFToken": values["csrf_token"]})
    assert answer.status_code == 200
    found = answer.get_json()
    assert (found["errors"], found["warnings"]) == (1, 0)
    assert found["problems"][0]["line"] == line_of(values["text"], "  to: 1404-06-32")
    assert "شهریور" in found["problems"][0]["message"]
    refused = client.post(f"{EDITOR}check", data=values["text"], content_type="text/plain")
    assert refused.status_code == 400


def test_publishing_refuses_text_with_errors(app, client):
    before = schedule_file(app).read_bytes()
    values = editing(client, mistaken)
    page = client.post(EDITOR, data={**values, "action": "publish"})
    assert page.status_code == 422
    assert "منتشر نشد" in texts(page, ".desk-notice")[0]
    assert schedule_file(app).read_bytes() == before


def test_publishing_writes_the_file_atomically_and_the_site_serves_it(app, client,
                                                                      monkeypatch):
    path = schedule_file(app)
    path.chmod(0o640)
    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(organise_files.os, "replace",
                        lambda source, target: (replaced.append((source, target)),
                                                real_replace(source, target))[1])
    values = editing(client, retitled)
    values["text"] = values["text"].replace("\n", "\r\n")  # as a browser sends it
    answer = client.post(EDITOR, data={**values, "action": "publish"})
    assert answer.status_code == 303
    version = answer.headers["Location"].rsplit("/", 1)[1]
    written = path.read_bytes()
    assert b"\r" not in written and NEW_TITLE.encode() in written
    assert organise_files.digest_of(written)[:16] == version
    (source, target), = replaced
    assert os.path.dirname(source) == str(path.parent)
    assert os.path.basename(source).startswith(".") and target == path
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # nothing left behind
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    done = client.get(answer.headers["Location"])
    assert texts(done, "#published-status[data-state=live]")
    assert NEW_TITLE in client.get(f"/{PROGRAMME}/").get_data(as_text=True)


def test_the_published_page_waits_until_the_site_serves_the_new_version(tmp_path,
                                                                        schedules_dir):
    an_hour_ago = dt.datetime.now().timestamp() - 3601
    os.utime(schedules_dir / f"{PROGRAMME}.yaml", (an_hour_ago, an_hour_ago))
    app = create_app({"TESTING": True, "SCHEDULES_DIR": str(schedules_dir),
                      "INSTANCE_DIR": str(tmp_path / "instance"), "RELOAD_INTERVAL": 0,
                      "SCHEDULE_SETTLE_SECONDS": 3600})
    add_organiser(app)
    client = app.test_client()
    sign_in(client, app)
    answer = client.post(EDITOR, data={**editing(client, retitled), "action": "publish"})
    waiting = client.get(answer.headers["Location"])
    assert texts(waiting, "#published-status[data-state=waiting]")
    assert '<meta http-equiv="refresh" content="2">' in waiting.get_data(as_text=True)
    assert OLD_TITLE in client.get(f"/{PROGRAMME}/").get_data(as_text=True)


def test_publishing_is_refused_when_the_file_changed_since_the_editor_opened(app, client):
    values = editing(client, retitled)
    path = schedule_file(app)
    on_server = path.read_text(encoding="utf-8").replace("بازدید از تعاونی‌ها",
                                                         "بازدید از تعاونی‌های نمونه")
    path.write_text(on_server, encoding="utf-8")
    page = client.post(EDITOR, data={**values, "action": "publish"})
    assert page.status_code == 409
    assert "پرونده تغییر کرده است" in texts(page, ".desk-notice")[0]
    removed = texts(page, ".conflict .diff-removed")
    added = texts(page, ".conflict .diff-added")
    assert any(OLD_TITLE in row for row in removed) and any(NEW_TITLE in row for row in added)
    assert any("تعاونی‌های نمونه" in row for row in removed)
    assert path.read_text(encoding="utf-8") == on_server
    # The organiser's text is kept; having seen the difference, publishing again replaces
    # the server's version on purpose.
    again = form_values(page)
    assert again["text"] == values["text"]
    assert client.post(EDITOR, data={**again, "action": "publish"}).status_code == 303
    assert NEW_TITLE in path.read_text(encoding="utf-8")


def test_the_programme_id_stays_the_pages(app, client):
    before = schedule_file(app).read_bytes()
    values = editing(client, lambda text: text.replace(f"id: {PROGRAMME}", "id: other-1404"))
    page = client.post(EDITOR, data={**values, "action": "publish"})
    assert page.status_code == 422
    assert "programme-id-changed" in page.get_data(as_text=True)
    assert schedule_file(app).read_bytes() == before
    assert not (schedule_file(app).parent / "other-1404.yaml").exists()


def test_a_text_over_the_loaders_limit_is_refused_in_persian(app, client):
    before = schedule_file(app).read_bytes()
    values = editing(client, lambda text: text + "#" + "x" * 1_000_000 + "\n")
    page = post_in_memory(client, EDITOR, {**values, "action": "publish"})
    assert page.status_code == 422
    assert "۱ مگابایت" in texts(page, "#problem-list")[0]
    assert schedule_file(app).read_bytes() == before
    huge = post_in_memory(client, EDITOR, {**values, "text": "x" * 5_000_000,
                                           "action": "check"})
    assert huge.status_code == 413
    assert "بزرگ‌تر" in huge.get_data(as_text=True)


def post_in_memory(client, path: str, values: dict):
    """A multipart form built in memory (the test client would spool a big one to a
    temporary file it never closes)."""
    boundary, body = encode_multipart(values)
    return client.post(path, data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def test_what_the_editor_shows_is_escaped(app, client):
    values = editing(client, lambda text: text.replace(
        "  to: 1404-06-17", "  to: 1404-06-17\n  </textarea><script>alert(1)</script>: x"))
    page = client.post(EDITOR, data={**values, "action": "check"})
    body = page.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in body
    assert "&lt;/textarea&gt;&lt;script&gt;" in body


def test_the_preview_shows_the_page_as_it_will_be_at_the_chosen_moment(app, client):
    before = schedule_file(app).read_bytes()
    values = editing(client, retitled)
    page = client.post(EDITOR, data={**values, "action": "preview",
                                     "preview_day": "2025-09-06", "preview_time": "۱۶:۳۰"})
    assert page.status_code == 200
    (now,) = texts(page, ".now-next .now")
    assert NEW_TITLE in now  # the parade, 16:00-17:30 on Saturday 15 Shahrivar
    assert "شنبه ۱۵ شهریور ۱۴۰۴، ساعت ۱۶:۳۰" in texts(page, ".preview-title")[0]
    assert 'src="/static/now.js"' not in page.get_data(as_text=True)  # the chosen moment stays
    # Back to the editor, and publishing, from the preview's own form.
    back = form_values(page, "form.preview-bar")
    assert back["text"].replace("\r\n", "\n") == values["text"]
    assert schedule_file(app).read_bytes() == before
    edited = client.post(EDITOR, data={**back, "action": "edit"})
    assert form_values(edited)["text"] == values["text"]
    assert client.post(EDITOR, data={**back, "action": "publish"}).status_code == 303


def test_a_text_with_errors_is_not_previewed(app, client):
    page = client.post(EDITOR, data={**editing(client, mistaken), "action": "preview"})
    assert page.status_code == 422
    assert texts(page, "#problem-list .problem-error")


def test_forms_without_their_token_change_nothing(app, client):
    before = schedule_file(app).read_bytes()
    values = editing(client, retitled)
    del values["csrf_token"]
    assert client.post(EDITOR, data={**values, "action": "publish"}).status_code == 400
    assert client.post(f"{EDITOR}upload", data={
        "file": (io.BytesIO(b"x"), "x.yaml")}).status_code == 400
    assert schedule_file(app).read_bytes() == before


def test_the_file_served_under_another_name_is_the_one_written(app, client):
    path = schedule_file(app)
    renamed = path.with_name("week.yaml")
    path.rename(renamed)
    registry_of(app).refresh(force=True)
    values = editing(client, retitled)
    assert client.post(EDITOR, data={**values, "action": "publish"}).status_code == 303
    assert NEW_TITLE in renamed.read_text(encoding="utf-8")
    assert not path.exists()


# -- 5. download and upload -------------------------------------------------------------------

def test_download_gives_the_file(app, client):
    answer = client.get(f"{EDITOR}download")
    assert answer.data == schedule_file(app).read_bytes()
    assert answer.headers["Content-Disposition"] == f'attachment; filename="{PROGRAMME}.yaml"'


def test_an_uploaded_file_goes_into_the_editor_checked_and_unpublished(app, client):
    before = schedule_file(app).read_bytes()
    token = csrf(client.get(EDITOR))
    uploaded = retitled(before.decode("utf-8")).replace("\n", "\r\n").encode("utf-8-sig")
    page = client.post(f"{EDITOR}upload", data={"csrf_token": token,
                                                "file": (io.BytesIO(uploaded), "any.yaml")})
    assert page.status_code == 200
    assert schedule_file(app).read_bytes() == before
    values = form_values(page)
    assert values["how"] == "upload" and NEW_TITLE in values["text"]
    assert "بی‌خطا" in texts(page, "#problems-summary")[0]
    assert client.post(EDITOR, data={**values, "action": "publish"}).status_code == 303
    assert schedule_file(app).read_bytes() == retitled(before.decode()).encode()
    assert "انتشار پروندهٔ بارگذاری‌شده" in client.get(f"{EDITOR}history/").get_data(
        as_text=True)


def test_an_upload_that_is_not_utf8_is_refused_in_persian(app, client):
    token = csrf(client.get(EDITOR))
    page = client.post(f"{EDITOR}upload", data={
        "csrf_token": token, "file": (io.BytesIO("عنوان".encode("cp1256")), "a.yaml")})
    assert page.status_code == 422
    assert "UTF-8" in texts(page, ".desk-notice")[0]
    assert form_values(page)["text"] == schedule_file(app).read_text(encoding="utf-8")


# -- 4. add an event ----------------------------------------------------------------------------

def event_form(values: dict, **fields) -> dict:
    data = {**values, "action": "add-event", "event-title": "نمایشگاه محصولات تعاونی‌ها",
            "event-category": "visit", "event-venue": "edareh",
            "event-dates": ["1404-06-13", "1404-06-14"], "event-start": "۰۹:۳۰",
            "event-duration": "2h 30m", "event-reminders": "۱d، 2h",
            "event-description": "سطر نخست\nسطر دوم: با دونقطه"}
    data.update({f"event-{name}": value for name, value in fields.items()})
    return data


def test_add_an_event_appends_it_with_a_fresh_id_to_be_checked_and_published(app, client):
    before = schedule_file(app).read_bytes()
    page = client.post(EDITOR, data=event_form(editing(client)))
    assert page.status_code == 200
    assert schedule_file(app).read_bytes() == before  # not published yet
    text = form_values(page)["text"]
    assert text.startswith(before.decode("utf-8").rstrip("\n"))
    assert "«visit-1»" in texts(page, ".desk-notice")[0]
    assert text.endswith(
        "\n\n  - id: visit-1\n    title: نمایشگاه محصولات تعاونی‌ها\n    category: visit\n"
        "    dates: [1404-06-13, 1404-06-14]\n    start: \"09:30\"\n    duration: 2h 30m\n"
        "    venue: edareh\n    reminders: [1d, 2h]\n    description: |\n"
        "      سطر نخست\n      سطر دوم: با دونقطه\n")
    result = load_text(text.encode("utf-8"), "x.yaml")
    assert result.ok, [p.format("en") for p in result.problems]
    event = result.programme.event("visit-1")
    assert [o.start.strftime("%H:%M") for o in event.occurrences] == ["09:30", "09:30"]
    assert form_values(page)["how"] == "add-event"
    published = client.post(EDITOR, data={**form_values(page), "action": "publish"})
    assert published.status_code == 303
    assert registry_of(app).get(PROGRAMME).event("visit-1") is not None
    assert "افزودن رویداد" in client.get(f"{EDITOR}history/").get_data(as_text=True)


def test_add_an_event_says_what_is_missing(app, client):
    page = client.post(EDITOR, data=event_form(editing(client), title="", dates=[]))
    assert page.status_code == 422
    body = page.get_data(as_text=True)
    assert "عنوان رویداد را بنویسید." in body and "دست‌کم یک روز را برگزینید." in body


def _programme_of(text: str):
    result = load_text(text.encode("utf-8"), "x.yaml")
    assert result.ok, [p.format("en") for p in result.problems]
    return result.programme


def _fields(programme, **values) -> EventFields:
    from werkzeug.datastructures import MultiDict
    data = MultiDict({"event-title": "نشست: آیندهٔ تعاون #۱", "event-category": "meeting",
                      "event-start": "", **{f"event-{k}": v for k, v in values.items()}})
    data.setlist("event-dates", values.get("dates", ["1404-06-12"]))
    fields = fields_for(programme, data)
    assert fields.validate(), fields.errors
    return fields


SMALL = """\
programme:
  id: small-1404
  title: نمونه
  organiser: اداره
  from: 1404-06-11
  to: 1404-06-17
events: []
categories:
    meeting: {label: نشست}
"""


def test_add_an_event_into_an_empty_list_before_another_section():
    programme = _programme_of(SMALL)
    text, line, event_id = add_event(SMALL, _fields(programme), programme)
    added = _programme_of(text)
    assert event_id == "meeting-1" and line == 8
    assert text.splitlines()[6:9] == ["events:", "  - id: meeting-1",
                                      '    title: "نشست: آیندهٔ تعاون #۱"']
    event = added.event("meeting-1")
    assert event.title == "نشست: آیندهٔ تعاون #۱" and event.all_day
    assert yaml.safe_load(text)["categories"] == {"meeting": {"label": "نشست"}}


@pytest.mark.parametrize("title", ["@همه", "- فهرست", "yes", "۱۲۳", "«نقل»", "a: b",
                                   "x #y", "'quoted'", '"double"'])
def test_add_an_event_writes_any_title_so_that_it_reads_back(title):
    programme = _programme_of(SMALL)
    text, _line, event_id = add_event(SMALL, _fields(programme, title=title), programme)
    assert _programme_of(text).event(event_id).title == title


# -- 6. history and restore -------------------------------------------------------------------

def test_history_keeps_every_version_with_who_when_and_what_changed(app, client):
    assert client.post(EDITOR, data={**editing(client, retitled), "action": "publish"}
                       ).status_code == 303
    page = client.get(f"{EDITOR}history/")
    entries = texts(page, ".version")
    assert len(entries) == 2  # the file as the desk found it, and the new version
    assert ORGANISER in entries[0] and "اکنون روی سایت" in entries[0]
    assert "تغییر روی سرور، بیرون از این میز" in entries[1]
    latest = client.get(f"{EDITOR}history/2/")
    (sentence,) = texts(latest, ".summary li")
    assert sentence.startswith(NEW_TITLE)
    assert any(OLD_TITLE in row for row in texts(latest, ".diff-removed"))
    assert any(NEW_TITLE in row for row in texts(latest, ".diff-added"))
    assert client.get(f"{EDITOR}history/99/").status_code == 404


def test_restore_publishes_an_old_version_as_a_new_one(app, client):
    original = schedule_file(app).read_bytes()
    client.post(EDITOR, data={**editing(client, retitled), "action": "publish"})
    page = client.get(f"{EDITOR}history/")
    restored = client.post(f"{EDITOR}history/1/restore",
                           data=form_values(page, ".version form"))
    assert restored.status_code == 303
    assert schedule_file(app).read_bytes() == original
    entries = texts(client.get(f"{EDITOR}history/"), ".version")
    assert len(entries) == 3 and "بازگرداندن نسخهٔ پیشین: نسخهٔ ۱" in entries[0]


def test_restore_is_refused_when_the_file_changed_since_the_history_was_shown(app, client):
    client.post(EDITOR, data={**editing(client, retitled), "action": "publish"})
    page = client.get(f"{EDITOR}history/")
    changed = schedule_file(app).read_text(encoding="utf-8").replace("بازدید", "دیدار")
    schedule_file(app).write_text(changed, encoding="utf-8")
    refused = client.post(f"{EDITOR}history/1/restore", data=form_values(page, ".version form"))
    assert refused.status_code == 409
    assert schedule_file(app).read_text(encoding="utf-8") == changed


def test_a_ministry_editor_starts_a_programme_from_the_template(app):
    add_organiser(app, "minister@example.ir", programmes=(), all_programmes=True)
    client = app.test_client()
    sign_in(client, app, "minister@example.ir")
    form = client.get("/organise/new")
    assert form.status_code == 200
    taken = client.post("/organise/new", data={"csrf_token": csrf(form),
                                               "programme_id": PROGRAMME})
    assert taken.status_code == 400
    page = client.post("/organise/new", data={"csrf_token": csrf(form),
                                              "programme_id": "neyshabur-1405"})
    assert page.status_code == 200
    values = form_values(page)
    assert values["how"] == "create" and values["base"] == ""
    programme = _programme_of(values["text"])
    assert programme.id == "neyshabur-1405" and programme.draft
    assert "بی‌خطا" in texts(page, "#problems-summary")[0]
    path = schedule_file(app, "neyshabur-1405")
    assert not path.exists()
    published = client.post("/organise/neyshabur-1405/", data={**values, "action": "publish"})
    assert published.status_code == 303
    assert path.exists() and registry_of(app).get("neyshabur-1405").draft


@pytest.mark.parametrize("today, year", [
    (dt.date(2025, 9, 8), 1404),  # 17 Shahrivar 1404: the week's last day
    (dt.date(2025, 9, 9), 1405),  # 18 Shahrivar 1404
    (dt.date(2026, 3, 21), 1405),  # 1 Farvardin 1405
])
def test_the_template_is_dated_to_the_next_cooperative_week(today, year):
    assert next_week_year(today) == year


def test_the_history_page_of_a_programme_never_published_from_the_desk(app, client):
    page = client.get(f"{EDITOR}history/")
    assert "هنوز نسخه‌ای از این میز منتشر نشده است" in page.get_data(as_text=True)


def test_the_check_endpoint_counts_warnings_apart(app, client):
    values = editing(client, lambda text: text.replace("بازدید از تعاونی‌ها",
                                                       "بازديد از تعاونی‌ها"))
    found = client.post(f"{EDITOR}check", data=values["text"].encode(),
                        content_type="text/plain; charset=utf-8",
                        headers={"X-CSRFToken": values["csrf_token"]}).get_json()
    assert found["errors"] == 0 and found["warnings"] >= 1
    assert json.dumps(found, ensure_ascii=False).count("arabic-letters") >= 1
