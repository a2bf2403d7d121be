"""The public pages through Flask's test client: structure, content, caching, drafts, 404/410.

"Now" is pinned through ``app.config["CLOCK"]``; expected texts are written out from the
sample YAML file, not computed by the code under test.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from lxml import html as lxml_html

from clocks import ManualClock as Clock
from week_planner import get_registry
from week_planner.cli import main
from week_planner.reminders.mail import occurrence_details
from week_planner.schedule import jalali
from week_planner.schedule.model import paragraphs
from week_planner.web.pages import page_cache, preview_url

TEHRAN = ZoneInfo("Asia/Tehran")
UTC = dt.timezone.utc
PROGRAMME = "/khalilabad-1404/"
SAMPLE_NAME = "khalilabad-1404.yaml"

# (Jalali day anchor, title, time as the page writes it), in the order of the page.
SAMPLE_PAGE = [
    ("1404-06-11", "ادای احترام به شهدای انقلاب", "۰۸:۰۰ تا ۰۹:۰۰"),
    ("1404-06-11", "نشست با امام جمعه و فرماندار", "۱۰:۰۰ تا ۱۱:۳۰"),
    ("1404-06-12", "برگزاری میز خدمت", "تمام روز"),
    ("1404-06-12", "دیدارهای مردمی در روستاها و مساجد", "۱۸:۳۰ تا ۲۰:۳۰"),
    ("1404-06-13", "افتتاح تعاونی محصولات چوب فدایی", "۱۰:۰۰ تا ۱۱:۰۰"),
    ("1404-06-13", "دیدارهای مردمی در روستاها و مساجد", "۱۸:۳۰ تا ۲۰:۳۰"),
    ("1404-06-14", "سخنرانی و تبیین مزیت‌های بخش تعاون", "۱۱:۰۰ تا ۱۱:۳۰"),
    ("1404-06-14", "حضور تعاونگران در نماز جمعه", "۱۱:۴۵ تا ۱۳:۱۵"),
    ("1404-06-15", "بازدید از تعاونی‌ها", "۰۹:۰۰ تا ۱۲:۰۰"),
    ("1404-06-15", "رژه خودروهای تعاونی تاکسی بی‌سیم", "۱۶:۰۰ تا ۱۷:۳۰"),
    ("1404-06-16", "بازدید از تعاونی‌ها", "۰۹:۰۰ تا ۱۲:۰۰"),
    ("1404-06-16", "نشست هم‌اندیشی مدیران تعاونی‌ها", "۱۶:۰۰ تا ۱۸:۰۰"),
    ("1404-06-16", "دیدارهای مردمی در روستاها و مساجد", "۱۸:۳۰ تا ۲۰:۳۰"),
    ("1404-06-17", "تجلیل از تعاونی‌های برتر", "۱۰:۰۰ تا ۱۲:۰۰"),
]
DAY_HEADINGS = [
    ("1404-06-11", "سه‌شنبه ۱۱ شهریور ۱۴۰۴", "۲ سپتامبر ۲۰۲۵", "2025-09-02"),
    ("1404-06-12", "چهارشنبه ۱۲ شهریور ۱۴۰۴", "۳ سپتامبر ۲۰۲۵", "2025-09-03"),
    ("1404-06-13", "پنجشنبه ۱۳ شهریور ۱۴۰۴", "۴ سپتامبر ۲۰۲۵", "2025-09-04"),
    ("1404-06-14", "جمعه ۱۴ شهریور ۱۴۰۴", "۵ سپتامبر ۲۰۲۵", "2025-09-05"),
    ("1404-06-15", "شنبه ۱۵ شهریور ۱۴۰۴", "۶ سپتامبر ۲۰۲۵", "2025-09-06"),
    ("1404-06-16", "یکشنبه ۱۶ شهریور ۱۴۰۴", "۷ سپتامبر ۲۰۲۵", "2025-09-07"),
    ("1404-06-17", "دوشنبه ۱۷ شهریور ۱۴۰۴", "۸ سپتامبر ۲۰۲۵", "2025-09-08"),
]



@pytest.fixture
def clock(app) -> Clock:
    found = Clock(dt.datetime(2025, 9, 6, 10, 0, tzinfo=TEHRAN))
    app.config["CLOCK"] = found
    return found


def parse(response):
    return lxml_html.fromstring(response.get_data(as_text=True))


def text_of(element) -> str:
    return " ".join(element.text_content().split())


def rewrite_sample(schedules_dir: Path, *replacements: tuple[str, str]) -> None:
    """Edit the sample file in place, keeping its mtime moving so the registry sees it."""
    path = schedules_dir / SAMPLE_NAME
    text = path.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 10**9, before + 10**9))


# -- the list of programmes ---------------------------------------------------------------

def test_index_lists_the_programmes(client, clock):
    response = client.get("/")
    assert response.status_code == 200
    page = parse(response)
    items = page.cssselect(".programme-list > li")
    assert len(items) == 1
    item = text_of(items[0])
    assert "هفته تعاون ۱۴۰۴ شهرستان خلیل‌آباد" in item
    assert "اداره تعاون، کار و رفاه اجتماعی شهرستان خلیل‌آباد" in item
    assert "۱۱ تا ۱۷ شهریور ۱۴۰۴" in item
    assert items[0].cssselect("a")[0].get("href") == PROGRAMME


# -- the programme page -------------------------------------------------------------------

def test_programme_page_is_persian_and_right_to_left(client, clock):
    response = client.get(PROGRAMME)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = parse(response)
    assert page.get("lang") == "fa" and page.get("dir") == "rtl"
    header = text_of(page.cssselect(".programme-header")[0])
    assert "هفته تعاون ۱۴۰۴ شهرستان خلیل‌آباد" in header
    assert "اداره تعاون، کار و رفاه اجتماعی شهرستان خلیل‌آباد" in header
    assert "۱۱ تا ۱۷ شهریور ۱۴۰۴" in header
    assert "به وقت تهران" in header
    assert text_of(page.cssselect("footer .print-only")[0]).endswith(
        "https://hafte.example.ir/khalilabad-1404/")
    about = text_of(page.cssselect(".about")[0])
    assert "۲۵۵ شرکت تعاونی" in about  # the county figures, in Persian digits
    phone = page.cssselect(".contact a[href^='tel:']")[0]
    assert phone.get("href") == "tel:051-52721234" and phone.text == "۰۵۱-۵۲۷۲۱۲۳۴"
    assert page.cssselect(".contact a[href='https://khalilabad.example.ir/taavon']")
    # Persian digits everywhere a visitor reads (addresses excepted: the subscribe box shows
    # the feed's, the printed page the programme's).
    for box in page.cssselect("#subscribe, .print-only"):
        box.getparent().remove(box)
    body = page.cssselect("body")[0].text_content()
    assert re.findall(r"[0-9]", body) == []


def test_every_event_is_on_its_day_with_its_persian_time(client, clock):
    page = parse(client.get(PROGRAMME))
    found = []
    for section in page.cssselect("section.day"):
        for item in section.cssselect("li.event"):
            found.append((section.get("id"), text_of(item.cssselect(".title")[0]),
                          text_of(item.cssselect(".when time")[0].getparent())
                          .replace(" در حال برگزاری", "")))
    assert found == SAMPLE_PAGE


def test_days_are_headed_in_jalali_with_the_gregorian_date_beside(client, clock):
    page = parse(client.get(PROGRAMME))
    sections = page.cssselect("section.day")
    assert [s.get("id") for s in sections] == [anchor for anchor, *_ in DAY_HEADINGS]
    for section, (anchor, jalali_text, gregorian, iso) in zip(sections, DAY_HEADINGS):
        heading = section.cssselect("h2")[0]
        assert text_of(heading).startswith(jalali_text)
        small = heading.cssselect("small time")[0]
        assert small.text == gregorian and small.get("datetime") == iso
    # The day navigation points at those anchors.
    assert [a.get("href") for a in page.cssselect(".day-nav a")] == \
        ["#" + anchor for anchor, *_ in DAY_HEADINGS]


def test_times_are_machine_readable_in_the_programme_timezone(client, clock):
    page = parse(client.get(PROGRAMME))
    first = page.cssselect("li.event")[0]
    times = [t.get("datetime") for t in first.cssselect(".when time")]
    assert times == ["2025-09-02T08:00+03:30", "2025-09-02T09:00+03:30"]
    all_day = page.cssselect("li.event.is-all-day")[0]
    assert [t.get("datetime") for t in all_day.cssselect(".when time")] == ["2025-09-03"]


def test_venue_links_to_iranian_maps_openstreetmap_and_geo(client, clock):
    page = parse(client.get(PROGRAMME))
    first = page.cssselect("li.event")[0]
    assert "گلزار شهدای خلیل‌آباد" in text_of(first.cssselect(".venue")[0])
    assert "خلیل‌آباد، بلوار شهدا" in text_of(first.cssselect(".venue")[0])
    links = {a.text: a.get("href") for a in first.cssselect(".map-links a")}
    assert links["نشان"] == "https://neshan.org/maps/@35.2571,58.2912,17z,0p"
    assert links["بلد"] == "https://balad.ir/location?latitude=35.2571&longitude=58.2912&zoom=17"
    assert links["اوپن‌استریت‌مپ"] == \
        "https://www.openstreetmap.org/?mlat=35.2571&mlon=58.2912#map=17/35.2571/58.2912"
    assert links["نقشهٔ گوشی"] == "geo:35.2571,58.2912"
    hosts = [li.text_content() for li in first.cssselect(".hosts li bdi")]
    assert hosts == ["فرماندار", "مسئول اداره تعاون، کار و رفاه اجتماعی", "مدیران تعاونی‌ها"]
    # A venue without a location has no map links.
    visits = [li for li in page.cssselect("li.event")
              if li.get("data-key") == "peoples-visits@2025-09-03"][0]
    assert visits.cssselect(".venue") and not visits.cssselect(".map-links")


def test_repeated_and_all_day_events_sit_where_they_belong(client, clock):
    page = parse(client.get(PROGRAMME))
    keys = {section.get("id"): [li.get("data-key") for li in section.cssselect("li.event")]
            for section in page.cssselect("section.day")}
    assert keys["1404-06-12"] == ["service-desk", "peoples-visits@2025-09-03"]
    assert keys["1404-06-16"] == ["cooperative-visits@2025-09-07", "think-tank",
                                  "peoples-visits@2025-09-07"]
    third = [li for li in page.cssselect("li.event")
             if li.get("data-key") == "peoples-visits@2025-09-07"][0]
    assert "نوبت ۳ از ۳" in text_of(third)


def test_category_labels_carry_their_colour_and_a_readable_text_colour(client, clock):
    page = parse(client.get(PROGRAMME))
    styles = {text_of(label): label.get("style") for label in page.cssselect("li.event .label")}
    assert styles["مراسم"] == "--label-bg: #6a1b9a; --label-fg: #ffffff;"
    assert styles["تجلیل"] == "--label-bg: #f9a825; --label-fg: #000000;"


def test_links_to_reminders_and_the_subscribe_box(client, clock):
    page = parse(client.get(PROGRAMME))
    hrefs = [a.get("href") for a in page.cssselect("a")]
    assert "/khalilabad-1404/remind/" in hrefs
    assert "#subscribe" in hrefs
    assert page.cssselect("#subscribe")
    event_page = parse(client.get(PROGRAMME + "events/think-tank/"))
    assert "/khalilabad-1404/events/think-tank/remind/" in \
        [a.get("href") for a in event_page.cssselect("a")]
    # a category's page asks for that category, and the remind page has it chosen
    category_page = parse(client.get(PROGRAMME + "categories/visit/"))
    link = "/khalilabad-1404/remind/?scope=category%3Avisit"
    assert link in [a.get("href") for a in category_page.cssselect("a")]
    form = parse(client.get(link))
    (selected,) = form.cssselect("select[name=scope] option[selected]")
    assert selected.get("value") == "category:visit"
    plain = parse(client.get("/khalilabad-1404/remind/"))
    assert [o.get("value") for o in plain.cssselect("select[name=scope] option[selected]")] \
        in ([], ["programme"])


def test_only_local_resources(client, clock):
    for path in ("/", PROGRAMME, PROGRAMME + "events/think-tank/", "/missing/"):
        page = parse(client.get(path))
        resources = (page.xpath("//link/@href") + page.xpath("//script/@src")
                     + page.xpath("//img/@src") + page.xpath("//iframe/@src"))
        assert resources
        assert all(url.startswith("/") and not url.startswith("//") for url in resources)


def test_static_font_and_licence_are_served(client):
    for name in ("fonts/Vazirmatn-Regular.woff2", "fonts/Vazirmatn-Bold.woff2"):
        response = client.get("/static/" + name)
        assert response.status_code == 200
        assert response.data[:4] == b"wOF2"
        response.close()
    licence = client.get("/static/fonts/OFL.txt")
    assert b"SIL OPEN FONT LICENSE" in licence.data.upper()
    licence.close()
    css = client.get("/static/site.css")
    assert b"fonts/Vazirmatn-Regular.woff2" in css.data
    assert b"http" not in css.data  # nothing from another host
    css.close()


# -- escaping and letters ---------------------------------------------------------------

def test_text_from_yaml_is_escaped(app, client, clock, schedules_dir):
    rewrite_sample(schedules_dir,
                   ("title: ادای احترام به شهدای انقلاب",
                    'title: "<script>alert(1)</script> & <b>ادای احترام</b>"'),
                   ("address: خلیل‌آباد، بلوار شهدا", 'address: "<img src=x onerror=alert(1)>"'))
    for path in (PROGRAMME, PROGRAMME + "events/martyrs-tribute/"):
        body = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in body and "<img src=x" not in body and "<b>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;ادای احترام&lt;/b&gt;" in body
        assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_arabic_letters_shown_as_written_and_matched_as_persian(client, clock, schedules_dir):
    rewrite_sample(schedules_dir, ("visit: {label: بازدید و دیدار,",
                                   "visit: {label: بازديد و ديدار,"),
                   ("title: برگزاری میز خدمت", "title: برگزاري ميز خدمت كوچك"))
    page = parse(client.get(PROGRAMME))
    assert "بازديد و ديدار" in text_of(page.cssselect("nav.filter")[0])
    assert "برگزاري ميز خدمت كوچك" in text_of(page)
    # A category asked for by its label, in either spelling, leads to its page.
    for asked in ("بازدید و دیدار", "بازديد و ديدار"):
        response = client.get(f"{PROGRAMME}categories/{asked}/")
        assert response.status_code == 301
        assert response.headers["Location"].endswith("/khalilabad-1404/categories/visit/")


# -- category and event pages ---------------------------------------------------------------

def test_category_page_shows_only_that_category(client, clock):
    response = client.get(PROGRAMME + "categories/ceremony/")
    assert response.status_code == 200
    page = parse(response)
    titles = [text_of(t) for t in page.cssselect("li.event .title")]
    assert titles == [title for _, title, _ in SAMPLE_PAGE if title in (
        "ادای احترام به شهدای انقلاب", "افتتاح تعاونی محصولات چوب فدایی",
        "حضور تعاونگران در نماز جمعه")]
    assert len(titles) == 3
    current = page.cssselect("nav.filter a[aria-current=page]")
    assert len(current) == 1 and text_of(current[0]).startswith("مراسم")
    assert len(page.cssselect("section.day")) == 7


@pytest.mark.parametrize("path", [PROGRAMME + "categories/nothing/",
                                  PROGRAMME + "events/nothing/", "/nothing/",
                                  "/nothing/events/think-tank/"])
def test_unknown_addresses_answer_a_persian_404(client, clock, path):
    response = client.get(path)
    assert response.status_code == 404
    page = parse(response)
    assert page.get("lang") == "fa" and page.get("dir") == "rtl"
    assert "پیدا نشد" in text_of(page)
    assert page.xpath("//link[@rel='stylesheet']")


def test_event_page_tells_everything_about_a_repeated_event(client, clock):
    response = client.get(PROGRAMME + "events/peoples-visits/")
    assert response.status_code == 200
    page = parse(response)
    assert text_of(page.cssselect("h1")[0]) == "دیدارهای مردمی در روستاها و مساجد"
    dates = page.cssselect("ul.occurrences > li")
    assert [li.get("id") for li in dates] == ["1404-06-12", "1404-06-13", "1404-06-16"]
    assert [text_of(li.cssselect(".day")[0]) for li in dates] == [
        "چهارشنبه ۱۲ شهریور ۱۴۰۴", "پنجشنبه ۱۳ شهریور ۱۴۰۴", "یکشنبه ۱۶ شهریور ۱۴۰۴"]
    assert [li.cssselect("small time")[0].text for li in dates] == [
        "۳ سپتامبر ۲۰۲۵", "۴ سپتامبر ۲۰۲۵", "۷ سپتامبر ۲۰۲۵"]
    assert all("۱۸:۳۰ تا ۲۰:۳۰" in text_of(li) for li in dates)
    assert [li.cssselect("a.day-link")[0].get("href") for li in dates] == [
        "/khalilabad-1404/#1404-06-12", "/khalilabad-1404/#1404-06-13",
        "/khalilabad-1404/#1404-06-16"]
    # At the pinned clock (15 Shahrivar, 10:00) the first two have taken place.
    assert [li.get("class").split()[-1] for li in dates] == [
        "state-past", "state-past", "state-upcoming"]
    whole = text_of(page)
    assert "محل هر دیدار در اطلاعیهٔ همان روز اعلام می‌شود" in whole
    assert "پس از نماز مغرب و عشا" in whole
    label = page.cssselect(".event-page .label")[0]
    assert text_of(label) == "بازدید و دیدار"
    assert label.get("href") == "/khalilabad-1404/categories/visit/"


def test_event_page_with_venue_location_and_hosts(client, clock):
    page = parse(client.get(PROGRAMME + "events/best-cooperatives-award/"))
    assert "سالن اجتماعات فرمانداری" in text_of(page.cssselect(".place")[0])
    assert "خلیل‌آباد، خیابان امام خمینی، فرمانداری شهرستان" in text_of(page.cssselect(".place")[0])
    assert len(page.cssselect(".place .map-links a")) == 4
    assert [li.text_content() for li in page.cssselect(".host-list li bdi")] == [
        "فرماندار", "مسئول اداره تعاون، کار و رفاه اجتماعی"]
    assert page.cssselect(".occurrences time[datetime='2025-09-08T10:00+03:30']")


def test_cancelled_and_tentative_events_are_marked(client, clock, schedules_dir):
    rewrite_sample(
        schedules_dir,
        ("    venue: meydan\n", "    venue: meydan\n    status: cancelled\n"),
        ("    date: 1404-06-16\n    start: \"16:00\"\n",
         "    date: 1404-06-16\n    start: \"16:00\"\n    status: tentative\n"))
    page = parse(client.get(PROGRAMME))
    parade = page.cssselect("li.event[data-key='taxi-parade']")[0]
    assert "is-cancelled" in parade.get("class")
    assert text_of(parade.cssselect(".status-cancelled")[0]) == "لغو شد"
    think_tank = page.cssselect("li.event[data-key='think-tank']")[0]
    assert "is-tentative" in think_tank.get("class")
    assert text_of(think_tank.cssselect(".status-tentative")[0]) == "هنوز قطعی نیست"
    # A cancelled event is never "next".
    next_box = text_of(page.cssselect(".now-next .next")[0])
    assert "رژه" not in next_box and "بازدید از تعاونی‌ها" in next_box
    event_page = parse(client.get(PROGRAMME + "events/taxi-parade/"))
    assert "لغو شد" in text_of(event_page.cssselect(".event-page header")[0])
    assert "is-cancelled" in event_page.cssselect("article")[0].get("class")
    # Nothing to add to a calendar and nothing to be reminded of; the tentative one has both.
    assert not event_page.cssselect(".calendar-wrap, .remind-link")
    assert "remind/" not in client.get(PROGRAMME + "events/taxi-parade/").get_data(as_text=True)
    tentative = parse(client.get(PROGRAMME + "events/think-tank/"))
    assert tentative.cssselect(".calendar-wrap") and tentative.cssselect(".remind-link")


def test_a_cancelled_event_is_never_shown_as_on_now(client, clock, schedules_dir):
    # 10:00 on 1404-06-15: the visits' first date (09:00 to 12:00) would be on now.
    rewrite_sample(schedules_dir, ("    end: \"12:00\"\n    venue: edareh\n",
                                   "    end: \"12:00\"\n    venue: edareh\n    status: cancelled\n"))
    page = parse(client.get(PROGRAMME + "events/cooperative-visits/"))
    first, second = page.cssselect("li.occurrence")
    assert "در حال برگزاری" not in text_of(page.cssselect(".event-page")[0])
    assert "state-now" not in first.get("class")
    # Nor, once its time is over, as held.
    clock.moment = dt.datetime(2025, 9, 7, 13, 0, tzinfo=TEHRAN)
    page = parse(client.get(PROGRAMME + "events/cooperative-visits/"))
    assert "برگزار شد" not in text_of(page.cssselect(".event-page .dates")[0])
    assert not page.cssselect(".past-badge, .now-badge")
    # A scheduled event's finished date still says so.
    page = parse(client.get(PROGRAMME + "events/taxi-parade/"))
    assert text_of(page.cssselect(".past-badge")[0]) == "برگزار شد"


# -- now / next ----------------------------------------------------------------------------

def now_box(client) -> str:
    return text_of(parse(client.get(PROGRAMME)).cssselect(".now-next")[0])


def test_before_the_week_says_how_many_days_remain(client, clock):
    clock.moment = dt.datetime(2025, 8, 30, 12, 0, tzinfo=TEHRAN)
    box = now_box(client)
    assert "۳ روز تا آغاز برنامه مانده است" in box and "سه‌شنبه ۱۱ شهریور ۱۴۰۴" in box
    clock.moment = dt.datetime(2025, 9, 1, 23, 59, tzinfo=TEHRAN)
    assert "برنامه فردا، سه‌شنبه ۱۱ شهریور ۱۴۰۴، آغاز می‌شود" in now_box(client)


def test_during_the_week_says_what_is_on_now_and_next(client, clock):
    clock.moment = dt.datetime(2025, 9, 6, 10, 0, tzinfo=TEHRAN)
    page = parse(client.get(PROGRAMME))
    assert "بازدید از تعاونی‌ها" in text_of(page.cssselect(".now-next .now")[0])
    assert "۱۶:۰۰ تا ۱۷:۳۰ رژه خودروهای تعاونی تاکسی بی‌سیم" in \
        text_of(page.cssselect(".now-next .next")[0])
    assert [li.get("data-key") for li in page.cssselect("li.event.is-now")] == [
        "cooperative-visits@2025-09-06"]
    assert page.cssselect("section.day.is-today")[0].get("id") == "1404-06-15"
    # Between events: nothing now; next is the following morning, with its day.
    clock.moment = dt.datetime(2025, 9, 4, 21, 0, tzinfo=TEHRAN)
    box = now_box(client)
    assert "اکنون برنامه‌ای در جریان نیست" in box
    assert "جمعه ۱۴ شهریور ۱۴۰۴، ۱۱:۰۰ تا ۱۱:۳۰ سخنرانی و تبیین مزیت‌های بخش تعاون" in box


def test_now_is_taken_in_the_programme_timezone(client, clock):
    # 05:45 UTC is 09:15 in Tehran: the cooperative visits are on.
    clock.moment = dt.datetime(2025, 9, 6, 5, 45, tzinfo=UTC)
    assert "بازدید از تعاونی‌ها" in text_of(parse(client.get(PROGRAMME))
                                           .cssselect(".now-next .now")[0])
    # 20:45 UTC on 1 September is already 00:15 on the first day in Tehran.
    clock.moment = dt.datetime(2025, 9, 1, 20, 45, tzinfo=UTC)
    page = parse(client.get(PROGRAMME))
    assert "phase-during" in page.cssselect(".now-next")[0].get("class")
    assert page.cssselect("section.day.is-today")[0].get("id") == "1404-06-11"


def test_after_the_week_says_it_has_ended(client, clock):
    clock.moment = dt.datetime(2025, 9, 9, 0, 0, tzinfo=TEHRAN)
    page = parse(client.get(PROGRAMME))
    assert "به پایان رسیده است" in text_of(page.cssselect(".now-next")[0])
    assert len(page.cssselect("li.event.is-past")) == len(SAMPLE_PAGE)


def _remind_links(page) -> list[str]:
    return [a.get("href") for a in page.cssselect("a") if "/remind/" in (a.get("href") or "")]


def test_no_reminder_link_once_nothing_is_left_to_remind_of(client, clock):
    # 19:00 on 16 Shahrivar: the think tank (16:00–18:00) is over, Monday's award is not.
    clock.moment = dt.datetime(2025, 9, 7, 19, 0, tzinfo=TEHRAN)
    assert _remind_links(parse(client.get(PROGRAMME + "events/think-tank/"))) == []
    assert _remind_links(parse(client.get(PROGRAMME + "events/best-cooperatives-award/"))) \
        == ["/khalilabad-1404/events/best-cooperatives-award/remind/"]
    assert _remind_links(parse(client.get(PROGRAMME))) == ["/khalilabad-1404/remind/"] * 2
    clock.moment = dt.datetime(2025, 9, 9, 0, 0, tzinfo=TEHRAN)
    assert _remind_links(parse(client.get(PROGRAMME))) == []
    assert _remind_links(parse(client.get(PROGRAMME + "categories/award/"))) == []
    assert _remind_links(parse(client.get(PROGRAMME + "events/best-cooperatives-award/"))) == []


def test_the_reminder_link_of_an_all_day_event_goes_at_its_hour_not_a_cached_page(
        app, client, clock, schedules_dir):
    """An all-day event's reminders count from 08:00 of its day: the link goes then, though
    the page's "now / next" state (on since midnight) does not change."""
    rewrite_sample(schedules_dir, ('    date: 1404-06-17\n    start: "10:00"\n    end: "12:00"',
                                   "    date: 1404-06-17\n    all_day: true"))
    event = PROGRAMME + "events/best-cooperatives-award/"
    clock.moment = dt.datetime(2025, 9, 8, 7, 0, tzinfo=TEHRAN)
    # The edited file is loaded the evening before (Last-Modified can't be earlier).
    with time_machine.travel(dt.datetime(2025, 9, 7, 20, 0, tzinfo=TEHRAN), tick=False):
        assert _remind_links(parse(client.get(event))) == [event + "remind/"]
    assert _remind_links(parse(client.get(PROGRAMME))) == ["/khalilabad-1404/remind/"] * 2
    before = client.get(event)
    clock.moment = dt.datetime(2025, 9, 8, 9, 0, tzinfo=TEHRAN)
    after = client.get(event, headers={"If-Modified-Since": before.headers["Last-Modified"]})
    assert after.status_code == 200 and _remind_links(parse(after)) == []
    # The page changed at 08:00 Tehran (04:30 UTC), and says so.
    assert after.last_modified == dt.datetime(2025, 9, 8, 4, 30, tzinfo=UTC)
    assert _remind_links(parse(client.get(PROGRAMME))) == []


