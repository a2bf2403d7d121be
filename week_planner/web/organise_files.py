"""The schedule files the organisers' desk edits, and the versions it has published.

``programme_file(app, programme_id)`` is the only way the desk finds a file: the file the
programme is served from when it lies in the schedules folder, else ``<id>.yaml`` there;
never a name from a request. ``publish(...)`` checks that the file is still the one the
organiser started from and writes the new text atomically (a temporary file in the same
folder, then ``os.replace``), recording the version in ``programme_versions`` in the same
database transaction, so two organisers publishing at once are taken one after the other
(across processes and machines sharing the database and the folder). The registry applies
the file once it has settled (``SCHEDULE_SETTLE_SECONDS``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from week_planner.schedule.registry import registry_of
from week_planner.store import programme_versions, write_transaction

NEW_FILE_MODE = 0o644


def normalise_text(typed: str) -> bytes:
    """What the desk writes for a text typed in a browser: line ends as ``\\n`` (forms send
    ``\\r\\n``), one final line end, UTF-8."""
    lines = typed.replace("\r\n", "\n").replace("\r", "\n")
    if lines and not lines.endswith("\n"):
        lines += "\n"
    return lines.encode("utf-8")


def digest_of(data: bytes | None) -> str:
    """sha256 of a file's bytes; "" for no file."""
    return "" if data is None else hashlib.sha256(data).hexdigest()


def live_version(digest: str) -> str:
    """The registry's version of a file with this digest (schedule/loading.py)."""
    return digest[:16]


def programme_file(app, programme_id: str) -> Path | None:
    """The file of ``programme_id`` in the schedules folder, existing or to be made; None
    when the programme is served from elsewhere (the demonstration programme)."""
    folder = Path(app.config["SCHEDULES_DIR"]).resolve()
    snapshot = registry_of(app).snapshot()
    served = snapshot.programmes.get(programme_id)
    for state in snapshot.files.values():
        if state.good is not None and state.good.id == programme_id and (
                served is None or state.good is served):
            path = Path(state.path).resolve()
            return path if path.parent == folder else None
    return folder / f"{programme_id}.yaml"


def read_file(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def shown_text(data: bytes | None) -> str:
    """A file's bytes as the editor shows them (without a byte-order mark)."""
    if data is None:
        return ""
    return data.decode("utf-8", errors="replace").lstrip("\ufeff").replace("\r\n", "\n")


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` at once: a reader (the registry, a copy) sees the old
    file or the new one, never half of one. The temporary file starts with a dot, which
    the registry never reads."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp", delete=False)
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, mode)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    try:  # the rename itself survives a power cut once the folder is synced
        folder = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder)
    except OSError:
        pass
    finally:
        os.close(folder)


@dataclass(frozen=True)
class Published:
    version_id: int | None  # None: refused, the file changed since ``base``
    digest: str  # the file's digest now (the new one, or the one that refused it)
    current: bytes | None = None  # when refused: the file as it is now


def publish(engine: Engine, programme_id: str, path: Path, data: bytes, base: str,
            organiser: str, action: str, now: dt.datetime,
            restored_from: int | None = None) -> Published:
    """Write ``data`` as the programme's file if the file is still ``base`` (its digest
    when the organiser opened it; "" for none) and record the version; refused otherwise.
    A file changed on the server since the last version the desk knows is recorded first
    (action "server"), so that history shows every version it replaced."""
    with write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {
                "key": int(hashlib.sha256(f"desk\x1f{programme_id}".encode()).hexdigest()[:15],
                           16)})
        current = read_file(path)
        if digest_of(current) != base:
            return Published(None, digest_of(current), current)
        versions = programme_versions.c
        last = connection.execute(select(versions.digest).where(
            versions.programme_id == programme_id).order_by(versions.id.desc()).limit(1)
        ).scalar()
        if current is not None and last != digest_of(current):
            modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
            connection.execute(programme_versions.insert().values(
                programme_id=programme_id, text=shown_text(current),
                digest=digest_of(current), action="server", published_by=None,
                published_at=min(modified, now), restored_from=None))
        version_id = connection.execute(programme_versions.insert().values(
            programme_id=programme_id, text=data.decode("utf-8"), digest=digest_of(data),
            action=action, published_by=organiser, published_at=now,
            restored_from=restored_from)).inserted_primary_key[0]
        # Last, inside the transaction: if the write fails, no version is recorded.
        write_atomically(path, data)
    return Published(version_id, digest_of(data))


# -- history ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Version:
    id: int
    programme_id: str
    digest: str
    action: str
    published_by: str | None
    published_at: dt.datetime
    restored_from: int | None
    text: str | None = None  # only when asked for


def _version(row, with_text: bool) -> Version:
    return Version(row.id, row.programme_id, row.digest, row.action, row.published_by,
                   row.published_at, row.restored_from, row.text if with_text else None)


def versions(engine: Engine, programme_id: str) -> list[Version]:
    """Every recorded version of a programme, newest first, without their texts."""
    v = programme_versions.c
    with engine.connect() as connection:
        rows = connection.execute(select(
            v.id, v.programme_id, v.digest, v.action, v.published_by, v.published_at,
            v.restored_from).where(v.programme_id == programme_id).order_by(v.id.desc()))
        return [_version(row, False) for row in rows]


def version(engine: Engine, programme_id: str, version_id: int) -> Version | None:
    v = programme_versions.c
    with engine.connect() as connection:
        row = connection.execute(select(programme_versions).where(
            v.programme_id == programme_id, v.id == version_id)).first()
    return None if row is None else _version(row, True)


def previous_version(engine: Engine, programme_id: str, version_id: int) -> Version | None:
    v = programme_versions.c
    with engine.connect() as connection:
        row = connection.execute(select(programme_versions).where(
            v.programme_id == programme_id, v.id < version_id).order_by(v.id.desc())
            .limit(1)).first()
    return None if row is None else _version(row, True)


def last_published(engine: Engine) -> dict[str, Version]:
    """Each programme's latest version published from the desk."""
    v = programme_versions.c
    latest = (select(func.max(v.id)).where(v.action != "server")
              .group_by(v.programme_id).scalar_subquery())
    with engine.connect() as connection:
        rows = connection.execute(select(
            v.id, v.programme_id, v.digest, v.action, v.published_by, v.published_at,
            v.restored_from).where(v.id.in_(latest)))
        return {row.programme_id: _version(row, False) for row in rows}


# -- differences --------------------------------------------------------------------------

@dataclass(frozen=True)
class DiffLine:
    kind: str  # "same", "removed", "added", or "gap" (unchanged lines left out)
    old: int | None  # line number in the old text
    new: int | None  # line number in the new text
    text: str


def line_diff(old: str, new: str, context: int = 2) -> list[DiffLine]:
    """The lines that differ between two texts, with ``context`` lines around each change."""
    a, b = old.splitlines(), new.splitlines()
    lines: list[DiffLine] = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(
            context):
        if lines:
            lines.append(DiffLine("gap", None, None, ""))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines.extend(DiffLine("same", i + 1, j1 + i - i1 + 1, a[i])
                             for i in range(i1, i2))
                continue
            lines.extend(DiffLine("removed", i + 1, None, a[i]) for i in range(i1, i2))
            lines.extend(DiffLine("added", None, j + 1, b[j]) for j in range(j1, j2))
    return lines
