"""The public changelog of a programme: stored revision history → Persian sentences.

``change_entries(programme_id, programme, history, withdrawn_at)`` turns the rows of
``revision_store.event_history`` (oldest first) into ``ChangeEntry`` values, newest first, each
saying plainly what changed, e.g. «رژه خودروهای تعاونی تاکسی بی‌سیم: از شنبه ۱۵ شهریور
ساعت ۱۶:۰۰ به ساعت ۱۶:۳۰ منتقل شد». ``atom_feed(...)`` makes the Atom bytes of them.
Both are pure: no database, no clock; web/changes.py serves them.

Rows recorded by one sync share their ``changed_at``: such a batch is one edit of the
file. Within a batch the rows of one event (a repeated event has one row per date) make
one entry. Two batches are summarised instead of listed event by event:

- the first, when every row in it is "added": the programme's publication, one entry
  «برنامه با ۱۱ رویداد منتشر شد» (listing every event as "added" would only repeat the
  programme page and bury the real changes under it);
- one that removed every event: one entry whose details name each cancelled event and
  its time — «برنامه از تارنما برداشته شد…» when the schedule file was deleted then
  (``withdrawn_at``), else «هر ۱۱ رویداد برنامه برداشته و لغو شد» (the store keeps only
  the latest deletion, so an earlier one of a file since put back reads so too);
- the first after such a removal that brings events back: «برنامه دوباره … منتشر شد».

Entry ids are ``urn:uuid:`` values derived from the programme id, the event id and the
time of the change only, so a feed reader sees the same entry on every request and on
every host.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

from week_planner.schedule import jalali

# Names the changelog's entry ids are derived from; never change it.
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:week-planner:changes")

KIND_LABELS = {
    "published": "انتشار برنامه",
    "republished": "انتشار دوباره",
    "withdrawn": "برداشته شدن برنامه",
    "added": "افزوده شد",
    "removed": "برداشته شد",
    "cancelled": "لغو شد",
    "restored": "برقراری دوباره",
    "moved": "جابه‌جایی",
    "venue": "تغییر مکان",
    "changed": "تغییر",
}

STATUS_NAMES = {"scheduled": "قطعی", "tentative": "هنوز قطعی نیست", "cancelled": "لغو شده"}


@dataclass(frozen=True)
class ChangeEntry:
    id: str  # urn:uuid:…, the same for the same change on every request and host
    changed_at: dt.datetime  # aware, UTC
    kind: str  # a key of KIND_LABELS
    event_id: str | None  # None for the programme-wide entries
    title: str  # the event's title after the change (the programme's for programme-wide)
    what: str  # what happened, a Persian sentence without the title
    details: tuple[str, ...] = ()  # further lines (the events of a withdrawn programme)
    event_live: bool = False  # the event is on the programme now (its page exists)

    @property
    def sentence(self) -> str:
        """«title: what», the entry in one line."""
        return f"{self.title}: {self.what}"

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def anchor(self) -> str:
        """An HTML id for the entry on the changelog page."""
        return "change-" + self.id.rsplit(":", 1)[-1][:12]


# ------------------------------------------------------------------------ sentences

def _local(snapshot: Mapping[str, Any], key: str) -> dt.datetime:
    return dt.datetime.fromisoformat(snapshot[key]).astimezone(ZoneInfo(snapshot["timezone"]))


def _day_text(day: dt.date) -> str:
    """«شنبه ۱۵ شهریور»: the week is within one year, so no year."""
    return f"{jalali.weekday_name(day)} {jalali.format_day_month(day)}"


def _last_day(snapshot: Mapping[str, Any]) -> dt.date:
    """The last day of an all-day occurrence (its stored end is the day after)."""
    start = dt.date.fromisoformat(snapshot["start"])
    end = dt.date.fromisoformat(snapshot["end"])
    return max(start, end - dt.timedelta(days=1))


def when_text(snapshot: Mapping[str, Any], with_end: bool = False) -> str:
    """«شنبه ۱۵ شهریور ساعت ۱۶:۰۰» (with ``with_end``: «… ساعت ۱۶:۰۰ تا ۱۷:۳۰»), or
    «تمام روز چهارشنبه ۱۲ شهریور»."""
    if snapshot["all_day"]:
        first, last = dt.date.fromisoformat(snapshot["start"]), _last_day(snapshot)
        if with_end and last != first:
            return f"{_day_text(first)} تا {_day_text(last)}"
        return f"تمام روز {_day_text(first)}"
    start = _local(snapshot, "start")
    text = f"{_day_text(start.date())} ساعت {jalali.format_time(start)}"
    if with_end:
        end = _local(snapshot, "end")
        end_day = jalali.later_end_day(start, end)
        if end_day:
            return f"{text} تا {_day_text(end_day)} ساعت {jalali.format_time(end)}"
        return f"{text} تا {jalali.format_time(end)}"
    return text


def _join(items: Sequence[str]) -> str:
    """«الف»، «الف و ب»، «الف، ب و ج»."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return "، ".join(items[:-1]) + " و " + items[-1]


