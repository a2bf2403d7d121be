"""What operators look at: ``/healthz`` (JSON), ``/metrics`` (Prometheus text) and one log
line per request.

``init_app(app)`` registers the blueprint and the request hooks (the log line, the
counters and the security headers of ``web/security.py``). Counters are kept per
application in their own prometheus_client registry, so several apps in one process (tests,
an exporter) never mix their figures. The log line names the path with every token in it
masked (``/remind/confirm/[token]``), and never the query string.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    got_request_exception,
    jsonify,
    request,
)
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select, text
from werkzeug.exceptions import HTTPException

from week_planner import store
from week_planner.faults import faults_of
from week_planner.schedule.registry import registry_of
from week_planner.web import security

operations = Blueprint("operations", __name__)
REGISTRY_WARNINGS = frozenset({"many-events-removed"})
request_log = logging.getLogger("week_planner.requests")


class _Metrics:
    def __init__(self, app: Flask):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("week_planner_requests", "HTTP requests answered.",
                                ["kind", "status"], registry=self.registry)
        self.feed_requests = Counter("week_planner_feed_requests",
                                     "iCalendar feed requests answered.", ["status"],
                                     registry=self.registry)
        self.load_errors = Gauge("week_planner_schedule_load_errors",
                                 "Errors in the schedule files' latest versions.",
                                 registry=self.registry)
        self.programmes = Gauge("week_planner_programmes", "Programmes being served.",
                                registry=self.registry)
        self.registry.register(_OutboxCollector(app))


class _OutboxCollector:
    """Reminder outbox rows by status, read from the database at scrape time."""

    def __init__(self, app: Flask):
        self.app = app

    def describe(self):
        return []

    def collect(self):
        family = GaugeMetricFamily("week_planner_reminders",
                                   "Reminder outbox rows by status.", labels=["status"])
        counts = {status: 0 for status in ("pending", "sending", "sent", "failed",
                                           "cancelled", "missed")}
        try:
            with store.app_engine(self.app).connect() as connection:
                table = store.reminder_outbox
                for status, count in connection.execute(
                        select(table.c.status, func.count()).group_by(table.c.status)):
                    counts[status] = count
        except Exception:  # the database being down shows at /healthz, not as a 500 here
            logging.getLogger(__name__).warning("cannot count reminders", exc_info=True)
        for status, count in counts.items():
            family.add_metric([status], count)
        yield family


def init_app(app: Flask) -> None:
    app.extensions["week_planner.metrics"] = _Metrics(app)
    app.register_blueprint(operations)
    app.before_request(_start_timer)
    app.after_request(_count_and_log)
    security.init_app(app)
    got_request_exception.connect(_record_fault, app, weak=False)


def _record_fault(sender: Flask, exception: BaseException, **extra) -> None:
    """A page or feed of one programme that raised: its visitors get the 500 page, the
    other programmes are not touched, and /healthz names the programme."""
    arguments = request.view_args or {}
    programme_id = arguments.get("programme") or arguments.get("programme_id")
    if not isinstance(programme_id, str):
        return
    programme = registry_of(sender).snapshot().programmes.get(programme_id)
    if programme is None:
        return
    stage = "feed" if request.path.endswith(".ics") else "page"
    faults_of(sender).record(programme_id, stage, programme.source, programme.version,
                             exception)


def _start_timer() -> None:
    g.request_started = time.perf_counter()


def _request_kind() -> str:
    path = request.path
    if path.endswith(".ics"):
        return "feed"
    if path.startswith("/static/"):
        return "static"
    if path in ("/healthz", "/metrics"):
        return "operations"
    return "page"


def _count_and_log(response: Response) -> Response:
    metrics: _Metrics = current_app.extensions["week_planner.metrics"]
    kind = _request_kind()
    metrics.requests.labels(kind, str(response.status_code)).inc()
    if kind == "feed":
        metrics.feed_requests.labels(str(response.status_code)).inc()
    elapsed = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
    # The path only, its tokens masked: query strings may carry tokens, and no address is
    # ever logged.
    request_log.info("%s %s %s %d %.1fms", request.remote_addr or "-", request.method,
                     logged_path(), response.status_code, elapsed)
    return response


def logged_path() -> str:
    """The request's path with the value of every route argument named ``token`` (or
    ``…_token``) replaced by ``[token]``: confirm, code and unsubscribe links, personal
    feeds. A request its route refused (405) is masked as that route's GET would be."""
    path = request.path
    arguments = request.view_args
    if arguments is None:
        try:
            _endpoint, arguments = current_app.create_url_adapter(request).match(
                path, method="GET")
        except HTTPException:  # no route has this path: nothing in it is a token
            arguments = {}
    for name, value in arguments.items():
        if (name == "token" or name.endswith("_token")) and isinstance(value, str) and value:
            path = path.replace(value, "[token]")
    return path


@operations.route("/healthz")
def healthz():
    registry = registry_of(current_app)
    snapshot = registry.snapshot()
    problems = registry.problems()
    database = {"ok": True}
    try:
        with store.app_engine(current_app).connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        database = {"ok": False, "error": type(error).__name__}
    scheduler = current_app.extensions.get("week_planner.scheduler")
    scheduler_state = scheduler.state() if scheduler is not None and \
        hasattr(scheduler, "state") else {"running": False,
                                          "note": "not running in this process"}
    errors = [problem.format("en") for problem in problems if problem.is_error]
    # What the registry itself flags while publishing (a version that dropped most of its
    # events, say); a file's own warnings are check's business.
    registry_warnings = [problem.format("en") for problem in problems
                         if not problem.is_error and problem.code in REGISTRY_WARNINGS]
    faults = faults_of(current_app).current(
        {programme_id: programme.version
         for programme_id, programme in snapshot.programmes.items()})
    body = {
        # the site is served either way; a monitor should still hear of a broken file
        "status": "degraded" if not database["ok"] or faults else
                  "load-errors" if errors else "ok",
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "programmes": {
            programme_id: {
                "version": programme.version,
                "file": programme.source,
                "draft": programme.draft,
                "loaded_at": snapshot.loaded_at[programme_id].isoformat(timespec="seconds"),
            }
            for programme_id, programme in sorted(snapshot.programmes.items())
        },
        "gone": sorted(snapshot.gone),
        "load_errors": errors,
        "load_warnings": registry_warnings,
        # programmes whose pages, feeds or reminders failed (the others go on)
        "faults": [fault.as_dict() for fault in faults],
        "database": database,
        "scheduler": scheduler_state,
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    response.status_code = 200 if database["ok"] else 503
    return response


@operations.route("/metrics")
def metrics():
    registry = registry_of(current_app)
    collected: _Metrics = current_app.extensions["week_planner.metrics"]
    collected.load_errors.set(sum(p.is_error for p in registry.problems()))
    collected.programmes.set(len(registry.snapshot().programmes))
    return Response(generate_latest(collected.registry),
                    content_type=CONTENT_TYPE_LATEST,
                    headers={"Cache-Control": "no-store"})
