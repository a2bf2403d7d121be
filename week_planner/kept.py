"""Work kept on disk by what it was made from, so that a restart (a deploy, a reboot, a
second worker) does not redo it: checked schedule files (schedule/kept_loads.py) and built
feeds (publish/feed_service.py), each kind in an SQLite file of its own under the instance
folder (``kept/<kind>/kept.sqlite``).

What is kept is a pure function of its inputs. Its key is a digest of all of them,
including ``code_fingerprint``, the source of the modules that made it and the versions of
the libraries and data they read: any change to one of them is another key, so an entry is
never stale, only unused.

Each entry sits behind an HMAC-SHA256 made with a key derived from the service's secret
key and the entry's key: an entry not written by this service (or by one with another
secret key), cut short, damaged or moved to another key is not used. Folder and database
are readable by the service's user only. A database holds at most ``max_bytes`` of entries
(give or take what the other processes sharing it wrote since this one last counted:
RECOUNT_WRITES, RECOUNT_SECONDS); past that, the entries used longest ago are deleted. A
failure to read or write an entry is a miss, logged once, never an error of what it was
asked for; a database file found damaged is deleted and made again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import importlib.metadata
import logging
import os
import sqlite3
import sys
import threading
import time
import zoneinfo
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
DATABASE = "kept.sqlite"
MAC_BYTES = 32

# Each process counts the folder again after this many of its own writes or seconds, so
# that the writes of the other processes sharing it count too.
RECOUNT_WRITES = 256
RECOUNT_SECONDS = 60.0
# An entry's time of last use is written again when a hit finds it this old (a restart
# reads hundreds: each need not be a write).
TOUCH_SECONDS = 3600.0
# How long a read or a write waits for another process's write before it is a miss.
BUSY_SECONDS = 2.0


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
    """Bytes kept under keys (hex digests made by the caller) in one SQLite file in
    ``folder``, shared by every process of the service: writing an entry is a row, not a
    file (creating a file cost 1–2 ms of kernel time on the machine benchmarked, and a
    first start keeps one per schedule file and one per feed)."""

    def __init__(self, folder: str | Path, secret: str, purpose: str,
                 max_bytes: int = 256 << 20):
        self.folder = Path(folder)
        self.path = self.folder / DATABASE
        self.max_bytes = max_bytes
        self._mac_key = hashlib.sha256(f"week-planner {purpose}\0".encode() +
                                       secret.encode("utf-8")).digest()
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._inherited: list[sqlite3.Connection] = []
        self._size: int | None = None  # bytes kept when last counted, and since
        self._writes = 0  # this process's writes since then
        self._counted_at = 0.0
        self._warned = False
        self.hits = self.misses = 0

    def get(self, key: str) -> bytes | None:
        try:
            with self._lock:
                row = self._connect().execute(
                    "SELECT data, used FROM kept WHERE key = ?", (key,)).fetchone()
        except (OSError, sqlite3.Error) as error:
            self._failed(error)
            row = None
        if row is None or not isinstance(row[0], bytes):
            self.misses += 1
            return None
        data, used = row
        mac, payload = data[:MAC_BYTES], data[MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(key, payload)):
            self.misses += 1
            return None
        if not isinstance(used, (int, float)) or time.time() - used > TOUCH_SECONDS:
            try:  # used now: among the last to be pruned
                with self._lock:
                    self._connect().execute("UPDATE kept SET used = ? WHERE key = ?",
                                            (time.time(), key))
            except (OSError, sqlite3.Error) as error:
                self._failed(error)
        self.hits += 1
        return payload

    def put(self, key: str, payload: bytes) -> None:
        data = self._mac(key, payload) + payload
        try:
            with self._lock:
                connection = self._connect()
                connection.execute(
                    "INSERT OR REPLACE INTO kept (key, data, size, used) VALUES (?, ?, ?, ?)",
                    (key, data, len(data), time.time()))
                self._writes += 1
                if self._size is None or self._writes >= RECOUNT_WRITES or \
                        time.monotonic() - self._counted_at >= RECOUNT_SECONDS:
                    # Other processes write here too: count what is there.
                    self._size = connection.execute(
                        "SELECT COALESCE(SUM(size), 0) FROM kept").fetchone()[0]
                    self._writes, self._counted_at = 0, time.monotonic()
                else:
                    self._size += len(data)
                if self._size > self.max_bytes:
                    self._size = self._prune(connection, self.max_bytes * 3 // 4)
        except (OSError, sqlite3.Error) as error:
            self._failed(error)

    def _mac(self, key: str, payload: bytes) -> bytes:
        return hmac.new(self._mac_key, key.encode() + b"\0" + payload, "sha256").digest()

    def _connect(self) -> sqlite3.Connection:
        """This process's connection (under ``_lock``), opened on first use and again in
        a child forked since: an SQLite connection must not cross a fork."""
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        if self._connection is not None:
            self._inherited.append(self._connection)  # the parent's: never used, not closed
            self._connection = None
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Only this service's user reads what it kept (a draft programme, say); SQLite
        # gives the file's journal the file's mode.
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        connection = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None,
                                     check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            # A cache: a write need not reach the disk before the next one (the database
            # stays whole; a power cut may lose the last entries).
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("CREATE TABLE IF NOT EXISTS kept (key TEXT PRIMARY KEY, "
                               "data BLOB NOT NULL, size INTEGER NOT NULL, used REAL NOT NULL)")
            connection.execute("CREATE INDEX IF NOT EXISTS kept_used ON kept (used)")
        except sqlite3.Error:
            connection.close()
            raise
        self._connection, self._pid = connection, os.getpid()
        return connection

    def _failed(self, error: Exception) -> None:
        """A miss, logged once. A file that is not a database (damaged, or something
        else where it should be) is deleted, to be made again at the next use."""
        if not self._warned:
            log.warning("nothing can be kept in %s (%s); a restart does the work again",
                        self.folder, getattr(error, "strerror", None) or error)
            self._warned = True
        if type(error) is sqlite3.DatabaseError:  # not a database, or a damaged one
            with self._lock:
                if self._connection is not None:
                    self._connection.close()
                    self._connection = None
                for suffix in ("", "-wal", "-shm"):
                    try:
                        Path(f"{self.path}{suffix}").unlink(missing_ok=True)
                    except OSError:
                        pass

    def _prune(self, connection: sqlite3.Connection, target: int) -> int:
        """Delete the entries used longest ago until at most ``target`` bytes are left;
        the bytes left."""
        rows = connection.execute("SELECT key, size FROM kept ORDER BY used").fetchall()
        left = sum(size for _, size in rows)
        doomed = []
        for key, size in rows:
            if left <= target:
                break
            doomed.append((key,))
            left -= size
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.executemany("DELETE FROM kept WHERE key = ?", doomed)
            connection.execute("COMMIT")
        except sqlite3.Error:
            connection.execute("ROLLBACK")
            raise
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
