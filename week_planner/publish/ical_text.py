"""iCalendar content lines written directly, byte for byte as icalendar writes the same
properties: text escaping, dates and times with their ``TZID``, the order of properties
in a component, and folding at 75 octets.

Building a component of icalendar objects and serialising it was nine tenths of building
a feed (some 20 ms for a programme of 12 events, so a national cold start spent minutes in
it). ``component(name, properties, subcomponents)`` writes one straight from
``(NAME, parameters, value)`` triples; the values come from ``text``, ``moment``,
``duration`` and friends. tests/publish/test_feed_writing.py holds every feed to the
bytes icalendar writes for the same calendar.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Iterable

import icalendar

# The properties a component writes first, in this order (icalendar's canonical_order);
# the others follow in alphabetical order.
CANONICAL_ORDER = {
    "VCALENDAR": ("VERSION", "PRODID", "CALSCALE", "METHOD", "DESCRIPTION", "X-WR-CALDESC",
                  "NAME", "X-WR-CALNAME"),
    "VEVENT": ("SUMMARY", "DTSTART", "DTEND", "DURATION", "DTSTAMP", "UID",
               "RECURRENCE-ID", "SEQUENCE", "RRULE", "RDATE", "EXDATE"),
}

_RANKS = {name: {property_name: (0, index) for index, property_name in enumerate(order)}
          for name, order in CANONICAL_ORDER.items()}

_ESCAPED = re.compile(r"[\\;,\r\n]")

FOLD_AT = 75  # octets a line may reach, line break excluded (RFC 5545 §3.1)

Property = tuple[str, str, str]  # (NAME, parameters or "", value as written)


def text(value: str) -> str:
    """A TEXT value escaped (RFC 5545 §3.3.11), line breaks of any kind as ``\\n``; a
    written ``\\N`` is a line break too."""
    if _ESCAPED.search(value) is None:  # most values: nothing to escape
        return value
    return (value.replace(r"\N", "\n").replace("\\", "\\\\").replace(";", r"\;")
            .replace(",", r"\,").replace("\r\n", r"\n").replace("\n", r"\n")
            .replace("\r", r"\n"))


def text_list(values: Iterable[str]) -> str:
    """A list of TEXT values (CATEGORIES)."""
    return ",".join(text(value) for value in values)


def date(day: dt.date) -> tuple[str, str]:
    """(parameters, value) of a DATE."""
    return "VALUE=DATE", f"{day.year:04}{day.month:02}{day.day:02}"


def moment(value: dt.datetime) -> tuple[str, str]:
    """(parameters, value) of an aware DATE-TIME: local time with its ``TZID``, or UTC
    with ``Z``."""
    parameters, suffix, _ = _zone_form(value)
    return parameters, (f"{value.year:04}{value.month:02}{value.day:02}T{value.hour:02}"
                        f"{value.minute:02}{value.second:02}{suffix}")


def zone_id(value: dt.datetime) -> str | None:
    """The ``TZID`` that ``moment`` writes for ``value`` (None: it is written in UTC)."""
    return _zone_form(value)[2]


def _zone_form(value: dt.datetime) -> tuple[str, str, str | None]:
    """How icalendar writes a time of this zone, offset and zone name: the parameters,
    the suffix after the digits, and the TZID. Asked of icalendar itself once for each,
    so a zone it knows by another id, or takes for UTC, is written alike."""
    key = (value.tzinfo, value.utcoffset(), value.tzname())
    found = _ZONE_FORMS.get(key)
    if found is None:
        event = icalendar.Event()
        event.add("dtstart", value)
        written = event["DTSTART"]
        line = str(event.content_line("DTSTART", written))
        head = line.rpartition(":")[0]  # the digits hold no colon
        found = _ZONE_FORMS[key] = (head.partition(";")[2], "Z" if line.endswith("Z") else "",
                                    written.params.get("TZID"))
    return found


_ZONE_FORMS: dict[tuple, tuple[str, str, str | None]] = {}


@functools.lru_cache(maxsize=256)
def duration(value: dt.timedelta) -> str:
    return icalendar.vDuration(value).to_ical().decode("ascii")


def geo(latitude, longitude) -> str:
    return f"{float(latitude)};{float(longitude)}"


def fold(octets: bytes) -> bytes:
    """Lines longer than 74 octets folded as icalendar folds them: each part the most
    whole characters that fit in 74 octets, and a ``\\`` or ``^`` that would end a part
    carried over to the next, so an escape is never split."""
    limit = FOLD_AT - 1
    if len(octets) <= limit:
        return octets
    parts = []
    start = 0
    while len(octets) - start > limit:
        cut = start + limit
        while octets[cut] & 0xC0 == 0x80:  # inside a character: back to its start
            cut -= 1
        if cut - start > 1 and octets[cut - 1] in b"\\^":
            cut -= 1
        parts.append(octets[start:cut])
        start = cut
    parts.append(octets[start:])
    return b"\r\n ".join(parts)


def component(name: str, properties: list[Property],
              subcomponents: Iterable[bytes] = ()) -> bytes:
    """``BEGIN:<name>`` … ``END:<name>`` with each line ending in CRLF: the properties
    in icalendar's order (at most one of each name), then the subcomponents as given."""
    rank = _RANKS.get(name, {})
    # Sorted by (rank, name) alone: names are unique, so the property is never compared.
    ordered = [(rank.get(found[0]) or (1, found[0]), found) for found in properties]
    ordered.sort()
    lines = [b"BEGIN:" + name.encode("ascii")]
    for _, (property_name, parameters, value) in ordered:
        if value[:1] == "\ufeff":
            value = value[1:]  # icalendar reads its own bytes back as UTF-8 with a BOM
        octets = (f"{property_name};{parameters}:{value}" if parameters
                  else f"{property_name}:{value}").encode("utf-8")
        lines.append(octets if len(octets) < FOLD_AT else fold(octets))
    return b"\r\n".join(lines) + b"\r\n" + b"".join(subcomponents) + \
        b"END:" + name.encode("ascii") + b"\r\n"
