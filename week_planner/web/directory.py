"""The national index: the home page, a page and a feed per province, the whole country's
feed, and the search.

Blueprint ``directory``:

- ``/`` — the search box, the programmes running now and those starting soonest (when
  there are more than fit at a glance), then every province with programmes, each listing
  its first ``GROUP_SHOWN`` (running, upcoming, finished) and a link to the rest;
- ``/provinces/<province>/`` (and ``…/<page>/`` from the second page on) — every
  programme of one province, ``PAGE_SIZE`` a page; ``other`` holds those that name none;
- ``/provinces/<province>.ics`` — the events of every programme of the province;
  ``/provinces.ics`` — of every programme served;
- ``/search/?q=…`` — programmes whose title, organiser, county or province hold every
  word, read as people type Persian (publish/directory.py), ``PAGE_SIZE`` a page.

What depends only on the list of programmes and the time is kept as a prepared response
(web/prepared.py) until a programme starts or ends; the search is answered anew.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for

from week_planner.clock import current_time
from week_planner.publish import feed_merge, feeds
from week_planner.publish.directory import OTHER, RUNNING, UPCOMING, DirectoryCache, group_name
from week_planner.publish.feed_service import current_feed, feed_service
from week_planner.schedule import jalali
from week_planner.schedule.model import Programme
from week_planner.schedule.registry import registry_of
from week_planner.web.pages import respond_page
from week_planner.web.prepared import keep, next_change

directory = Blueprint("directory", __name__)

EXTENSION = "week_planner.directory"
GROUP_SHOWN = 5  # programmes of a province on the home page
GLANCE = 12  # programmes running now, or starting soonest, at the top of the home page
PAGE_SIZE = 100  # programmes on a province page or a page of search results
COUNTRY_NAME = "همهٔ کشور"
# A merged feed larger than this is answered by Flask from its last merged bytes, never
# kept among the prepared responses, where it would push out thousands of pages.
KEPT_FEED_BYTES = 4 * 1024 * 1024


class _State:
    def __init__(self):
        self.directories = DirectoryCache()
        self.parts = feed_merge.Parts()
        # path → (what it was merged from, body, ETag): the last merged feed of each path,
        # so that a feed too large to be kept as a prepared response (the whole country's)
        # is not merged again for every request.
        self.merged: dict[str, tuple[tuple, bytes, str]] = {}


@directory.record_once
def _set_up(state) -> None:
    app = state.app
    app.extensions[EXTENSION] = _State()
    app.add_template_global(group_name, "group_name")


def _directory():
    registry = registry_of(current_app)
    snapshot = registry.snapshot()
    # The programmes listed (and sorted) only when the snapshot is a new one.
    return current_app.extensions[EXTENSION].directories.of(registry.programmes, snapshot)


@functools.lru_cache(maxsize=1024)
def _dates(first: dt.date, last: dt.date) -> str:
    return jalali.format_date_range(first, last)


def _context(now: dt.datetime) -> dict:
    return {"now": now, "dates": _dates, "RUNNING": RUNNING, "UPCOMING": UPCOMING,
            "programme_url": lambda p: url_for("pages.programme", programme=p.id)}


def _last_modified(found=None, now: dt.datetime | None = None) -> dt.datetime:
    """When the list of programmes last changed, or (given the directory ``found``) a
    programme last started or ended, whichever is later."""
    snapshot = registry_of(current_app).snapshot()
    times = [*snapshot.loaded_at.values(), *snapshot.gone.values()]
    if found is not None and found.last_change(now) is not None:
        times.append(found.last_change(now))
    return max(times) if times else dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


# -- pages ------------------------------------------------------------------------------

@directory.route("/")
def index():
    found = _directory()
    now = current_time(current_app)
    key = ("index", found.serial, found.next_change(now))

    def render() -> str:
        groups = found.groups(now, GROUP_SHOWN)
        running, running_count = found.in_state(RUNNING, now, GLANCE)
        upcoming, upcoming_count = found.in_state(UPCOMING, now, GLANCE)
        return render_template(
            "index.html", groups=groups, total=len(found.entries), running=running,
            running_count=running_count, upcoming=upcoming, upcoming_count=upcoming_count,
            glance=len(found.entries) > GLANCE, GLANCE=GLANCE, GROUP_SHOWN=GROUP_SHOWN,
            **_context(now))

    return respond_page(key, render, _last_modified(found, now),
                        until=found.next_change(now), programme_id=None)


def _province_page(province: str, page: int):
    if group_name(province) is None or page < 1:
        abort(404)
    found = _directory()
    now = current_time(current_app)
    group = found.group(province, now)
    pages = max(1, -(-len(group.entries) // PAGE_SIZE))
    if page > pages:
        abort(404)
    key = ("province", province, page, found.serial, found.next_change(now))

    def url(number: int) -> str | None:
        if not 1 <= number <= pages:
            return None
        if number == 1:
            return url_for("directory.province", province=province)
        return url_for("directory.province_page", province=province, page=number)

    def render() -> str:
        shown = group.entries[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
        return render_template("province.html", group=group, shown=shown, page=page,
                               pages=pages, prev_url=url(page - 1), next_url=url(page + 1),
                               **_context(now))

    return respond_page(key, render, _last_modified(found, now),
                        until=found.next_change(now), programme_id=None)


@directory.route("/provinces/<province>/")
def province(province: str):
    return _province_page(province, 1)


@directory.route("/provinces/<province>/<int:page>/")
def province_page(province: str, page: int):
    if page == 1:
        abort(404)  # the first page is /provinces/<province>/
    return _province_page(province, page)


@directory.route("/search/")
def search():
    query = request.args.get("q", "")[:200]
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    found = _directory()
    now = current_time(current_app)
    results = found.search(query, now) if query.strip() else []
    pages = max(1, -(-len(results) // PAGE_SIZE))
    page = min(page, pages)
    shown = results[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    def url(number: int) -> str | None:
        return url_for("directory.search", q=query, page=number) \
            if 1 <= number <= pages else None

    body = render_template("search.html", query=query, results=results, shown=shown,
                           page=page, pages=pages, prev_url=url(page - 1),
                           next_url=url(page + 1), **_context(now))
    response = current_app.response_class(body, mimetype="text/html")
    response.cache_control.no_cache = True
    response.headers["X-Robots-Tag"] = "noindex"
    return response


# -- feeds ------------------------------------------------------------------------------

def _member(programme: Programme, now: dt.datetime) -> feed_merge.Member | None:
    app = current_app._get_current_object()
    stored = feed_service(app).stored(programme.id)
    if stored is None or stored.revisions.programme is None:
        return None

    def make():
        built, until = current_feed(app, programme.id, feeds.Selection(),
                                    lambda p: p["title"], f"/{programme.id}.ics",
                                    f"/{programme.id}/", remember=False)
        events = feed_merge.events_of(built.body)
        return feed_merge.Member(programme.id, feeds.phase(stored.revisions.programme, now),
                                 events, feed_merge.zone_years(events),
                                 built.last_modified), until

    state = current_app.extensions[EXTENSION]
    return state.parts.member(programme.id, stored.token, now, make)


def _merged_feed(programmes: list[Programme], name: str, description: str,
                 source_path: str, page_path: str, filename: str) -> Response:
    now = current_time(current_app)
    state = current_app.extensions[EXTENSION]
    state.parts.forget_except(set(registry_of(current_app).snapshot().programmes))
    members = [member for member in (_member(p, now) for p in programmes)
               if member is not None]
    base_url = current_app.config["BASE_URL"].rstrip("/")
    info = feeds.FeedInfo(name=name, description=description,
                          source_url=base_url + source_path, page_url=base_url + page_path)
    made_from = (info, *members)  # the same objects while nothing changed: compared fast
    found = state.merged.get(source_path)
    if found is not None and found[0] == made_from:
        body, etag = found[1], found[2]
    else:
        body = feed_merge.merge(info, members)
        etag = hashlib.sha256(body).hexdigest()[:40]
        state.merged[source_path] = (made_from, body, etag)
    response = Response(body, content_type="text/calendar; charset=utf-8")
    response.set_etag(etag)
    response.last_modified = max([_last_modified().replace(microsecond=0),
                                  *(member.last_modified for member in members)])
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "ETag, Last-Modified"
    response.headers["Cache-Control"] = "public, max-age=300, must-revalidate"
    if len(body) <= KEPT_FEED_BYTES:
        until = next_change(now, [_directory().next_change(now), *state.parts.untils(
            p.id for p in programmes)])
        keep(response, until)
    return response.make_conditional(request)


@directory.route("/provinces/<province>.ics")
def province_feed(province: str):
    name = group_name(province)
    if name is None:
        abort(404)
    programmes = _directory().programmes_of(province)
    whose = f"استان {name}" if province != OTHER else f"«{name}»"
    return _merged_feed(programmes, f"هفتهٔ تعاون — {name}",
                        f"برنامه‌های هفتهٔ تعاون {whose}",
                        f"/provinces/{province}.ics", f"/provinces/{province}/",
                        f"{province}.ics")


@directory.route("/provinces.ics")
def country_feed():
    programmes = sorted(registry_of(current_app).programmes(), key=lambda p: p.id)
    return _merged_feed(programmes, f"هفتهٔ تعاون — {COUNTRY_NAME}",
                        "برنامه‌های هفتهٔ تعاون در همهٔ کشور", "/provinces.ics", "/",
                        "iran.ics")
