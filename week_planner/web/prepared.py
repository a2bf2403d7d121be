"""Prepared responses: an unchanged public page or feed answered from memory, without Flask.

A view whose response depends only on its path, on one programme (or on the list of them)
and on the time calls ``keep(response, until, programme_id, uses_store)``; ``until`` is the
first moment at which its bytes could differ (a "now / next" boundary, the week's start or
end, a cancelled event leaving the feeds), None when only a schedule change can. The
response as it leaves Flask, with every header the after-request hooks set, is then kept
under its path together with what it was made from: that programme's model and load time
in the registry's snapshot and, for what is built from the store (feeds, changelog), the
programme's stored revision token; for the list of programmes, the whole snapshot. So an
edit of one county's file leaves every other county's prepared responses in place.

``PreparedResponses`` wraps the application's WSGI callable (``init_app(app)``). A GET or
HEAD without a query string, for a kept path made from what is still served and whose
``until`` has not come, is answered from memory: 200 with the body, or 304 to a matching
If-None-Match (or If-Modified-Since without it) — no request context, no database query,
no walk over events, no template. Anything else (a miss, a Range or If-Match header, a
query string, another method) goes to Flask as before, which prepares the path again.
Answers from memory are counted in ``/metrics`` and logged like the others
(``web/operations.py``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Iterable

from flask import Flask, Response, current_app, request, request_finished
from werkzeug.http import parse_date, parse_etags, remove_entity_headers

from week_planner.clock import current_time
from week_planner.schedule.registry import registry_of

EXTENSION = "week_planner.prepared"
KEEP = "week_planner.prepared.keep"  # environ key: what keep() was told
MADE = "week_planner.prepared.made"  # environ key: the Prepared made when Flask finished
METRICS_EXTENSION = "week_planner.metrics"  # web/operations.py's counters
FEEDS_EXTENSION = "week_planner.feeds"  # publish/feed_service.FeedService

# Headers that make a response depend on more than its path: never prepared.
PERSONAL_HEADERS = frozenset({"set-cookie", "vary"})

request_log = logging.getLogger("week_planner.requests")


def keep(response: Response, until: dt.datetime | None, programme_id: str | None = None,
         uses_store: bool = False) -> Response:
    """Mark ``response`` (status 200, before ``make_conditional``) as the same for every
    GET of this path from now until ``until``, while ``programme_id`` (None: any programme)
    and, with ``uses_store``, its stored revisions stay as they are."""
    # Read after the view read the time: from this moment to ``until`` nothing changes. (A
    # clock set back is earlier than it: such a request goes to Flask.)
    request.environ[KEEP] = (response, current_time(current_app), until, programme_id,
                             uses_store)
    return response


def next_change(now: dt.datetime, moments: Iterable[dt.datetime | None]) -> dt.datetime | None:
    """The earliest of ``moments`` after ``now``; None when there is none."""
    return min((moment for moment in moments if moment is not None and moment > now),
               default=None)


NOT_STORED = object()  # the token of a response that does not come from the store


@dataclass(frozen=True, slots=True)
class Prepared:
    programme_id: str | None  # the programme it shows; None: the list of programmes
    uses_store: bool  # built from the programme's stored revisions
    made_from: object  # the programme model it was made from (for None: the snapshot)
    loaded_at: dt.datetime | None  # that programme's load time in the snapshot
    token: object  # the programme's stored revision token, or NOT_STORED
    since: dt.datetime | None  # answered from memory from ``since`` …
    until: dt.datetime | None  # … until ``until`` (None: until what it was made from changes)
    body: bytes
    headers: tuple[tuple[str, str], ...]  # of the 200
    not_modified_headers: tuple[tuple[str, str], ...]  # of a 304
    etag: str | None  # unquoted
    etag_header: str | None  # as sent
    last_modified_header: str | None
    last_modified: dt.datetime | None
    kind: str  # "feed" or "page", as /metrics counts them
    logged_path: str  # the path as the request log writes it (tokens masked)


def _made_from(response: Response, path: str, view_args: dict | None) -> Prepared | None:
    """The parts of a Prepared that come from Flask's finished response."""
    headers = [(name, value) for name, value in response.headers.items()
               if name.lower() != "date"]  # the server dates each answer
    if any(name.lower() in PERSONAL_HEADERS for name, _ in headers):
        return None
    body = response.get_data()
    headers = [(name, str(len(body)) if name.lower() == "content-length" else value)
               for name, value in headers]
    not_modified = list(headers)
    remove_entity_headers(not_modified)
    etag_header = response.headers.get("ETag")
    last_modified_header = response.headers.get("Last-Modified")
    masked = path
    for name, value in (view_args or {}).items():
        if (name == "token" or name.endswith("_token")) and isinstance(value, str) and value:
            masked = masked.replace(value, "[token]")
    return Prepared(
        programme_id=None, uses_store=False, made_from=None, loaded_at=None,
        token=NOT_STORED, since=None, until=None, body=body, headers=tuple(headers),
        not_modified_headers=tuple(not_modified),
        etag=response.get_etag()[0] if etag_header else None, etag_header=etag_header,
        last_modified_header=last_modified_header,
        last_modified=parse_date(last_modified_header) if last_modified_header else None,
        kind="feed" if path.endswith(".ics") else "page", logged_path=masked)


