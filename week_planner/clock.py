"""One "now" for the whole service: ``current_time(app)`` reads ``app.config["CLOCK"]``
when it is set (tests pin the time there) and the system clock otherwise; ``EPOCH`` is the
Last-Modified of what has never changed."""

from __future__ import annotations

import datetime as dt

EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def current_time(app) -> dt.datetime:
    """Now, from ``app.config["CLOCK"]`` when set (tests pin it), else the system clock."""
    clock = app.config.get("CLOCK")
    moment = clock() if clock is not None else utc_now()
    if moment.tzinfo is None:
        raise ValueError("CLOCK must return an aware datetime")
    return moment
