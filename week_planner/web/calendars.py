"""The iCalendar feeds over HTTP, and "my programme" (a personal feed of chosen events).

Blueprint ``calendar``:

- ``/<programme>.ics`` — the whole programme;
- ``/<programme>/categories/<category>.ics`` — one category;
- ``/<programme>/events/<event>.ics`` — one event (the "add to calendar" download);
- ``/<programme>/my/<token>.ics`` — the events a visitor chose, the choice signed into
  the token; ``/<programme>/my/`` is the page where they choose.

``FeedService`` (one per app, ``feed_service(app)``) keeps the stored revisions in step
with the registry — on every registry change and again before a feed is served — and
keeps each built feed in memory, keyed by the programme's revision state, the feed's
selection and the time phase, so a feed is built once and then served as stored bytes.
The template globals ``subscribe_links`` and ``add_to_calendar_links`` feed the page
partials ``_subscribe.html`` and ``_add_to_calendar.html``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Hashable
from urllib.parse import quote, urlencode

import segno
from flask import (Blueprint, Flask, Response, abort, current_app, render_template,
                   request)
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.exc import IntegrityError

from . import feeds, get_registry, store
from .model import Event, Programme
from .views import EPOCH, current_time, protect

log = logging.getLogger(__name__)

calendar = Blueprint("calendar", __name__)

SERVICE_EXTENSION = "week_planner.feeds"
MY_FEED_SALT = "week-planner.my-feed"
SYNC_ATTEMPTS = 3


@calendar.record_once
def _set_up(state) -> None:
    app = state.app
    service = FeedService(app)
    app.extensions[SERVICE_EXTENSION] = service
    get_registry(app).on_change(service.on_registry_change)


def feed_service(app: Flask) -> FeedService:
    return app.extensions[SERVICE_EXTENSION]


# ------------------------------------------------------------------------ the service

@dataclass(frozen=True)
class Stored:
    """A programme's stored revisions, with a token that changes when any of them does."""

    revisions: store.ProgrammeRevisions
    token: str


@dataclass(frozen=True)
class BuiltFeed:
    body: bytes
    etag: str
    last_modified: dt.datetime


class FeedService:
    def __init__(self, app: Flask, max_feeds: int = 512):
        self.app = app
        self.max_feeds = max_feeds
        self._stored: dict[str, Stored] = {}
        self._synced: dict[str, str] = {}  # programme id → version synced, or GONE
        self._feeds: OrderedDict[Hashable, BuiltFeed] = OrderedDict()
        self._lock = threading.RLock()
        self.builds = 0  # feeds built, not served from memory

    GONE = "\0gone"

    # -- keeping the store in step
    def on_registry_change(self, old, new) -> None:
        for programme_id, programme in new.programmes.items():
            if old.programmes.get(programme_id) is not programme:
                self.sync(programme_id, programme)
        for programme_id in new.gone:
            if programme_id not in old.gone:
                self.sync(programme_id, None)

    def sync(self, programme_id: str, programme: Programme | None) -> Stored | None:
        """Record the programme's occurrences (``None``: its file is gone)."""
        if programme is not None and programme.draft:
            return self._stored.get(programme_id)
        marker = self.GONE if programme is None else programme.version
        with self._lock:
            if self._synced.get(programme_id) == marker and programme_id in self._stored:
                return self._stored[programme_id]
            engine = store.app_engine(self.app)
            for attempt in range(SYNC_ATTEMPTS):
                try:
                    revisions = store.sync_revisions(
                        engine, programme_id,
                        None if programme is None else programme.version,
                        None if programme is None else feeds.programme_snapshot(programme),
                        None if programme is None else feeds.occurrence_snapshots(programme),
                        current_time(self.app))
                    break
                except (store.RevisionConflict, IntegrityError):
                    # Another process recorded the same change first; read its result.
                    if attempt == SYNC_ATTEMPTS - 1:
                        raise
            stored = self._remember(revisions)
            self._synced[programme_id] = marker
            return stored

    def _remember(self, revisions: store.ProgrammeRevisions) -> Stored:
        digest = hashlib.sha256(repr((
            revisions.programme, revisions.removed_at,
            [(r.occurrence_key, r.sequence, r.removed, r.modified_at, r.past_categories)
             for r in revisions.revisions])).encode("utf-8")).hexdigest()
        stored = Stored(revisions, digest)
        self._stored[revisions.programme_id] = stored
        return stored

    def stored(self, programme_id: str) -> Stored | None:
        """The programme's revisions, synced first with what the registry serves."""
        registry = get_registry(self.app)
        programme = registry.get(programme_id)
        if programme is not None:
            if programme.draft:
                return None
            return self.sync(programme_id, programme)
        if registry.is_gone(programme_id):
            return self.sync(programme_id, None)
        with self._lock:
            if programme_id not in self._stored:
                # Not in the folder since this process started: known only to the store.
                revisions = store.load_revisions(store.app_engine(self.app), programme_id)
                if revisions.programme is None:
                    return None
                if revisions.removed_at is None and self._folder_all_good(registry):
                    # Its file was deleted while the service was stopped.
                    return self.sync(programme_id, None)
                self._remember(revisions)
            return self._stored[programme_id]

    @staticmethod
    def _folder_all_good(registry) -> bool:
        """True when the folder could be read and every schedule file loaded: an absent
        programme is really gone, not hidden by a file with errors or an unmounted share."""
        snapshot = registry.snapshot()
        return snapshot.folder_readable and \
            not any(state.result.errors for state in snapshot.files.values())

    # -- building
    def feed(self, key: Hashable, build) -> BuiltFeed:
        with self._lock:
            found = self._feeds.get(key)
            if found is not None:
                self._feeds.move_to_end(key)
                return found
        built = build()
        self.builds += 1
        with self._lock:
            self._feeds[key] = built
            while len(self._feeds) > self.max_feeds:
                self._feeds.popitem(last=False)
        return built