# -- caching ---------------------------------------------------------------------------------

def test_pages_have_strong_etags_and_answer_304(client, clock):
    first = client.get(PROGRAMME)
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert first.headers["Last-Modified"]
    assert "no-cache" in first.headers["Cache-Control"]
    again = client.get(PROGRAMME, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    since = client.get(PROGRAMME, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 304
    stale = client.get(PROGRAMME, headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.headers["ETag"] == etag


def test_a_page_is_rendered_once_per_version_and_state(app, client, clock):
    cache = page_cache(app)
    # The schedule is loaded at 08:00 on the fifth day (Last-Modified can't be earlier).
    with time_machine.travel(dt.datetime(2025, 9, 6, 8, 0, tzinfo=TEHRAN), tick=False):
        first = client.get(PROGRAMME)
    renders = cache.renders
    # The visits started at 09:00 (05:30 UTC): that is when this page's state began.
    assert first.last_modified == dt.datetime(2025, 9, 6, 5, 30, tzinfo=UTC)
    assert client.get(PROGRAMME).headers["ETag"] == first.headers["ETag"]
    assert cache.renders == renders
    # Later, but still during the same event with the same next one: the same page.
    clock.moment += dt.timedelta(minutes=30)
    assert client.get(PROGRAMME).headers["ETag"] == first.headers["ETag"]
    assert cache.renders == renders
    # The visits end at 12:00: the state, and so the page, changes.
    clock.moment = dt.datetime(2025, 9, 6, 12, 0, tzinfo=TEHRAN)
    later = client.get(PROGRAMME, headers={
        "If-None-Match": first.headers["ETag"],
        "If-Modified-Since": first.headers["Last-Modified"]})
    assert later.status_code == 200
    assert later.headers["ETag"] != first.headers["ETag"]
    assert later.last_modified == dt.datetime(2025, 9, 6, 8, 30, tzinfo=UTC)
    assert cache.renders == renders + 1


def test_an_edited_schedule_shows_on_the_next_request(app, client, clock, schedules_dir):
    first = client.get(PROGRAMME)
    rewrite_sample(schedules_dir, ("title: تجلیل از تعاونی‌های برتر",
                                   "title: تجلیل از تعاونی‌های نمونه"))
    second = client.get(PROGRAMME, headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200
    assert "تجلیل از تعاونی‌های نمونه" in second.get_data(as_text=True)
    assert second.headers["ETag"] != first.headers["ETag"]


# -- gone and drafts ---------------------------------------------------------------------------

def test_a_deleted_programme_answers_410_in_persian(client, clock, schedules_dir):
    assert client.get(PROGRAMME).status_code == 200
    (schedules_dir / SAMPLE_NAME).unlink()
    for path in (PROGRAMME, PROGRAMME + "events/think-tank/", PROGRAMME + "categories/visit/"):
        response = client.get(path)
        assert response.status_code == 410
        page = parse(response)
        assert "برداشته شده" in text_of(page) and page.get("dir") == "rtl"
    assert parse(client.get("/")).cssselect(".programme-list") == []


def make_draft(schedules_dir: Path) -> None:
    rewrite_sample(schedules_dir, ("  timezone: Asia/Tehran\n",
                                   "  timezone: Asia/Tehran\n  draft: true\n"))


def test_a_draft_is_hidden_without_its_preview_link(app, client, clock, schedules_dir):
    make_draft(schedules_dir)
    assert get_registry(app).get("khalilabad-1404").draft
    assert client.get(PROGRAMME).status_code == 404
    assert client.get(PROGRAMME + "events/think-tank/").status_code == 404
    assert client.get(PROGRAMME + "?preview=forged").status_code == 404
    assert "khalilabad-1404" not in client.get("/").get_data(as_text=True)


def test_the_preview_link_shows_a_draft(app, client, clock, schedules_dir):
    make_draft(schedules_dir)
    link = preview_url(app, "khalilabad-1404")
    assert link.startswith("https://hafte.example.ir/khalilabad-1404/?preview=")
    response = client.get(link.removeprefix("https://hafte.example.ir"))
    assert response.status_code == 200
    assert "private" in response.headers["Cache-Control"]
    assert response.headers["X-Robots-Tag"] == "noindex"
    page = parse(response)
    assert page.cssselect(".preview-banner")
    # Links inside the preview keep it, so the organiser can look around.
    token = link.split("preview=")[1]
    event_link = page.cssselect("li.event .title a")[0].get("href")
    assert event_link.endswith("?preview=" + token)
    assert client.get(event_link).status_code == 200
    # A link for one programme opens no other.
    other = preview_url(app, "another-programme").split("preview=")[1]
    assert client.get(PROGRAMME + "?preview=" + other).status_code == 404


def test_preview_link_command(app, schedules_dir, tmp_path, monkeypatch):
    from click.testing import CliRunner

    make_draft(schedules_dir)
    monkeypatch.setenv("WEEK_PLANNER_SCHEDULES_DIR", str(schedules_dir))
    monkeypatch.setenv("WEEK_PLANNER_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("WEEK_PLANNER_BASE_URL", "https://hafte.example.ir")
    result = CliRunner().invoke(main, ["preview-link", "khalilabad-1404"])
    assert result.exit_code == 0, result.output
    link = result.output.strip()
    assert link.startswith("https://hafte.example.ir/khalilabad-1404/?preview=")
    # The same instance folder means the same generated key: the app accepts the link.
    assert app.config["SECRET_KEY"] == (tmp_path / "instance" / "secret_key").read_text().strip()
    assert app.test_client().get(link.removeprefix("https://hafte.example.ir")).status_code == 200


# -- small helpers -----------------------------------------------------------------------------

def test_description_paragraphs():
    assert paragraphs("یک\nدو\n\nسه\n") == ["یک دو", "سه"]
    assert paragraphs(None) == []


def test_persian_gregorian_and_short_dates():
    assert jalali.format_gregorian_persian(dt.date(2025, 9, 2)) == "۲ سپتامبر ۲۰۲۵"
    assert jalali.format_gregorian_persian(dt.date(2026, 3, 21)) == "۲۱ مارس ۲۰۲۶"
    assert jalali.format_day_month(dt.date(2025, 9, 2)) == "۱۱ شهریور"
    eve = dt.datetime(2025, 9, 1, 23, 0, tzinfo=TEHRAN)
    assert jalali.days_until(dt.date(2025, 9, 2), eve, TEHRAN) == 1
    assert jalali.days_until(dt.date(2025, 9, 2), eve.astimezone(UTC), TEHRAN) == 1


def test_pages_forbid_other_hosts_and_keep_preview_keys(app, client, clock, schedules_dir):
    for path in ("/", PROGRAMME, PROGRAMME + "events/think-tank/", "/missing/"):
        policy = client.get(path).headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
    make_draft(schedules_dir)
    link = preview_url(app, "khalilabad-1404").removeprefix("https://hafte.example.ir")
    assert client.get(link).headers["Referrer-Policy"] == "same-origin"


def test_static_files_are_kept_by_browsers_for_a_while(client):
    font = client.get("/static/fonts/Vazirmatn-Regular.woff2")
    assert font.cache_control.max_age >= 7 * 24 * 3600 and font.cache_control.public
    font.close()
    css = client.get("/static/site.css")
    assert css.cache_control.max_age == 3600
    css.close()
    with client.get("/static/site.css", headers={"If-None-Match": css.headers["ETag"]}) as again:
        assert again.status_code == 304


def test_preview_link_uses_the_public_address_even_inside_a_request(app):
    with app.test_request_context(base_url="http://10.0.0.5:8000"):
        assert preview_url(app, "khalilabad-1404").startswith(
            "https://hafte.example.ir/khalilabad-1404/?preview=")


@pytest.mark.parametrize("path", ["/", PROGRAMME, PROGRAMME + "categories/visit/",
                                  PROGRAMME + "events/peoples-visits/", "/missing/"])
def test_ids_are_unique_and_every_fragment_link_has_its_target(client, clock, path):
    page = parse(client.get(path))
    ids = page.xpath("//@id")
    assert len(ids) == len(set(ids))
    for href in page.xpath("//a/@href"):
        if href.startswith("#"):
            assert href[1:] in ids, href


def test_index_without_programmes_says_so(client, clock, schedules_dir):
    (schedules_dir / SAMPLE_NAME).unlink()
    page = parse(client.get("/"))
    assert "هنوز برنامه‌ای منتشر نشده است" in text_of(page)


def test_favicon_at_the_old_address_leads_to_the_svg(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response.headers["Location"].endswith("/static/favicon.svg")
    with client.get("/static/favicon.svg") as icon:
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"


@pytest.mark.parametrize("change", ["delete", "draft"])
def test_the_index_is_modified_when_a_programme_leaves_it(client, clock, schedules_dir, change):
    """A client revalidating with If-Modified-Since alone must not keep a stale list."""
    first = client.get("/")
    assert "khalilabad-1404" in first.get_data(as_text=True)
    with time_machine.travel(dt.datetime.now(UTC) + dt.timedelta(hours=1), tick=False):
        if change == "delete":
            (schedules_dir / SAMPLE_NAME).unlink()
        else:
            make_draft(schedules_dir)
        again = client.get("/", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert again.status_code == 200
    assert "khalilabad-1404" not in again.get_data(as_text=True)
    assert again.last_modified > first.last_modified


@pytest.mark.parametrize("duration, page_text, feed_text", [
    ("10h", "۱۶:۰۰ تا ۰۲:۰۰ (یکشنبه ۱۶ شهریور ۱۴۰۴)",
     "شنبه ۱۵ شهریور ۱۴۰۴، ساعت ۱۶:۰۰ تا یکشنبه ۱۶ شهریور ۱۴۰۴، ساعت ۰۲:۰۰"),
    ("8h", "۱۶:۰۰ تا ۰۰:۰۰", "شنبه ۱۵ شهریور ۱۴۰۴، ساعت ۱۶:۰۰ تا ۰۰:۰۰"),
])
def test_an_event_past_midnight_reads_the_same_on_page_feed_and_mail(
        app, client, clock, schedules_dir, duration, page_text, feed_text):
    """Ending at 02:00 the next day names that day; ending at the midnight that closes the
    start day does not (it is not «until Sunday 00:00»)."""
    import icalendar

    rewrite_sample(schedules_dir, ('    start: "16:00"\n    end: "17:30"\n',
                                   f'    start: "16:00"\n    duration: {duration}\n'))
    page = text_of(parse(client.get("/khalilabad-1404/events/taxi-parade/")))
    assert page_text in page
    if "(" not in page_text:
        assert page_text + " (" not in page
    feed = icalendar.Calendar.from_ical(client.get("/khalilabad-1404/events/taxi-parade.ics")
                                        .get_data())
    (event,) = feed.walk("VEVENT")
    assert str(event["DESCRIPTION"]).splitlines()[0] == feed_text
    programme = get_registry(app).get("khalilabad-1404")
    parade = programme.event("taxi-parade")
    details = occurrence_details(programme, parade, parade.occurrences[0], "https://x.example")
    assert details["time"] == page_text


def test_every_event_has_a_star_link_to_my_programme(client, clock, schedules_dir):
    # Without JavaScript a ☆ is a link to the "my programme" form with its event ticked;
    # a cancelled event has none, and the header links to "my programme".
    rewrite_sample(schedules_dir, ("    venue: meydan\n", "    venue: meydan\n    status: cancelled\n"))
    page = parse(client.get(PROGRAMME))
    assert page.cssselect(".programme-header a[data-my-link]")[0].get("href") == PROGRAMME + "my/"
    for card in page.cssselect("li.event"):
        stars = card.cssselect("a.star")
        if "is-cancelled" in card.get("class"):
            assert not stars
            continue
        event_id = card.cssselect("h3 a")[0].get("href").rstrip("/").rsplit("/", 1)[1]
        assert stars[0].get("href") == f"{PROGRAMME}my/?e={event_id}#my-calendar"
        assert event_id in stars[0].get("data-event")
    my_page = parse(client.get(PROGRAMME + "my/?e=think-tank"))
    assert my_page.cssselect("input[value='think-tank']")[0].get("checked") is not None
    when = text_of(my_page.cssselect("input[value='think-tank']")[0].getparent())
    assert "یکشنبه ۱۶ شهریور ۱۴۰۴، ۱۶:۰۰" in when  # the time too, not only the day
