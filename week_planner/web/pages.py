"""Public pages: the programme day by day, one category, one event (the list of
programmes is web/directory.py's).

Blueprint ``pages``. Every page is rendered once per programme version and "now / next"
state and kept in memory (``PageCache``); responses carry a strong ETag and Last-Modified
and answer 304 to a repeat visit. "Now" comes from ``app.config["CLOCK"]`` when set (a
function returning an aware datetime), so tests pin it. A draft programme is shown only
through the signed link ``preview_url(app, programme_id)`` builds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Hashable
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)

from week_planner.clock import current_time
from week_planner.publish.colours import label_colours
from week_planner.reminders.planning import covers, reminders_end
from week_planner.schedule import jalali
from week_planner.schedule.model import Category, Event, Occurrence, Programme, paragraphs
from week_planner.schedule.registry import registry_of
from week_planner.tokens import preview_token, previews
from week_planner.web.prepared import keep, next_change
from week_planner.web.security import protect

pages = Blueprint("pages", __name__)

CACHE_EXTENSION = "week_planner.page_cache"
PREVIEW_PARAMETER = "preview"
TIMEZONE_NAMES = {"Asia/Tehran": "تهران"}


# -- the page cache ---------------------------------------------------------------------

@dataclass(frozen=True)
class RenderedPage:
    body: bytes
    etag: str
    last_modified: dt.datetime


class PageCache:
    """Rendered pages by key, least recently used dropped first; emptied when schedules change."""

    def __init__(self, max_entries: int = 512):
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, RenderedPage] = OrderedDict()
        self._lock = threading.Lock()
        self.renders = 0  # how many pages were rendered (not served from the cache)

    def get_or_render(self, key: Hashable, render: Callable[[], str],
                      last_modified: dt.datetime) -> RenderedPage:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        body = render().encode("utf-8")
        page = RenderedPage(body, hashlib.sha256(body).hexdigest()[:40],
                            last_modified.astimezone(dt.timezone.utc).replace(microsecond=0))
        with self._lock:
            self.renders += 1
            self._entries[key] = page
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return page

    def clear(self, *_ignored) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def page_cache(app: Flask) -> PageCache:
    return app.extensions[CACHE_EXTENSION]


@pages.record_once
def _set_up(state) -> None:
    app = state.app
    cache = PageCache()
    app.extensions[CACHE_EXTENSION] = cache
    registry_of(app).on_change(cache.clear)
    registry_of(app).on_change(lambda *_ignored: _SUBSCRIPTION_ENDS.clear())
    for name in ("format_gregorian_persian", "format_day_month", "to_ascii_digits"):
        app.add_template_filter(getattr(jalali, name), name)
    app.add_template_filter(paragraphs, "paragraphs")


def respond_page(key: Hashable, render: Callable[[], str], last_modified: dt.datetime,
             private: bool = False, *, until: dt.datetime | None,
             programme_id: str | None):
    """The page for ``key`` (rendered once), conditional on ETag and Last-Modified. A public
    one is kept as a prepared response until ``until`` or a change of ``programme_id``
    (None: of any programme) (web/prepared.py)."""
    page = page_cache(current_app).get_or_render(key, render, last_modified)
    response = protect(current_app.response_class(page.body, mimetype="text/html"), private)
    response.set_etag(page.etag)
    response.last_modified = page.last_modified
    # Revalidate every time: an edited schedule shows on the next request.
    response.cache_control.no_cache = True
    if private:
        response.cache_control.private = True
        response.headers["X-Robots-Tag"] = "noindex"
    else:
        response.cache_control.public = True
        keep(response, until, programme_id)
    return response.make_conditional(request)


# Static files have no version in their names (the static export keeps paths as they are),
# so browsers keep them for a while rather than asking again on every page.
STATIC_MAX_AGE = {".woff2": 30 * 24 * 3600, ".css": 3600, ".js": 3600, ".svg": 24 * 3600}


@pages.after_app_request
def _static_cache(response):
    if request.endpoint == "static" and response.status_code in (200, 304):
        suffix = Path(request.path).suffix
        if suffix in STATIC_MAX_AGE:
            response.cache_control.public = True
            response.cache_control.max_age = STATIC_MAX_AGE[suffix]
    return response


# -- drafts and preview links -----------------------------------------------------------





def preview_url(app: Flask, programme_id: str) -> str:
    """The signed, absolute link (on BASE_URL) that shows a draft programme before it is published."""
    token = preview_token(app, programme_id)
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        return url_for("pages.programme", programme=programme_id,
                       **{PREVIEW_PARAMETER: token}, _external=True)


def _preview_allowed(programme_id: str) -> bool:
    token = request.args.get(PREVIEW_PARAMETER)
    if not token:
        return False
    return previews(current_app, token, programme_id)


def _find_programme(programme_id: str) -> tuple[Programme, bool]:
    """The programme and whether it is shown as a preview; 404 / 410 otherwise."""
    registry = registry_of(current_app)
    programme = registry.get(programme_id)
    if programme is None:
        abort(410 if registry.is_gone(programme_id) else 404)
    if programme.draft:
        if not _preview_allowed(programme.id):
            abort(404)
        return programme, True
    return programme, False


def _loaded_at(programme: Programme) -> dt.datetime:
    snapshot = registry_of(current_app).snapshot()
    return snapshot.loaded_at.get(programme.id) or dt.datetime.now(dt.timezone.utc)


# -- now / next -------------------------------------------------------------------------

@dataclass(frozen=True)
class NowNext:
    """What the programme's "now / next" box says at one moment."""

    phase: str  # before, during, after
    today: dt.date
    days_left: int  # before the week: days until its first day
    current: tuple[Occurrence, ...]
    upcoming: tuple[Occurrence, ...]  # the occurrences with the next start time
    past: frozenset[str]  # keys of the occurrences that have ended
    since: dt.datetime  # when this state began

    @property
    def key(self) -> tuple:
        return (self.phase, self.today, self.days_left,
                tuple(o.key for o in self.current), tuple(o.key for o in self.upcoming),
                tuple(sorted(self.past)))

    def is_now(self, occurrence: Occurrence) -> bool:
        return occurrence in self.current

    def is_past(self, occurrence: Occurrence) -> bool:
        return occurrence.key in self.past


