"""The national index: the home page grouped by province with what runs now and what is
upcoming, province pages, the search that reads Persian as people type it, and the feeds
of a province and of the whole country."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import icalendar
import lxml.html as lxml_html
import pytest
import recurring_ical_events

from clocks import ManualClock as Clock
from week_planner.publish.directory import query_terms, searchable
from week_planner.web import directory as directory_view
from week_planner.web.export import export_site

from calendar_readers import read_with_icalendar, read_with_vobject

SAMPLE = Path(__file__).resolve().parents[2] / "schedules" / "khalilabad-1404.yaml"
TEHRAN = zoneinfo.ZoneInfo("Asia/Tehran")
# Wednesday 13 Shahrivar 1404, 10:00: the sample's week is under way.
DURING = dt.datetime(2025, 9, 4, 10, 0, tzinfo=TEHRAN)



@pytest.fixture
def clock(app) -> Clock:
    found = Clock(DURING)
    app.config["CLOCK"] = found
    return found


def write_programme(folder: Path, programme_id: str, county: str,
                    province: str | None = "خراسان رضوی", year: int = 1404) -> None:
    """A copy of the sample as another county's programme (``year`` moves its week)."""
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace("khalilabad-1404", programme_id)
    text = text.replace("title: هفته تعاون ۱۴۰۴ شهرستان خلیل‌آباد",
                        f"title: هفته تعاون شهرستان {county}")
    text = text.replace("county: خلیل‌آباد", f"county: {county}")
    text = text.replace("province: خراسان رضوی",
                        f"province: {province}" if province else "")
    text = text.replace("1404-", f"{year}-")
    (folder / f"{programme_id}.yaml").write_text(text, encoding="utf-8")


@pytest.fixture
def nation(schedules_dir: Path) -> Path:
    """The sample and five more: two in Isfahan (one next year), one in Tehran last year,
    one that names no province, one more in Razavi Khorasan."""
    write_programme(schedules_dir, "kashan-1404", "کاشان", "اصفهان")
    write_programme(schedules_dir, "naein-1405", "نائین", "اصفهان", year=1405)
    write_programme(schedules_dir, "rey-1403", "ری", "تهران", year=1403)
    write_programme(schedules_dir, "nowhere-1404", "بی‌جا", None)
    write_programme(schedules_dir, "torbat-1404", "تربت‌حیدریه", "خراسان رضوی")
    return schedules_dir


def parse(response):
    assert response.status_code == 200, response.status_code
    return lxml_html.fromstring(response.get_data(as_text=True))


def text_of(element) -> str:
    return " ".join(element.text_content().split())


def titles(element) -> list[str]:
    return [text_of(link) for link in element.cssselect(".programme-list h2 a, .programme-list h3 a")]


# -- reading Persian as people type it ---------------------------------------------------

@pytest.mark.parametrize("typed", [
    "خلیل‌آباد", "خلیل آباد", "خلیلآباد", "خليل‌آباد", "خلیلاباد", "  خلیل  ", "KHALILABAD",
    "خَلیل", "1404", "۱۴۰۴", "١٤٠٤",
])
def test_a_search_reads_persian_as_people_type_it(typed):
    text = searchable("هفته تعاون ۱۴۰۴ شهرستان خلیل‌آباد khalilabad-1404")
    terms = query_terms(typed)
    assert terms and all(term in text for term in terms), (typed, terms)


def test_a_search_needs_every_word_and_ignores_what_is_beyond_its_limit():
    text = searchable("شهرستان کاشان استان اصفهان")
    assert all(term in text for term in query_terms("كاشان اصفهان"))
    assert not all(term in text for term in query_terms("کاشان تهران"))
    assert query_terms("ـ\u200c \u064e") == []  # nothing left to search for
    assert len("".join(query_terms("ا" * 10_000))) <= 100


# -- the home page --------------------------------------------------------------------------

