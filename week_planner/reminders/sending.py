"""The reminder machinery of one application (``Reminders``): reconcile the outbox with
the programmes served, claim what is due, build each message and send it by mail, SMS or
an organiser channel, recording the outcome. While a batch is sent its claim is renewed
(``_Heartbeat``); ``Reminders.stopping`` ends a drain after the message under way, giving
back the rest."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from typing import Any, Iterable, Mapping

from week_planner.clock import utc_now
from week_planner.faults import faults_of
from week_planner.publish.feed_service import event_calendar
from week_planner.reminders import confirmations, mail, sign_in_links
from week_planner.reminders.channels import (
    DeliveryError,
    read_channels,
    send_apprise,
    send_sms,
    sms_template,
)
from week_planner.reminders.delivery import mask_address
from week_planner.reminders.mail import transport_for
from week_planner.reminders.outbox import (
    CANCELLED,
    FAILED,
    PENDING,
    SENT,
    UNREACHABLE,
    Clock,
    ReconcileResult,
    _finish,
    claim,
    next_due,
    reconcile,
    recover,
    release,
    renew,
    retry_delay,
    wake_unreachable,
)
from week_planner.reminders.planning import anchor, channel_target
from week_planner.reminders.subscribers import purge_expired, unsubscribe_key
from week_planner.reminders.workers import gone, worker_name
from week_planner.store import app_engine
from week_planner.tokens import link_token

log = logging.getLogger(__name__)


class Reminders:
    """The reminder machinery of one application: its engine, programmes, settings and
    clock (injectable for tests)."""

    def __init__(self, app, clock: Clock | None = None):
        self.app = app
        self.settings = app.config
        self.clock = clock or utc_now
        self.engine = app_engine(app)
        # The name this process's claims carry (reminders/workers.py).
        self.worker = worker_name()
        # Set to stop: the message under way is finished, the rest of the claim given back.
        self.stopping = threading.Event()

    @property
    def registry(self):
        return self.app.extensions["week_planner.registry"]

    def channels(self) -> dict[str, list[str]]:
        path = self.settings.get("CHANNELS")
        return read_channels(path) if path else {}

    def reconcile(self, programme_ids: Iterable[str] | None = None,
                  subscriptions_only: bool = False) -> ReconcileResult:
        """``subscriptions_only``: after a change of subscribers, which leaves the
        organiser channels' reminders as they are (this process may not have the
        server's channels setting)."""
        snapshot = self.registry.snapshot()
        programmes = list(snapshot.programmes.values())
        prune = programme_ids is None and all(state.result.ok
                                              for state in snapshot.files.values())
        if programme_ids is not None:
            wanted = set(programme_ids)
            programmes = [p for p in programmes if p.id in wanted]
        return reconcile(self.engine, programmes, now=self.clock(),
                         base_url=self.settings["BASE_URL"],
                         all_day_hour=self.settings["ALL_DAY_REMINDER_HOUR"],
                         channels=None if subscriptions_only else self.channels(),
                         prune_others=prune and not subscriptions_only,
                         faults=faults_of(self.app))

    def purge_expired(self) -> int:
        return purge_expired(self.engine, self.registry.programmes(include_drafts=True),
                             self.clock(), self.settings["SUBSCRIBER_RETENTION_DAYS"],
                             self.settings["CONFIRM_MAX_AGE"])

    def next_due(self) -> dt.datetime | None:
        return next_due(self.engine)

    def recover(self) -> dict[str, int]:
        """Take over at once the claims of processes of this machine that are gone (a
        scheduler killed and started again): rows claimed by each, by its name."""
        return recover(self.engine, self.clock(), gone)

    def send_due(self, max_batches: int | None = None) -> dict[str, int]:
        """Claim and send batches until nothing is due or ``stopping`` is set; counts by
        outcome. However it ends, no claim of this process is left behind."""
        counts = {"sent": 0, "retry": 0, "failed": 0, "cancelled": 0}
        transport = transport_for(self.settings)
        sender = _Sender(self, transport)
        batches = 0
        with _Heartbeat(self) as heartbeat:
            try:
                while not self.stopping.is_set() and (max_batches is None
                                                      or batches < max_batches):
                    claimed_at = self.clock()
                    rows = claim(self.engine, claimed_at,
                                 self.settings["REMINDER_BATCH_SIZE"],
                                 self.settings["REMINDER_LEASE"], self.worker)
                    if not rows:
                        break
                    heartbeat.claimed(claimed_at)
                    batches += 1
                    for outcome in sender.send_batch(rows, heartbeat):
                        counts[outcome] += 1
            finally:
                transport.close()
                sender.give_back()
        return counts

    def unsubscribe_url(self, row: Mapping[str, Any]) -> str | None:
        """The one-click link of an outbox row's subscription (None for organisers)."""
        if row["subscriber_id"] is None or not row["recipient"]:
            return None
        # The link names the subscription by its random key, never by its row id.
        key = unsubscribe_key(self.engine, row["subscriber_id"])
        if key is None:
            return None
        token = link_token(self.app, "unsubscribe", key)
        return f"{self.settings['BASE_URL'].rstrip('/')}/remind/unsubscribe/{token}"

    def build_email(self, row: Mapping[str, Any], now: dt.datetime):
        """The message for an outbox row, or None when its event is no longer as planned
        (or a confirmation is no longer needed)."""
        if row["kind"] == confirmations.CONFIRMATION:
            return confirmations.build_mail(self.app, self.engine, row, now)
        if row["kind"] == sign_in_links.SIGN_IN:
            return sign_in_links.build_mail(self.app, self.engine, row, now)
        env = self.app.jinja_env
        unsubscribe = self.unsubscribe_url(row)
        if row["kind"] == "notice":
            return mail.build_notice(env, self.settings, json.loads(row["detail"]),
                                     row["recipient"], row["key"], unsubscribe, now,
                                     event_calendar(self.app, row["programme_id"],
                                                    row["event_id"]),
                                     f"{row['event_id']}.ics")
        found = self.find_occurrence(row)
        if found is None:
            return None
        programme, event, occurrence = found
        # The event's own feed: the same UIDs, SEQUENCE and VTIMEZONE as the calendars
        # that subscribed to it (kept in memory by the feeds, so built once per version).
        ics = event_calendar(self.app, programme.id, event.id)
        # Sent late (the process was down): say how long is really left.
        before = dt.timedelta(seconds=row["offset_seconds"])
        if now - row["due_at"] > dt.timedelta(minutes=1):
            left = anchor(programme, occurrence, self.settings["ALL_DAY_REMINDER_HOUR"]) - now
            before = dt.timedelta(minutes=max(int(left.total_seconds()) // 60, 0))
        return mail.build_reminder(env, self.settings, programme, event, occurrence, before,
                                   row["recipient"], row["key"], unsubscribe, now, ics)

    def find_occurrence(self, row: Mapping[str, Any]):
        programme = self.registry.get(row["programme_id"])
        event = programme.event(row["event_id"]) if programme else None
        if event is None or event.cancelled:
            return None
        for occurrence in event.occurrences:
            if occurrence.key == row["occurrence_key"] and \
                    occurrence.start == row["occurrence_start"]:
                return programme, event, occurrence
        return None

    def short_text(self, row: Mapping[str, Any]) -> str | None:
        if row["kind"] == confirmations.CONFIRMATION:
            return confirmations.build_sms(self.app, self.engine, row)
        if row["kind"] == "notice":
            return mail.notice_text(json.loads(row["detail"]))
        found = self.find_occurrence(row)
        if found is None:
            return None
        return mail.reminder_text(*found, self.settings["BASE_URL"])


class _Heartbeat:
    """Renews this process's claims every quarter of the lease while it sends, so that a
    short lease costs nothing while the process lives and frees its rows soon after it
    dies. A send is started only while at least half the lease is surely left: a process
    that stalls or loses the database gives its rows back rather than send what another
    may have taken over, and once a lease has lapsed it is not renewed again."""

    def __init__(self, reminders: Reminders):
        self.reminders = reminders
        self.lease = dt.timedelta(seconds=float(reminders.settings["REMINDER_LEASE"]))
        self.held_until: dt.datetime | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reminder-heartbeat",
                                        daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def claimed(self, at: dt.datetime) -> None:
        with self._lock:
            self.held_until = at + self.lease

    def may_send(self, now: dt.datetime) -> bool:
        with self._lock:
            return self.held_until is not None and now < self.held_until - self.lease / 2

    def _run(self) -> None:
        while not self._stop.wait(self.lease.total_seconds() / 4):
            now = self.reminders.clock()
            with self._lock:
                if self.held_until is None or now >= self.held_until:
                    continue  # nothing held, or lapsed: another process may have the rows
            try:
                renew(self.reminders.engine, self.reminders.worker, now,
                      self.lease.total_seconds())
            except Exception:
                log.warning("the claim on the reminders being sent could not be renewed",
                            exc_info=True)
                continue
            with self._lock:
                if self.held_until is not None and now < self.held_until:
                    self.held_until = max(self.held_until, now + self.lease)


class _Sender:
    """Sends claimed rows over their channel and records each outcome at once."""

    def __init__(self, reminders: Reminders, transport):
        self.reminders = reminders
        self.transport = transport
        self.engine = reminders.engine
        self.worker = reminders.worker
        self.delays = list(reminders.settings["RETRY_DELAYS"])
        self._channels: dict[str, list[str]] | None = None
        self.held: set[int] = set()  # claimed rows with no outcome recorded yet
        # Set when the mail server was found unreachable, or a batch retries mail held
        # back by that: the next success then makes all such mail due at once.
        self._wake_email = False

    def give_back(self) -> None:
        """Release the rows still held (a stop, an error): others take them at once."""
        if not self.held:
            return
        held, self.held = list(self.held), set()
        try:
            release(self.engine, held, self.worker, self.reminders.clock())
        except Exception:
            log.exception("%d claimed reminder(s) could not be given back; they are taken "
                          "over when their claim runs out", len(held))

    def channels(self) -> dict[str, list[str]]:
        if self._channels is None:
            self._channels = self.reminders.channels()
        return self._channels

    def send_batch(self, rows: list[Mapping[str, Any]], heartbeat: _Heartbeat
                   ) -> Iterable[str]:
        unreachable: DeliveryError | None = None
        self.held.update(row["id"] for row in rows)
        if any((row["last_error"] or "").startswith(UNREACHABLE) for row in rows):
            self._wake_email = True
        for index, row in enumerate(rows):
            now = self.reminders.clock()
            stopping = self.reminders.stopping.is_set()
            if stopping or not heartbeat.may_send(now):
                rest = [r["id"] for r in rows[index:]]
                release(self.engine, rest, self.worker, now)
                self.held.difference_update(rest)
                if not stopping:
                    log.warning("the claim on a batch could not be renewed in time; "
                                "%d reminder(s) given back", len(rest))
                return
            self.held.discard(row["id"])  # from here on its outcome is recorded
            if unreachable is not None and row["channel"] == "email":
                yield self._retry(row, now, unreachable)
                continue
            try:
                delivered = self._deliver(row, now)
            except DeliveryError as error:
                if error.permanent:
                    _finish(self.engine, row["id"], self.worker, status=FAILED,
                            last_error=str(error), updated_at=now)
                    log.error("reminder %d failed for good: %s", row["id"], error)
                    yield "failed"
                else:
                    if error.connection and row["channel"] == "email":
                        unreachable = error
                        self._wake_email = True
                    yield self._retry(row, now, error)
                continue
            except Exception as error:  # a bug or bad data must not stop the batch
                log.exception("reminder %d could not be built", row["id"])
                yield self._retry(row, now, DeliveryError(f"{type(error).__name__}: {error}"))
                continue
            if not delivered:
                _finish(self.engine, row["id"], self.worker, status=CANCELLED,
                        last_error="the event is no longer as planned", updated_at=now)
                yield "cancelled"
                continue
            _finish(self.engine, row["id"], self.worker, status=SENT,
                    sent_at=self.reminders.clock(), last_error=None,
                    updated_at=self.reminders.clock())
            if row["channel"] == "email" and self._wake_email:
                self._wake_email = False
                woken = wake_unreachable(self.engine, "email", self.reminders.clock())
                if woken:
                    log.info("the mail server is back: %d reminder(s) due again", woken)
            # One line per reminder; the address masked, as everywhere in the logs.
            log.info("%s %d sent: %s/%s by %s to %s", row["kind"], row["id"],
                     row["programme_id"], row["occurrence_key"], row["channel"],
                     mask_address(row["recipient"]) if row["channel"] != "apprise"
                     else row["recipient"])
            yield "sent"

    def _retry(self, row: Mapping[str, Any], now: dt.datetime, error: DeliveryError) -> str:
        at = now + retry_delay(self.delays, row["attempts"])
        # Marked when only the server's being unreachable held it back, so that the next
        # success over the same channel makes it due at once (outbox.wake_unreachable).
        reason = f"{UNREACHABLE}{error}" if error.connection else str(error)
        _finish(self.engine, row["id"], self.worker, status=PENDING, next_attempt_at=at,
                last_error=reason, updated_at=now)
        log.warning("reminder %d not sent (attempt %d): %s; next try in %s", row["id"],
                    row["attempts"], error, at - now)
        return "retry"

    def _deliver(self, row: Mapping[str, Any], now: dt.datetime) -> bool:
        channel = row["channel"]
        if channel == "email":
            message = self.reminders.build_email(row, now)
            if message is None:
                return False
            self.transport.send(message)
            return True
        text = self.reminders.short_text(row)
        if text is None:
            return False
        if channel == "sms":
            templates = sms_template(self.channels())
            if not templates:
                raise DeliveryError("no SMS gateway in the channels file")
            send_sms(templates, row["recipient"], text)
            return True
        name = row["recipient"].partition("/")[0]
        urls = [url for url in self.channels().get(name, ())
                if channel_target(name, url) == row["recipient"]]
        if not urls:
            raise DeliveryError(f"this URL of channel '{name}' is no longer in the channels "
                                "file", permanent=True)
        send_apprise(urls, text.splitlines()[0], text)
        return True