def state_changes_after(programme: Programme, now: dt.datetime,
                        category: str | None = None) -> dt.datetime | None:
    """The first moment after ``now`` at which ``now_next`` can say something else: an
    occurrence starts or ends, the week starts or ends, or the day changes."""
    tz = programme.tz
    midnight = dt.datetime.combine(jalali.today_in(tz, now) + dt.timedelta(days=1),
                                   dt.time(), tz)
    return next_change(now, [programme.start(), programme.end(), midnight,
                             *(moment for occurrence in programme.occurrences(category)
                               for moment in (occurrence.start, occurrence.end))])


def now_next(programme: Programme, now: dt.datetime, category: str | None = None) -> NowNext:
    """The state of the programme at ``now`` (cancelled events never count as now or next)."""
    tz = programme.tz
    today = jalali.today_in(tz, now)
    midnight = dt.datetime.combine(today, dt.time(), tz)
    phase = programme.phase(now)
    shown = programme.occurrences(category)
    if phase == "before":
        return NowNext(phase, today, jalali.days_until(programme.first_day, now, tz), (), (),
                       frozenset(), midnight)
    if phase == "after":
        return NowNext(phase, today, 0, (), (), frozenset(occ.key for occ in shown),
                       programme.end())
    live = [occ for occ in shown if not programme.event(occ.event_id).cancelled]
    current = tuple(occ for occ in live if occ.start <= now < occ.end)
    later = [occ for occ in live if occ.start > now]
    upcoming: tuple[Occurrence, ...] = ()
    if later:
        first = min(occ.start for occ in later)
        upcoming = tuple(occ for occ in later if occ.start == first)
    past = frozenset(occ.key for occ in shown if occ.end <= now)
    boundaries = [programme.start(), midnight]
    boundaries += [moment for occ in shown for moment in (occ.start, occ.end) if moment <= now]
    return NowNext(phase, today, 0, current, upcoming, past, max(boundaries))


def occurrence_state(occurrence: Occurrence, now: dt.datetime, cancelled: bool = False) -> str:
    """``past``, ``now`` or ``upcoming``; a cancelled event is neither on now nor held."""
    if cancelled:
        return "cancelled"
    if occurrence.end <= now:
        return "past"
    if occurrence.start <= now:
        return "now"
    return "upcoming"


