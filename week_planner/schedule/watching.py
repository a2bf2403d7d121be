"""Live reload: a watchdog observer on the schedules folder that refreshes the registry.

``start_watching(registry)`` is called by ``week-planner serve``, ``week-planner scheduler``
and gunicorn's post-fork hook — never by ``create_app``, so tests and ``--preload`` start no
thread. Editors save through temporary files and renames, so events are gathered for a
short moment and then one forced refresh runs. The registry holds a changed file back until
it has settled, and a vanished file's programme until its grace ends; after every refresh
the watcher comes back when the next of those decisions is due, so they are applied without
waiting for a request.

The watcher also looks at the folder every ``registry.interval`` seconds on a thread of its
own, whatever the events say: a shared folder (NFS, SMB) reports no events for changes
made on another machine, and a missed event must not leave a change unseen. While it does,
readers leave the folder alone (``Registry.polled``): a request never pays for a look at a
national folder, and looks again itself only if the watcher's looks stop coming.

Only events saying that something changed count. watchdog 4 and later also report a file
being opened and closed without writing — which is what the registry does when it reads a
file: reacting to those, a reload read the file, which reloaded it, five times a second.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from week_planner.schedule.registry import Registry

log = logging.getLogger(__name__)
GATHER_SECONDS = 0.2  # events of one save arrive together; one refresh for all of them
DUE_MARGIN_SECONDS = 0.05  # look just after a decision is due, never just before it

# watchdog's event_type names (EVENT_TYPE_CREATED …; written out, as "closed" and "attrib"
# are missing from older versions). "closed" is closed after writing; "attrib" a touch, a
# chmod or a copy setting the time, never a read. Left out: "opened" and "closed_no_write".
CHANGE_EVENTS = frozenset({"created", "modified", "moved", "deleted", "closed", "attrib"})


def is_change(event: FileSystemEvent) -> bool:
    """True for an event that may change what the folder serves."""
    if event.event_type not in CHANGE_EVENTS:
        return False
    if event.is_directory:
        return True
    paths = (event.src_path, getattr(event, "dest_path", "") or "")
    return any(os.fsdecode(path).endswith((".yaml", ".yml")) for path in paths)


class _Reloader(FileSystemEventHandler):
    def __init__(self, registry: Registry):
        self.registry = registry
        self._lock = threading.Lock()
        self._gathering: threading.Timer | None = None  # the refresh after a burst of events
        self._due: threading.Timer | None = None  # the look when a decision is due
        self._stopped = False
        self.ignored = 0  # events that changed nothing (the registry's own reads among them)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if not is_change(event):
            self.ignored += 1  # only the observer's thread counts
            return
        with self._lock:
            self._gathering = self._start(self._gathering, GATHER_SECONDS)

    def _start(self, timer: threading.Timer | None, delay: float) -> threading.Timer | None:
        """A new timer in place of ``timer``; None once stopped. Call with the lock held."""
        if timer is not None:
            timer.cancel()
        if self._stopped:
            return None
        timer = threading.Timer(delay, self._reload)
        timer.daemon = True
        timer.start()
        return timer

    def _reload(self) -> None:
        try:
            self.registry.refresh(force=True)
        except Exception:  # never let the watcher die; the next change tries again
            log.exception("reloading the schedules folder failed")
            return  # and do not come back at once: that would fail again, in a loop
        self.come_back_when_due()

    def come_back_when_due(self) -> None:
        """Refresh again when the registry's next waiting decision is due."""
        delay = self.registry.next_check_in()
        with self._lock:
            if delay is None:
                if self._due is not None:
                    self._due.cancel()
                    self._due = None
                return
            self._due = self._start(self._due, delay + DUE_MARGIN_SECONDS)

    def busy(self) -> bool:
        """True while a refresh is gathering events or running."""
        timer = self._gathering
        return timer is not None and timer.is_alive()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            for timer in (self._gathering, self._due):
                if timer is not None:
                    timer.cancel()


class Watcher:
    """A running observer and the looks every interval; ``stop()`` ends them."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self.handler = _Reloader(registry)
        self.observer = Observer()
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="schedules-poll",
                                        daemon=True)

    def start(self) -> "Watcher":
        folder = Path(self.registry.folder)
        folder.mkdir(parents=True, exist_ok=True)
        # Watching first, then the first load: a file saved while that load runs (or its
        # listeners, which may be upgrading the database) is seen by one or the other.
        self.observer.schedule(self.handler, str(folder), recursive=False)
        self.observer.daemon = True
        self.observer.start()
        self.registry.refresh(force=True)
        self.handler.come_back_when_due()
        if self.registry.interval > 0:
            self.registry.polled = True
            self._poller.start()
        log.info("watching %s for schedule changes", folder)
        return self

    def _poll(self) -> None:
        while not self._stopping.wait(self.registry.interval):
            try:
                self.registry.refresh(force=True)
                self.handler.come_back_when_due()
            except Exception:  # never let the looks stop: readers would take them over
                log.exception("looking at the schedules folder failed")

    def stop(self) -> None:
        self._stopping.set()
        self.registry.polled = False
        self.handler.stop()
        self.observer.stop()
        self.observer.join(timeout=5)
        if self._poller.is_alive():
            self._poller.join(timeout=5)


def start_watching(registry: Registry) -> Watcher:
    return Watcher(registry).start()
