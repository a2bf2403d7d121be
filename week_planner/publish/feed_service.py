"""The calendar feeds as bytes, kept in step with the store: every programme's occurrences
are recorded as revisions (SEQUENCE, LAST-MODIFIED, cancelled ones kept for the retention
time), and each feed is built once per programme state and kept in memory.

``feed_service(app)`` is the application's FeedService; ``built_feed`` gives a feed's bytes,
ETag and Last-Modified, ``event_calendar`` one event's calendar (the reminder mail attaches
it). No HTTP here: web/calendars.py answers the requests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Hashable

from week_planner import revision_store, store
from week_planner.clock import EPOCH, current_time
from week_planner.kept import KeptFiles, code_fingerprint, stable_text
from week_planner.publish import feeds
from week_planner.schedule.model import Programme
from week_planner.schedule.registry import registry_of

SERVICE_EXTENSION = "week_planner.feeds"

# What a built feed depends on beside its key (see kept.code_fingerprint): the model, the
# feed writer, the stored revisions as read, the keys' own form and the epoch.
FEEDS_FINGERPRINT = code_fingerprint(
    ("schedule", "publish", "revision_store.py", "kept.py", "clock.py"),
    ("icalendar", "tzdata", "jdatetime", "Babel"))


SYNC_ATTEMPTS = 3

# Programmes recorded in one transaction when many change at once (a cold start): few
# enough that the write lock is held a fraction of a second.
SYNC_BATCH = 200

log = logging.getLogger(__name__)


def feed_service(app) -> FeedService:
    return app.extensions[SERVICE_EXTENSION]


@dataclass(frozen=True)
class Stored:
    """A programme's stored revisions, with a token that changes when any of them does."""

    revisions: revision_store.ProgrammeRevisions
    token: str


@dataclass(frozen=True)
class BuiltFeed:
    body: bytes
    etag: str
    last_modified: dt.datetime