# subscription_end by (id of the programme, scope, all-day hour): every page asks, even one
# served from the page cache. The entry keeps its programme, so the id is not reused;
# emptied when schedules change, so old versions are not kept.
_SUBSCRIPTION_ENDS: dict[tuple, tuple[Programme, dt.datetime | None]] = {}
_SUBSCRIPTION_ENDS_LOCK = threading.Lock()


def subscription_end(programme: Programme, scope: str = "programme") -> dt.datetime | None:
    """The last moment a subscription to ``scope`` ("programme", "category:<id>",
    "event:<id>") can still bring a message: a reminder (until the outbox's own limit), or
    a notice that an occurrence moved or was cancelled (told until it starts). None: the
    scope holds no event."""
    hour = current_app.config["ALL_DAY_REMINDER_HOUR"]
    key = (id(programme), scope, hour)
    found = _SUBSCRIPTION_ENDS.get(key)
    if found is not None and found[0] is programme:
        return found[1]
    # A cancelled event brings nothing more to ask for (its feeds keep it as cancelled).
    moments = [occurrence.start for event in programme.events
               if not event.cancelled and covers(scope, event.id, event.category.id)
               for occurrence in event.occurrences]
    last_reminder = reminders_end(programme, scope, hour)
    if last_reminder is not None:
        moments.append(last_reminder)
    end = max(moments, default=None)
    with _SUBSCRIPTION_ENDS_LOCK:
        if len(_SUBSCRIPTION_ENDS) >= 1024:  # old programmes' entries go in one sweep
            _SUBSCRIPTION_ENDS.clear()
        _SUBSCRIPTION_ENDS[key] = (programme, end)
    return end


def reminders_to_come(programme: Programme, scope: str = "programme",
                      now: dt.datetime | None = None) -> bool:
    """Whether a subscription to ``scope`` would still bring a reminder or notice: the
    pages offer one only then."""
    end = subscription_end(programme, scope)
    return end is not None and end > (now or current_time(current_app))


def reminders_state(programme: Programme, scope: str, now: dt.datetime
                    ) -> tuple[bool, list[dt.datetime]]:
    """(reminders still to come, [the moment they stopped, when that has passed]) for a
    page's cache key and Last-Modified."""
    end = subscription_end(programme, scope)
    if end is None:
        return False, []
    return end > now, [end] if end <= now else []


def reminders_stop_after(programme: Programme, scope: str,
                         now: dt.datetime) -> dt.datetime | None:
    """When ``reminders_state`` changes next (the last reminder's moment, if still ahead)."""
    return next_change(now, [subscription_end(programme, scope)])


# -- helpers for templates --------------------------------------------------------------

def day_bounds(programme: Programme, day: dt.date) -> tuple[str, str]:
    """The day's first and last instant (midnight to midnight in the programme's zone), for
    the page's script to mark "today" by the device's clock."""
    start = dt.datetime.combine(day, dt.time(), programme.tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), programme.tz)
    return start.isoformat(), end.isoformat()


