"""Work kept on disk by what it was made from, so that a restart (a deploy, a reboot, a
second worker) does not redo it: checked schedule files (schedule/kept_loads.py) and built
feeds (publish/feed_service.py), each kind in an SQLite file of its own under the instance
folder (``kept/<kind>/kept-1.sqlite``).

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
failure to read or write an entry is a miss, logged once for each kind of failure, never
an error of what it was asked for (a damaged database is reported, not deleted: other
processes may have it open, and deleting its "-wal" beside a new one would harm that).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import importlib.metadata
import logging
import os
import re
import sqlite3
import sys
import threading
import time
import weakref
import zoneinfo
from pathlib import Path

from week_planner.wal import into_wal

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
# The number follows the table's layout: releases with different layouts never share a
# file.
DATABASE = "kept-1.sqlite"
MAC_BYTES = 32

# Each process counts the database again after this many of its own writes or seconds, so
# that the writes of the other processes sharing it count too.
RECOUNT_WRITES = 256
RECOUNT_SECONDS = 60.0
# An entry's time of last use is written again when a hit finds it this old (a restart
# reads hundreds: each need not be a write).
TOUCH_SECONDS = 3600.0
# How long a read or a write waits for another process's write before it is a miss.
BUSY_SECONDS = 1.0
# The "-wal" file is cut back to this size after SQLite copies it into the database.
WAL_LIMIT_BYTES = 4 << 20


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
    first start keeps one per schedule file and one per feed).

    Each thread has a connection of its own, and no lock is held while SQLite waits for
    another process. Each use checks that the file at ``path`` is still the one its
    connection has open, and opens the new one when it is not (the folder deleted by hand
    while the service runs); closing the old connection leaves the new file's "-wal" and
    "-shm" alone, as SQLite sees that its file has moved."""

    def __init__(self, folder: str | Path, secret: str, purpose: str,
                 max_bytes: int = 256 << 20):
        self.folder = Path(folder)
        self.path = self.folder / DATABASE
        self.max_bytes = max_bytes
        self._mac_key = hashlib.sha256(f"week-planner {purpose}\0".encode() +
                                       secret.encode("utf-8")).digest()
        self._local = threading.local()
        self._opened_by: int | None = None  # the process that opened connections
        self._disabled = False
        self._count_lock = threading.Lock()
        self._size: int | None = None  # bytes kept when last counted, and since
        self._writes = 0  # this process's writes since then
        self._counted_at = 0.0
        self._warned: set[str] = set()
        self.hits = self.misses = 0
        _LIVE.add(self)

    def get(self, key: str) -> bytes | None:
        try:
            connection = self._connection()
            row = connection.execute("SELECT data, used FROM kept WHERE key = ?",
                                     (key,)).fetchone()
            if row is not None and isinstance(row[0], bytes):
                data, used = row
                mac, payload = data[:MAC_BYTES], data[MAC_BYTES:]
                if hmac.compare_digest(mac, self._mac(key, payload)):
                    if not isinstance(used, (int, float)) or \
                            time.time() - used > TOUCH_SECONDS:
                        self._touch(connection, key)
                    self.hits += 1
                    return payload
        except Exception as error:
            self._failed(error)
        self.misses += 1
        return None

    def _touch(self, connection: sqlite3.Connection, key: str) -> None:
        """Note that ``key`` was used now (among the last to be pruned), unless another
        process is writing: a hit never waits for that."""
        try:
            connection.execute("PRAGMA busy_timeout = 0")
            try:
                connection.execute("UPDATE kept SET used = ? WHERE key = ?",
                                   (time.time(), key))
            finally:
                connection.execute(f"PRAGMA busy_timeout = {int(BUSY_SECONDS * 1000)}")
        except sqlite3.OperationalError:
            pass  # busy: the next hit notes it

    def put(self, key: str, payload: bytes) -> None:
        data = self._mac(key, payload) + payload
        try:
            connection = self._connection()
            connection.execute(
                "INSERT OR REPLACE INTO kept (key, size, used, data) VALUES (?, ?, ?, ?)",
                (key, len(data), time.time(), data))
            with self._count_lock:
                self._writes += 1
                recount = self._size is None or self._writes >= RECOUNT_WRITES or \
                    time.monotonic() - self._counted_at >= RECOUNT_SECONDS
                if recount:
                    self._writes, self._counted_at = 0, time.monotonic()
                else:
                    self._size += len(data)
                size = self._size
            if recount:  # other processes write here too: count what is there
                size = connection.execute(
                    "SELECT COALESCE(SUM(size), 0) FROM kept").fetchone()[0]
            pruned = size > self.max_bytes
            if pruned:
                size = self._prune(connection, self.max_bytes * 3 // 4)
            if recount or pruned:
                with self._count_lock:
                    self._size = size
        except Exception as error:
            self._failed(error)

    def _mac(self, key: str, payload: bytes) -> bytes:
        return hmac.new(self._mac_key, key.encode() + b"\0" + payload, "sha256").digest()

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection to the file now at ``path``."""
        if self._disabled:
            raise KeptError("opened before this process was forked")
        try:
            stat = os.stat(self.path)
            identity = (stat.st_dev, stat.st_ino)
        except FileNotFoundError:
            identity = None
        found = getattr(self._local, "found", None)  # (identity, connection)
        if found is not None:
            if found[0] == identity:
                return found[1]
            self._local.found = None
            found[1].close()
        for _ in range(3):
            connection, identity = self._open()
            # The file opened to learn its identity, and the one SQLite opened by name: the
            # same, unless it was replaced in between.
            try:
                stat = os.stat(self.path)
                if (stat.st_dev, stat.st_ino) == identity:
                    self._local.found = (identity, connection)
                    return connection
            except FileNotFoundError:
                pass
            connection.close()
        raise KeptError(f"{self.path} keeps being replaced")

    def _open(self) -> tuple[sqlite3.Connection, tuple[int, int]]:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._opened_by is None:
            _delete_old_layout(self.folder)
        self._opened_by = os.getpid()
        # Only this service's user reads what it kept (a draft programme, say); SQLite
        # gives the file's "-wal" and "-shm" the file's mode.
        handle = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            stat = os.fstat(handle)
            if stat.st_mode & 0o077:
                os.fchmod(handle, 0o600)
        finally:
            os.close(handle)
        connection = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None,
                                     check_same_thread=False)
        try:
            into_wal(connection, BUSY_SECONDS)
            # A cache: a write need not reach the disk before the next one (the database
            # stays whole; a power cut may lose the last entries).
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
            # The blob last: counting sizes and finding the oldest need not read it.
            connection.execute("CREATE TABLE IF NOT EXISTS kept (key TEXT PRIMARY KEY, "
                               "size INTEGER NOT NULL, used REAL NOT NULL, "
                               "data BLOB NOT NULL)")
            connection.execute("CREATE INDEX IF NOT EXISTS kept_used ON kept (used)")
        except BaseException:
            connection.close()
            raise
        return connection, (stat.st_dev, stat.st_ino)

    def _failed(self, error: Exception) -> None:
        """A miss: logged once for each kind of failure."""
        kind = type(error).__name__
        if self._disabled or kind in self._warned:  # _after_fork said why
            return
        self._warned.add(kind)
        damaged = type(error) is sqlite3.DatabaseError  # not a database, or damaged
        log.warning("nothing can be kept in %s (%s); %s", self.path,
                    getattr(error, "strerror", None) or error,
                    "delete it: it is made again" if damaged
                    else "a restart does the work again")

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
        except BaseException:  # never leave the write lock held
            if connection.in_transaction:
                try:
                    connection.execute("ROLLBACK")
                except BaseException:
                    self._local.found = None
                    connection.close()  # which ends the transaction
            raise
        return left

    def _after_fork(self) -> None:
        """In a child just forked: SQLite's record of the locks its parent's connections
        hold came along without the locks, so a connection opened in the parent makes
        this one's unsafe; and the threads of the parent did not come along."""
        self._count_lock = threading.Lock()
        self._local = threading.local()
        if self._opened_by is not None:
            self._disabled = True
            log.warning("%s was opened before this process was forked: it keeps nothing "
                        "here (open it only after forking)", self.path)


_OLD_LAYOUT = re.compile(r"[0-9a-f]{64}\.kept|\.[0-9a-f]{64}\.[0-9]+\.[0-9a-f]{8}|"
                         r"kept\.sqlite(-wal|-shm)?")


class KeptError(RuntimeError):
    """What is kept cannot be used in this process."""


def _delete_old_layout(folder: Path) -> None:
    """What earlier layouts kept and nothing reads any more (up to half of KEPT_MB each):
    an entry a file (``<key>.kept``, and a writer's ``.<key>.<pid>.<hex>`` temporary
    files), then ``kept.sqlite``."""
    try:
        with os.scandir(folder) as listing:
            for entry in listing:
                if _OLD_LAYOUT.fullmatch(entry.name):
                    try:
                        os.unlink(entry.path)
                    except OSError:
                        pass
    except OSError:
        pass


_LIVE: weakref.WeakSet[KeptFiles] = weakref.WeakSet()


def _forked() -> None:
    for files in list(_LIVE):
        files._after_fork()


os.register_at_fork(after_in_child=_forked)


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
