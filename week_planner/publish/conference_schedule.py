"""Programme → the c3voc conference schedule (``schedule.json`` and ``schedule.xml``).

The format first written by pentabarf and frab and read by conference apps (Giggity,
EventFahrplan, ConfClerk, Engelsystem, info-beamer). ``schedule_dict(programme, base_url)``
builds the JSON document as plain data; ``schedule_json`` and ``schedule_xml`` serialise it
to bytes. All three are pure: the same programme and base URL always give the same bytes.

How the programme maps onto the format:

- Every venue is a room, keyed by its name (an inline venue with the name of a defined one
  shares its room). Events without a venue go in a room named after the programme.
- Every category is a track, with its colour (the page's grey when it has none).
- Every occurrence is one event: a repeated event appears once on each of its dates.
- ``guid`` is ``uuid5`` of the occurrence's calendar UID (``feeds.uid``), so an app that
  also subscribed to the iCalendar feed, or that kept favourites, recognises the same
  occurrence across reloads. The integer ``id`` the format still requires is derived from
  that guid (never from a position in a list), so it is stable too.
- Times: ``date`` is the start as an ISO datetime with the programme's UTC offset, ``start``
  its local ``HH:MM``, ``duration`` the real elapsed time (``HH:MM``). An all-day event
  starts at midnight and lasts until the next midnight.
- Cancelled events stay in the schedule with their title prefixed «لغو شد: », as in the
  calendar feeds. The apps have no cancelled state; an event that silently disappeared
  would also vanish from people's favourites without a word, while a marked title tells
  everyone who planned to go. Tentative events carry the subtitle «هنوز قطعی نیست».
- ``persons`` are the hosts (pretalx-style ``name`` plus frab's ``public_name``, so old
  and new readers both find it), ``language`` is ``fa``, ``url`` the event's page.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
import xml.etree.ElementTree as ET
from importlib import metadata
from typing import Any

from week_planner.publish.changes import xml_text
from week_planner.publish.colours import DEFAULT_BACKGROUND
from week_planner.publish.feeds import CANCELLED_PREFIX, event_page_url, uid
from week_planner.schedule.jalali import normalise_letters
from week_planner.schedule.model import Event, Occurrence, Programme, description_text

SCHEMA_URL = "https://c3voc.de/schedule/schema.json"
GENERATOR = "week-planner"
LANGUAGE = "fa"
TENTATIVE_SUBTITLE = "هنوز قطعی نیست"
TIMESLOT_DURATION = "00:15"

# The namespace of every guid this module makes. It must never change: apps key their
# favourites and alarms on the guids.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://week-planner/c3voc-schedule")

_TRACK_SLUG = re.compile(r"[a-z][a-z0-9-]*[a-z0-9]")  # valid for both the JSON and XML schema
_MAX_INTEGER_ID = 2 ** 31 - 1  # apps keep ids in 32-bit signed integers


def occurrence_guid(programme: Programme, occurrence: Occurrence) -> uuid.UUID:
    """The occurrence's stable guid, from its calendar UID."""
    return uuid.uuid5(NAMESPACE, uid(programme.id, occurrence.key))