def test_home_page_groups_by_province_with_states_and_the_groups_in_order(client, clock, nation):
    page = parse(client.get("/"))
    groups = page.cssselect("section.province")
    # PROVINCES' order (Isfahan, Tehran, Razavi Khorasan), then those that name none.
    assert [group.get("id") for group in groups] == [
        "isfahan", "tehran", "khorasan-razavi", "other"]
    razavi = groups[2]
    assert sorted(titles(razavi)) == sorted(["هفته تعاون ۱۴۰۴ شهرستان خلیل‌آباد",
                                             "هفته تعاون شهرستان تربت‌حیدریه"])
    assert "۲ برنامه، ۲ در جریان" in text_of(razavi.cssselect("h2")[0])
    isfahan = groups[0]
    # running first, then upcoming
    assert titles(isfahan) == ["هفته تعاون شهرستان کاشان", "هفته تعاون شهرستان نائین"]
    states = [text_of(item.cssselect(".state")[0]) for item in isfahan.cssselect("li")]
    assert states == ["در جریان", "پیش رو"]
    assert text_of(groups[1].cssselect(".state")[0]) == "پایان یافته"
    assert "بدون استان" in text_of(groups[3])
    summary = text_of(page.cssselect(".summary")[0])
    assert summary == "۶ برنامه در ۳ استان؛ ۴ در جریان، ۱ پیش رو."
    # every group has its feed, and the search form is there
    feeds = [link.get("href") for link in page.cssselect(".province-links a")]
    assert "/provinces/isfahan.ics" in feeds and "/provinces/other.ics" in feeds
    assert page.cssselect("form.search")[0].get("action") == "/search/"


def test_home_page_states_follow_the_clock(client, clock, nation):
    clock.moment = dt.datetime(2025, 9, 20, 10, 0, tzinfo=TEHRAN)  # the 1404 weeks are over
    page = parse(client.get("/"))
    assert text_of(page.cssselect(".summary")[0]) == "۶ برنامه در ۳ استان؛ ۰ در جریان، ۱ پیش رو."
    isfahan = page.cssselect("section#isfahan")[0]
    assert titles(isfahan) == ["هفته تعاون شهرستان نائین", "هفته تعاون شهرستان کاشان"]


def test_home_page_shows_a_few_per_province_and_a_glance_when_there_are_many(
        client, clock, nation, monkeypatch):
    monkeypatch.setattr(directory_view, "GROUP_SHOWN", 1)
    monkeypatch.setattr(directory_view, "GLANCE", 2)
    page = parse(client.get("/"))
    razavi = page.cssselect("section#khorasan-razavi")[0]
    assert len(titles(razavi)) == 1
    more = [link for link in razavi.cssselect(".province-links a")
            if link.get("href") == "/provinces/khorasan-razavi/"]
    assert text_of(more[0]) == "همهٔ ۲ برنامهٔ خراسان رضوی"
    running = page.cssselect("section.glance")[0]
    assert text_of(running.cssselect("h2")[0]) == "اکنون در جریان"
    assert len(titles(running)) == 2
    assert "و ۲ برنامهٔ دیگر در جریان است" in text_of(running)


def test_a_small_home_page_has_no_glance(client, clock):
    page = parse(client.get("/"))
    assert not page.cssselect("section.glance")
    assert not page.cssselect(".province-nav")  # one province: nothing to jump to
    assert titles(page) == ["هفته تعاون ۱۴۰۴ شهرستان خلیل‌آباد"]


def test_an_edit_in_one_county_shows_on_the_home_page(client, clock, nation):
    assert "تربت‌حیدریه" in text_of(parse(client.get("/")))
    path = nation / "torbat-1404.yaml"
    text = path.read_text(encoding="utf-8").replace("province: خراسان رضوی", "province: تهران")
    path.write_text(text, encoding="utf-8")
    page = parse(client.get("/"))
    assert "تربت‌حیدریه" in text_of(page.cssselect("section#tehran")[0])


# -- province pages ----------------------------------------------------------------------

def test_a_province_page_lists_its_programmes_with_pages(client, clock, nation, monkeypatch):
    monkeypatch.setattr(directory_view, "PAGE_SIZE", 1)
    first = parse(client.get("/provinces/isfahan/"))
    assert text_of(first.cssselect("h1")[0]) == "استان اصفهان"
    assert titles(first) == ["هفته تعاون شهرستان کاشان"]
    assert first.cssselect("a[rel=next]")[0].get("href") == "/provinces/isfahan/2/"
    second = parse(client.get("/provinces/isfahan/2/"))
    assert titles(second) == ["هفته تعاون شهرستان نائین"]
    assert second.cssselect("a[rel=prev]")[0].get("href") == "/provinces/isfahan/"
    for missing in ("/provinces/isfahan/3/", "/provinces/isfahan/1/", "/provinces/atlantis/",
                    "/provinces/isfahan/0/"):
        assert client.get(missing).status_code == 404, missing