# ------------------------------------------------------------------------------ feeds

def built_feed(app: Flask, programme_id: str, selection: feeds.Selection, name_for,
               source_path: str, page_path: str) -> BuiltFeed | None:
    """The feed's bytes, ETag and Last-Modified, built once per programme state and kept in
    memory; None when the programme has never been stored."""
    service = feed_service(app)
    stored = service.stored(programme_id)
    if stored is None or stored.revisions.programme is None:
        return None
    programme = stored.revisions.programme
    now = current_time(app)
    gone = stored.revisions.removed_at is not None
    current_phase = feeds.phase(programme, now, gone)
    retention = dt.timedelta(days=app.config["CANCELLED_RETENTION_DAYS"])
    entries = feeds.select_entries(stored.revisions.revisions, selection, now, retention)
    base_url = app.config["BASE_URL"].rstrip("/")
    info = feeds.FeedInfo(name=name_for(programme),
                          description=feeds.calendar_description(programme),
                          source_url=base_url + source_path, page_url=base_url + page_path)
    key = (programme_id, stored.token, selection, current_phase, info,
           tuple((e.revision.occurrence_key, e.cancelled) for e in entries),
           app.config["ALL_DAY_REMINDER_HOUR"])

    def build() -> BuiltFeed:
        body = feeds.build_feed(info, programme, entries, programme_id=programme_id,
                                base_url=base_url, current_phase=current_phase,
                                all_day_reminder_hour=app.config["ALL_DAY_REMINDER_HOUR"])
        moments = [e.revision.modified_at for e in entries]
        moments += [m for m in (feeds.phase_began(programme, current_phase),
                                stored.revisions.removed_at,
                                stored.revisions.updated_at,
                                feeds.expired_since(stored.revisions.revisions, selection,
                                                    now, retention)) if m]
        if not moments:
            moments = [r.modified_at for r in stored.revisions.revisions] or [EPOCH]
        return BuiltFeed(body, hashlib.sha256(body).hexdigest()[:40],
                         max(moments).astimezone(dt.timezone.utc).replace(microsecond=0))

    return service.feed(key, build)


