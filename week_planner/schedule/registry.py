"""The current model of every schedule file in the schedules folder.

Every part of the service reads programmes through a Registry. ``refresh()`` looks at the
folder (at most once per ``interval`` seconds unless forced) and publishes what changed as
a new Snapshot, swapped in with one assignment, so a reader never sees half of it. A
deleted file's programme is remembered as gone (the page answers 410, feeds keep its
events as cancelled).

One county's file must never hurt the site or the other counties, so:

- a load never stalls a request: a reader that finds another thread loading is served the
  current snapshot at once (only the very first load, with nothing to serve, is waited for);
- a changed file is applied once it has settled (``settle`` seconds without a change), so
  a file still being written or copied is not published half-written; until then its
  previous version stays;
- a file with errors keeps its last good version online and is not read again until it
  changes; if the loader itself crashes on a file, that is the file's error, logged once;
- a vanished file's programme is gone only after ``gone_grace`` seconds (an editor's
  delete-and-rename, a copy over a share), and never while the folder itself cannot be
  read;
- a new version that loses most of the previous version's events is published with a
  ``many-events-removed`` warning, so a file cut short is noticed.

``next_check_in()`` says when a waiting decision is due, so the watcher looks again then,
without waiting for a request.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from week_planner.schedule.kept_loads import KeptLoads
from week_planner.schedule.loading import (
    LoadResult,
    add_duplicate_id_problems,
    load_file,
    load_text,
    schedule_files,
)
from week_planner.schedule.model import Programme
from week_planner.schedule.problems import LOAD_CRASHED, MANY_EVENTS_REMOVED, Problem
from week_planner.schedule.rules import MAX_FILE_BYTES
from week_planner.schedule.yaml_reading import cyclic_gc_paused

log = logging.getLogger(__name__)

# A file's (mtime, size) proves it unchanged only once its mtime is older than the clock
# tick of the file system when we read it (FAT's is 2 s, the coarsest in use): a file
# rewritten with the same size within one tick keeps its signature. Until then, its content
# digest is compared as well (git's "racily clean" rule).
MTIME_GRANULARITY = 2.0

# A new version that keeps fewer than half of the previous version's events, having lost
# at least this many, is flagged (a handful of events removed on purpose is not).
MANY_REMOVED_AT_LEAST = 3

# The first look at a folder of this many files (a national week's cold start) runs with
# the cyclic garbage collector paused, then freezes what it made (gc.freeze): hundreds of
# programmes and their stored revisions live as long as the process, and every full pass
# of the collector would walk them all again (0.6 s of a cold start at 450 programmes).
# Frozen objects are still freed by reference counting; only a cycle among what that one
# look made is never collected.
FREEZE_FIRST_LOOK_FILES = 100

# While a watcher looks at the folder every interval on its own thread (``polled``), a
# reader looks only when that look is this many intervals late (the watcher stopped or
# stuck): a national folder's look (66 ms at 4,500 files) is then never a request's.
POLLED_LATE_INTERVALS = 5


@dataclass(frozen=True)
class FileState:
    """One schedule file as the registry last applied it."""

    path: str
    signature: tuple  # (mtime_ns, size) when it was last looked at
    result: LoadResult  # the latest load as shown: ``own``, plus a lost duplicate id
    good: Programme | None  # the file's last good version, served while its load has errors
    loaded_at: dt.datetime
    own: LoadResult  # the latest load with the registry's own findings about it
    digest: str = ""  # sha256 of the content last read; "" when it could not be read
    read_at: float = 0.0  # wall-clock time of that read


@dataclass(frozen=True)
class Snapshot:
    files: dict[str, FileState] = field(default_factory=dict)
    programmes: dict[str, Programme] = field(default_factory=dict)
    gone: dict[str, dt.datetime] = field(default_factory=dict)  # programme id → when
    loaded_at: dict[str, dt.datetime] = field(default_factory=dict)  # programme id → when
    # False while the folder is missing or cannot be listed: nothing in it is taken as
    # deleted then, and everything stays as it was.
    folder_readable: bool = True


class Registry:
    def __init__(self, folder: str | Path, interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 channels: Iterable[str] | None = None,
                 settle: float = 0.0, gone_grace: float = 0.0,
                 wall_clock: Callable[[], float] = time.time,
                 extra_files: Iterable[str | Path] = (), kept: KeptLoads | None = None):
        """``settle`` and ``gone_grace`` (seconds) default to 0, applying every change at
        once, as a script or a test reading a folder expects; the service passes its
        settings (``SCHEDULE_SETTLE_SECONDS``, ``SCHEDULE_GONE_GRACE_SECONDS``).
        ``clock`` measures intervals; ``wall_clock`` is compared with file times.
        ``extra_files`` are served beside the folder's (the demonstration programme of
        ``week-planner serve --demo``), never written into it. ``kept`` keeps checked
        files on disk, so that a restart does not check unchanged files again."""
        self.folder = Path(folder)
        self.extra_files = tuple(Path(path) for path in extra_files)
        self.interval = interval
        self.clock = clock
        self.wall_clock = wall_clock
        self.channels = channels
        self.settle = settle
        self.gone_grace = gone_grace
        self.kept = kept
        # True while a watcher looks every ``interval`` on its own thread (watching.py).
        self.polled = False
        # Where in the folder the first look starts loading, as a fraction of it: workers
        # starting together start at different places, and each reads what the others
        # have checked already from ``kept`` (gunicorn_hooks.py).
        self.first_look_from = 0.0
        self._snapshot = Snapshot()
        self._checked_at: float | None = None
        self._scanned = False  # True once a first look has been published
        # Held by the one thread that loads; readers never wait for it (see refresh).
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Snapshot, Snapshot], None]] = []
        # Only touched with the lock held:
        self._waiting: dict[str, tuple[tuple, float]] = {}  # path → (signature, first seen)
        self._vanished: dict[str, float] = {}  # path → when it was first missing
        self._due_at: float | None = None  # when a waiting decision is next due
        self._folder_warned = False

    # -- reading
    def programmes(self, include_drafts: bool = False) -> list[Programme]:
        self.refresh()
        found = [p for p in self._snapshot.programmes.values()
                 if include_drafts or not p.draft]
        return sorted(found, key=lambda p: (p.first_day, p.id), reverse=True)

    def get(self, programme_id: str) -> Programme | None:
        """The programme, drafts included (callers decide whether to show a draft)."""
        self.refresh()
        return self._snapshot.programmes.get(programme_id)

    def is_gone(self, programme_id: str) -> bool:
        self.refresh()
        return programme_id in self._snapshot.gone

    def problems(self) -> list[Problem]:
        """The problems of every file's latest version (errors keep the old version live)."""
        self.refresh()
        return [problem for state in self._snapshot.files.values()
                for problem in state.result.problems]

    def snapshot(self) -> Snapshot:
        self.refresh()
        return self._snapshot

    def on_change(self, listener: Callable[[Snapshot, Snapshot], None]) -> None:
        """Call ``listener(old, new)`` after every applied change."""
        self._listeners.append(listener)

    def next_check_in(self) -> float | None:
        """Seconds until a change waiting to settle, or a vanished file's grace, is due to
        be decided; None when nothing waits."""
        due = self._due_at
        return None if due is None else max(0.0, due - self.clock())

    # -- loading
    def refresh(self, force: bool = False) -> bool:
        """Reload what changed on disk; True when the set of served programmes changed.

        A reader's refresh never waits for a load: when another thread is loading (a big
        file can take seconds), it returns at once and the reader is served the current
        snapshot. Only the very first load, before there is anything to serve, is waited
        for. A forced refresh (the watcher) waits its turn and then looks again.
        """
        if not force and not self._check_due():
            return False
        if not self._lock.acquire(blocking=force or not self._scanned):
            return False
        try:
            if not force and not self._check_due():
                return False
            self._checked_at = self.clock()
            if self._scanned:
                return self._apply()
            with cyclic_gc_paused():
                changed = self._apply()
                if len(self._snapshot.files) >= FREEZE_FIRST_LOOK_FILES:
                    gc.freeze()
                return changed
        finally:
            self._lock.release()

    def _apply(self) -> bool:
        old = self._snapshot
        new = self._scan(old)
        self._scanned = True
        if new is old:
            return False
        self._snapshot = new
        changed = new.programmes != old.programmes or new.gone != old.gone
        if changed:
            # Under the lock, so that listeners (the feeds' store) hear of versions in
            # the order they were published; readers do not wait for it.
            self._notify(old, new)
        return changed

    def _check_due(self) -> bool:
        interval = self.interval * (POLLED_LATE_INTERVALS if self.polled else 1)
        return self._checked_at is None or self.clock() - self._checked_at >= interval

    def _notify(self, old: Snapshot, new: Snapshot) -> None:
        for listener in self._listeners:
            try:
                listener(old, new)
            except Exception:  # a listener's failure must not stop serving
                log.exception("schedule change listener failed")

    def _scan(self, old: Snapshot) -> Snapshot:
        listing = self._list_folder()
        if listing is None:
            self._due_at = None
            return replace(old, folder_readable=False) if old.folder_readable else old
        now, wall = self.clock(), self.wall_clock()
        due: list[float] = []
        looked: dict[str, FileState | None] = {}
        for name in self._look_order(list(listing)):
            self._vanished.pop(name, None)
            looked[name] = self._look(name, listing[name], old.files.get(name), now, wall,
                                      due)
        files = {name: looked[name] for name in listing if looked[name] is not None}
        for name in [name for name in self._waiting if name not in listing]:
            del self._waiting[name]
        for name, previous in old.files.items():
            if name in files:
                continue
            since = self._vanished.setdefault(name, now)
            if now - since < self.gone_grace:
                if since == now:
                    log.info("%s vanished; its programme stays for %g s in case it comes "
                             "back", name, self.gone_grace)
                files[name] = previous
                due.append(since + self.gone_grace)
            else:
                del self._vanished[name]
        self._due_at = min(due) if due else None
        if old.folder_readable and files.keys() == old.files.keys() and all(
                state is old.files[name] for name, state in files.items()):
            return old
        return self._publish(old, files)

    def _look_order(self, names: list[str]) -> list[str]:
        """``names`` from ``first_look_from`` on, round to the start, for the first look
        with a kept folder; else as they are."""
        if self._scanned or self.kept is None or not names or not self.first_look_from:
            return names
        start = int(len(names) * self.first_look_from) % len(names)
        return names[start:] + names[:start]

    def _list_folder(self) -> dict[str, Path] | None:
        """The schedule files by path; None, with a warning once, when the folder is
        missing or cannot be listed: then a file cannot be told from a deleted one."""
        try:
            if self.folder.is_dir():
                listing = {str(path): path for path in schedule_files([self.folder])}
                listing.update({str(path): path for path in self.extra_files
                                if path.is_file()})
                if self._folder_warned:
                    log.warning("the schedules folder %s can be read again", self.folder)
                    self._folder_warned = False
                return listing
            reason = "it is missing or not a folder"
        except OSError as error:
            reason = error.strerror or str(error)
        if not self._folder_warned:
            log.warning("the schedules folder %s cannot be read (%s); every programme stays "
                        "as it was until it can", self.folder, reason)
            self._folder_warned = True
        return None

    def _look(self, name: str, path: Path, previous: FileState | None, now: float,
              wall: float, due: list[float]) -> FileState | None:
        """The file's state after this look: ``previous`` when it is unchanged or its
        change has not settled yet (None for a new file), a new state once read; None when
        it can no longer be found."""
        try:
            stat = path.stat()
        except OSError:
            return None
        signature = (stat.st_mtime_ns, stat.st_size)
        digest = None
        if previous is not None and previous.signature == signature:
            if _trusted(previous.signature, previous.read_at) and previous.digest:
                self._waiting.pop(name, None)  # a change that was undone before it settled
                return previous
            # The signature cannot vouch for the content (a recent rewrite of the same
            # size, or a file that could not be read): compare the content itself.
            digest = _digest(path)
            if digest == previous.digest:
                if digest and _trusted(signature, wall):
                    return replace(previous, read_at=wall)
                return previous
        settles_at = self._settles_at(name, signature, now, wall)
        if settles_at is not None:
            due.append(settles_at)
            return previous
        if digest is None:
            digest = _digest(path)
        if previous is not None and digest and digest == previous.digest:
            # Touched, or copied over with the same bytes: nothing to parse again.
            return replace(previous, signature=signature, read_at=wall)
        return self._load(name, path, signature, digest, wall, previous)

    def _settles_at(self, name: str, signature: tuple, now: float,
                    wall: float) -> float | None:
        """None when the file's latest change has settled: its mtime is ``settle`` seconds
        old, or it kept one signature for ``settle`` seconds (for a file whose mtime is
        ahead of this machine's clock). Otherwise when to look again (``clock`` time)."""
        if self.settle <= 0:
            return None
        age = wall - signature[0] / 1e9
        if age >= self.settle:
            self._waiting.pop(name, None)
            return None
        seen = self._waiting.get(name)
        if seen is None or seen[0] != signature:
            seen = self._waiting[name] = (signature, now)
            log.info("%s changed; it is applied once it has not changed for %g s",
                     name, self.settle)
        elif now - seen[1] >= self.settle:
            del self._waiting[name]
            return None
        return min(now + self.settle - age, seen[1] + self.settle)

    def _load(self, name: str, path: Path, signature: tuple, digest: str, wall: float,
              previous: FileState | None) -> FileState:
        display = self._display(path)
        good = previous.good if previous else None
        try:
            result = self._load_file(path, display)
        except Exception:
            # load_file must not raise for anything in a file. If it does anyway, the file
            # is reported like one with an error, and kept until it changes: its traceback
            # is logged once, never again and again on every look.
            log.exception("loading %s failed with an internal error; %s", display,
                          "the last good version stays" if good else "it is not served")
            result = LoadResult(display, problems=[
                Problem(display, 0, 0, "load-crashed", LOAD_CRASHED)])
        if result.ok:
            result = _flag_many_removed(result, good)
            log.info("loaded %s (programme %s, version %s)", result.file,
                     result.programme.id, result.programme.version)
            return FileState(name, signature, result, result.programme,
                             dt.datetime.now(dt.timezone.utc), result, digest, wall)
        log.warning("schedule %s has errors; %s", result.file,
                    "keeping the last good version" if good else "not served")
        for problem in result.errors:
            log.warning("%s", problem.format("en"))
        loaded_at = previous.loaded_at if previous else dt.datetime.now(dt.timezone.utc)
        return FileState(name, signature, result, good, loaded_at, result, digest, wall)

    def _load_file(self, path: Path, display: str) -> LoadResult:
        """``load_file``, or the kept result of loading the same bytes."""
        if self.kept is None:
            return load_file(path, display_name=display, channels=self.channels)
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except OSError:
            return load_file(path, display_name=display, channels=self.channels)
        key = self.kept.key(data, display, self.channels)
        result = self.kept.get(key)
        if result is None:
            result = load_text(data, display, channels=self.channels)
            self.kept.put(key, result)
        return result

    def _publish(self, old: Snapshot, files: dict[str, FileState]) -> Snapshot:
        """The snapshot serving ``files``: each programme id from one file, and the
        programmes no longer served remembered as gone."""
        # Programme ids must be unique across the folder. The file serving an id keeps it
        # while it has it, so a copy being edited never takes over the original; among
        # files new to the id, the one changed longer ago wins (as check says,
        # loading.keeping_order). The order is worked out afresh each time, so when the
        # holder goes, the copy is served.
        served_from = {programme.id: state.path for state in old.files.values()
                       for programme in [state.good]
                       if programme is not None and
                       old.programmes.get(programme.id) is programme}
        programmes: dict[str, Programme] = {}
        loaded_at: dict[str, dt.datetime] = {}
        shown: dict[str, FileState] = {}
        for state in sorted(files.values(), key=lambda s: (
                s.good is None or served_from.get(s.good.id) != s.path,
                s.signature[0], s.path)):
            programme, result = state.good, state.own
            if programme is not None and programme.id in programmes:
                holder = programmes[programme.id]
                result = LoadResult(result.file, programme, list(result.problems),
                                    result.id_mark)
                add_duplicate_id_problems([LoadResult(holder.source, holder), result])
            elif programme is not None:
                programmes[programme.id] = programme
                loaded_at[programme.id] = state.loaded_at
            shown[state.path] = state if state.result is result else \
                replace(state, result=result)

        now = dt.datetime.now(dt.timezone.utc)
        gone = {pid: when for pid, when in old.gone.items() if pid not in programmes}
        for pid, programme in old.programmes.items():
            # A draft that disappears was never public: it becomes unknown, not gone.
            if pid not in programmes and not programme.draft:
                gone.setdefault(pid, now)
        files_in_order = {name: shown[name] for name in files}
        return Snapshot(files_in_order, programmes, gone, loaded_at)

    def _display(self, path: Path) -> str:
        """Paths relative to the working folder when possible, as organisers see them."""
        try:
            return str(path.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(path)


def _trusted(signature: tuple, read_at: float) -> bool:
    """True when a file read at ``read_at`` (wall clock) and still showing ``signature``
    cannot have been rewritten since without its signature changing."""
    return read_at - signature[0] / 1e9 > MTIME_GRANULARITY


def _digest(path: Path) -> str:
    """sha256 of the file's content; "" when it cannot be read."""
    hasher = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 16), b""):
                hasher.update(chunk)
    except OSError:
        return ""
    return hasher.hexdigest()


def _flag_many_removed(result: LoadResult, before: Programme | None) -> LoadResult:
    """``result`` with a warning when it lost most of the previous version's events at
    once: it is published (it may be meant), but a file cut short by a failed copy looks
    just like this, and every subscriber's calendar is about to cancel those events."""
    if before is None or before.draft:
        return result
    after = result.programme
    had = {(before.id, event.id) for event in before.events}
    has = {(after.id, event.id) for event in after.events}
    removed = len(had - has)
    if removed < MANY_REMOVED_AT_LEAST or 2 * (len(had) - removed) >= len(had):
        return result
    warning = Problem(result.file, 0, 0, "many-events-removed", MANY_EVENTS_REMOVED,
                      {"removed": removed, "before": len(had), "after": len(has)},
                      severity="warning")
    log.warning("%s", warning.format("en"))
    return LoadResult(result.file, after, [*result.problems, warning], result.id_mark)


REGISTRY_EXTENSION = "week_planner.registry"


def registry_of(app) -> Registry:
    """The Registry an application serves from (``create_app`` puts it there)."""
    return app.extensions[REGISTRY_EXTENSION]
