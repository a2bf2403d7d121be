"""The current model of every schedule file in the schedules folder.

Every part of the service reads programmes through a Registry. ``refresh()`` looks at the
folder (at most once per ``interval`` seconds unless forced), reloads changed files and
keeps serving the last good version of a file whose new version has errors. A deleted
file's programme is remembered as gone (the page answers 410, feeds keep its events as
cancelled). Replacing the state is one assignment, so a reader never sees half of it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .loading import LoadResult, add_duplicate_id_problems, load_file, schedule_files
from .model import Programme
from .problems import Problem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileState:
    path: str
    signature: tuple  # (mtime_ns, size) when it was read
    result: LoadResult  # the latest load, good or bad
    good: Programme | None  # the last good version, served while ``result`` has errors
    loaded_at: dt.datetime


@dataclass(frozen=True)
class Snapshot:
    files: dict[str, FileState] = field(default_factory=dict)
    programmes: dict[str, Programme] = field(default_factory=dict)
    gone: dict[str, dt.datetime] = field(default_factory=dict)  # programme id → when
    loaded_at: dict[str, dt.datetime] = field(default_factory=dict)  # programme id → when


class Registry:
    def __init__(self, folder: str | Path, interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 channels: Iterable[str] | None = None):
        self.folder = Path(folder)
        self.interval = interval
        self.clock = clock
        self.channels = channels
        self._snapshot = Snapshot()
        self._checked_at: float | None = None
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Snapshot, Snapshot], None]] = []

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

    # -- loading
    def refresh(self, force: bool = False) -> bool:
        """Reload what changed on disk; True when the set of served programmes changed."""
        now = self.clock()
        if not force and self._checked_at is not None and \
                now - self._checked_at < self.interval:
            return False
        with self._lock:
            if not force and self._checked_at is not None and \
                    self.clock() - self._checked_at < self.interval:
                return False
            self._checked_at = self.clock()
            old = self._snapshot
            new = self._scan(old)
            if new is old:
                return False
            self._snapshot = new
        changed = new.programmes != old.programmes or new.gone != old.gone
        if changed:
            for listener in self._listeners:
                try:
                    listener(old, new)
                except Exception:  # a listener's failure must not stop serving
                    log.exception("schedule change listener failed")
        return changed

    def _scan(self, old: Snapshot) -> Snapshot:
        paths = {str(p): p for p in schedule_files([self.folder])} \
            if self.folder.is_dir() else {}
        signatures = {}
        for name, path in paths.items():
            try:
                stat = path.stat()
            except OSError:
                continue
            signatures[name] = (stat.st_mtime_ns, stat.st_size)
        if signatures.keys() == old.files.keys() and all(
                old.files[name].signature == sig for name, sig in signatures.items()):
            return old

        now = dt.datetime.now(dt.timezone.utc)
        files: dict[str, FileState] = {}
        results: list[LoadResult] = []
        for name, signature in signatures.items():
            previous = old.files.get(name)
            if previous is not None and previous.signature == signature:
                files[name] = previous
                continue
            result = load_file(paths[name], display_name=self._display(paths[name]),
                               channels=self.channels)
            results.append(result)
            good = result.programme if result.ok else (previous.good if previous else None)
            if not result.ok:
                log.warning("schedule %s has errors; %s", result.file,
                            "keeping the last good version" if good else "not served")
                for problem in result.errors:
                    log.warning("%s", problem.format("en"))
            else:
                log.info("loaded %s (programme %s, version %s)", result.file,
                         result.programme.id, result.programme.version)
            files[name] = FileState(name, signature, result, good,
                                    now if result.ok else
                                    (previous.loaded_at if previous else now))

        # Programme ids must be unique across the folder: the newly loaded file loses; among
        # files loaded together, the one changed longer ago keeps the id (as check says,
        # loading.keeping_order).
        programmes: dict[str, Programme] = {}
        loaded_at: dict[str, dt.datetime] = {}
        for state in sorted(files.values(), key=lambda s: (s.result in results,
                                                           s.signature[0], s.path)):
            programme = state.good
            if programme is None:
                continue
            if programme.id in programmes:
                clash = LoadResult(state.result.file, programme,
                                   list(state.result.problems), state.result.id_mark)
                add_duplicate_id_problems([LoadResult(programmes[programme.id].source,
                                                      programmes[programme.id]), clash])
                files[state.path] = FileState(state.path, state.signature, clash, None,
                                              state.loaded_at)
                continue
            programmes[programme.id] = programme
            loaded_at[programme.id] = state.loaded_at

        gone = {pid: when for pid, when in old.gone.items() if pid not in programmes}
        for pid, programme in old.programmes.items():
            # A draft that disappears was never public: it becomes unknown, not gone.
            if pid not in programmes and not programme.draft:
                gone.setdefault(pid, now)
        return Snapshot(files, programmes, gone, loaded_at)

    def _display(self, path: Path) -> str:
        """Paths relative to the working folder when possible, as organisers see them."""
        try:
            return str(path.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(path)
