"""The public changelog: ``/<programme>/changes/`` and ``/<programme>/changes.atom``.

The sample is loaded in a temporary schedules folder with the clock pinned; the first
request stores the first revision, then the YAML is edited (the taxi parade moved, the
Friday prayer cancelled, the wood workshop's opening removed, an exhibition with a
``<script>`` in its title added, a meeting moved to another hall) and the changelog is
requested again — only the changelog, so it must sync the stored revisions itself.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import browsing
import feedparser
import lxml.etree
import lxml.html
import pytest

from week_planner import create_app
from week_planner.publish import changes, feeds
from week_planner.schedule import jalali
from week_planner.schedule.loading import load_file
from week_planner.web.pages import page_cache

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "schedules" / "khalilabad-1404.yaml"
UTC = dt.timezone.utc
ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
PROGRAMME = "khalilabad-1404"
PAGE = f"/{PROGRAMME}/changes/"
FEED = f"/{PROGRAMME}/changes.atom"
BASE_URL = "https://hafte.example.ir"

T0 = dt.datetime(2025, 8, 20, 6, 0, tzinfo=UTC)  # before the week (1404-06-11)
T1 = T0 + dt.timedelta(hours=3)
SCRIPT_TITLE = "نمایشگاه <script>alert(1)</script> تعاونی‌ها"

MOVED = "رژه خودروهای تعاونی تاکسی بی‌سیم: از شنبه ۱۵ شهریور ساعت ۱۶:۰۰ به ساعت ۱۶:۳۰ منتقل شد"
CANCELLED = "حضور تعاونگران در نماز جمعه: لغو شد (جمعه ۱۴ شهریور ساعت ۱۱:۴۵)"
REMOVED = ("افتتاح تعاونی محصولات چوب فدایی: از برنامه برداشته شد "
           "(پنجشنبه ۱۳ شهریور ساعت ۱۰:۰۰)")
ADDED = (f"{SCRIPT_TITLE}: به برنامه افزوده شد (پنجشنبه ۱۳ شهریور ساعت ۰۹:۰۰ تا ۱۳:۰۰)؛ "
         "در میدان امام خمینی")
VENUE = ("نشست با امام جمعه و فرماندار: مکانش از سالن اجتماعات فرمانداری به "
         "اداره تعاون، کار و رفاه اجتماعی تغییر کرد")
EDITED = {"taxi-parade": ("moved", MOVED), "friday-prayer": ("cancelled", CANCELLED),
          "fadaei-wood-opening": ("removed", REMOVED), "expo": ("added", ADDED),
          "friday-imam-governor-meeting": ("venue", VENUE)}


class Clock:
    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def make_app(tmp_path: Path, schedules: Path, clock: Clock):
    return create_app({
        "TESTING": True,
        "SCHEDULES_DIR": str(schedules),
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "RELOAD_INTERVAL": 0,
        "BASE_URL": BASE_URL,
        "SECRET_KEY": "a-test-secret-key-of-some-length",
        "CLOCK": clock,
    })


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def changes_app(tmp_path, schedules_dir, clock):
    return make_app(tmp_path, schedules_dir, clock)


@pytest.fixture
def client(changes_app):
    return changes_app.test_client()


def edit_sample(schedules_dir: Path) -> None:
    """Move the taxi parade, cancel the Friday prayer, remove the wood workshop's opening,
    add an exhibition and move a meeting to another hall."""
    path = schedules_dir / SAMPLE.name
    text = path.read_text(encoding="utf-8")
    edits = [
        ('    date: 1404-06-15\n    start: "16:00"', '    date: 1404-06-15\n    start: "16:30"'),
        ("    title: حضور تعاونگران در نماز جمعه\n",
         "    title: حضور تعاونگران در نماز جمعه\n    status: cancelled\n"),
        ('    venue: farmandari\n    hosts: [امام جمعه', '    venue: edareh\n    hosts: [امام جمعه'),
    ]
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    opening = re.search(r"  - id: fadaei-wood-opening\n(?:    .*\n)+\n", text).group(0)
    text = text.replace(opening, "")
    text += ('\n  - id: expo\n'
             f'    title: "{SCRIPT_TITLE}"\n'
             '    category: service\n    date: 1404-06-13\n'
             '    start: "09:00"\n    end: "13:00"\n    venue: meydan\n')
    path.write_text(text, encoding="utf-8")


def get_ok(client, url: str):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response


def atom_entries(body: bytes) -> list:
    return lxml.etree.fromstring(body).findall(f"{ATOM}entry")


def text_of(element, name: str) -> str:
    return element.findtext(f"{ATOM}{name}")


def parse_time(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    return moment


def page_entries(body: bytes) -> list[tuple[str, str, str]]:
    """(kind, label, sentence) of each entry on the page, in order."""
    document = lxml.html.fromstring(body)
    return [(next(c for c in item.get("class").split() if c.startswith("kind-"))[5:],
             item.find_class("change-kind")[0].text_content(),
             item.find_class("change-text")[0].text_content())
            for item in document.find_class("change")]


# ------------------------------------------------------------------ the first load

def test_the_first_load_is_one_publication_line(client):
    events = load_file(SAMPLE).programme.events
    body = get_ok(client, FEED).data
    entries = atom_entries(body)
    assert len(entries) == 1
    title = "هفته تعاون ۱۴۰۴ شهرستان خلیل‌آباد"
    assert text_of(entries[0], "title") == \
        f"{title}: برنامه با {jalali.to_persian_digits(len(events))} رویداد منتشر شد"
    assert parse_time(text_of(entries[0], "updated")) == T0
    assert page_entries(get_ok(client, PAGE).data) == [
        ("published", "انتشار برنامه", text_of(entries[0], "title"))]


# ------------------------------------------------------------------ after an edit

def test_each_change_is_said_in_a_persian_sentence(client, schedules_dir, clock):
    get_ok(client, PAGE)
    edit_sample(schedules_dir)
    clock.now = T1
    entries = page_entries(get_ok(client, PAGE).data)
    # Newest first: the edit's entries in the order of the programme, then the publication.
    order = ["friday-imam-governor-meeting", "expo", "fadaei-wood-opening", "friday-prayer",
             "taxi-parade"]
    assert [(kind, sentence) for kind, _label, sentence in entries[:-1]] == \
        [EDITED[event_id] for event_id in order]
    assert entries[-1][0] == "published"
    assert {label for _kind, label, _sentence in entries} == {
        changes.KIND_LABELS[kind] for kind, _label, _sentence in entries}


def test_the_atom_feed_is_valid_and_says_the_same(client, schedules_dir, clock):
    first = get_ok(client, FEED).data
    edit_sample(schedules_dir)
    clock.now = T1
    response = get_ok(client, FEED)
    assert response.content_type == "application/atom+xml; charset=utf-8"
    root = lxml.etree.fromstring(response.data)
    assert root.tag == f"{ATOM}feed"
    assert root.get(XML_LANG) == "fa"
    # RFC 4287: a feed has exactly one id, title and updated, an author, a self link.
    for name in ("id", "title", "updated"):
        assert len(root.findall(f"{ATOM}{name}")) == 1, name
    assert root.find(f"{ATOM}author/{ATOM}name").text
    links = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
    assert links == {"self": BASE_URL + FEED, "alternate": BASE_URL + PAGE}
    assert parse_time(text_of(root, "updated")) == T1
    entries = atom_entries(response.data)
    ids = [text_of(entry, "id") for entry in entries]
    assert len(set(ids)) == len(ids) == len(EDITED) + 1
    assert all(re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", entry_id) for entry_id in ids)
    titles = {}
    for entry in entries:
        for name in ("id", "title", "updated", "published", "content"):
            assert len(entry.findall(f"{ATOM}{name}")) == 1, name
        assert entry.find(f"{ATOM}link").get("href").startswith(BASE_URL + "/")
        titles[entry.find(f"{ATOM}category").get("term")] = text_of(entry, "title")
    assert [parse_time(text_of(e, "updated")) for e in entries] == [T1] * len(EDITED) + [T0]
    assert titles == {kind: sentence for kind, sentence in
                      [*EDITED.values(), ("published", titles["published"])]}
    # The publication entry is the one the first request made, unchanged.
    assert ids[-1] == text_of(atom_entries(first)[0], "id")
    # An independent reader takes it whole, in Persian.
    parsed = feedparser.parse(response.data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.language == "fa"
    assert [e.id for e in parsed.entries] == ids
    assert parsed.entries[-1].updated_parsed[:6] == T0.timetuple()[:6]


def test_entry_ids_and_times_stay_across_requests_restarts_and_edits(
        tmp_path, schedules_dir, client, clock):
    get_ok(client, FEED)
    edit_sample(schedules_dir)
    clock.now = T1

    def ids_and_times(body: bytes) -> dict[str, str]:
        return {text_of(e, "id"): text_of(e, "updated") for e in atom_entries(body)}

    once = ids_and_times(get_ok(client, FEED).data)
    clock.now = T1 + dt.timedelta(hours=2)
    assert ids_and_times(get_ok(client, FEED).data) == once
    restarted = make_app(tmp_path, schedules_dir, clock).test_client()
    assert ids_and_times(get_ok(restarted, FEED).data) == once
    # Another edit adds one entry and leaves the others as they were.
    path = schedules_dir / SAMPLE.name
    path.write_text(path.read_text(encoding="utf-8").replace(
        "    title: تجلیل از تعاونی‌های برتر\n", "    title: تجلیل از تعاونی‌های نمونه\n"),
        encoding="utf-8")
    clock.now = T1 + dt.timedelta(days=1)
    later = ids_and_times(get_ok(restarted, FEED).data)
    assert len(later) == len(once) + 1
    assert {key: later[key] for key in once} == once
    newest = atom_entries(get_ok(restarted, FEED).data)[0]
    assert text_of(newest, "title") == \
        "تجلیل از تعاونی‌های نمونه: عنوانش تغییر کرد (پیش‌تر: «تجلیل از تعاونی‌های برتر»)"
    assert parse_time(text_of(newest, "updated")) == clock.now


def test_a_title_with_a_script_is_escaped_everywhere(client, schedules_dir, clock):
    get_ok(client, PAGE)
    edit_sample(schedules_dir)
    clock.now = T1
    page = get_ok(client, PAGE).data
    assert b"<script>alert" not in page
    document = lxml.html.fromstring(page)
    # No script from the schedule: only the site's own files, by address.
    assert all(script.get("src", "").startswith("/static/") and not script.text
               for script in document.xpath("//script"))
    assert ADDED in document.text_content()
    feed = get_ok(client, FEED).data
    assert b"<script>alert" not in feed
    (entry,) = [e for e in atom_entries(feed)
                if e.find(f"{ATOM}category").get("term") == "added"]
    assert text_of(entry, "title") == ADDED  # the text comes back exactly
    content = lxml.html.fromstring(text_of(entry, "content"))  # html, escaped once more
    assert content.xpath("//script") == []
    assert content.text_content() == ADDED


# ------------------------------------------------------------------ HTTP and caching

def test_page_is_persian_right_to_left_with_a_feed_link(client, schedules_dir, clock):
    get_ok(client, PAGE)
    edit_sample(schedules_dir)
    clock.now = T1
    response = get_ok(client, PAGE)
    assert response.content_type == "text/html; charset=utf-8"
    assert "Content-Security-Policy" in response.headers
    document = lxml.html.fromstring(response.data)
    root = document.getroottree().getroot()
    assert (root.get("lang"), root.get("dir")) == ("fa", "rtl")
    feed_links = document.xpath('//link[@rel="alternate"][@type="application/atom+xml"]/@href')
    assert feed_links == [FEED]
    # The day of the edit, in Jalali with Persian digits; the time in Tehran's.
    (heading,) = document.xpath("//section[@class='changes-day']/h2")
    assert heading.text_content() == "چهارشنبه ۲۹ مرداد ۱۴۰۴"
    times = document.xpath("//li[contains(@class, 'change ')]//time/text()")
    assert times == ["۱۲:۳۰"] * len(EDITED) + ["۰۹:۳۰"]
    # Persian digits everywhere but in what the organiser typed (the title's "alert(1)").
    listed = document.find_class("changes")[0].text_content().replace(SCRIPT_TITLE, "")
    assert not re.search(r"[0-9]", listed)
    # Live events link to their pages; the removed one does not.
    links = document.xpath("//p[@class='change-text']/a/@href")
    assert f"/{PROGRAMME}/events/taxi-parade/" in links
    assert f"/{PROGRAMME}/events/fadaei-wood-opening/" not in links


@pytest.mark.parametrize("url", [PAGE, FEED])
def test_etag_and_304_until_the_file_changes(client, schedules_dir, clock, url):
    first = get_ok(client, url)
    etag = first.headers["ETag"]
    assert first.headers["Last-Modified"] == "Wed, 20 Aug 2025 06:00:00 GMT"
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert client.get(url, headers={"If-Modified-Since": first.headers["Last-Modified"]}
                      ).status_code == 304
    assert client.head(url).headers["ETag"] == etag
    clock.now = T0 + dt.timedelta(hours=1)  # time alone changes nothing
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    edit_sample(schedules_dir)
    clock.now = T1
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert changed.headers["Last-Modified"] == "Wed, 20 Aug 2025 09:00:00 GMT"


@pytest.mark.parametrize("url", [PAGE, FEED])
def test_a_new_programme_title_alone_moves_last_modified(client, schedules_dir, clock, url):
    """Both show the programme's title: a client revalidating with If-Modified-Since
    alone must get the new one."""
    first = get_ok(client, url)
    path = schedules_dir / SAMPLE.name
    text = path.read_text(encoding="utf-8")
    old = "  title: هفته تعاون ۱۴۰۴ شهرستان خلیل‌آباد\n"
    assert text.count(old) == 1
    path.write_text(text.replace(old, "  title: هفتهٔ تعاون ۱۴۰۴ خلیل‌آباد\n"), encoding="utf-8")
    clock.now = T1
    again = client.get(url, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert again.status_code == 200
    assert "هفتهٔ تعاون ۱۴۰۴ خلیل‌آباد" in again.get_data(as_text=True)
    assert again.headers["Last-Modified"] == "Wed, 20 Aug 2025 09:00:00 GMT"


def test_rendered_once_per_revision_state(changes_app, client):
    cache = page_cache(changes_app)
    get_ok(client, FEED)
    renders = cache.renders
    for _ in range(3):
        get_ok(client, FEED)
        get_ok(client, PAGE)
    assert cache.renders == renders + 1


def test_unknown_and_draft_programmes_are_404(client, schedules_dir):
    assert client.get("/no-such-programme/changes/").status_code == 404
    assert client.get("/no-such-programme/changes.atom").status_code == 404
    draft = schedules_dir / "draft.yaml"
    draft.write_text(SAMPLE.read_text(encoding="utf-8").replace(
        "  id: khalilabad-1404\n", "  id: draft-1404\n  draft: true\n"), encoding="utf-8")
    assert client.get("/draft-1404/").status_code == 404  # the loader took it as a draft
    assert client.get("/draft-1404/changes/").status_code == 404
    assert client.get("/draft-1404/changes.atom").status_code == 404


# ------------------------------------------------------------------ a deleted programme

def test_a_deleted_programme_shows_its_removals_until_the_retention_ends(
        changes_app, client, schedules_dir, clock):
    programme = load_file(SAMPLE).programme
    get_ok(client, FEED)
    (schedules_dir / SAMPLE.name).unlink()
    clock.now = T1
    assert client.get(f"/{PROGRAMME}/").status_code == 410
    page = lxml.html.fromstring(get_ok(client, PAGE).data)
    assert "این برنامه در چهارشنبه ۲۹ مرداد ۱۴۰۴ از تارنما برداشته شده است" in \
        page.find_class("changes-withdrawn")[0].text_content()
    entries = atom_entries(get_ok(client, FEED).data)
    assert [e.find(f"{ATOM}category").get("term") for e in entries] == \
        ["withdrawn", "published"]
    withdrawn = entries[0]
    assert parse_time(text_of(withdrawn, "updated")) == T1
    content = lxml.html.fromstring(text_of(withdrawn, "content"))
    lines = [item.text_content() for item in content.xpath("//li")]
    # Every event is named with its time, in the order of the programme.
    assert len(lines) == len(programme.events)
    parade = programme.event("taxi-parade")
    assert f"{parade.title}: لغو شد (شنبه ۱۵ شهریور ساعت ۱۶:۰۰)" in lines
    visits = [line for line in lines if line.startswith("دیدارهای مردمی")]
    assert visits == ["دیدارهای مردمی در روستاها و مساجد: لغو شد (چهارشنبه ۱۲ شهریور "
                      "ساعت ۱۸:۳۰، پنجشنبه ۱۳ شهریور ساعت ۱۸:۳۰ و یکشنبه ۱۶ شهریور ساعت "
                      "۱۸:۳۰)"]
    assert "برگزاری میز خدمت: لغو شد (تمام روز چهارشنبه ۱۲ شهریور)" in lines
    assert [item.text_content() for item in page.xpath("//ul[@class='change-details']/li")] \
        == lines
    # After the retention time, the changelog is gone too.
    days = changes_app.config["CANCELLED_RETENTION_DAYS"]
    clock.now = T1 + dt.timedelta(days=days) - dt.timedelta(seconds=1)
    assert client.get(PAGE).status_code == 200
    clock.now = T1 + dt.timedelta(days=days)
    assert client.get(PAGE).status_code == 410
    assert client.get(FEED).status_code == 410


def test_a_file_put_back_is_published_again(client, schedules_dir, clock):
    path = schedules_dir / SAMPLE.name
    text = path.read_text(encoding="utf-8")
    get_ok(client, FEED)
    path.unlink()
    clock.now = T1
    get_ok(client, FEED)
    path.write_text(text, encoding="utf-8")
    clock.now = T1 + dt.timedelta(hours=1)
    entries = atom_entries(get_ok(client, FEED).data)
    assert [e.find(f"{ATOM}category").get("term") for e in entries] == \
        ["republished", "removed", "published"]
    # The store keeps only the latest deletion: the earlier one says just what is sure.
    count = jalali.to_persian_digits(len(load_file(SAMPLE).programme.events))
    assert text_of(entries[1], "title").endswith(f"هر {count} رویداد برنامه برداشته و لغو شد")
    assert text_of(entries[0], "title").endswith(
        f"برنامه دوباره با {jalali.to_persian_digits(len(load_file(SAMPLE).programme.events))}"
        " رویداد منتشر شد")


# ------------------------------------------------------------------ sentences, pure

@pytest.fixture(scope="module")
def sample():
    return load_file(SAMPLE).programme


def snapshot_of(programme, event_id: str, index: int = 0) -> dict:
    event = programme.event(event_id)
    return feeds.occurrence_snapshot(programme, event, event.occurrences[index])


def row(snapshot, kind="changed", previous=None, at=T1, key=None, sequence=1) -> dict:
    return {"occurrence_key": key or snapshot["event"], "event_id": snapshot["event"],
            "sequence": sequence, "kind": kind, "snapshot": snapshot, "previous": previous,
            "changed_at": at}


def sentence_for(old: dict, new: dict) -> str:
    history = [row(old, "added", at=T0, sequence=0), row(new, "changed", previous=old)]
    entries = changes.change_entries(PROGRAMME, {"title": "هفته"}, history)
    assert entries[-1].kind == "published"
    return entries[0].sentence


def shifted(snapshot: dict, key: str, **delta) -> str:
    return (dt.datetime.fromisoformat(snapshot[key]) + dt.timedelta(**delta)).isoformat()


def test_moved_to_another_day(sample):
    old = snapshot_of(sample, "taxi-parade")
    new = {**old, "start": shifted(old, "start", days=1), "end": shifted(old, "end", days=1)}
    assert sentence_for(old, new) == ("رژه خودروهای تعاونی تاکسی بی‌سیم: از شنبه ۱۵ شهریور "
                                      "ساعت ۱۶:۰۰ به یکشنبه ۱۶ شهریور ساعت ۱۶:۰۰ منتقل شد")


def test_a_longer_event_says_its_new_end(sample):
    old = snapshot_of(sample, "taxi-parade")
    new = {**old, "end": shifted(old, "end", minutes=30)}
    assert sentence_for(old, new) == \
        "رژه خودروهای تعاونی تاکسی بی‌سیم: ساعت پایانش از ۱۷:۳۰ به ۱۸:۰۰ تغییر کرد"
    both = {**old, "start": shifted(old, "start", minutes=30), "end": shifted(old, "end", hours=1)}
    assert sentence_for(old, both) == (
        "رژه خودروهای تعاونی تاکسی بی‌سیم: از شنبه ۱۵ شهریور ساعت ۱۶:۰۰ به ساعت ۱۶:۳۰ "
        "منتقل شد؛ ساعت پایانش از ۱۷:۳۰ به ۱۸:۳۰ تغییر کرد")


def test_an_all_day_desk_moved_to_another_day(sample):
    old = snapshot_of(sample, "service-desk")
    new = {**old, "start": "2025-09-04", "end": "2025-09-05"}
    assert sentence_for(old, new) == \
        "برگزاری میز خدمت: از چهارشنبه ۱۲ شهریور به پنجشنبه ۱۳ شهریور منتقل شد"


def test_status_venue_and_details(sample):
    old = snapshot_of(sample, "think-tank")
    title = old["title"]
    assert sentence_for(old, {**old, "status": "tentative"}) == \
        f"{title}: هنوز قطعی نیست (یکشنبه ۱۶ شهریور ساعت ۱۶:۰۰)"
    cancelled = {**old, "status": "cancelled"}
    assert sentence_for(cancelled, old) == \
        f"{title}: دوباره برقرار شد (یکشنبه ۱۶ شهریور ساعت ۱۶:۰۰)"
    assert sentence_for(old, {**old, "venue": None}) == \
        f"{title}: مکانش (سالن اجتماعات فرمانداری) دیگر در برنامه نیامده است"
    moved_pin = {**old, "venue": {**old["venue"], "location": [35.0, 58.0]}}
    assert sentence_for(old, moved_pin) == f"{title}: جای مکانش روی نقشه اصلاح شد"
    assert sentence_for(old, {**old, "hosts": ["فرماندار", "شهردار"]}) == \
        f"{title}: اکنون با حضور فرماندار و شهردار برگزار می‌شود"
    assert sentence_for(old, {**old, "description": "تازه"}) == f"{title}: توضیحش به‌روز شد"
    assert sentence_for(old, {**old, "reminders": [3600]}) == \
        f"{title}: یادآوری‌های تقویمی آن تغییر کرد"
    assert sentence_for(old, {**old, "timezone": "Asia/Kabul"}) == f"{title}: جزئیاتش به‌روز شد"
    assert sentence_for(old, {**old, "title": "هم‌اندیشی"}) == \
        f"هم‌اندیشی: عنوانش تغییر کرد (پیش‌تر: «{title}»)"
    assert sentence_for(old, {**old, "category": "talk", "category_label": "سخنرانی"}) == \
        f"{title}: از دستهٔ «نشست» به دستهٔ «سخنرانی» رفت"


def test_a_repeated_event_is_one_entry(sample):
    event = sample.event("peoples-visits")
    olds = [feeds.occurrence_snapshot(sample, event, o) for o in event.occurrences]
    history = [row(s, "added", at=T0, key=o.key, sequence=0)
               for s, o in zip(olds, event.occurrences)]
    history += [row({**s, "status": "cancelled"}, previous=s, key=o.key)
                for s, o in zip(olds, event.occurrences)]
    entries = changes.change_entries(PROGRAMME, None, history)
    assert [e.kind for e in entries] == ["cancelled", "published"]
    assert entries[0].sentence == (
        "دیدارهای مردمی در روستاها و مساجد: لغو شد (چهارشنبه ۱۲ شهریور ساعت ۱۸:۳۰، "
        "پنجشنبه ۱۳ شهریور ساعت ۱۸:۳۰ و یکشنبه ۱۶ شهریور ساعت ۱۸:۳۰)")
    # One date dropped, the others kept: only that date is said to be removed.
    dropped = history[:3] + [row(olds[1], "removed", previous=olds[1],
                                 key=event.occurrences[1].key)]
    (entry, _published) = changes.change_entries(PROGRAMME, None, dropped)
    assert entry.kind == "removed" and entry.event_live
    assert entry.what == "این نوبت از برنامه برداشته شد (پنجشنبه ۱۳ شهریور ساعت ۱۸:۳۰)"


def test_a_control_character_does_not_break_the_feed(sample):
    snapshot = {**snapshot_of(sample, "taxi-parade"), "title": "رژه\x0b"}
    history = [row(snapshot, "added", at=T0, sequence=0),
               row({**snapshot, "status": "cancelled"}, previous=snapshot)]
    info = changes.AtomInfo(PROGRAMME, "هفته", None, BASE_URL + FEED, BASE_URL + PAGE,
                            BASE_URL + "/", BASE_URL + "/events/")
    body = changes.atom_feed(info, changes.change_entries(PROGRAMME, None, history), T0)
    title = text_of(atom_entries(body)[0], "title")
    assert title.startswith("رژه\ufffd: لغو شد")


# ------------------------------------------------------------------ in a browser

@pytest.mark.browser
@pytest.mark.parametrize("width", [360, 1024])
def test_the_page_in_chromium(tmp_path, schedules_dir, width):
    """What a person sees: right to left, Vazirmatn, nothing wider than a phone."""
    import threading

    from werkzeug.serving import make_server

    sync_playwright = browsing.sync_playwright()

    clock = Clock(T0)
    app = make_app(tmp_path, schedules_dir, clock)
    get_ok(app.test_client(), PAGE)
    edit_sample(schedules_dir)
    clock.now = T1
    get_ok(app.test_client(), PAGE)  # read whole before serving: no file left open

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as playwright:
            browser = browsing.launch(playwright)
            try:
                context = browser.new_context(viewport={"width": width, "height": 800},
                                              locale="fa-IR")
                page = context.new_page()
                page.goto(f"http://127.0.0.1:{server.server_port}{PAGE}")
                page.evaluate("() => document.fonts.ready")
                assert page.evaluate("() => getComputedStyle(document.body).direction") == "rtl"
                assert page.evaluate("() => document.fonts.check('16px Vazirmatn')")
                overflow = page.evaluate("""() => Math.max(document.documentElement.scrollWidth,
                    document.body.scrollWidth) - window.innerWidth""")
                assert overflow <= 0
                sticking_out = page.evaluate("""() => [...document.querySelectorAll('body *')]
                    .filter(el => { const r = el.getBoundingClientRect();
                        return r.width > 0 && (r.left < -1 || r.right > window.innerWidth + 1); })
                    .filter(el => !el.classList.contains('skip-link'))
                    .map(el => el.tagName + '.' + el.className)""")
                assert sticking_out == []
                shown = page.locator("li.change .change-text").all_inner_texts()
                assert [text.strip() for text in shown[:-1]] == [
                    EDITED[event_id][1] for event_id in
                    ["friday-imam-governor-meeting", "expo", "fadaei-wood-opening",
                     "friday-prayer", "taxi-parade"]]
                # A cancellation stands out from a move.
                colours = page.evaluate("""() => ['cancelled', 'moved'].map(kind =>
                    getComputedStyle(document.querySelector('.kind-' + kind + ' .change-kind'))
                    .backgroundColor)""")
                assert colours[0] != colours[1]
                artifacts = ROOT / "test-artifacts"
                artifacts.mkdir(exist_ok=True)
                page.screenshot(path=str(artifacts / f"changes-{width}.png"), full_page=True)
                context.close()
            finally:
                browser.close()
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
