"""Checked schedule files kept on disk by their content (week_planner/kept.py), so that a
restart does not read and check every unchanged file again.

Reading and checking a file is a pure function of its bytes, the name it is shown by, the
organiser channels the service knows, and the loader's own code and data (the modules
under week_planner/schedule, PyYAML, jdatetime and the zone rules): the key is made of all
of them. An entry is the pickled ``LoadResult``; only entries whose HMAC proves this
service wrote them are unpickled.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from typing import Iterable

from week_planner.kept import KeptFiles, code_fingerprint
from week_planner.schedule.loading import LoadResult

log = logging.getLogger(__name__)



class KeptLoads:
    def __init__(self, files: KeptFiles):
        self.files = files

    @staticmethod
    def key(content: bytes, display_name: str, channels: Iterable[str] | None) -> str:
        """The entry's name for a load of ``content`` shown as ``display_name``."""
        hasher = hashlib.sha256(code_fingerprint(
            ("schedule",), ("PyYAML", "jdatetime", "tzdata")).encode())
        hasher.update(hashlib.sha256(content).digest())
        hasher.update(repr((display_name, None if channels is None else sorted(channels)))
                      .encode("utf-8", "surrogatepass"))
        return hasher.hexdigest()

    def get(self, key: str) -> LoadResult | None:
        payload = self.files.get(key)
        if payload is None:
            return None
        try:
            result = pickle.loads(payload)
        except Exception:
            log.warning("a kept load could not be read; the file is loaded again",
                        exc_info=True)
            return None
        return result if isinstance(result, LoadResult) else None

    def put(self, key: str, result: LoadResult) -> None:
        self.files.put(key, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
