"""The public changelog over HTTP: ``/<programme>/changes/`` and ``/<programme>/changes.atom``.

Blueprint ``changes``. Before reading, the programme's stored revisions are synced with
what the registry serves (``feed_service(app).stored`` in publish/feed_service.py, the same step the
feeds take), so an edit of the schedule file shows here on the next request. The
sentences come from ``changes.change_entries``; page and feed are rendered once per
stored revision state and served from memory with a strong ETag and Last-Modified (304
for a repeat request). A deleted programme's changelog keeps answering, with its
removals, for ``CANCELLED_RETENTION_DAYS``; then 410 Gone. Drafts and unknown ids: 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, render_template, request

from week_planner import revision_store, store
from week_planner.clock import EPOCH, current_time
from week_planner.publish import changes
from week_planner.publish.feed_service import Stored, feed_service
from week_planner.schedule.registry import registry_of
from week_planner.web.pages import TIMEZONE_NAMES, page_cache
from week_planner.web.prepared import keep
from week_planner.web.security import CONTENT_SECURITY_POLICY

changelog = Blueprint("changes", __name__)

ATOM_TYPE = "application/atom+xml; charset=utf-8"


def _stored(programme_id: str) -> Stored:
    """The programme's synced revisions; 404 for unknown ids and drafts, 410 once a
    deleted programme's retention time is over."""
    stored = feed_service(current_app).stored(programme_id)
    if stored is None or stored.revisions.programme is None:
        abort(410 if registry_of(current_app).is_gone(programme_id) else 404)
    removed_at = stored.revisions.removed_at
    retention = dt.timedelta(days=current_app.config["CANCELLED_RETENTION_DAYS"])
    if removed_at is not None and current_time(current_app) >= removed_at + retention:
        abort(410)
    return stored


def _entries(stored: Stored) -> list[changes.ChangeEntry]:
    revisions = stored.revisions
    history = revision_store.event_history(
            store.app_engine(current_app), revisions.programme_id)
    return changes.change_entries(revisions.programme_id, revisions.programme, history,
                                  revisions.removed_at)


def _last_modified(stored: Stored) -> dt.datetime:
    moments = [r.modified_at for r in stored.revisions.revisions]
    # The programme's own fields (its title is on the page and in the feed) change too.
    moments += [m for m in (stored.revisions.removed_at, stored.revisions.updated_at) if m]
    return max(moments, default=EPOCH)


def _respond(key, render: Callable[[], str], stored: Stored, content_type: str,
             html: bool):
    page = page_cache(current_app).get_or_render(key, render, _last_modified(stored))
    removed_at = stored.revisions.removed_at
    retention = dt.timedelta(days=current_app.config["CANCELLED_RETENTION_DAYS"])
    response = current_app.response_class(page.body, content_type=content_type)
    response.set_etag(page.etag)
    response.last_modified = page.last_modified
    response.cache_control.public = True
    response.cache_control.no_cache = True  # revalidate: an edit shows on the next request
    response.headers["X-Content-Type-Options"] = "nosniff"
    if html:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    else:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = "ETag, Last-Modified"
    # The same until the revisions change, or a deleted programme's changelog ends (410).
    keep(response, removed_at and removed_at + retention, stored.revisions.programme_id,
         uses_store=True)
    return response.make_conditional(request)


def _urls(programme_id: str) -> dict[str, str]:
    base_url = current_app.config["BASE_URL"].rstrip("/")
    return {
        "programme": f"{base_url}/{programme_id}/",
        "page": f"{base_url}/{programme_id}/changes/",
        "feed": f"{base_url}/{programme_id}/changes.atom",
        "event_prefix": f"{base_url}/{programme_id}/events/",
    }


@changelog.route("/<programme>/changes/")
def changes_page(programme: str):
    stored = _stored(programme)
    urls = _urls(programme)
    key = ("changes-page", programme, stored.token, tuple(urls.values()))

    def render() -> str:
        snapshot = stored.revisions.programme
        timezone = snapshot["timezone"]
        entries = _entries(stored)
        removed_at = stored.revisions.removed_at
        return render_template(
            "changes.html", programme_id=programme, programme=snapshot,
            days=changes.by_day(entries, timezone), entries=entries,
            timezone_name=TIMEZONE_NAMES.get(timezone, timezone), removed_at=removed_at,
            removed_day=removed_at and removed_at.astimezone(ZoneInfo(timezone)).date(),
            live=removed_at is None)

    return _respond(key, render, stored, "text/html; charset=utf-8", html=True)


@changelog.route("/<programme>/changes.atom")
def changes_feed(programme: str):
    stored = _stored(programme)
    urls = _urls(programme)
    key = ("changes-atom", programme, stored.token, tuple(urls.values()))

    def render() -> str:
        snapshot = stored.revisions.programme
        info = changes.AtomInfo(
            programme_id=programme, title=snapshot.get("title") or programme,
            organiser=snapshot.get("organiser"), feed_url=urls["feed"],
            page_url=urls["page"], programme_url=urls["programme"],
            event_url_prefix=urls["event_prefix"])
        return changes.atom_feed(info, _entries(stored),
                                 _last_modified(stored)).decode("utf-8")

    return _respond(key, render, stored, ATOM_TYPE, html=False)