def room_guid(programme: Programme, name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{programme.id}/room/{normalise_letters(name)}")


def person_guid(programme: Programme, name: str) -> uuid.UUID:
    """One guid per host name within a programme, so apps can list a host's events."""
    return uuid.uuid5(NAMESPACE, f"{programme.id}/person/{normalise_letters(name)}")


def integer_ids(guids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """A positive 32-bit integer per guid, derived from the guid itself.

    A clash (rare: two of 2³¹ values) moves the later guid, in guid order, to the next free
    value, so the result depends only on the set of guids, never on their order.
    """
    taken: dict[uuid.UUID, int] = {}
    used: set[int] = set()
    for guid in sorted(set(guids)):
        number = guid.int % _MAX_INTEGER_ID + 1
        while number in used:
            number = number % _MAX_INTEGER_ID + 1
        used.add(number)
        taken[guid] = number
    return taken


def acronym(programme: Programme) -> str:
    """The programme id as the schema's acronym: no hyphens, at least four characters."""
    return programme.id.replace("-", "_").ljust(4, "_")


def room_name(programme: Programme, event: Event) -> str:
    return event.venue.name if event.venue is not None else programme.title


def hh_mm(span: dt.timedelta) -> str:
    minutes = int(span.total_seconds()) // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def generator_version() -> str:
    try:
        return metadata.version("week-planner")
    except metadata.PackageNotFoundError:  # running from a bare source tree
        return "0"


# ------------------------------------------------------------------------ model → dict

def _rooms(programme: Programme) -> list[dict[str, Any]]:
    """Rooms in the order of the venues list, then inline venues, then the default room."""
    found: dict[str, str | None] = {}
    for venue in programme.venues.values():
        found.setdefault(venue.name, venue.address)
    defaults = []
    for event in programme.events:
        if event.venue is None:
            defaults = [programme.title]
        else:
            found.setdefault(event.venue.name, event.venue.address)
    for name in defaults:
        found.setdefault(name, None)
    rooms = []
    for name, address in found.items():
        room: dict[str, Any] = {"name": name, "guid": str(room_guid(programme, name))}
        if address:
            room["description"] = address
        rooms.append(room)
    return rooms


def _tracks(programme: Programme) -> list[dict[str, Any]]:
    tracks = []
    for category in programme.categories.values():
        track: dict[str, Any] = {"name": category.label}
        if _TRACK_SLUG.fullmatch(category.id):
            track["slug"] = category.id
        track["color"] = category.color or DEFAULT_BACKGROUND
        tracks.append(track)
    return tracks


def _event(programme: Programme, event: Event, occurrence: Occurrence, guid: uuid.UUID,
           number: int, person_ids: dict[uuid.UUID, int], base_url: str) -> dict[str, Any]:
    elapsed = (occurrence.end.astimezone(dt.timezone.utc)
               - occurrence.start.astimezone(dt.timezone.utc))
    title = CANCELLED_PREFIX + event.title if event.cancelled else event.title
    persons = []
    for host in event.hosts:
        host_guid = person_guid(programme, host)
        persons.append({"name": host, "public_name": host, "guid": str(host_guid),
                        "_id": person_ids[host_guid]})
    links = []
    if event.url:
        links.append({"type": "web", "url": event.url, "title": event.url})
    return {
        "guid": str(guid),
        "id": number,
        "date": occurrence.start.isoformat(),
        "start": occurrence.start.strftime("%H:%M"),
        "end": occurrence.end.isoformat(),
        "duration": hh_mm(elapsed),
        "room": room_name(programme, event),
        "slug": f"{acronym(programme)}-{number}-{event.id}",
        "url": event_page_url(base_url, programme.id, event.id),
        "title": title,
        "subtitle": TENTATIVE_SUBTITLE if event.tentative else "",
        "track": event.category.label,
        "type": event.category.label,
        "language": LANGUAGE,
        "abstract": "",
        "description": description_text(event.description),
        "persons": persons,
        "links": links,
    }


def _with_internal_keys(programme: Programme, base_url: str) -> dict[str, Any]:
    """The document, with each person's integer id under ``_id`` for the XML."""
    base_url = base_url.rstrip("/")
    pairs = [(event, occurrence) for event in programme.events
             for occurrence in event.occurrences]
    guids = {occurrence.key: occurrence_guid(programme, occurrence)
             for _, occurrence in pairs}
    numbers = integer_ids(list(guids.values()))
    person_ids = integer_ids([person_guid(programme, host)
                              for event in programme.events for host in event.hosts])
    rooms = _rooms(programme)

    tz = programme.tz
    first = min([programme.first_day, *(occ.day for _, occ in pairs)])
    last = max([programme.last_day, *(occ.day for _, occ in pairs)])
    days = []
    for index in range((last - first).days + 1):
        day = first + dt.timedelta(days=index)
        on_day = sorted(((event, occ) for event, occ in pairs if occ.day == day),
                        key=lambda pair: (pair[1].start, pair[1].end, pair[1].key))
        day_start = dt.datetime.combine(day, dt.time(), tz)
        day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz)
        # An event running past midnight stays on the day it starts; the day ends with it.
        day_end = max([day_end, *(occ.end for _, occ in on_day)])
        # Only the rooms in use that day (in the rooms' order): a phone's grid of a
        # county's week would otherwise be mostly empty columns.
        by_room: dict[str, list[dict[str, Any]]] = {room["name"]: [] for room in rooms}
        for event, occ in on_day:
            guid = guids[occ.key]
            by_room[room_name(programme, event)].append(
                _event(programme, event, occ, guid, numbers[guid], person_ids, base_url))
        by_room = {name: events for name, events in by_room.items() if events}
        days.append({"index": index + 1, "date": day.isoformat(),
                     "day_start": day_start.isoformat(), "day_end": day_end.isoformat(),
                     "rooms": by_room})

    conference: dict[str, Any] = {
        "acronym": acronym(programme),
        "title": programme.title,
    }
    if programme.description:
        conference["description"] = description_text(programme.description)
    conference.update({
        "start": programme.start().isoformat(),
        "end": programme.end().isoformat(),
        "daysCount": len(days),
        "timeslot_duration": TIMESLOT_DURATION,
        "time_zone_name": programme.timezone,
        "url": f"{base_url}/{programme.id}/",
        "tracks": _tracks(programme),
        "rooms": rooms,
        "days": days,
    })
    return {
        "$schema": SCHEMA_URL,
        "generator": {"name": GENERATOR, "version": generator_version()},
        "schedule": {
            "version": programme.version,
            "base_url": f"{base_url}/{programme.id}/",
            "url": f"{base_url}/{programme.id}/schedule.json",
            "conference": conference,
        },
    }


def _without_internal_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_internal_keys(item) for key, item in value.items()
                if not key.startswith("_")}
    if isinstance(value, list):
        return [_without_internal_keys(item) for item in value]
    return value