def test_a_province_without_programmes_says_so(client, clock):
    page = parse(client.get("/provinces/yazd/"))
    assert "هنوز برنامه‌ای از این استان منتشر نشده است" in text_of(page)


# -- the search ----------------------------------------------------------------------------

def test_the_search_page_finds_counties_and_provinces_however_typed(client, clock, nation):
    found = parse(client.get("/search/", query_string={"q": "تربت حيدريه"}))
    assert titles(found) == ["هفته تعاون شهرستان تربت‌حیدریه"]
    assert "استان خراسان رضوی" in text_of(found.cssselect(".programme-list")[0])
    found = parse(client.get("/search/", query_string={"q": "اصفهان"}))
    assert sorted(titles(found)) == ["هفته تعاون شهرستان نائین",
                                     "هفته تعاون شهرستان کاشان"]
    nothing = parse(client.get("/search/", query_string={"q": "آتلانتیس"}))
    assert "برنامه‌ای برای «آتلانتیس» پیدا نشد" in text_of(nothing)
    assert not titles(nothing)


def test_the_search_escapes_what_it_is_given(client, clock):
    response = client.get("/search/", query_string={"q": "<script>alert(1)</script>"})
    body = response.get_data(as_text=True)
    assert "<script>alert" not in body and "&lt;script&gt;" in body
    assert response.headers["X-Robots-Tag"] == "noindex"
    assert response.headers["Content-Security-Policy"]


# -- feeds ---------------------------------------------------------------------------------

def uids_of(data: bytes) -> set[str]:
    return {str(event["UID"]) for event in icalendar.Calendar.from_ical(data).walk("VEVENT")}


def test_a_province_feed_holds_the_events_of_its_programmes_as_they_are(client, clock, nation):
    merged = client.get("/provinces/khorasan-razavi.ics")
    assert merged.status_code == 200
    assert merged.mimetype == "text/calendar"
    own = [client.get(f"/{name}.ics").data for name in ("khalilabad-1404", "torbat-1404")]
    assert uids_of(merged.data) == uids_of(own[0]) | uids_of(own[1])
    assert len(uids_of(merged.data)) == merged.data.count(b"BEGIN:VEVENT")
    # each reader sees the same instants as in the programmes' own feeds
    for read in (read_with_icalendar, read_with_vobject):
        assert sorted(read(merged.data)) == sorted(read(own[0]) + read(own[1]))
    calendar = icalendar.Calendar.from_ical(merged.data)
    assert str(calendar["X-WR-CALNAME"]) == "هفتهٔ تعاون — خراسان رضوی"
    assert [str(zone["TZID"]) for zone in calendar.walk("VTIMEZONE")] == ["Asia/Tehran"]
    week = recurring_ical_events.of(calendar).between(dt.date(2025, 9, 2), dt.date(2025, 9, 9))
    assert len(week) == sum(len(recurring_ical_events.of(icalendar.Calendar.from_ical(data))
                                .between(dt.date(2025, 9, 2), dt.date(2025, 9, 9)))
                            for data in own)


def test_the_country_feed_holds_every_programme_and_answers_304(client, clock, nation):
    country = client.get("/provinces.ics")
    assert country.status_code == 200
    everyone = set()
    for name in ("khalilabad-1404", "kashan-1404", "naein-1405", "rey-1403", "nowhere-1404",
                 "torbat-1404"):
        everyone |= uids_of(client.get(f"/{name}.ics").data)
    assert uids_of(country.data) == everyone
    again = client.get("/provinces.ics", headers={"If-None-Match": country.headers["ETag"]})
    assert again.status_code == 304
    assert client.get("/provinces/other.ics").status_code == 200
    assert client.get("/provinces/atlantis.ics").status_code == 404
    empty = client.get("/provinces/yazd.ics")
    assert empty.status_code == 200 and b"BEGIN:VEVENT" not in empty.data
    icalendar.Calendar.from_ical(empty.data)


