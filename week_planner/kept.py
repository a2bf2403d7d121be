"""Work kept on disk by what it was made from, so that a restart (a deploy, a reboot, a
second worker) does not redo it: checked schedule files (schedule/kept_loads.py) and built
feeds (publish/feed_service.py), in folders under the instance folder.

What is kept is a pure function of its inputs. Its key is a digest of all of them,
including ``code_fingerprint``, the source of the modules that made it and the versions of
the libraries and data they read: any change to one of them is another key, so an entry is
never stale, only unused.

Each entry sits behind an HMAC-SHA256 made with a key derived from the service's secret
key and the entry's key: a file not written by this service (or by one with another
secret key), cut short, damaged or renamed is not used. Folder and entries are readable by
the service's user only. A folder holds at most ``max_bytes`` (give or take what the other
processes sharing it wrote since this one last counted: RECOUNT_WRITES, RECOUNT_SECONDS);
past that, the entries used longest ago are deleted. A failure to read or write an entry
is a miss, logged once, never an error of what it was asked for.
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
import time
import zoneinfo
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
SUFFIX = ".kept"
MAC_BYTES = 32

# Each process counts the folder again after this many of its own writes or seconds, so
# that the writes of the other processes sharing it count too.
RECOUNT_WRITES = 256
RECOUNT_SECONDS = 60.0
# A temporary file this old was left by a process that died while writing it.
ABANDONED_SECONDS = 600.0


def code_fingerprint(parts: tuple[str, ...], distributions: tuple[str, ...],
                     extra: str = "") -> str:
    """A digest of the source of ``parts`` of this package (modules, or folders of
    them), the installed versions of ``distributions``, the Python version, the zone rules
    in use and ``extra``. Work it out when the code is imported, not later: a process must
    not file what its code made under the key of code installed since it started."""
    hasher = hashlib.sha256()
    for part in parts:
        path = PACKAGE_DIR / part
        for source in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            hasher.update(str(source.relative_to(PACKAGE_DIR)).encode() + b"\0")
            hasher.update(source.read_bytes() + b"\0")
    for name in distributions:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "-"
        hasher.update(f"{name}={version}\0".encode())
    hasher.update(f"{sys.version}\0{zone_rules_version()}\0{extra}".encode())
    return hasher.hexdigest()


def zone_rules_version() -> str:
    """Which zone rules zoneinfo reads: the version line of each system zone folder on its
    path (Debian's tzdata updates them in place), then PyPI's tzdata."""
    found = []
    for folder in zoneinfo.TZPATH:
        try:
            with open(Path(folder) / "tzdata.zi", encoding="utf-8") as handle:
                found.append(f"{folder}:{handle.readline().strip()}")
        except OSError:
            try:
                changed = (Path(folder) / "Asia" / "Tehran").stat().st_mtime_ns
            except OSError:
                continue
            found.append(f"{folder}:{changed}")
    try:
        found.append("tzdata=" + importlib.metadata.version("tzdata"))
    except importlib.metadata.PackageNotFoundError:
        pass
    return ";".join(found)


class KeptFiles:
    """Bytes kept in ``folder`` under keys (hex digests made by the caller)."""

    def __init__(self, folder: str | Path, secret: str, purpose: str,
                 max_bytes: int = 256 << 20):
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._mac_key = hashlib.sha256(f"week-planner {purpose}\0".encode() +
                                       secret.encode("utf-8")).digest()
        self._lock = threading.Lock()
        self._size: int | None = None  # bytes in the folder when last counted, and since
        self._writes = 0  # this process's writes since then
        self._counted_at = 0.0
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
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Only this service's user reads what it kept (a draft programme, say).
            with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
                      "wb") as handle:
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
            self._writes += 1
            if self._size is None or self._writes >= RECOUNT_WRITES or \
                    time.monotonic() - self._counted_at >= RECOUNT_SECONDS:
                # Other processes write here too: count what is there.
                self._size = sum(size for _, size, _ in self._entries())
                self._writes, self._counted_at = 0, time.monotonic()
            else:
                self._size += len(data)
            if self._size > self.max_bytes:
                self._size = self._prune(self.max_bytes * 3 // 4)

    def _mac(self, key: str, payload: bytes) -> bytes:
        return hmac.new(self._mac_key, key.encode() + b"\0" + payload, "sha256").digest()

    def _entries(self) -> list[tuple[float, int, Path]]:
        """(last used, size, path) of every entry; temporary files left by a process that
        died while writing are deleted."""
        found = []
        abandoned = time.time() - ABANDONED_SECONDS
        try:
            with os.scandir(self.folder) as listing:
                for entry in listing:
                    try:
                        stat = entry.stat()
                        if entry.name.endswith(SUFFIX):
                            found.append((stat.st_mtime, stat.st_size, Path(entry.path)))
                        elif entry.name.startswith(".") and stat.st_mtime < abandoned:
                            os.unlink(entry.path)
                    except OSError:
                        continue
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
