"""Checked schedule files kept on disk by their content (week_planner/kept.py), so that a
restart does not read and check every unchanged file again.

Reading and checking a file is a pure function of its bytes, the name it is shown by, the
organiser channels the service knows, and the loader's own code and data (the modules
under week_planner/schedule, PyYAML, jdatetime and the zone rules): the key is made of all
of them. An entry is the pickled ``LoadResult``; only entries whose HMAC proves this
service wrote them are unpickled, and then only into the model's own classes, dates and
zones (a leaked secret key must not become a way to run code).
"""

from __future__ import annotations

import hashlib
import io
import logging
import pickle
import zoneinfo
from typing import Iterable

import yaml

from week_planner.kept import KeptFiles, code_fingerprint
from week_planner.schedule.loading import LoadResult

log = logging.getLogger(__name__)

# Worked out as the loader is imported (see code_fingerprint); whether PyYAML has its C
# parser counts too.
FINGERPRINT = code_fingerprint(("schedule", "kept.py"), ("PyYAML", "jdatetime", "tzdata"),
                               extra=f"libyaml={yaml.__with_libyaml__}")

# What a pickled load may be made of, beside the classes of week_planner.schedule.
ALLOWED = {("datetime", name) for name in ("date", "datetime", "time", "timedelta",
                                           "timezone")} | {("zoneinfo", "ZoneInfo")}


def _zone_attribute(owner, name: str):
    """``getattr`` as a pickled ZoneInfo uses it (``ZoneInfo._unpickle``), and only so."""
    if owner is zoneinfo.ZoneInfo and name == "_unpickle":
        return zoneinfo.ZoneInfo._unpickle
    raise pickle.UnpicklingError(f"getattr({owner!r}, {name!r}) is not part of a load")


class _LoadUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) == ("builtins", "getattr"):
            return _zone_attribute
        if (module, name) in ALLOWED or module.startswith("week_planner.schedule."):
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a load")


class KeptLoads:
    def __init__(self, files: KeptFiles):
        self.files = files

    @staticmethod
    def key(content: bytes, display_name: str, channels: Iterable[str] | None) -> str:
        """The entry's name for a load of ``content`` shown as ``display_name``."""
        hasher = hashlib.sha256(FINGERPRINT.encode())
        hasher.update(hashlib.sha256(content).digest())
        hasher.update(repr((display_name, None if channels is None else sorted(channels)))
                      .encode("utf-8", "surrogatepass"))
        return hasher.hexdigest()

    def get(self, key: str) -> LoadResult | None:
        payload = self.files.get(key)
        if payload is None:
            return None
        try:
            result = _LoadUnpickler(io.BytesIO(payload)).load()
        except Exception:
            log.warning("a kept load could not be read; the file is loaded again",
                        exc_info=True)
            return None
        return result if isinstance(result, LoadResult) else None

    def put(self, key: str, result: LoadResult) -> None:
        """Keep ``result``; a load that cannot be pickled is simply not kept (it was made
        all the same: that is no error of the file)."""
        try:
            payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            log.warning("the load of %s cannot be kept", result.file, exc_info=True)
            return
        self.files.put(key, payload)
