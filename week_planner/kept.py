"""Work kept on disk by what it was made from, so that a restart (a deploy, a reboot, a
second worker) does not redo it: checked schedule files (schedule/kept_loads.py) and built
feeds (publish/feed_service.py), in folders under the instance folder.

What is kept is a pure function of its inputs. Its key is a digest of all of them,
including ``code_fingerprint``, the source of the modules that made it and the versions of
the libraries and data they read: any change to one of them is another key, so an entry is
never stale, only unused.

Each entry sits behind an HMAC-SHA256 made with a key derived from the service's secret
key and the entry's key: a file not written by this service (or by one with another
secret key), cut short, damaged or renamed is not used. A folder holds at most
``max_bytes``; past that, the entries used longest ago are deleted. A failure to read or
write an entry is a miss, logged once, never an error of what it was asked for.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import importlib.metadata
import logging
import os
import secrets
import sys
import threading
import zoneinfo
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
SUFFIX = ".kept"
MAC_BYTES = 32

_fingerprints: dict[tuple, str] = {}


def code_fingerprint(subpackages: tuple[str, ...], distributions: tuple[str, ...]) -> str:
    """A digest of the source of every module under each of this package's
    ``subpackages``, of the installed versions of ``distributions``, of the Python version
    and of where zone rules are read from. Worked out once per process."""
    key = (subpackages, distributions)
    found = _fingerprints.get(key)
    if found is None:
        hasher = hashlib.sha256()
        for subpackage in subpackages:
            folder = PACKAGE_DIR / subpackage
            for path in sorted(folder.rglob("*.py")):
                hasher.update(str(path.relative_to(PACKAGE_DIR)).encode() + b"\0")
                hasher.update(path.read_bytes() + b"\0")
        for name in distributions:
            try:
                version = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                version = "-"
            hasher.update(f"{name}={version}\0".encode())
        hasher.update(sys.version.encode() + b"\0" + repr(zoneinfo.TZPATH).encode())
        found = _fingerprints[key] = hasher.hexdigest()
    return found


class KeptFiles:
    """Bytes kept in ``folder`` under keys (hex digests made by the caller)."""

    def __init__(self, folder: str | Path, secret: str, purpose: str,
                 max_bytes: int = 256 << 20):
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._mac_key = hashlib.sha256(f"week-planner {purpose}\0".encode() +
                                       secret.encode("utf-8")).digest()
        self._lock = threading.Lock()
        self._size: int | None = None  # bytes in the folder, counted at the first write
        self._warned = False
        self.hits = self.misses = 0

    def get(self, key: str) -> bytes | None:
        path = self.folder / (key + SUFFIX)
        try:
            data = path.read_bytes()
        except OSError:
            self.misses += 1
            return None
        mac, payload = data[:MAC_BYTES], data[MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(key, payload)):
            self.misses += 1
            return None
        try:
            os.utime(path)  # used now: among the last to be pruned
        except OSError:
            pass
        self.hits += 1
        return payload

    def put(self, key: str, payload: bytes) -> None:
        data = self._mac(key, payload) + payload
        path = self.folder / (key + SUFFIX)
        temporary = self.folder / f".{key}.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as handle:
                handle.write(data)
            os.replace(temporary, path)
        except OSError as error:
            try:
                temporary.unlink(missing_ok=True)
            except OSError:
                pass
            if not self._warned:
                log.warning("nothing can be kept in %s (%s); a restart does the work again",
                            self.folder, error.strerror or error)
                self._warned = True
            return
        with self._lock:
            if self._size is None:
                self._size = sum(size for _, size, _ in self._entries())
            else:
                self._size += len(data)
            if self._size > self.max_bytes:
                self._size = self._prune(self.max_bytes * 3 // 4)

    def _mac(self, key: str, payload: bytes) -> bytes:
        return hmac.new(self._mac_key, key.encode() + b"\0" + payload, "sha256").digest()

    def _entries(self) -> list[tuple[float, int, Path]]:
        found = []
        try:
            with os.scandir(self.folder) as listing:
                for entry in listing:
                    if entry.name.endswith(SUFFIX):
                        try:
                            stat = entry.stat()
                        except OSError:
                            continue
                        found.append((stat.st_mtime, stat.st_size, Path(entry.path)))
        except OSError:
            pass
        return found

    def _prune(self, target: int) -> int:
        """Delete the entries used longest ago until at most ``target`` bytes are left;
        the bytes left."""
        entries = sorted(self._entries())
        left = sum(size for _, size, _ in entries)
        for _, size, path in entries:
            if left <= target:
                break
            try:
                path.unlink()
                left -= size
            except OSError:
                pass
        return left


def stable_text(value) -> str:
    """``repr`` of ``value`` (tuples, lists, sets, dataclasses and plain values) that is
    the same in every process: sets are sorted, where their ``repr`` follows the string
    hash seed of each process."""
    kind = type(value)
    if kind in _PLAIN:
        return repr(value)
    if kind is tuple or kind is list:
        if all(type(item) in _PLAIN for item in value):
            return repr(tuple(value))
        return "(" + ",".join(map(stable_text, value)) + ")"
    if isinstance(value, (set, frozenset)):
        return "{" + ",".join(sorted(map(stable_text, value))) + "}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return kind.__name__ + stable_text(
            tuple(getattr(value, field.name) for field in dataclasses.fields(value)))
    return repr(value)


_PLAIN = frozenset({str, int, float, bool, type(None), bytes})

KINDS = ("loads", "feeds")


def kept_files(app, kind: str) -> KeptFiles | None:
    """The application's folder of kept ``kind`` (one of KINDS), with its share of
    ``KEPT_MB``; None when ``KEPT_MB`` is 0."""
    budget = app.config["KEPT_MB"] << 20
    if budget <= 0:
        return None
    return KeptFiles(Path(app.config["INSTANCE_DIR"]) / "kept" / kind,
                     app.config["SECRET_KEY"], f"kept {kind}", budget // len(KINDS))