def _event_feed_parts(app: Flask, programme_id: str, event_id: str) -> tuple | None:
    """What ``built_feed`` needs for one event's feed; None for an unknown event."""
    stored = feed_service(app).stored(programme_id)
    if stored is None:
        return None
    titles = [r.snapshot["title"] for r in stored.revisions.revisions
              if r.event_id == event_id]
    if not titles:
        return None
    return (feeds.Selection(events=frozenset({event_id})),
            lambda p: f"{titles[0]} — {p['title']}",
            f"/{programme_id}/events/{event_id}.ics", f"/{programme_id}/events/{event_id}/")


def event_calendar(app: Flask, programme_id: str, event_id: str) -> bytes | None:
    """The bytes of ``/<programme>/events/<event>.ics`` (also the reminder mail's
    attachment, so it carries the same UIDs, SEQUENCE and VTIMEZONE as the feeds)."""
    parts = _event_feed_parts(app, programme_id, event_id)
    built = built_feed(app, programme_id, *parts) if parts else None
    return None if built is None else built.body


def _feed_response(programme_id: str, selection: feeds.Selection, name_for, source_path: str,
                   page_path: str, filename: str, private: bool = False) -> Response:
    built = built_feed(current_app._get_current_object(), programme_id, selection, name_for,
                       source_path, page_path)
    if built is None:
        abort(404)
    response = Response(built.body, content_type="text/calendar; charset=utf-8")
    response.set_etag(built.etag)
    response.last_modified = built.last_modified
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "ETag, Last-Modified"
    response.headers["Cache-Control"] = ("private" if private else "public") + \
        ", max-age=300, must-revalidate"
    return response.make_conditional(request)


def _known_categories(stored: Stored) -> set[str]:
    found = set(stored.revisions.programme.get("categories", {}))
    for revision in stored.revisions.revisions:
        found.add(revision.snapshot.get("category"))
        found |= revision.past_categories
    return found


@calendar.route("/<programme>.ics")
def programme_feed(programme: str):
    return _feed_response(programme, feeds.Selection(), lambda p: p["title"],
                          f"/{programme}.ics", f"/{programme}/", f"{programme}.ics")


@calendar.route("/<programme>/categories/<category>.ics")
def category_feed(programme: str, category: str):
    stored = feed_service(current_app).stored(programme)
    if stored is None or category not in _known_categories(stored):
        abort(404)

    def name(p):
        label = p.get("categories", {}).get(category) or next(
            (r.snapshot["category_label"] for r in stored.revisions.revisions
             if r.snapshot.get("category") == category), category)
        return f"{p['title']} — {label}"

    return _feed_response(programme, feeds.Selection(category=category), name,
                          f"/{programme}/categories/{category}.ics",
                          f"/{programme}/categories/{category}/",
                          f"{programme}-{category}.ics")


@calendar.route("/<programme>/events/<event>.ics")
def event_feed(programme: str, event: str):
    parts = _event_feed_parts(current_app._get_current_object(), programme, event)
    if parts is None:
        abort(404)
    return _feed_response(programme, *parts, f"{programme}-{event}.ics")


@calendar.route("/<programme>/my/<token>.ics")
def my_feed(programme: str, token: str):
    chosen = read_my_token(current_app, programme, token)
    if chosen is None:
        abort(404)
    return _feed_response(programme, feeds.Selection(events=chosen),
                          lambda p: f"{p['title']} — {feeds.MY_PROGRAMME_NAME}",
                          f"/{programme}/my/{token}.ics", f"/{programme}/my/",
                          f"{programme}-my.ics", private=True)


# Sent by the "my programme" form, so a form sent with nothing ticked is told so rather than
# shown again as if it had just been opened.
MY_BUILD_PARAMETER = "build"


def _my_serializer(app: Flask) -> URLSafeSerializer:
    return URLSafeSerializer(app.config["SECRET_KEY"], salt=MY_FEED_SALT)


def make_my_token(app: Flask, programme_id: str, event_ids) -> str:
    """A signed token for a personal feed of ``event_ids``; never expires."""
    return _my_serializer(app).dumps([programme_id, sorted(set(event_ids))])