def schedule_dict(programme: Programme, base_url: str) -> dict[str, Any]:
    """The ``schedule.json`` document as plain data; ``base_url`` is the service's address."""
    return _without_internal_keys(_with_internal_keys(programme, base_url))


def schedule_json(programme: Programme, base_url: str) -> bytes:
    return (json.dumps(schedule_dict(programme, base_url), ensure_ascii=False, indent=2)
            + "\n").encode("utf-8")


# ------------------------------------------------------------------------- dict → XML

def _element(parent: ET.Element, tag: str, attributes: dict[str, str]) -> ET.Element:
    # ElementTree escapes markup but writes characters XML 1.0 forbids (a YAML "\x01")
    # as they are, which no reader accepts.
    return ET.SubElement(parent, tag, {key: xml_text(value)
                                       for key, value in attributes.items()})


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = _element(parent, tag, attributes)
    element.text = xml_text(text)
    return element


def schedule_xml(programme: Programme, base_url: str) -> bytes:
    """The ``schedule.xml`` document (the frab XML), built from the same data as the JSON."""
    document = _with_internal_keys(programme, base_url)
    schedule = document["schedule"]
    conference = schedule["conference"]
    base_url = base_url.rstrip("/")

    root = ET.Element("schedule")
    _element(root, "generator", {"name": document["generator"]["name"],
                                      "version": document["generator"]["version"]})
    _text(root, "url", f"{base_url}/{programme.id}/schedule.xml")
    _text(root, "version", schedule["version"])
    head = ET.SubElement(root, "conference")
    _text(head, "acronym", conference["acronym"])
    _text(head, "title", conference["title"])
    _text(head, "start", conference["start"])
    _text(head, "end", conference["end"])
    _text(head, "days", str(conference["daysCount"]))
    _text(head, "timeslot_duration", conference["timeslot_duration"])
    _text(head, "base_url", schedule["base_url"])
    _text(head, "url", conference["url"])
    _text(head, "time_zone_name", conference["time_zone_name"])
    for track in conference["tracks"]:
        attributes = {key: track[key] for key in ("name", "slug", "color") if key in track}
        _text(head, "track", track["name"], **attributes)

    guids = {room["name"]: room["guid"] for room in conference["rooms"]}
    for day in conference["days"]:
        day_element = _element(root, "day", {
            "index": str(day["index"]), "date": day["date"],
            "start": day["day_start"], "end": day["day_end"]})
        for name, events in day["rooms"].items():
            room = _element(day_element, "room", {"name": name, "guid": guids[name]})
            for event in events:
                _xml_event(room, event)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _xml_event(room: ET.Element, event: dict[str, Any]) -> None:
    element = _element(room, "event", {"id": str(event["id"]), "guid": event["guid"]})
    for key in ("date", "start", "duration", "room", "slug", "url", "title", "subtitle",
                "track", "type", "language", "abstract", "description"):
        _text(element, key, event[key])
    persons = ET.SubElement(element, "persons")
    for person in event["persons"]:
        _text(persons, "person", person["name"], id=str(person["_id"]), guid=person["guid"])
    links = ET.SubElement(element, "links")
    for link in event["links"]:
        _text(links, "link", link["title"], href=link["url"], type=link["type"])