class FeedService:
    def __init__(self, app, max_feeds: int = 512, kept: KeptFiles | None = None):
        """``kept`` keeps every feed built on disk as well, by what it was built from,
        so that a restart does not build the unchanged ones again."""
        self.app = app
        self.max_feeds = max_feeds
        self.kept = kept
        self._stored: dict[str, Stored] = {}
        self._synced: dict[str, str] = {}  # programme id → version synced, or GONE
        self._feeds: OrderedDict[Hashable, BuiltFeed] = OrderedDict()
        self._lock = threading.RLock()
        self.builds = 0  # feeds built, not served from memory
        # Goes up whenever any programme's stored revisions are read anew (web/prepared.py
        # keeps nothing made while it went up).
        self.generation = 0

    GONE = "\0gone"

    # -- keeping the store in step
    def on_registry_change(self, old, new) -> None:
        changed = [(programme_id, programme)
                   for programme_id, programme in new.programmes.items()
                   if old.programmes.get(programme_id) is not programme]
        changed += [(programme_id, None) for programme_id in new.gone
                    if programme_id not in old.gone]
        self.sync_many(changed)

    def sync_many(self, programmes: list[tuple[str, Programme | None]]) -> None:
        """``sync`` for each (programme id, programme or None), recording up to
        SYNC_BATCH programmes in one transaction. A batch that fails is synced again
        one programme at a time, so one programme's failure leaves the others stored."""
        pending = [(programme_id, programme) for programme_id, programme in programmes
                   if not (programme is not None and programme.draft)]
        for first in range(0, len(pending), SYNC_BATCH):
            with self._lock:  # a batch at a time: a request waits for one batch at most
                batch = [(programme_id, programme)
                         for programme_id, programme in pending[first:first + SYNC_BATCH]
                         if not self._is_synced(programme_id, programme)]
                if not batch:
                    continue
                try:
                    found = revision_store.sync_programmes(
                        store.app_engine(self.app),
                        [self._sync_of(programme_id, programme)
                         for programme_id, programme in batch], current_time(self.app))
                except Exception:
                    log.info("syncing %d programmes at once failed; syncing them one by one",
                             len(batch), exc_info=True)
                    for programme_id, programme in batch:
                        try:
                            self.sync(programme_id, programme)
                        except Exception:
                            log.exception("recording the revisions of %s failed",
                                          programme_id)
                    continue
                for programme_id, programme in batch:
                    self._remember(found[programme_id])
                    self._synced[programme_id] = self._marker(programme)

    def _marker(self, programme: Programme | None) -> str:
        return self.GONE if programme is None else programme.version

    def _is_synced(self, programme_id: str, programme: Programme | None) -> bool:
        return self._synced.get(programme_id) == self._marker(programme) and \
            programme_id in self._stored

    @staticmethod
    def _sync_of(programme_id: str,
                 programme: Programme | None) -> revision_store.ProgrammeSync:
        if programme is None:
            return revision_store.ProgrammeSync(programme_id, None, None, None)
        return revision_store.ProgrammeSync(programme_id, programme.version,
                                            feeds.programme_snapshot(programme),
                                            feeds.occurrence_snapshots(programme))

    def sync(self, programme_id: str, programme: Programme | None) -> Stored | None:
        """Record the programme's occurrences (``None``: its file is gone)."""
        if programme is not None and programme.draft:
            return self._stored.get(programme_id)
        with self._lock:
            if self._is_synced(programme_id, programme):
                return self._stored[programme_id]
            engine = store.app_engine(self.app)
            for attempt in range(SYNC_ATTEMPTS):
                try:
                    revisions = revision_store.sync_programmes(
                        engine, [self._sync_of(programme_id, programme)],
                        current_time(self.app))[programme_id]
                    break
                except revision_store.RevisionConflict:
                    # Another process recorded the same change first; read its result.
                    if attempt == SYNC_ATTEMPTS - 1:
                        raise
            stored = self._remember(revisions)
            self._synced[programme_id] = self._marker(programme)
            return stored

    def _remember(self, revisions: revision_store.ProgrammeRevisions) -> Stored:
        digest = hashlib.sha256(repr((
            revisions.programme, revisions.removed_at, revisions.updated_at,
            # past categories sorted: a set's order changes from process to process, and
            # the token is part of the key of feeds kept on disk
            [(r.occurrence_key, r.sequence, r.removed, r.modified_at,
              sorted(r.past_categories, key=repr)) for r in revisions.revisions]
        )).encode("utf-8")).hexdigest()
        stored = Stored(revisions, digest)
        with self._lock:
            self._stored[revisions.programme_id] = stored
            self.generation += 1
        return stored

    def token_of(self, programme_id: str) -> str | None:
        """The token of the revisions last read for the programme, without syncing."""
        found = self._stored.get(programme_id)
        return None if found is None else found.token

    def stored(self, programme_id: str) -> Stored | None:
        """The programme's revisions, synced first with what the registry serves."""
        registry = registry_of(self.app)
        programme = registry.get(programme_id)
        if programme is not None:
            if programme.draft:
                return None
            return self.sync(programme_id, programme)
        if registry.is_gone(programme_id):
            return self.sync(programme_id, None)
        with self._lock:
            if programme_id not in self._stored:
                # Not in the folder since this process started: known only to the store.
                revisions = revision_store.load_revisions(
                        store.app_engine(self.app), programme_id)
                if revisions.programme is None:
                    return None
                if revisions.removed_at is None and self._folder_all_good(registry):
                    # Its file was deleted while the service was stopped.
                    return self.sync(programme_id, None)
                self._remember(revisions)
            return self._stored[programme_id]

    @staticmethod
    def _folder_all_good(registry) -> bool:
        """True when the folder could be read and every schedule file loaded: an absent
        programme is really gone, not hidden by a file with errors or an unmounted share."""
        snapshot = registry.snapshot()
        return snapshot.folder_readable and \
            not any(state.result.errors for state in snapshot.files.values())

    # -- building
    def feed(self, key: Hashable, build, remember: bool = True) -> BuiltFeed:
        """The feed kept for ``key``, else ``build()``'s, kept unless ``remember`` is
        False (a merged feed reads thousands once: they must not push the others out)."""
        with self._lock:
            found = self._feeds.get(key)
            if found is not None:
                self._feeds.move_to_end(key)
                return found
        kept_as = self._kept_key(key) if self.kept is not None else None
        built = self._kept_feed(kept_as) if kept_as is not None else None
        if built is None:
            built = build()
            self.builds += 1
            if kept_as is not None:
                self.kept.put(kept_as, _kept_form(built))
        if not remember:
            return built
        with self._lock:
            self._feeds[key] = built
            while len(self._feeds) > self.max_feeds:
                self._feeds.popitem(last=False)
        return built

    def _kept_key(self, key: Hashable) -> str:
        hasher = hashlib.sha256(FEEDS_FINGERPRINT.encode())
        hasher.update(stable_text((key, self.app.config["BASE_URL"],
                                   self.app.config["CANCELLED_RETENTION_DAYS"]))
                      .encode("utf-8", "surrogatepass"))
        return hasher.hexdigest()

    def _kept_feed(self, kept_as: str) -> BuiltFeed | None:
        payload = self.kept.get(kept_as)
        if payload is None:
            return None
        try:
            etag, last_modified, body = payload.split(b"\n", 2)
            return BuiltFeed(body, etag.decode("ascii"),
                             dt.datetime.fromisoformat(last_modified.decode("ascii")))
        except ValueError:
            return None