def read_my_token(app: Flask, programme_id: str, token: str) -> frozenset[str] | None:
    """The chosen event ids, or None when the token is tampered or for another programme."""
    try:
        found = _my_serializer(app).loads(token)
    except BadSignature:
        return None
    if (not isinstance(found, list) or len(found) != 2 or found[0] != programme_id
            or not isinstance(found[1], list) or not found[1]
            or not all(isinstance(item, str) for item in found[1])):
        return None
    return frozenset(found[1])


# ------------------------------------------------------------------- my programme page

@calendar.route("/<programme>/my/")
def my_programme(programme: str):
    found = get_registry(current_app).get(programme)
    if found is None or found.draft:
        abort(404)
    asked = request.args.getlist("e")
    chosen = [event_id for event_id in asked if found.event(event_id)]
    links, error = None, None
    if chosen:
        token = make_my_token(current_app, programme, chosen)
        links = {**_links(f"/{programme}/my/{token}.ics"), "personal": True}
    elif asked:
        error = "هیچ‌یک از برنامه‌های انتخاب‌شده در این برنامه نیست."
    elif MY_BUILD_PARAMETER in request.args:  # the form was sent with nothing ticked
        error = "دست‌کم یک برنامه را علامت بزنید و دوباره «ساختن تقویم من» را بزنید."
    events = sorted(found.events, key=lambda e: (e.occurrences[0].start, e.id)
                    if e.occurrences else (found.start(), e.id))
    response = protect(current_app.make_response((render_template(
        "my_programme.html", programme=found, events=events, chosen=set(chosen),
        error=error, feed_links=links, build_parameter=MY_BUILD_PARAMETER),
        400 if error else 200)), private=bool(chosen))
    # The page holds a personal link once events are chosen: keep it out of shared caches.
    response.cache_control.no_store = True
    return response


# ------------------------------------------------------------------ template helpers

def _links(path: str) -> dict:
    base_url = current_app.config["BASE_URL"].rstrip("/")
    url = base_url + path
    webcal = "webcal://" + url.split("://", 1)[1]
    return {
        "url": url,
        "webcal": webcal,
        "google": "https://calendar.google.com/calendar/r?cid=" + quote(webcal, safe=""),
        "qr_svg": _qr_svg(url),
    }


@functools.lru_cache(maxsize=256)
def _qr_svg(url: str) -> str:
    return segno.make(url, error="m").svg_inline(
        scale=4, border=2, title="نشانی تقویم: " + url)


@calendar.app_template_global()
def subscribe_links(programme: Programme, category=None) -> dict:
    """Addresses for the subscribe box of a programme or one of its categories."""
    if category is None:
        return _links(f"/{programme.id}.ics")
    return _links(f"/{programme.id}/categories/{category.id}.ics")


@calendar.app_template_global()
def add_to_calendar_links(programme: Programme, event: Event) -> dict:
    """The event's .ics address and one Google Calendar template link per occurrence."""
    base_url = current_app.config["BASE_URL"].rstrip("/")
    page = feeds.event_page_url(base_url, programme.id, event.id)
    google = []
    for occurrence in event.occurrences:
        snapshot = feeds.occurrence_snapshot(programme, event, occurrence)
        if occurrence.all_day:
            dates = (f"{occurrence.day:%Y%m%d}/"
                     f"{occurrence.end.date():%Y%m%d}")
        else:
            utc = dt.timezone.utc
            dates = (f"{occurrence.start.astimezone(utc):%Y%m%dT%H%M%SZ}/"
                     f"{occurrence.end.astimezone(utc):%Y%m%dT%H%M%SZ}")
        query = {"action": "TEMPLATE", "text": event.title, "dates": dates,
                 "details": f"{feeds.when_text(snapshot)}\n\n{page}",
                 "ctz": programme.timezone}
        if event.venue is not None:
            query["location"] = "، ".join(
                part for part in (event.venue.name, event.venue.address) if part)
        google.append({"day": occurrence.day,
                       "url": "https://calendar.google.com/calendar/render?" + urlencode(query)})
    return {"ics": f"{base_url}/{programme.id}/events/{event.id}.ics", "google": google}
