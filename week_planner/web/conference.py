"""Blueprint ``conference_schedule``: ``/<programme>/schedule.json`` and ``schedule.xml``.

The c3voc schedule that conference apps read (``conference_schedule`` builds it). Published
programmes only: a draft or an unknown id answers 404, a deleted programme 410. The ETag
comes from the programme's version, so apps that poll get a 304 until the file changes;
any origin may fetch it (CORS ``*``), as browser-based schedule viewers do.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from flask import Blueprint, abort, current_app, request

from week_planner.publish import conference_schedule
from week_planner.schedule.model import Programme
from week_planner.schedule.registry import registry_of
from week_planner.web.prepared import keep

conference_schedules = Blueprint("conference_schedule", __name__)

FORMATS = {
    "json": (conference_schedule.schedule_json, "application/json; charset=utf-8"),
    "xml": (conference_schedule.schedule_xml, "application/xml; charset=utf-8"),
}


def _published(programme_id: str) -> Programme:
    registry = registry_of(current_app)
    programme = registry.get(programme_id)
    if programme is None:
        abort(410 if registry.is_gone(programme_id) else 404)
    if programme.draft:
        abort(404)
    return programme


def _etag(programme: Programme, kind: str, base_url: str) -> str:
    """Changes with the programme's version and with anything else that shapes the bytes."""
    parts = "\n".join([programme.id, programme.version, kind, base_url,
                       conference_schedule.generator_version()])
    return hashlib.sha256(parts.encode("utf-8")).hexdigest()[:32]


def _respond(programme_id: str, kind: str):
    programme = _published(programme_id)
    build, content_type = FORMATS[kind]
    base_url = current_app.config["BASE_URL"]
    response = current_app.response_class(build(programme, base_url))
    response.headers["Content-Type"] = content_type
    response.set_etag(_etag(programme, kind, base_url))
    loaded_at = registry_of(current_app).snapshot().loaded_at.get(programme.id)
    if loaded_at is not None:
        response.last_modified = loaded_at.astimezone(dt.timezone.utc)
    response.cache_control.public = True
    response.cache_control.no_cache = True  # revalidate: an edit shows on the next poll
    keep(response, None, programme.id)  # the same bytes until the programme changes
    return response.make_conditional(request)


@conference_schedules.after_request
def _open_to_every_origin(response):
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "ETag, Last-Modified"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@conference_schedules.route("/<programme>/schedule.json")
def schedule_json(programme: str):
    return _respond(programme, "json")


@conference_schedules.route("/<programme>/schedule.xml")
def schedule_xml(programme: str):
    return _respond(programme, "xml")