def _finished(app: Flask, response: Response, **_extra) -> None:
    kept = request.environ.get(KEEP)
    if kept is None or kept[0] is not response or response.status_code not in (200, 304):
        return  # not kept, or replaced on the way out (an error page)
    made = _made_from(response, request.path, request.view_args)
    if made is not None:
        request.environ[MADE] = replace(made, since=kept[1], until=kept[2],
                                        programme_id=kept[3], uses_store=kept[4])


class PreparedResponses:
    """The WSGI layer answering kept paths from memory (see the module docstring)."""

    def __init__(self, app: Flask, wsgi_app, max_bytes: int = 64 * 1024 * 1024):
        self.app = app
        self.wsgi_app = wsgi_app
        self.max_bytes = max_bytes
        self.registry = registry_of(app)
        self._entries: dict[tuple[str, str], Prepared] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0  # answers from memory (approximate under threads; for tests)

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        if (method != "GET" and method != "HEAD") or environ.get("QUERY_STRING"):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        key = (environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", ""))
        snapshot = self.registry.snapshot()  # looks at the folder when it is due
        service = self.app.extensions.get(FEEDS_EXTENSION)
        entry = self._entries.get(key)
        if entry is not None and self._current(entry, snapshot, service) and \
                "HTTP_RANGE" not in environ and "HTTP_IF_MATCH" not in environ:
            return self._answer(entry, environ, method, start_response, started)
        generation = service.generation if service is not None else 0
        result = self.wsgi_app(environ, start_response)
        made = environ.pop(MADE, None)
        if made is not None:
            made = _made_of(made, snapshot, service, generation)
            if made is not None:
                self._keep(key, made)
        return result

    def _current(self, entry: Prepared, snapshot, service) -> bool:
        """Whether ``entry`` is what Flask would answer now."""
        programme_id = entry.programme_id
        if programme_id is None:
            if entry.made_from is not snapshot:
                return False
        elif snapshot.programmes.get(programme_id) is not entry.made_from or \
                snapshot.loaded_at.get(programme_id) != entry.loaded_at or \
                entry.uses_store and entry.token != _token(service, programme_id):
            return False
        now = current_time(self.app)
        return entry.since <= now and (entry.until is None or now < entry.until)

    def _answer(self, entry: Prepared, environ, method: str, start_response, started: float):
        if _not_modified(entry, environ):
            status, headers, body = "304 NOT MODIFIED", entry.not_modified_headers, []
        else:
            status, headers = "200 OK", entry.headers
            body = [] if method == "HEAD" else [entry.body]
        start_response(status, list(headers))
        self.hits += 1
        code = status[:3]
        metrics = self.app.extensions.get(METRICS_EXTENSION)
        if metrics is not None:
            metrics.requests.labels(entry.kind, code).inc()
            if entry.kind == "feed":
                metrics.feed_requests.labels(code).inc()
        if request_log.isEnabledFor(logging.INFO):
            request_log.info("%s %s %s %d %.1fms", environ.get("REMOTE_ADDR") or "-", method,
                             entry.logged_path, int(code),
                             (time.perf_counter() - started) * 1000)
        return body

    def _keep(self, key: tuple[str, str], entry: Prepared) -> None:
        if len(entry.body) > self.max_bytes // 8:
            return  # one large body (a whole country's feed) must not push out the rest
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= len(previous.body)
            self._entries[key] = entry
            self._bytes += len(entry.body)
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                oldest = next(iter(self._entries))  # the longest kept goes first
                self._bytes -= len(self._entries.pop(oldest).body)

    def clear(self, *_ignored) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)


def _token(service, programme_id: str) -> object:
    return None if service is None else service.token_of(programme_id)


def _made_of(made: Prepared, snapshot, service, generation: int) -> Prepared | None:
    """``made`` with what it was made from: as it was before Flask answered (a change
    while it answered then shows as a change at the next request); None when the store
    was read anew meanwhile (its token before is not known)."""
    programme_id = made.programme_id
    if programme_id is None:
        return replace(made, made_from=snapshot)
    if made.uses_store and (service is None or service.generation != generation):
        return None
    return replace(made, made_from=snapshot.programmes.get(programme_id),
                   loaded_at=snapshot.loaded_at.get(programme_id),
                   token=_token(service, programme_id) if made.uses_store else NOT_STORED)


def _not_modified(entry: Prepared, environ) -> bool:
    """werkzeug's ``is_resource_modified`` for a GET without Range or If-Match: a
    non-empty If-None-Match decides alone (weak comparison); else If-Modified-Since."""
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match:
        if if_none_match == entry.etag_header:
            return True
        return entry.etag is not None and parse_etags(if_none_match).contains_weak(entry.etag)
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if not since or entry.last_modified is None:
        return False
    if since == entry.last_modified_header:
        return True
    moment = parse_date(since)
    return moment is not None and entry.last_modified <= moment


def prepared_responses(app: Flask) -> PreparedResponses:
    return app.extensions[EXTENSION]


def init_app(app: Flask) -> None:
    """Put the prepared-response layer in front of the application (inside any proxy fix,
    so the request log sees the client's address)."""
    layer = PreparedResponses(app, app.wsgi_app)
    app.extensions[EXTENSION] = layer
    app.wsgi_app = layer
    request_finished.connect(_finished, app, weak=False)