@dataclass(frozen=True)
class _Clause:
    kind: str  # what sort of change it tells of (a KIND_LABELS key)
    text: str
    when: str | None = None  # occurrences it concerns, merged across a repeated event's rows


def _move_clauses(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[_Clause]:
    if (old["start"], old["end"], old["all_day"]) == (new["start"], new["end"], new["all_day"]):
        return []
    if old["all_day"] and new["all_day"]:
        clauses = []
        first_old, first_new = (dt.date.fromisoformat(s["start"]) for s in (old, new))
        if first_old != first_new:
            clauses.append(_Clause("moved", f"از {_day_text(first_old)} به "
                                            f"{_day_text(first_new)} منتقل شد"))
        if (_last_day(old) - first_old) != (_last_day(new) - first_new):
            clauses.append(_Clause("moved", f"روز پایانش از {_day_text(_last_day(old))} به "
                                            f"{_day_text(_last_day(new))} تغییر کرد"))
        return clauses
    if old["all_day"] or new["all_day"]:
        return [_Clause("moved", f"از {when_text(old)} به {when_text(new)} منتقل شد")]
    clauses = []
    old_start, new_start = _local(old, "start"), _local(new, "start")
    old_end, new_end = _local(old, "end"), _local(new, "end")
    if old_start != new_start:
        if old_start.date() == new_start.date():
            target = f"ساعت {jalali.format_time(new_start)}"
        else:
            target = when_text(new)
        clauses.append(_Clause("moved", f"از {when_text(old)} به {target} منتقل شد"))
    if old_end != new_end and (old_end - old_start) != (new_end - new_start):
        if old_end.date() == new_end.date():
            text = (f"ساعت پایانش از {jalali.format_time(old_end)} به "
                    f"{jalali.format_time(new_end)} تغییر کرد")
        else:
            text = (f"پایانش از {_day_text(old_end.date())} ساعت {jalali.format_time(old_end)}"
                    f" به {_day_text(new_end.date())} ساعت {jalali.format_time(new_end)}"
                    " تغییر کرد")
        clauses.append(_Clause("moved", text))
    return clauses


def _venue_clauses(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[_Clause]:
    if old == new:
        return []
    if old is None:
        return [_Clause("venue", f"مکانش اعلام شد: {new['name']}")]
    if new is None:
        return [_Clause("venue", f"مکانش ({old['name']}) دیگر در برنامه نیامده است")]
    if old["name"] != new["name"]:
        return [_Clause("venue", f"مکانش از {old['name']} به {new['name']} تغییر کرد")]
    if old.get("address") != new.get("address"):
        if new.get("address"):
            return [_Clause("venue", f"نشانی مکانش به «{new['address']}» تغییر کرد")]
        return [_Clause("venue", "نشانی مکانش برداشته شد")]
    return [_Clause("venue", "جای مکانش روی نقشه اصلاح شد")]


def _status_clauses(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[_Clause]:
    before, after = old.get("status"), new.get("status")
    if before == after:
        return []
    if after == "cancelled":
        return [_Clause("cancelled", "لغو شد", when_text(old))]
    if before == "cancelled":
        text = "دوباره برقرار شد" if after == "scheduled" else \
            "دوباره برقرار شد، ولی هنوز قطعی نیست"
        return [_Clause("restored", text, when_text(new))]
    if after == "tentative":
        return [_Clause("changed", "هنوز قطعی نیست", when_text(new))]
    return [_Clause("changed", "قطعی شد", when_text(new))]


def _difference_clauses(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[_Clause]:
    """What differs between two snapshots of one occurrence, most important first."""
    clauses = _status_clauses(old, new) + _move_clauses(old, new)
    clauses += _venue_clauses(old.get("venue"), new.get("venue"))
    if old.get("title") != new.get("title"):
        clauses.append(_Clause("changed", f"عنوانش تغییر کرد (پیش‌تر: «{old.get('title')}»)"))
    if old.get("category") != new.get("category"):
        clauses.append(_Clause("changed", f"از دستهٔ «{old.get('category_label')}» به دستهٔ "
                                          f"«{new.get('category_label')}» رفت"))
    elif old.get("category_label") != new.get("category_label"):
        clauses.append(_Clause("changed", f"نام دسته‌اش «{new.get('category_label')}» شد"))
    if old.get("hosts") != new.get("hosts"):
        hosts = new.get("hosts") or []
        clauses.append(_Clause("changed", f"اکنون با حضور {_join(hosts)} برگزار می‌شود"
                               if hosts else "نام حاضرانش برداشته شد"))
    if (old.get("description") or "").strip() != (new.get("description") or "").strip():
        clauses.append(_Clause("changed", "توضیحش به‌روز شد" if new.get("description")
                               else "توضیحش برداشته شد"))
    if old.get("url") != new.get("url"):
        clauses.append(_Clause("changed", "پیوند «اطلاعات بیشتر» آن تغییر کرد"
                               if new.get("url") else "پیوند «اطلاعات بیشتر» آن برداشته شد"))
    if old.get("reminders") != new.get("reminders"):
        clauses.append(_Clause("changed", "یادآوری‌های تقویمی آن تغییر کرد"))
    known = {"status", "start", "end", "all_day", "venue", "title", "category",
             "category_label", "hosts", "description", "url", "reminders", "event"}
    if not clauses and any(old.get(k) != new.get(k) for k in (set(old) | set(new)) - known):
        clauses.append(_Clause("changed", "جزئیاتش به‌روز شد"))
    return clauses


def _merge(clauses: Iterable[_Clause]) -> list[tuple[str, str]]:
    """Clauses of a repeated event's rows as (kind, text), the same text said once with
    every occurrence it concerns: «لغو شد (چهارشنبه ۱۲ شهریور ساعت ۱۸:۳۰ و …)»."""
    merged: dict[tuple[str, str], list[str]] = {}
    for clause in clauses:
        whens = merged.setdefault((clause.kind, clause.text), [])
        if clause.when and clause.when not in whens:
            whens.append(clause.when)
    return [(kind, f"{text} ({_join(whens)})" if whens else text)
            for (kind, text), whens in merged.items()]


KIND_ORDER = ("cancelled", "restored", "removed", "added", "moved", "venue", "changed")


def _event_entry(programme_id: str, changed_at: dt.datetime, event_id: str, rows: list[dict],
                 live_before: Mapping[str, str], live_after: Mapping[str, str]) -> ChangeEntry:
    """One event's rows of one batch as one entry."""
    had_before = any(e == event_id for e in live_before.values())
    has_after = any(e == event_id for e in live_after.values())
    clauses: list[_Clause] = []
    for row in rows:
        kind, snapshot, previous = row["kind"], row["snapshot"], row["previous"]
        if kind == "added":
            clauses.append(_Clause("added", "نوبت تازه افزوده شد" if had_before
                                   else "به برنامه افزوده شد", when_text(snapshot, True)))
            if not had_before:
                if snapshot.get("venue"):
                    clauses.append(_Clause("added", f"در {snapshot['venue']['name']}"))
                if snapshot.get("status") in ("tentative", "cancelled"):
                    clauses.append(_Clause("added", STATUS_NAMES[snapshot["status"]]))
        elif kind == "removed":
            clauses.append(_Clause("removed", "این نوبت از برنامه برداشته شد" if has_after
                                   else "از برنامه برداشته شد", when_text(snapshot)))
        elif kind == "restored":
            clauses.append(_Clause("restored", "دوباره به برنامه بازگشت", when_text(snapshot)))
            clauses += _difference_clauses(previous or snapshot, snapshot)
        else:
            clauses += _difference_clauses(previous or snapshot, snapshot)
    merged = _merge(clauses) or [("changed", "جزئیاتش به‌روز شد")]
    kinds = {kind for kind, _text in merged}
    kind = next(k for k in KIND_ORDER if k in kinds)
    latest = rows[-1]["snapshot"]
    return ChangeEntry(
        id=entry_id(programme_id, event_id, changed_at), changed_at=changed_at, kind=kind,
        event_id=event_id, title=latest.get("title", event_id),
        what="؛ ".join(text for _kind, text in merged))


def entry_id(programme_id: str, subject: str, changed_at: dt.datetime) -> str:
    """``urn:uuid:`` of the programme, what changed (an event id, ``*published`` …) and
    when: the same on every request and host."""
    moment = changed_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return uuid.uuid5(ID_NAMESPACE, f"{programme_id}\n{subject}\n{moment}").urn


# --------------------------------------------------------------------------- entries

def _start_instant(snapshot: Mapping[str, Any]) -> dt.datetime:
    if snapshot["all_day"]:
        return dt.datetime.combine(dt.date.fromisoformat(snapshot["start"]), dt.time(),
                                   ZoneInfo(snapshot["timezone"]))
    return dt.datetime.fromisoformat(snapshot["start"])


def change_entries(programme_id: str, programme: Mapping[str, Any] | None,
                   history: Iterable[Mapping[str, Any]],
                   withdrawn_at: dt.datetime | None = None) -> list[ChangeEntry]:
    """The changelog, newest first. ``programme`` is the stored programme snapshot
    (for its title), ``history`` the rows of ``revision_store.event_history`` (oldest first),
    ``withdrawn_at`` when the schedule file was deleted (None while it is served)."""
    title = (programme or {}).get("title") or programme_id
    rows = sorted(history, key=lambda r: r["changed_at"])  # stable: keeps the id order
    live: dict[str, str] = {}  # occurrence key → event id, of the occurrences not removed
    entries: list[ChangeEntry] = []
    first = True
    for changed_at, batch in groupby(rows, key=lambda r: r["changed_at"]):
        batch = list(batch)
        before = dict(live)
        for row in batch:
            if row["kind"] == "removed":
                live.pop(row["occurrence_key"], None)
            else:
                live[row["occurrence_key"]] = row["event_id"]
        kinds = {row["kind"] for row in batch}
        events = {row["event_id"] for row in batch}
        if first and kinds == {"added"}:
            entries.append(ChangeEntry(
                id=entry_id(programme_id, "*published", changed_at), changed_at=changed_at,
                kind="published", event_id=None, title=title,
                what=f"برنامه با {jalali.to_persian_digits(len(events))} رویداد منتشر شد"))
        elif not before and kinds <= {"added", "restored"} and "restored" in kinds:
            entries.append(ChangeEntry(
                id=entry_id(programme_id, "*republished", changed_at), changed_at=changed_at,
                kind="republished", event_id=None, title=title,
                what=f"برنامه دوباره با {jalali.to_persian_digits(len(events))} رویداد "
                     "منتشر شد"))
        elif kinds == {"removed"} and not live and (
                changed_at == withdrawn_at or len(events) > 1):
            entries.append(_emptied_entry(programme_id, title, changed_at, batch,
                                          withdrawn=changed_at == withdrawn_at))
        else:
            by_event: dict[str, list[dict]] = {}
            for row in sorted(batch, key=lambda r: (_start_instant(r["snapshot"]),
                                                    r["occurrence_key"])):
                by_event.setdefault(row["event_id"], []).append(row)
            entries.extend(_event_entry(programme_id, changed_at, event_id, event_rows,
                                        before, live)
                           for event_id, event_rows in by_event.items())
        first = False
    live_events = set(live.values())
    entries = [entry if entry.event_id not in live_events
               else _with_live(entry) for entry in entries]
    # Newest batch first; within a batch, in the order of the programme.
    order = {id(entry): index for index, entry in enumerate(entries)}
    return sorted(entries, key=lambda e: (-e.changed_at.timestamp(), order[id(e)]))


def _with_live(entry: ChangeEntry) -> ChangeEntry:
    return ChangeEntry(entry.id, entry.changed_at, entry.kind, entry.event_id, entry.title,
                       entry.what, entry.details, True)


def _emptied_entry(programme_id: str, title: str, changed_at: dt.datetime,
                   batch: list[Mapping[str, Any]], withdrawn: bool) -> ChangeEntry:
    """One entry for a batch that removed every event: the schedule file was deleted
    (``withdrawn``), or all its events were taken out of it."""
    by_event: dict[str, list[Mapping[str, Any]]] = {}
    for row in sorted(batch, key=lambda r: (_start_instant(r["snapshot"]), r["occurrence_key"])):
        by_event.setdefault(row["event_id"], []).append(row)
    details = tuple(
        f"{rows[0]['snapshot'].get('title', event_id)}: "
        f"لغو شد ({_join([when_text(r['snapshot']) for r in rows])})"
        for event_id, rows in by_event.items())
    count = jalali.to_persian_digits(len(by_event))
    if withdrawn:
        return ChangeEntry(
            id=entry_id(programme_id, "*withdrawn", changed_at), changed_at=changed_at,
            kind="withdrawn", event_id=None, title=title,
            what=f"برنامه از تارنما برداشته شد و هر {count} رویدادش لغو شد",
            details=details)
    # Whether the file was deleted then is no longer known (it is back): say only what
    # is sure.
    return ChangeEntry(
        id=entry_id(programme_id, "*emptied", changed_at), changed_at=changed_at,
        kind="removed", event_id=None, title=title,
        what=f"هر {count} رویداد برنامه برداشته و لغو شد", details=details)


def by_day(entries: Iterable[ChangeEntry], timezone: str
           ) -> list[tuple[dt.date, list[tuple[dt.datetime, ChangeEntry]]]]:
    """Entries grouped by the day (in the programme's timezone) they were made, keeping
    their order; each with its local time."""
    zone = ZoneInfo(timezone)
    days: list[tuple[dt.date, list[tuple[dt.datetime, ChangeEntry]]]] = []
    for entry in entries:
        local = entry.changed_at.astimezone(zone)
        if not days or days[-1][0] != local.date():
            days.append((local.date(), []))
        days[-1][1].append((local, entry))
    return days


# ------------------------------------------------------------------------------ Atom

# XML 1.0 forbids these characters even escaped; a title holding one must not break
# the whole feed.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(text: str) -> str:
    """``text`` with the characters XML 1.0 forbids replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


@dataclass(frozen=True)
class AtomInfo:
    programme_id: str
    title: str  # the programme's title
    organiser: str | None
    feed_url: str  # the feed's own address
    page_url: str  # the changelog page
    programme_url: str  # the programme page
    event_url_prefix: str  # + event id + "/" is an event's page


def feed_id(programme_id: str) -> str:
    return uuid.uuid5(ID_NAMESPACE, f"{programme_id}\n*feed").urn


def atom_feed(info: AtomInfo, entries: Sequence[ChangeEntry],
              updated: dt.datetime) -> bytes:
    """The changelog as Atom 1.0 (RFC 4287), ``xml:lang="fa"``, entries newest first.
    ``updated`` is the feed's time when it has no entries."""
    from feedgen.feed import FeedGenerator
    from markupsafe import escape

    generator = FeedGenerator()
    generator.id(feed_id(info.programme_id))
    generator.title(xml_text(f"تغییرات برنامهٔ {info.title}"))
    generator.subtitle(xml_text("رویدادهای افزوده، جابه‌جا شده، لغو شده و برداشته شده"))
    generator.language("fa")
    generator.author(name=xml_text(info.organiser or info.title))
    generator.link(href=info.page_url, rel="alternate", type="text/html")
    generator.link(href=info.feed_url, rel="self", type="application/atom+xml")
    generator.generator("week-planner")
    generator.updated(max((e.changed_at for e in entries), default=updated))
    for entry in entries:
        item = generator.add_entry(order="append")
        item.id(entry.id)
        item.title(xml_text(entry.sentence))
        item.updated(entry.changed_at)
        item.published(entry.changed_at)
        item.category(term=entry.kind, label=xml_text(entry.label))
        if entry.event_live:
            href = f"{info.event_url_prefix}{entry.event_id}/"
        elif entry.kind in ("published", "republished"):
            href = info.programme_url
        else:
            href = f"{info.page_url}#{entry.anchor}"
        item.link(href=href, rel="alternate", type="text/html")
        body = f"<p>{escape(entry.sentence)}</p>"
        if entry.details:
            body += "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in entry.details) \
                + "</ul>"
        item.content(xml_text(body), type="html")
    return generator.atom_str(pretty=True)
