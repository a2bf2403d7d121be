"""Independent iCalendar readers for the feed tests, each reduced to the same tuples:
``(UID, STATUS, SEQUENCE, start, end)`` with a start or end as ``("utc", seconds)`` or
``("date", "YYYY-MM-DD")``; and ``disagreements``, which puts them side by side.

The readers: ical.js through node (``tests/icaljs_dump.mjs``; Thunderbird's), vobject,
recurring-ical-events, icalendar, and libical (Evolution's and KDE's) through ctypes when
Debian's ``libical3`` is installed. icalendar and recurring-ical-events resolve a known
TZID from zoneinfo, so ical.js, vobject and libical are the ones that read our VTIMEZONE.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import icalendar
import pytest
import recurring_ical_events
import vobject
import vobject.icalendar

from week_planner.publish import feeds
from week_planner.revision_store import ProgrammeRevisions

ROOT = Path(__file__).resolve().parent.parent
ICALJS_DUMP = Path(__file__).resolve().parent / "icaljs_dump.mjs"


def _moment(value) -> tuple:
    if isinstance(value, dt.datetime):
        assert value.tzinfo is not None, "a floating time where a zoned one was written"
        return ("utc", int(value.timestamp()))
    return ("date", value.isoformat())


def read_with_icalendar(data: bytes) -> list[tuple]:
    calendar = icalendar.Calendar.from_ical(data)
    return sorted(
        (str(event["UID"]), str(event["STATUS"]), int(event["SEQUENCE"]),
         _moment(event.decoded("DTSTART")), _moment(event.decoded("DTEND")))
        for event in calendar.walk("VEVENT"))


def read_with_recurring_ical_events(data: bytes) -> list[tuple]:
    calendar = icalendar.Calendar.from_ical(data)
    found = recurring_ical_events.of(calendar).between(dt.date(1970, 1, 1),
                                                        dt.date(2100, 1, 1))
    return sorted(
        (str(event["UID"]), str(event["STATUS"]), int(event["SEQUENCE"]),
         _moment(event["DTSTART"].dt), _moment(event["DTEND"].dt)) for event in found)


def read_with_vobject(data: bytes) -> list[tuple]:
    # vobject keeps every VTIMEZONE it has read in a process-wide map and never replaces
    # an entry, so forget them: each file must be read with its own VTIMEZONE only.
    tzid_map = vars(vobject.icalendar)["__tzidMap"]
    for tzid in [name for name in tzid_map if name != "UTC"]:
        del tzid_map[tzid]
    calendar = vobject.readOne(data.decode("utf-8"))
    found = []
    for event in calendar.contents.get("vevent", []):
        for name in ("dtstart", "dtend"):
            value = getattr(event, name).value
            if isinstance(value, dt.datetime):
                # Not pytz's idea of the zone: the file's VTIMEZONE, as dateutil read it.
                assert not type(value.tzinfo).__module__.startswith("pytz"), value.tzinfo
        found.append((event.uid.value, event.status.value, int(event.sequence.value),
                      _moment(event.dtstart.value), _moment(event.dtend.value)))
    return sorted(found)


def read_with_icaljs(paths: list[Path]) -> dict[str, list[tuple]]:
    node = shutil.which("node")
    assert node, "node is needed to run ical.js"
    assert (ROOT / "node_modules" / "ical.js").is_dir(), "run `npm install` for ical.js"
    result = subprocess.run([node, str(ICALJS_DUMP), *map(str, paths)], cwd=ROOT,
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    found = {}
    for path, events in json.loads(result.stdout).items():
        found[path] = sorted(
            (e["uid"], e["status"], e["sequence"],
             *(("utc", e[key]["utc"]) if "utc" in e[key] else ("date", e[key]["date"])
               for key in ("start", "end")))
            for e in events)
    return found


# ----------------------------------------------------------------------------- libical

class _Time(ctypes.Structure):
    """libical 3's ``struct icaltimetype``."""

    _fields_ = [*((name, ctypes.c_int) for name in (
        "year", "month", "day", "hour", "minute", "second", "is_date", "is_daylight")),
        ("zone", ctypes.c_void_p)]


_SIGNATURES = {
    # name: (result type, argument types); every pointer is opaque here.
    "icalerror_set_errors_are_fatal": (None, [ctypes.c_int]),
    "icalparser_parse_string": (ctypes.c_void_p, [ctypes.c_char_p]),
    "icalcomponent_free": (None, [ctypes.c_void_p]),
    "icalrestriction_check": (ctypes.c_int, [ctypes.c_void_p]),
    "icalcomponent_string_to_kind": (ctypes.c_int, [ctypes.c_char_p]),
    "icalproperty_string_to_kind": (ctypes.c_int, [ctypes.c_char_p]),
    "icalcomponent_get_first_component": (ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_int]),
    "icalcomponent_get_next_component": (ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_int]),
    "icalcomponent_get_first_property": (ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_int]),
    "icalcomponent_get_next_property": (ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_int]),
    "icalproperty_get_xlicerror": (ctypes.c_char_p, [ctypes.c_void_p]),
    "icalcomponent_get_uid": (ctypes.c_char_p, [ctypes.c_void_p]),
    "icalcomponent_get_sequence": (ctypes.c_int, [ctypes.c_void_p]),
    "icalcomponent_get_status": (ctypes.c_int, [ctypes.c_void_p]),
    "icalproperty_status_to_string": (ctypes.c_char_p, [ctypes.c_int]),
    "icalcomponent_get_dtstart": (_Time, [ctypes.c_void_p]),
    "icalcomponent_get_dtend": (_Time, [ctypes.c_void_p]),
    "icalcomponent_get_timezone": (ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p]),
    "icaltimezone_get_tzid": (ctypes.c_char_p, [ctypes.c_void_p]),
    "icaltimezone_get_utc_timezone": (ctypes.c_void_p, []),
    "icaltime_as_timet_with_zone": (ctypes.c_int64, [_Time, ctypes.c_void_p]),
}