def _kept_form(built: BuiltFeed) -> bytes:
    """``built`` as kept on disk: its ETag and Last-Modified on a line each, then its
    body."""
    return (f"{built.etag}\n{built.last_modified.isoformat()}\n".encode("ascii") +
            built.body)


def built_feed(app, programme_id: str, selection: feeds.Selection, name_for,
               source_path: str, page_path: str) -> BuiltFeed | None:
    """The feed's bytes, ETag and Last-Modified, built once per programme state and kept in
    memory; None when the programme has never been stored."""
    found = current_feed(app, programme_id, selection, name_for, source_path, page_path)
    return None if found is None else found[0]


def current_feed(app, programme_id: str, selection: feeds.Selection, name_for,
                 source_path: str, page_path: str, remember: bool = True
                 ) -> tuple[BuiltFeed, dt.datetime | None] | None:
    """``built_feed``, with the first moment after now at which the feed's bytes can change
    while nothing stored does (None: only a change of the programme can change them)."""
    service = feed_service(app)
    stored = service.stored(programme_id)
    if stored is None or stored.revisions.programme is None:
        return None
    programme = stored.revisions.programme
    now = current_time(app)
    gone = stored.revisions.removed_at is not None
    current_phase = feeds.phase(programme, now, gone)
    retention = dt.timedelta(days=app.config["CANCELLED_RETENTION_DAYS"])
    entries = feeds.select_entries(stored.revisions.revisions, selection, now, retention)
    base_url = app.config["BASE_URL"].rstrip("/")
    info = feeds.FeedInfo(name=name_for(programme),
                          description=feeds.calendar_description(programme),
                          source_url=base_url + source_path, page_url=base_url + page_path)
    key = (programme_id, stored.token, selection, current_phase, info,
           tuple((e.revision.occurrence_key, e.cancelled) for e in entries),
           app.config["ALL_DAY_REMINDER_HOUR"])

    def build() -> BuiltFeed:
        body = feeds.build_feed(info, programme, entries, programme_id=programme_id,
                                base_url=base_url, current_phase=current_phase,
                                all_day_reminder_hour=app.config["ALL_DAY_REMINDER_HOUR"])
        moments = [e.revision.modified_at for e in entries]
        moments += [m for m in (feeds.phase_began(programme, current_phase),
                                stored.revisions.removed_at,
                                stored.revisions.updated_at,
                                feeds.expired_since(stored.revisions.revisions, selection,
                                                    now, retention)) if m]
        if not moments:
            moments = [r.modified_at for r in stored.revisions.revisions] or [EPOCH]
        return BuiltFeed(body, hashlib.sha256(body).hexdigest()[:40],
                         max(moments).astimezone(dt.timezone.utc).replace(microsecond=0))

    return (service.feed(key, build, remember),
            feed_changes_after(stored, now, retention))


def feed_changes_after(stored: Stored, now: dt.datetime,
                       retention: dt.timedelta) -> dt.datetime | None:
    """The first moment after ``now`` at which the time alone changes a feed of ``stored``:
    the week starts or ends (the phase), or a cancelled occurrence has been kept for
    ``retention`` (it leaves the feed). Any revision's, not only a cancelled one's: an
    extra moment only makes the feed be looked up again."""
    moments = [revision.modified_at + retention for revision in stored.revisions.revisions]
    if stored.revisions.removed_at is None:
        moments += [dt.datetime.fromisoformat(stored.revisions.programme[name])
                    for name in ("start", "end")]
    return min((moment for moment in moments if moment > now), default=None)


def _event_feed_parts(app, programme_id: str, event_id: str) -> tuple | None:
    """What ``built_feed`` needs for one event's feed; None for an unknown event."""
    stored = feed_service(app).stored(programme_id)
    if stored is None:
        return None
    titles = [r.snapshot["title"] for r in stored.revisions.revisions
              if r.event_id == event_id]
    if not titles:
        return None
    return (feeds.Selection(events=frozenset({event_id})),
            lambda p: f"{titles[0]} — {p['title']}",
            f"/{programme_id}/events/{event_id}.ics", f"/{programme_id}/events/{event_id}/")


def event_calendar(app, programme_id: str, event_id: str) -> bytes | None:
    """The bytes of ``/<programme>/events/<event>.ics`` (also the reminder mail's
    attachment, so it carries the same UIDs, SEQUENCE and VTIMEZONE as the feeds)."""
    parts = _event_feed_parts(app, programme_id, event_id)
    built = built_feed(app, programme_id, *parts) if parts else None
    return None if built is None else built.body
