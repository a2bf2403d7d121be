"""The revisions of every event occurrence as subscribers' calendars have seen them, in
the store's ``feed_programmes``, ``event_revisions`` and ``event_changes`` tables
(week_planner/store.py): ``sync_programmes`` records the current occurrences of many
programmes at once, ``load_revisions`` reads one programme's, ``event_history`` its
changes. Used by publish/feed_service.py and web/changes.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Mapping, NamedTuple

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from week_planner.store import (
    event_changes,
    event_revisions,
    feed_programmes,
    write_transaction,
)


@dataclass(frozen=True)
class Revision:
    """One occurrence as feeds publish it."""

    programme_id: str
    occurrence_key: str
    event_id: str
    sequence: int
    snapshot: Mapping[str, Any]
    removed: bool
    created_at: dt.datetime
    modified_at: dt.datetime
    past_categories: frozenset[str] = frozenset()  # categories it had before this one


@dataclass(frozen=True)
class ProgrammeRevisions:
    programme_id: str
    programme: Mapping[str, Any] | None  # the stored programme snapshot
    version: str | None
    removed_at: dt.datetime | None
    revisions: tuple[Revision, ...]
    updated_at: dt.datetime | None = None  # when the programme's own fields last changed


def _canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def sync_revisions(engine: Engine, programme_id: str, version: str | None,
                   programme: Mapping[str, Any] | None,
                   occurrences: Mapping[str, Mapping[str, Any]] | None,
                   now: dt.datetime) -> ProgrammeRevisions:
    """Record the programme's current occurrences (``occurrence key → snapshot``) and
    return the stored revisions.

    A new occurrence starts at SEQUENCE 0; a changed one, one gone from the file and one
    back again each get SEQUENCE + 1 and LAST-MODIFIED ``now``. ``occurrences=None`` means
    the programme's file is gone: every occurrence becomes removed. All of it happens in
    one write transaction that compares the stored digest before writing, so two
    processes syncing the same change bump SEQUENCE once (the second gets
    RevisionConflict, and syncs again to read the first one's result).
    """
    return sync_programmes(engine, [ProgrammeSync(programme_id, version, programme,
                                                  occurrences)], now)[programme_id]


class ProgrammeSync(NamedTuple):
    """One programme to record (``sync_revisions``'s arguments)."""
    programme_id: str
    version: str | None
    programme: Mapping[str, Any] | None  # None: the file is gone
    occurrences: Mapping[str, Mapping[str, Any]] | None


def sync_programmes(engine: Engine, programmes: list[ProgrammeSync],
                    now: dt.datetime) -> dict[str, ProgrammeRevisions]:
    """``sync_revisions`` for many programmes in one write transaction, reading and
    writing each table once for all of them (a cold start records hundreds). Should any
    of them fail, none is recorded: sync them one by one to find which."""
    try:
        return _sync_programmes(engine, programmes, now)
    except IntegrityError as error:  # the other process inserted the same row first
        raise RevisionConflict(
            f"{', '.join(p.programme_id for p in programmes)} changed meanwhile") from error


def _chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    """Programme ids for one ``IN (…)`` each: well under any database's bound values."""
    return [ids[first:first + size] for first in range(0, len(ids), size)]


class _Writes(NamedTuple):
    """Rows to insert, in the order they were decided (the changelog's ids follow it),
    and the programmes whose rows were written."""
    revisions: list[dict]
    changes: list[dict]
    programmes: list[dict]
    written: set[str]


def _sync_programmes(engine: Engine, programmes: list[ProgrammeSync],
                     now: dt.datetime) -> dict[str, ProgrammeRevisions]:
    now = now.astimezone(dt.timezone.utc).replace(microsecond=0)
    ids = [p.programme_id for p in programmes]
    with write_transaction(engine) as connection:
        stored: dict[str, dict[str, Any]] = {programme_id: {} for programme_id in ids}
        programme_rows = {}
        for chunk in _chunks(ids):
            for row in connection.execute(select(event_revisions).where(
                    event_revisions.c.programme_id.in_(chunk))):
                stored[row.programme_id][row.occurrence_key] = row
            programme_rows.update((row.programme_id, row) for row in connection.execute(
                select(feed_programmes).where(feed_programmes.c.programme_id.in_(chunk))))
        writes = _Writes([], [], [], set())
        for sync in programmes:
            _sync_occurrences(connection, sync, stored[sync.programme_id], now, writes)
            _sync_programme(connection, sync, programme_rows.get(sync.programme_id), now,
                            writes)
        for table, rows in ((event_revisions, writes.revisions),
                            (event_changes, writes.changes),
                            (feed_programmes, writes.programmes)):
            if rows:
                connection.execute(table.insert(), rows)
                writes.written.update(row["programme_id"] for row in rows)
        # What nothing was written for is as it was just read (most of a restart), and
        # what was only inserted is as it was written (most of a first start).
        known = {programme_id: (programme_rows.get(programme_id),
                                list(stored[programme_id].values()))
                 for programme_id in ids if programme_id not in writes.written}
        known.update(_inserted(writes, {
            programme_id for programme_id in writes.written
            if not stored[programme_id] and programme_id not in programme_rows}))
        return _read(connection, ids, known)


def _inserted(writes: _Writes, new: set[str]) -> dict[str, tuple[Any, list]]:
    """The rows of the programmes in ``new`` (nothing was stored for them before this
    transaction: every row of theirs is one ``writes`` inserted), as ``_read`` would read
    them back."""
    rows: dict[str, tuple[Any, list]] = {}
    for row in writes.programmes:
        if row["programme_id"] in new:
            rows[row["programme_id"]] = (SimpleNamespace(**row), [])
    for row in writes.revisions:
        if row["programme_id"] in rows:
            rows[row["programme_id"]][1].append(SimpleNamespace(**row))
    return rows


def _sync_occurrences(connection: Connection, sync: ProgrammeSync, stored: dict,
                      now: dt.datetime, writes: _Writes) -> None:
    programme_id = sync.programme_id
    current = sync.occurrences or {}
    for key, snapshot in current.items():
        text = _canonical_json(snapshot)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        row = stored.get(key)
        if row is None:
            writes.revisions.append(dict(
                programme_id=programme_id, occurrence_key=key,
                event_id=snapshot["event"], sequence=0, digest=digest,
                snapshot=text, removed=False, created_at=now, modified_at=now))
            writes.changes.append(_change(programme_id, key, snapshot["event"], 0,
                                          "added", text, None, now))
        elif row.digest != digest or row.removed:
            _bump(connection, row, text, digest, False,
                  "restored" if row.removed else "changed", now, writes)
    for key, row in stored.items():
        if key not in current and not row.removed:
            _bump(connection, row, _canonical_json(json.loads(row.snapshot)), row.digest,
                  True, "removed", now, writes)


def _bump(connection: Connection, row, text: str, digest: str, removed: bool,
          kind: str, now: dt.datetime, writes: _Writes) -> None:
    result = connection.execute(
        event_revisions.update()
        .where(event_revisions.c.programme_id == row.programme_id,
               event_revisions.c.occurrence_key == row.occurrence_key,
               event_revisions.c.sequence == row.sequence)  # compare-and-set
        .values(sequence=row.sequence + 1, digest=digest,
                snapshot=text, removed=removed, modified_at=now))
    if result.rowcount != 1:
        raise RevisionConflict(f"{row.programme_id}/{row.occurrence_key} changed meanwhile")
    writes.written.add(row.programme_id)
    writes.changes.append(_change(row.programme_id, row.occurrence_key, row.event_id,
                                  row.sequence + 1, kind, text,
                                  _canonical_json(json.loads(row.snapshot)), now))


class RevisionConflict(RuntimeError):
    """Another process wrote the same revision first; sync again to see its result."""


def _change(programme_id: str, key: str, event_id: str, sequence: int, kind: str,
            text: str, previous: str | None, now: dt.datetime) -> dict:
    return dict(programme_id=programme_id, occurrence_key=key, event_id=event_id,
                sequence=sequence, kind=kind, snapshot=text, previous=previous,
                changed_at=now)


def _sync_programme(connection: Connection, sync: ProgrammeSync, row, now: dt.datetime,
                    writes: _Writes) -> None:
    programme_id, version, programme = sync.programme_id, sync.version, sync.programme
    if programme is None:  # the file is gone: keep what was stored, note when
        if row is not None and row.removed_at is None:
            connection.execute(feed_programmes.update().where(
                feed_programmes.c.programme_id == programme_id).values(removed_at=now))
            writes.written.add(programme_id)
        return
    text = _canonical_json(programme)
    if row is None:
        writes.programmes.append(dict(
            programme_id=programme_id, snapshot=text, version=version or "",
            updated_at=now, removed_at=None))
    elif row.snapshot != text or row.removed_at is not None or row.version != version:
        connection.execute(feed_programmes.update().where(
            feed_programmes.c.programme_id == programme_id).values(
            snapshot=text, version=version or "",
            updated_at=now if row.snapshot != text or row.removed_at else row.updated_at,
            removed_at=None))
        writes.written.add(programme_id)


def _read(connection: Connection, ids: list[str],
          known: Mapping[str, tuple[Any, list]] | None = None
          ) -> dict[str, ProgrammeRevisions]:
    """The stored revisions of each of ``ids``, read with a few queries for all; ``known``
    maps some of them to their programme row and revision rows, read already."""
    known = known or {}
    programme_rows = {programme_id: row for programme_id, (row, _) in known.items()
                      if row is not None}
    revision_rows: dict[str, list] = {programme_id: [] for programme_id in ids}
    for programme_id, (_, rows) in known.items():
        revision_rows[programme_id].extend(rows)
    past: dict[tuple[str, str], set[str]] = {}
    for chunk in _chunks(ids):
        unread = [programme_id for programme_id in chunk if programme_id not in known]
        if unread:
            programme_rows.update((row.programme_id, row) for row in connection.execute(
                select(feed_programmes).where(feed_programmes.c.programme_id.in_(unread))))
            for row in connection.execute(select(event_revisions).where(
                    event_revisions.c.programme_id.in_(unread))):
                revision_rows[row.programme_id].append(row)
        for programme_id in chunk:  # in code point order, whatever the database's collation
            revision_rows[programme_id].sort(key=lambda row: row.occurrence_key)
        # Only a changed occurrence (SEQUENCE above 0) has a past category.
        changed = [programme_id for programme_id in chunk
                   if any(row.sequence for row in revision_rows[programme_id])]
        if changed:
            for programme_id, key, previous in connection.execute(
                    select(event_changes.c.programme_id, event_changes.c.occurrence_key,
                           event_changes.c.previous)
                    .where(event_changes.c.programme_id.in_(changed),
                           event_changes.c.previous.is_not(None))):
                past.setdefault((programme_id, key), set()).add(
                    json.loads(previous).get("category"))
    snapshots = iter(_parsed([r.snapshot for programme_id in ids
                              for r in revision_rows[programme_id]]))
    found = {}
    for programme_id in ids:
        row = programme_rows.get(programme_id)
        revisions = tuple(
            Revision(r.programme_id, r.occurrence_key, r.event_id, r.sequence,
                     snapshot, bool(r.removed), r.created_at, r.modified_at,
                     frozenset(past.get((programme_id, r.occurrence_key), set())
                               - {snapshot.get("category")}))
            for r in revision_rows[programme_id] for snapshot in [next(snapshots)])
        found[programme_id] = ProgrammeRevisions(
            programme_id, None if row is None else json.loads(row.snapshot),
            None if row is None else row.version, None if row is None else row.removed_at,
            revisions, None if row is None else row.updated_at)
    return found


def _parsed(texts: list[str]) -> list:
    """The JSON texts read at once, each string kept once: a national week's 6,750
    snapshots repeat zones, labels, descriptions (20 MB read one by one, 7 MB so)."""
    kept = {}.setdefault

    def shared(mapping: dict) -> dict:
        for key, value in mapping.items():
            if type(value) is str:
                mapping[key] = kept(value, value)
        return mapping

    return json.loads("[" + ",".join(texts) + "]", object_hook=shared)


def load_revisions(engine: Engine, programme_id: str) -> ProgrammeRevisions:
    with engine.connect() as connection:
        return _read(connection, [programme_id])[programme_id]


def stored_programme_ids(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(select(feed_programmes.c.programme_id)).scalars())


def event_history(engine: Engine, programme_id: str,
                  since: dt.datetime | None = None) -> list[dict]:
    """Every recorded change of a programme's occurrences, oldest first."""
    query = select(event_changes).where(event_changes.c.programme_id == programme_id)
    if since is not None:
        query = query.where(event_changes.c.changed_at >= since)
    with engine.connect() as connection:
        return [
            {"occurrence_key": r.occurrence_key, "event_id": r.event_id,
             "sequence": r.sequence, "kind": r.kind, "snapshot": json.loads(r.snapshot),
             "previous": None if r.previous is None else json.loads(r.previous),
             "changed_at": r.changed_at}
            for r in connection.execute(query.order_by(event_changes.c.changed_at,
                                                       event_changes.c.id))]
