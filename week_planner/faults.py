"""Programmes that failed somewhere after loading: one county's fault stays its own.

Reminder planning, change notices, pages and feeds run per programme; when one of them
raises for a programme, the others go on and the failure is recorded here with the
programme, its file and version, and the stage that failed. ``/healthz`` lists the faults
of the versions being served (status ``degraded``); each is logged once, with its
traceback, however often it happens again, and a new version of the file starts afresh.

Entry point: ``Faults.record(...)`` inside an ``except`` block; ``faults_of(app)``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from typing import Mapping

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fault:
    programme_id: str
    stage: str  # "reminder-planning", "change-notices", "page", "feed"
    file: str
    version: str
    error: str  # the exception's type: its text may hold what a file said
    at: dt.datetime

    def as_dict(self) -> dict:
        return {"programme": self.programme_id, "stage": self.stage, "file": self.file,
                "version": self.version, "error": self.error,
                "at": self.at.isoformat(timespec="seconds")}


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[tuple[str, str], Fault] = {}

    def record(self, programme_id: str, stage: str, file: str, version: str,
               error: BaseException) -> None:
        fault = Fault(programme_id, stage, file, version, type(error).__name__,
                      dt.datetime.now(dt.timezone.utc))
        with self._lock:
            previous = self._faults.get((programme_id, stage))
            self._faults[(programme_id, stage)] = fault
        if previous is None or (previous.version, previous.error) != (version,
                                                                      fault.error):
            log.error("programme %s (%s, version %s): %s failed; the other programmes go "
                      "on", programme_id, file, version, stage, exc_info=error)

    def clear(self, programme_id: str, stage: str) -> None:
        with self._lock:
            self._faults.pop((programme_id, stage), None)

    def current(self, versions: Mapping[str, str]) -> list[Fault]:
        """The faults of the versions being served (``versions``: programme id → version),
        oldest programme first; a programme edited since its fault is given a new chance."""
        with self._lock:
            faults = list(self._faults.values())
        return sorted((fault for fault in faults
                       if versions.get(fault.programme_id) == fault.version),
                      key=lambda fault: (fault.programme_id, fault.stage))


def faults_of(app) -> Faults:
    return app.extensions.setdefault("week_planner.faults", Faults())