def test_a_province_feed_follows_an_edit_of_one_of_its_programmes(client, clock, nation):
    before = client.get("/provinces/isfahan.ics")
    path = nation / "kashan-1404.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "title: نشست با امام جمعه و فرماندار", "title: نشست با فرماندار کاشان"),
        encoding="utf-8")
    after = client.get("/provinces/isfahan.ics")
    assert after.headers["ETag"] != before.headers["ETag"]
    assert "نشست با فرماندار کاشان" in after.get_data(as_text=True).replace("\r\n ", "")
    assert uids_of(after.data) == uids_of(before.data)


# -- the static copy -----------------------------------------------------------------------

def test_the_static_copy_has_the_province_pages_and_no_dead_search(app, clock, nation,
                                                                   tmp_path):
    out = tmp_path / "site"
    export_site(app, out)
    assert (out / "provinces" / "isfahan" / "index.html").exists()
    assert (out / "provinces" / "isfahan.ics").exists()
    assert (out / "provinces.ics").exists()
    home = (out / "index.html").read_text(encoding="utf-8")
    assert "<form" not in home
    live = tmp_path / "live"
    export_site(app, live, live_url="https://hafte.example.ir")
    home = lxml_html.fromstring((live / "index.html").read_text(encoding="utf-8"))
    assert home.cssselect("form.search")[0].get("action") == "https://hafte.example.ir/search/"


# -- what a file can do to the merged feeds ----------------------------------------------------

def test_a_title_reading_begin_vevent_does_not_break_the_merged_feeds(client, clock, nation):
    """Wherever the folding of a long line puts "BEGIN:VEVENT", it is text, not a line."""
    path = nation / "torbat-1404.yaml"
    for width in range(40, 80):
        title = "a" * width + "BEGIN:VEVENT" + "b" * 30
        edited = path.read_text(encoding="utf-8")
        start = edited.index("  title: ") + len("  title: ")
        end = edited.index("\n", start)
        path.write_text(edited[:start] + title + edited[end:], encoding="utf-8")
        merged = client.get("/provinces/khorasan-razavi.ics")
        calendar = icalendar.Calendar.from_ical(merged.data)
        assert len(calendar.walk("VEVENT")) == merged.data.count(b"\r\nBEGIN:VEVENT\r\n")
        assert len(calendar.walk("VCALENDAR")) == 1


def test_every_zone_the_merged_events_use_is_defined_for_their_years(client, clock, nation):
    """A programme moved to another year and zone keeps its former dates as cancelled
    events, in the former zone: the merged feed defines that zone too, for those years."""
    before = client.get("/provinces/khorasan-razavi.ics")
    assert before.status_code == 200
    path = nation / "torbat-1404.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("1404-", "1405-").replace(
        "timezone: Asia/Tehran", "timezone: Europe/London"), encoding="utf-8")
    merged = client.get("/provinces/khorasan-razavi.ics").data
    calendar = icalendar.Calendar.from_ical(merged)
    defined = {}
    for zone in calendar.walk("VTIMEZONE"):
        starts = [sub.decoded("DTSTART").year for sub in zone.subcomponents]
        defined[str(zone["TZID"])] = min(starts)
    used = {}
    for event in calendar.walk("VEVENT"):
        for name in ("DTSTART", "DTEND"):
            tzid = event[name].params.get("TZID")
            if tzid:
                year = event.decoded(name).year
                used[tzid] = min(used.get(tzid, year), year)
    assert set(used) == {"Asia/Tehran", "Europe/London"}
    assert set(used) <= set(defined)
    assert all(defined[tzid] <= year for tzid, year in used.items())
    assert any(str(event.get("STATUS")) == "CANCELLED" for event in calendar.walk("VEVENT"))


def test_a_large_merged_feed_is_not_kept_in_front_of_flask(app, client, clock, nation,
                                                           monkeypatch):
    from week_planner.web.prepared import prepared_responses
    client.get("/")
    client.get("/provinces/isfahan/")
    kept = prepared_responses(app)
    before = len(kept)
    assert before >= 2
    monkeypatch.setattr(directory_view, "KEPT_FEED_BYTES", 1000)
    first = client.get("/provinces.ics")
    assert len(kept) == before  # not kept, nothing pushed out
    again = client.get("/provinces.ics")
    assert again.data == first.data and again.headers["ETag"] == first.headers["ETag"]
    assert client.get("/provinces.ics", headers={
        "If-None-Match": first.headers["ETag"]}).status_code == 304
