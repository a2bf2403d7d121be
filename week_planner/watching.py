"""Live reload: a watchdog observer on the schedules folder that reloads the registry.

``start_watching(registry)`` is called by ``week-planner serve``, ``week-planner scheduler``
and gunicorn's post-fork hook — never by ``create_app``, so tests and ``--preload`` start no
thread. A change is applied within a second: editors save through temporary files and
renames, so events are gathered for a short moment and then one forced refresh runs.
The registry's own once-a-second check on reads stays as a safety net.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from .registry import Registry

log = logging.getLogger(__name__)
SETTLE_SECONDS = 0.2


class _Reloader(FileSystemEventHandler):
    def __init__(self, registry: Registry):
        self.registry = registry
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def on_any_event(self, event: FileSystemEvent) -> None:
        paths = [getattr(event, "src_path", ""), getattr(event, "dest_path", "")]
        if not any(str(p).endswith((".yaml", ".yml")) for p in paths) and \
                not event.is_directory:
            return
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(SETTLE_SECONDS, self._reload)
            self._timer.daemon = True
            self._timer.start()

    def _reload(self) -> None:
        try:
            self.registry.refresh(force=True)
        except Exception:  # never let the watcher die; the next change tries again
            log.exception("reloading the schedules folder failed")

    def stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()


class Watcher:
    """A running observer; ``stop()`` ends it."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self.handler = _Reloader(registry)
        self.observer = Observer()

    def start(self) -> "Watcher":
        folder = Path(self.registry.folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.registry.refresh(force=True)
        self.observer.schedule(self.handler, str(folder), recursive=False)
        self.observer.daemon = True
        self.observer.start()
        log.info("watching %s for schedule changes", folder)
        return self

    def stop(self) -> None:
        self.handler.stop()
        self.observer.stop()
        self.observer.join(timeout=5)


def start_watching(registry: Registry) -> Watcher:
    return Watcher(registry).start()
