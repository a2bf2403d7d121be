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
import logging
from urllib.parse import quote, urlencode

import segno
from flask import Blueprint, Response, abort, current_app, render_template, request

from week_planner.kept import kept_files
from week_planner.publish import feeds
from week_planner.publish.feed_service import (
    SERVICE_EXTENSION,
    FeedService,
    Stored,
    _event_feed_parts,
    current_feed,
    feed_service,
)
from week_planner.schedule.model import Event, Programme
from week_planner.schedule.registry import registry_of
from week_planner.tokens import make_my_token, read_my_token
from week_planner.web.prepared import keep
from week_planner.web.security import protect

log = logging.getLogger(__name__)

calendar = Blueprint("calendar", __name__)



@calendar.record_once
def _set_up(state) -> None:
    app = state.app
    service = FeedService(app, kept=kept_files(app, "feeds"))
    app.extensions[SERVICE_EXTENSION] = service
    registry_of(app).on_change(service.on_registry_change)




# ------------------------------------------------------------------------ the service







# ------------------------------------------------------------------------------ feeds







def _feed_response(programme_id: str, selection: feeds.Selection, name_for, source_path: str,
                   page_path: str, filename: str, private: bool = False) -> Response:
    found = current_feed(current_app._get_current_object(), programme_id, selection, name_for,
                         source_path, page_path)
    if found is None:
        abort(404)
    built, until = found
    response = Response(built.body, content_type="text/calendar; charset=utf-8")
    response.set_etag(built.etag)
    response.last_modified = built.last_modified
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "ETag, Last-Modified"
    response.headers["Cache-Control"] = ("private" if private else "public") + \
        ", max-age=300, must-revalidate"
    return keep(response, until, programme_id, uses_store=True).make_conditional(request)


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








# ------------------------------------------------------------------- my programme page

@calendar.route("/<programme>/my/")
def my_programme(programme: str):
    found = registry_of(current_app).get(programme)
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
