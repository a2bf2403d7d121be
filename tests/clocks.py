"""A settable "now" for the tests: ``ManualClock(moment)`` is called like ``utc_now`` and
returns ``moment`` until a test sets another (``clock.moment = …``)."""

from __future__ import annotations

import datetime as dt


class ManualClock:
    def __init__(self, moment: dt.datetime):
        self.moment = moment

    def __call__(self) -> dt.datetime:
        return self.moment
