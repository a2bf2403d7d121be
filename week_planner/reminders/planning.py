"""Who gets which reminder when: pure functions over a Programme and its subscribers.

``plan(programme, subscribers)`` lists every reminder wanted (``Wanted``, with a stable
key); ``occurrence_states`` and ``notice_worthy`` decide which changes are told; scopes say
what a subscription covers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from week_planner.reminders.mail import occurrence_details
from week_planner.schedule.model import Occurrence, Programme

UTC = dt.timezone.utc


NOT_WANTED = "no longer wanted"


SUPERSEDED = "late when planned; a later reminder follows"


ALREADY_SENT = "already sent to this channel before its URL changed"




@dataclass(frozen=True)
class Subscriber:
    id: int
    programme_id: str
    scope: str  # "programme", "category:<id>" or "event:<id>"
    channel: str  # "email" or "sms"
    address: str


@dataclass(frozen=True)
class Wanted:
    key: str
    programme_id: str
    event_id: str
    occurrence_key: str
    occurrence_start: dt.datetime
    offset_seconds: int
    channel: str  # "email", "sms" or "apprise"
    recipient: str  # address, number or organiser channel name
    subscriber_id: int | None
    due_at: dt.datetime


def digest(*parts: Any) -> str:
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode("utf-8")).hexdigest()


def reminder_key(programme_id: str, occurrence_key: str, start: dt.datetime,
                 offset_seconds: int, channel: str, recipient: str) -> str:
    """Stable values only (never "now"): planning twice gives the same key."""
    return digest("reminder", programme_id, occurrence_key, start.astimezone(UTC).isoformat(),
                  offset_seconds, channel, recipient)


def due_time(anchor_time: dt.datetime, offset: dt.timedelta) -> dt.datetime:
    """When a reminder ``offset`` before ``anchor_time`` is due: an exact length of time,
    counted in UTC. Python subtracts from a zoned time on the wall clock, which across a
    daylight-saving change made "2h" three hours and "1d" 23 or 25, while a calendar's
    alarm (TRIGGER:-PT2H) counts exact hours."""
    return anchor_time.astimezone(dt.timezone.utc) - offset


def anchor(programme: Programme, occurrence: Occurrence, all_day_hour: int) -> dt.datetime:
    """What offsets count back from: the start, or the configured hour of an all-day day."""
    if occurrence.all_day:
        return dt.datetime.combine(occurrence.day, dt.time(all_day_hour), programme.tz)
    return occurrence.start


def too_late_at(kind: str, occurrence_start: dt.datetime, due_at: dt.datetime,
                offset_seconds: int) -> dt.datetime:
    """When a row may no longer be sent: the event's start, or for a reminder of an
    all-day event the hour its offsets count from (its start is midnight, which a "2h"
    reminder due at 06:00 of the day would otherwise always have missed)."""
    if kind != "reminder":
        return occurrence_start
    return max(occurrence_start, due_at + dt.timedelta(seconds=offset_seconds))


def covers(scope: str, event_id: str, category_id: str) -> bool:
    return scope in ("programme", f"category:{category_id}", f"event:{event_id}")


def channel_target(name: str, url: str) -> str:
    """The recipient of an organiser channel's outbox row. Each URL of a channel has rows of
    its own, so a URL that fails (Bale down) is retried alone and the others (Telegram) are
    not sent twice. The URL holds tokens, so the database keeps a digest of it, not it."""
    return f"{name}/{digest('channel-url', url)[:12]}"


def recipients_for(event_id: str, category_id: str, notify: Iterable[str],
                   programme_subscribers: Iterable[Subscriber],
                   channels: Mapping[str, Sequence[str]] | None = None
                   ) -> list[tuple[str, str, int | None]]:
    """(channel, recipient, subscriber id) for an event: each address once, however many
    of its subscriptions cover the event; then each URL of the organiser channels named in
    ``notify`` that the channels file defines."""
    found: dict[tuple[str, str], int | None] = {}
    for subscriber in programme_subscribers:
        if covers(subscriber.scope, event_id, category_id):
            found.setdefault((subscriber.channel, subscriber.address), subscriber.id)
    for name in notify:
        for url in (channels or {}).get(name, ()):
            found.setdefault(("apprise", channel_target(name, url)), None)
    return [(channel, recipient, sid) for (channel, recipient), sid in found.items()]


def plan(programme: Programme, programme_subscribers: Iterable[Subscriber],
         all_day_hour: int = 8, channels: Mapping[str, Sequence[str]] | None = None
         ) -> list[Wanted]:
    """Every reminder the programme wants, whatever the time (the sender decides what is
    late). Drafts and cancelled events want none."""
    if programme.draft:
        return []
    programme_subscribers = list(programme_subscribers)
    wanted = []
    for event in programme.events:
        if event.cancelled or not event.reminders:
            continue
        recipients = recipients_for(event.id, event.category.id, event.notify,
                                    programme_subscribers, channels)
        for occurrence in event.occurrences:
            start = anchor(programme, occurrence, all_day_hour)
            for offset in event.reminders:
                seconds = int(offset.total_seconds())
                for channel, recipient, subscriber_id in recipients:
                    wanted.append(Wanted(
                        reminder_key(programme.id, occurrence.key, occurrence.start, seconds,
                                     channel, recipient),
                        programme.id, event.id, occurrence.key, occurrence.start, seconds,
                        channel, recipient, subscriber_id, due_time(start, offset)))
    return wanted


def occurrence_states(programme: Programme, base_url: str) -> dict[str, dict[str, Any]]:
    """What subscribers were told about each occurrence; a change in ``NOTICE_FIELDS``
    between two loads is worth a notice."""
    states = {}
    for event in programme.events:
        for occurrence in event.occurrences:
            state = occurrence_details(programme, event, occurrence, base_url)
            state["category_id"] = event.category.id
            state["occurrence_key"] = occurrence.key
            state["notify"] = list(event.notify)
            states[occurrence.key] = state
    return states


NOTICE_FIELDS = ("start", "end", "all_day", "venue", "address", "status")


def notice_worthy(old: Mapping[str, Any], new: Mapping[str, Any] | None) -> bool:
    if new is None:
        return old.get("status") != "cancelled"
    return any(old.get(name) != new.get(name) for name in NOTICE_FIELDS)


def scope_for(programme: Programme, event_id: str | None = None,
              category_id: str | None = None) -> str:
    if event_id and category_id:
        raise ValueError("give an event or a category, not both")
    if event_id:
        if programme.event(event_id) is None:
            raise ValueError(f"no event '{event_id}' in programme '{programme.id}'")
        return f"event:{event_id}"
    if category_id:
        if category_id not in programme.categories:
            raise ValueError(f"no category '{category_id}' in programme '{programme.id}'")
        return f"category:{category_id}"
    return "programme"


def scope_label(programme: Programme, scope: str) -> str:
    kind, _, ident = scope.partition(":")
    if kind == "event" and programme.event(ident):
        return programme.event(ident).title
    if kind == "category" and ident in programme.categories:
        return f"{programme.categories[ident].label} — {programme.title}"
    return programme.title


def reminders_end(programme: Programme, scope: str, all_day_hour: int = 8
                  ) -> dt.datetime | None:
    """The last moment a reminder for ``scope`` ("programme", "category:<id>",
    "event:<id>") may still go out, by the same rule the outbox uses (``too_late_at``);
    None when the scope wants none at all (cancelled events, events without reminders).
    Read only: the subscription pages use it to stop offering what would never be sent."""
    probe = Subscriber(0, programme.id, scope, "email", "")
    return max((too_late_at("reminder", item.occurrence_start, item.due_at,
                            item.offset_seconds)
                for item in plan(programme, [probe], all_day_hour)), default=None)