@functools.cache
def libical():
    """Debian's libical 3 (``libical3``) through ctypes, or None when it is not installed."""
    name = ctypes.util.find_library("ical")
    if name is None or not name.endswith(".so.3"):
        return None
    library = ctypes.CDLL(name)
    for function, (result, arguments) in _SIGNATURES.items():
        getattr(library, function).restype = result
        getattr(library, function).argtypes = arguments
    library.icalerror_set_errors_are_fatal(0)
    return library


def require_libical():
    """libical, or a skip on a developer's machine without it; CI must have it."""
    library = libical()
    if library is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the libical checks: install Debian's libical3 "
                        "(scripts/setup --test does)")
        pytest.skip("Debian's libical3 is not installed")
    return library


class _Parsed:
    """A calendar parsed by libical, freed on leaving the ``with``."""

    def __init__(self, library, data: bytes):
        self.library, self.data = library, data

    def __enter__(self):
        self.root = self.library.icalparser_parse_string(self.data)
        assert self.root, "libical could not parse the calendar"
        return self.root

    def __exit__(self, *exc):
        self.library.icalcomponent_free(self.root)


def _children(library, component, kind: str):
    kind_number = library.icalcomponent_string_to_kind(kind.encode())
    child = library.icalcomponent_get_first_component(component, kind_number)
    while child:
        yield child
        child = library.icalcomponent_get_next_component(component, kind_number)


def _libical_moment(library, root, time: _Time) -> tuple:
    if time.is_date:
        return ("date", dt.date(time.year, time.month, time.day).isoformat())
    assert time.zone, "a floating time where a zoned one was written"
    if time.zone != library.icaltimezone_get_utc_timezone():
        # A TZID must be resolved from the file's own VTIMEZONE, not libical's built-in
        # zone of that name.
        tzid = library.icaltimezone_get_tzid(time.zone)
        assert library.icalcomponent_get_timezone(root, tzid) == time.zone, tzid
    return ("utc", library.icaltime_as_timet_with_zone(time, time.zone))


def read_with_libical(data: bytes) -> list[tuple]:
    library = require_libical()
    with _Parsed(library, data) as root:
        return sorted(
            (library.icalcomponent_get_uid(event).decode("utf-8"),
             library.icalproperty_status_to_string(
                 library.icalcomponent_get_status(event)).decode("ascii"),
             library.icalcomponent_get_sequence(event),
             _libical_moment(library, root, library.icalcomponent_get_dtstart(event)),
             _libical_moment(library, root, library.icalcomponent_get_dtend(event)))
            for event in _children(library, root, "VEVENT"))


def libical_problems(data: bytes) -> list[str]:
    """What libical objects to: its parser's errors and its restriction checker's
    (RFC 5545 and, when there is a METHOD, iTIP's rules for it), as X-LIC-ERROR texts."""
    library = require_libical()
    error = library.icalproperty_string_to_kind(b"X-LIC-ERROR")
    found = []

    def collect(component):
        prop = library.icalcomponent_get_first_property(component, error)
        while prop:
            found.append(library.icalproperty_get_xlicerror(prop).decode("utf-8"))
            prop = library.icalcomponent_get_next_property(component, error)
        for child in _children(library, component, "ANY"):
            collect(child)

    with _Parsed(library, data) as root:
        library.icalrestriction_check(root)
        collect(root)
    return found


# ------------------------------------------------------------------------ side by side

def expected_events(programme, revisions: ProgrammeRevisions, keys=None) -> list[tuple]:
    """What every reader must find, from the model and the stored sequences."""
    sequences = {r.occurrence_key: r.sequence for r in revisions.revisions}
    status = {"scheduled": "CONFIRMED", "tentative": "TENTATIVE", "cancelled": "CANCELLED"}
    found = []
    for event in programme.events:
        for occurrence in event.occurrences:
            if keys is not None and occurrence.key not in keys:
                continue
            if occurrence.all_day:
                start = ("date", occurrence.day.isoformat())
                end = ("date", (occurrence.day + dt.timedelta(days=1)).isoformat())
            else:
                start = ("utc", int(occurrence.start.timestamp()))
                end = ("utc", int(occurrence.end.timestamp()))
            found.append((feeds.uid(programme.id, occurrence.key), status[event.status],
                          sequences[occurrence.key], start, end))
    return sorted(found)


def read_all(paths: list[Path]) -> dict[Path, dict[str, list[tuple]]]:
    """``file → reader → what it found``; libical only where it is installed."""
    js = read_with_icaljs(list(paths))
    readers = {"icalendar": read_with_icalendar,
               "recurring-ical-events": read_with_recurring_ical_events,
               "vobject": read_with_vobject}
    if libical() is not None:
        readers["libical"] = read_with_libical
    found = {}
    for path in paths:
        data = path.read_bytes()
        found[path] = {name: reader(data) for name, reader in readers.items()}
        found[path]["ical.js"] = js[str(path)]
    return found


def disagreements(files: dict[Path, list[tuple]]) -> list[str]:
    """Each reader's differences from what each file must hold."""
    problems = []
    for path, results in read_all(list(files)).items():
        expected = files[path]
        for name, found in results.items():
            if found != expected:
                wrong = sorted(set(found) ^ set(expected))[:4]
                problems.append(f"{name} misreads {path.name}: {wrong}")
    return problems
