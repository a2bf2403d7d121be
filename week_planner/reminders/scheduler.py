"""APScheduler wiring for the reminder process.

``ReminderScheduler(app).start()`` reconciles the outbox, then keeps three jobs: ``wake``
(a date job at the next due time, moved whenever that changes), ``watch`` (looks at the
schedules folder; a change reconciles) and ``sweep`` (the safety net: reconciles, deletes
expired addresses, re-plans the wake). APScheduler only decides *when* to look; what to
send and whether it was sent lives in the outbox, so a lost job or a second process
loses or doubles nothing. ``week-planner scheduler`` runs it blocking, ``week-planner
serve`` in the background beside the web server; ``create_app`` never starts it.

At start and at each sweep it takes over the claims of scheduler processes of this machine
that died (``Reminders.recover``). ``shutdown()`` is a clean stop: the message under way
is finished, every other claim given back at once, whatever the backlog.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from week_planner import store
from week_planner.reminders.outbox import Clock, release
from week_planner.reminders.sending import Reminders
from week_planner.schedule.registry import registry_of
from week_planner.schedule.watching import start_watching

log = logging.getLogger(__name__)

UTC = dt.timezone.utc
PURGE_EVERY = 3600.0  # seconds between deletions of expired addresses


class ReminderScheduler:
    def __init__(self, app, blocking: bool = False, clock: Clock | None = None):
        self.app = app
        self.reminders = Reminders(app, clock)
        self.clock = self.reminders.clock
        scheduler_class = BlockingScheduler if blocking else BackgroundScheduler
        self.executor = ThreadPoolExecutor(max_workers=4)
        self.scheduler = scheduler_class(
            timezone=UTC, executors={"default": self.executor},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        self._wake_lock = threading.Lock()
        self._purged_at: float | None = None
        self._sending = False
        self.sent = 0

    # -- jobs
    def start(self) -> None:
        settings = self.app.config
        registry = self.reminders.registry
        registry.on_change(self._schedule_changed)
        registry.refresh(force=True)
        self.reconcile()
        self.recover()
        self.scheduler.add_job(self.sweep, "interval", id="sweep",
                               seconds=settings["REMINDER_SWEEP_INTERVAL"])
        self.scheduler.add_job(self.watch, "interval", id="watch",
                               seconds=max(float(settings["RELOAD_INTERVAL"]), 1.0))
        self.plan_wake()
        self.app.extensions["week_planner.scheduler"] = self
        log.info("reminder scheduler started (%s)", self.reminders.worker)
        self.scheduler.start()

    def state(self) -> dict:
        """For /healthz: whether it runs, when it next wakes, what it has sent."""
        wake = self.scheduler.get_job("wake") if self.scheduler.running else None
        return {"running": self.scheduler.running, "worker": self.reminders.worker,
                "next_wake": wake.next_run_time.isoformat(timespec="seconds")
                if wake is not None and wake.next_run_time else None,
                "sent": self.sent}

    def shutdown(self) -> None:
        """Stop within moments: the message being sent is finished and recorded, the rest
        of the claim given back for another process to send at once, and no new batch is
        started. (The scheduler's own ``shutdown(wait=True)`` would wait while holding the
        lock that a finishing job needs to plan the next wake.)"""
        self.reminders.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.executor.shutdown(wait=True)
        try:  # what a job that failed half way may have left
            release(self.reminders.engine, None, self.reminders.worker, self.clock())
        except Exception:
            log.exception("claimed reminders could not be given back; they are taken over "
                          "when their claim runs out")
        log.info("reminder scheduler stopped (%s)", self.reminders.worker)

    def send(self) -> None:
        """The wake job: send everything due, then sleep until the next due time."""
        with self._wake_lock:
            if self._sending:
                return
            self._sending = True
        try:
            counts = self.reminders.send_due()
            self.sent += counts["sent"]
            if any(counts.values()):
                log.info("reminders: %s", ", ".join(f"{n} {k}" for k, n in counts.items() if n))
        finally:
            with self._wake_lock:
                self._sending = False
            self.plan_wake()

    def plan_wake(self) -> None:
        with self._wake_lock:
            if self._sending:  # the running send plans the next wake when it ends
                return
            if self.reminders.stopping.is_set():
                return
            due = self.reminders.next_due()
            if due is None:
                if self.scheduler.get_job("wake"):
                    self.scheduler.remove_job("wake")
                return
            # The clock may be shifted (tests); APScheduler waits in real time.
            delay = max((due - self.clock()).total_seconds(), 0.0)
            run_at = dt.datetime.now(UTC) + dt.timedelta(seconds=delay)
            # Two instances allowed: the previous one may still be returning when the next
            # wake fires, and a skipped wake would wait for the sweep.
            self.scheduler.add_job(self.send, "date", run_date=run_at, id="wake",
                                   replace_existing=True, max_instances=2)

    def wake_soon(self) -> None:
        """Called by a web request of this process that queued a row due now (a
        confirmation asked for on a form): look at the outbox at once rather than at the
        next sweep. The look is the same whatever was queued, so it costs every request
        alike."""
        self.plan_wake()

    def watch(self) -> None:
        self.reminders.registry.refresh()

    def sweep(self) -> None:
        try:
            self.reminders.registry.refresh()
            self.reconcile()
            self.recover()
            now = time.monotonic()
            if self._purged_at is None or now - self._purged_at >= PURGE_EVERY:
                self._purged_at = now
                self.reminders.purge_expired()
        finally:
            self.plan_wake()

    def reconcile(self) -> None:
        try:
            self.reminders.reconcile()
        except Exception:
            log.exception("reminder reconciliation failed; the sweep will try again")

    def recover(self) -> None:
        try:
            self.reminders.recover()
        except Exception:
            log.exception("claims of stopped processes could not be taken over; their "
                          "lease will free them")

    def _schedule_changed(self, old, new) -> None:
        # Called in whichever thread noticed the change (maybe a web request): hand the
        # work to the scheduler's own threads.
        # A second instance may start while one runs: it must see this change too.
        self.scheduler.add_job(self._reconcile_and_wake, id="reconcile",
                               replace_existing=True, max_instances=2)

    def _reconcile_and_wake(self) -> None:
        self.reconcile()
        self.plan_wake()


def start_background(app, clock: Clock | None = None) -> ReminderScheduler:
    scheduler = ReminderScheduler(app, blocking=False, clock=clock)
    scheduler.start()
    return scheduler


def run_forever(app) -> None:
    """``week-planner scheduler``: the schema upgraded, the schedules folder watched, and
    the reminders sent until the process is stopped."""
    store.app_engine(app)
    watcher = start_watching(registry_of(app))
    scheduler = ReminderScheduler(app, blocking=True)
    try:
        scheduler.start()  # returns when a signal handler raises SystemExit
    finally:
        scheduler.shutdown()
        watcher.stop()