def map_links(latitude: float, longitude: float) -> list[tuple[str, str]]:
    """(label, address) of the map services for a location; Iranian ones first."""
    lat, lon = (f"{value:.6f}".rstrip("0").rstrip(".") for value in (latitude, longitude))
    return [
        ("نشان", f"https://neshan.org/maps/@{lat},{lon},17z,0p"),
        ("بلد", f"https://balad.ir/location?latitude={lat}&longitude={lon}&zoom=17"),
        ("اوپن‌استریت‌مپ",
         f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"),
        ("نقشهٔ گوشی", f"geo:{lat},{lon}"),
    ]


def timezone_name(programme: Programme) -> str:
    return TIMEZONE_NAMES.get(programme.timezone, programme.timezone)


def _page_context(programme: Programme, preview: bool) -> dict:
    token = preview_token(current_app, programme.id) if preview else None

    def link(endpoint: str, **values) -> str:
        """A link to another page of this programme (keeping the preview token)."""
        if token:
            values[PREVIEW_PARAMETER] = token
        return url_for(endpoint, programme=programme.id, **values)

    def category_style(category: Category) -> str:
        background, text = label_colours(category.color)
        return f"--label-bg: {background}; --label-fg: {text};"

    def event_occurrences(event: Event) -> list[Occurrence]:
        return sorted(event.occurrences, key=lambda o: (o.start, o.end))

    return {
        "programme": programme, "preview": preview, "link": link,
        "category_style": category_style, "map_links": map_links,
        "timezone_name": timezone_name(programme), "event_occurrences": event_occurrences,
        "day_bounds": lambda day: day_bounds(programme, day),
        "remind_url": f"/{programme.id}/remind/",
    }


def _find_category(programme: Programme, category_id: str) -> Category | None:
    """By id; else by id or label with Arabic ي/ك read as Persian ی/ک."""
    found = programme.categories.get(category_id)
    if found is not None:
        return found
    wanted = jalali.normalise_letters(category_id.strip())
    for category in programme.categories.values():
        if wanted in (jalali.normalise_letters(category.id), jalali.normalise_letters(category.label)):
            return category
    return None


# -- routes -----------------------------------------------------------------------------

@pages.route("/<programme>/")
def programme(programme: str):
    found, preview = _find_programme(programme)
    return _programme_page(found, preview, None)


@pages.route("/<programme>/categories/<category>/")
def category(programme: str, category: str):
    found, preview = _find_programme(programme)
    chosen = _find_category(found, category)
    if chosen is None:
        abort(404)
    if chosen.id != category:
        values = {PREVIEW_PARAMETER: request.args[PREVIEW_PARAMETER]} if preview else {}
        return redirect(url_for("pages.category", programme=found.id, category=chosen.id,
                                **values), 301)
    return _programme_page(found, preview, chosen)


def _programme_page(programme: Programme, preview: bool, chosen: Category | None):
    now = current_time(current_app)
    state = now_next(programme, now, chosen.id if chosen else None)
    # The reminder link goes once the last reminder can no longer be sent, which is not
    # always a "now / next" boundary (an all-day event's reminders count from its hour).
    # A category's page asks for that category's reminders (the remind page preselects it).
    scope = f"category:{chosen.id}" if chosen else "programme"
    remindable, stopped = reminders_state(programme, scope, now)
    key = ("programme", programme.id, programme.version, chosen.id if chosen else None,
           state.key, remindable, preview)

    def render() -> str:
        days = [(day, programme.occurrences_on(day, chosen.id if chosen else None))
                for day in programme.days]
        counts = {cat_id: sum(1 for e in programme.events if e.category.id == cat_id)
                  for cat_id in programme.categories}
        context = _page_context(programme, preview)
        if not remindable:
            context["remind_url"] = None
        elif chosen:
            context["remind_url"] += "?" + urlencode({"scope": scope})
        return render_template("programme.html", days=days, category=chosen, state=state,
                               counts=counts, **context)

    until = next_change(now, [state_changes_after(programme, now, chosen and chosen.id),
                              reminders_stop_after(programme, scope, now)])
    return respond_page(key, render, max(_loaded_at(programme), state.since, *stopped),
                    private=preview, until=until, programme_id=programme.id)


@pages.route("/<programme>/events/<event>/")
def event(programme: str, event: str):
    found, preview = _find_programme(programme)
    chosen = found.event(event)
    if chosen is None:
        abort(404)
    now = current_time(current_app)
    states = tuple(occurrence_state(occ, now, chosen.cancelled) for occ in chosen.occurrences)
    boundaries = [moment for occ in chosen.occurrences for moment in (occ.start, occ.end)
                  if moment <= now]
    remindable, stopped = reminders_state(found, f"event:{chosen.id}", now)
    since = max([_loaded_at(found), *boundaries, *stopped])
    until = next_change(now, [*(moment for occ in chosen.occurrences
                                for moment in (occ.start, occ.end)),
                              reminders_stop_after(found, f"event:{chosen.id}", now)])
    key = ("event", found.id, found.version, chosen.id, states, remindable, preview)

    def render() -> str:
        return render_template(
            "event.html", event=chosen, states=dict(zip(chosen.occurrences, states)),
            remind_url=f"/{found.id}/events/{chosen.id}/remind/" if remindable else None,
            **{k: v for k, v in _page_context(found, preview).items() if k != "remind_url"})

    return respond_page(key, render, since, private=preview, until=until,
                    programme_id=found.id)


@pages.route("/favicon.ico")
def favicon():
    """Browsers that ask for the icon at the old address get the SVG one."""
    return redirect(url_for("static", filename="favicon.svg"), 301)


@pages.app_errorhandler(404)
def not_found(error):
    return protect(current_app.make_response((render_template("404.html"), 404)))


@pages.app_errorhandler(410)
def gone(error):
    return protect(current_app.make_response((render_template("410.html"), 410)))
