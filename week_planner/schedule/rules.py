"""What the schedule format allows: its keys, its ids and the limits of every value
(docs/schedule-format.md, "Limits")."""

from __future__ import annotations

import datetime as dt
import re

MAX_FILE_BYTES = 1_000_000


MAX_NODES = 200_000  # nodes visited while expanding aliases; a normal 1 MB file has fewer


# The limits of the format (docs/schedule-format.md, "Limits"). Each is far above what a
# real week needs and low enough that no file can make the pages, feeds or reminder plans
# of the service large or slow: the worst file costs about what a big real one does.
MAX_PROGRAMME_DAYS = 31  # the Cooperative Week is 7


JALALI_YEARS = range(1300, 1500)  # plausible Jalali years (1921–2121)


GREGORIAN_YEARS = range(1900, 2200)  # a year here was most likely typed as a Gregorian one


MAX_EVENT_LENGTH = dt.timedelta(days=3)  # longer: an all-day event on several dates


MAX_REMINDER_OFFSET = dt.timedelta(days=30)


MAX_REMINDERS = 5  # offsets in one 'reminders' list


MAX_EVENTS = 500


MAX_CATEGORIES = 50


MAX_VENUES = 200


MAX_DATES = MAX_PROGRAMME_DAYS  # dates of one event (each at most once, within the week)


MAX_LIST_ITEMS = 20  # hosts, notify


MAX_TEXT = 200  # characters of a title, label, name, host, organiser, phone, e-mail


MAX_ADDRESS = 500


MAX_LONG_TEXT = 10_000  # characters of a description


MAX_URL = 2_000


MAX_PROBLEMS = 100  # reported per file; the rest are counted in one closing problem


MAX_ITEMS = MAX_EVENTS  # items of any list read from the file (the longest list allowed)


# Lines and commas: a bound on the values a file can hold, counted before YAML reads it. The
# largest programme the limits allow has about 20,000; a megabyte of "a," has 500,000, and
# composing those alone would take seconds and 200 MB.
MAX_SEPARATORS = 100_000


ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$|^#[0-9a-fA-F]{3}$")


TIME_RE = re.compile(r"^\s*(\d{1,2})\s*:\s*(\d{2})\s*$")


SHORT_DURATION_RE = re.compile(r"^\s*(?:\d+\s*[dhm]\s*)+$", re.IGNORECASE)


SHORT_DURATION_PART = re.compile(r"(\d+)\s*([dhm])", re.IGNORECASE)


URL_RE = re.compile(r"^https?://\S+$", re.IGNORECASE)


# Paths the service itself answers; a programme may not take one of these as its id.
RESERVED_IDS = frozenset({
    "healthz", "metrics", "static", "api", "admin", "export", "feeds", "favicon.ico",
    "robots.txt", "preview", "my", "remind", "unsubscribe", "confirm", "changes",
    "schedule", "calendar", "login", "logout", "assets", "organise", "sw.js",
    "manifest.webmanifest", "offline.html", "provinces", "provinces.ics", "search",
})


PROGRAMME_KEYS = ("id", "title", "organiser", "province", "county", "timezone", "from", "to",
                  "description",
                  "contact", "draft")


CONTACT_KEYS = ("phone", "email", "url")


CATEGORY_KEYS = ("label", "color", "reminders")


VENUE_KEYS = ("name", "address", "location")


EVENT_KEYS = ("id", "title", "category", "date", "dates", "start", "end", "duration",
              "all_day", "venue", "description", "hosts", "reminders", "notify", "status",
              "url")


TOP_KEYS = ("programme", "categories", "venues", "events")


KNOWN_KEYS = frozenset(TOP_KEYS + PROGRAMME_KEYS + CONTACT_KEYS + CATEGORY_KEYS + VENUE_KEYS
                       + EVENT_KEYS)
