"""The ``week-planner`` command line (click); each command a few lines over the modules."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from week_planner import create_app, store
from week_planner.clock import utc_now
from week_planner.config import ConfigError, load_settings
from week_planner.publish.feed_service import event_calendar
from week_planner.reminders.channels import (
    ChannelsError,
    DeliveryError,
    channel_names,
    read_channels,
    send_apprise,
)
from week_planner.reminders import sign_in_links
from week_planner.reminders.delivery import mask_address
from week_planner.reminders.mail import build_reminder, header_text, plain_text
from week_planner.reminders.planning import anchor, due_time, reminder_key, scope_for
from week_planner.reminders.scheduler import run_forever, start_background
from week_planner.reminders.sending import Reminders
from week_planner.reminders.subscribers import (
    AddressError,
    add_subscriber,
    normalise_email,
    normalise_mobile,
    remove_subscribers,
)
from week_planner.schedule import jalali
from week_planner.schedule.demo import DEMO_ID, demo_schedule
from week_planner.schedule.loading import check_paths
from week_planner.schedule.problems import LANGUAGES, translate, translations
from week_planner.schedule.registry import registry_of
from week_planner.schedule.rules import ID_RE
from week_planner.schedule.watching import start_watching
from week_planner.store import app_engine, reminder_outbox
from week_planner.store import subscribers as subscriber_table
from week_planner.web import organise_accounts
from week_planner.web.export import export_site
from week_planner.web.pages import preview_url


class _Group(click.Group):
    """Speaks Persian, like the rest of the command line, when a command is mistyped: click
    looks its messages up through gettext at the moment it shows them, so they are sent
    to the click catalogue of the language chosen (``--lang en`` anywhere: English)."""

    def main(self, args=None, *rest, **options):
        words = list(sys.argv[1:] if args is None else args)
        english = any(word in ("--lang=en", "--lang") and (
            word == "--lang=en" or words[index + 1:index + 2] == ["en"])
            for index, word in enumerate(words))
        catalogue = translations("en" if english else "fa", "click")
        for module in (click.core, click.exceptions, click.formatting, click.parser,
                       click.types, click.decorators):
            if hasattr(module, "_"):
                module._ = catalogue.gettext
            if hasattr(module, "ngettext"):
                module.ngettext = catalogue.ngettext
        return super().main(args, *rest, **options)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Programme pages, calendar feeds and reminders for the Cooperative Week."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--lang", type=click.Choice(LANGUAGES), default="fa", show_default=True,
              help="Language of the messages.")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one object for editors and CI.")
@click.option("--channels", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Channels file; notify: names it does not define are warnings. "
                   "Default: WEEK_PLANNER_CHANNELS.")
def check(paths: tuple[Path, ...], lang: str, output: str, channels: Path | None) -> None:
    """Check schedule files (default: the schedules folder). Exit 1 when there are errors."""
    if not paths:
        paths = (Path(os.environ.get("WEEK_PLANNER_SCHEDULES_DIR") or "schedules"),)
        if not paths[0].is_dir():
            raise click.UsageError(f"no schedules folder at {paths[0]}; name the files to check")
    names = None
    channels_file = channels or os.environ.get("WEEK_PLANNER_CHANNELS")
    if channels_file:
        names = channel_names(channels_file)
    results = check_paths(paths, channels=names)
    problems = [problem for result in results for problem in result.problems]
    errors = sum(problem.is_error for problem in problems)
    if output == "json":
        click.echo(json.dumps({
            "files": [{"file": r.file, "ok": not r.errors,
                       "programme": r.programme.id if r.programme else None}
                      for r in results],
            "problems": [p.as_dict(lang) for p in problems],
            "errors": errors, "warnings": len(problems) - errors,
        }, ensure_ascii=False, indent=2))
    else:
        for problem in problems:
            click.echo(problem.format(lang))
        click.echo(translate("{files} file(s) checked: {errors} error(s), {warnings} "
                             "warning(s).", lang, files=len(results), errors=errors,
                             warnings=len(problems) - errors),
                   err=bool(problems))
    sys.exit(1 if errors else 0)


@main.command("preview-link")
@click.argument("programme")
def preview_link(programme: str) -> None:
    """Print the signed link that shows a draft programme before it is published."""
    app = _app()
    _programme_or_fail(app, programme)
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        click.echo(preview_url(app, programme))


@main.command()
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--base-url", help="Public address the files will be served from "
                                 "(absolute links in feeds and pages). Default: BASE_URL.")
@click.option("--live-url", help="Address of the live service: the reminder forms and "
                                 "personal calendars link there. Without it those links "
                                 "are left out of the copy.")
def export(outdir: Path, base_url: str | None, live_url: str | None) -> None:
    """Write the whole public site as static files into OUTDIR."""
    app = _app({"BASE_URL": base_url.rstrip("/")} if base_url else None)
    extra = []
    for programme in registry_of(app).programmes():
        extra += [f"/{programme.id}.ics", f"/{programme.id}/schedule.json",
                  f"/{programme.id}/schedule.xml", f"/{programme.id}/changes/",
                  f"/{programme.id}/changes.atom"]
    report = export_site(app, outdir, tuple(extra), live_url=live_url)
    for path, status in sorted(report.failed.items()):
        click.echo(f"not exported: {path} (HTTP {status})", err=True)
    click.echo(f"{len(report.written)} files written to {outdir}")
    sys.exit(1 if report.failed else 0)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--demo", is_flag=True,
              help="Also serve a demonstration programme dated around today (written under "
                   "the instance folder, never into the schedules folder).")
def serve(host: str, port: int, threads: int, demo: bool) -> None:
    """Serve the site with a production WSGI server (waitress, threads, no fork).

    Links in feeds, mail and QR codes use WEEK_PLANNER_BASE_URL; when it is unset they
    point at this host and port (localhost for a wildcard or loopback host)."""
    _configure_logging()
    config = None
    if not os.environ.get("WEEK_PLANNER_BASE_URL"):
        shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "::1", "") else host
        if ":" in shown:
            shown = f"[{shown}]"
        config = {"BASE_URL": f"http://{shown}:{port}"}
    if demo:
        config = {**(config or {}), "DEMO_SCHEDULE": str(_write_demo())}
    app = _app(config)
    import signal

    from waitress import serve as waitress_serve

    store.app_engine(app)  # creates or upgrades the schema before the first request
    watcher = start_watching(registry_of(app))

    def stop(signum, frame):  # systemd's SIGTERM as Ctrl-C: waitress closes, then the
        raise SystemExit(0)   # reminder scheduler gives back what it has not sent

    signal.signal(signal.SIGTERM, stop)
    reminder_scheduler = start_background(app)
    click.echo(f"week-planner: serving {app.config['SCHEDULES_DIR']} on http://{host}:{port}/ "
               f"(links in feeds and mail: {app.config['BASE_URL']})")
    if demo:
        click.echo(f"week-planner: a demonstration programme dated around today is at "
                   f"{app.config['BASE_URL']}/{DEMO_ID}/ (not in the schedules folder)")
    if host in ("0.0.0.0", "::") and config is not None:
        click.echo("week-planner: others reach this machine by another name; set "
                   "WEEK_PLANNER_BASE_URL to it so that links in feeds and mail work for them",
                   err=True)
    try:
        waitress_serve(app, host=host, port=port, threads=threads)
    finally:
        reminder_scheduler.shutdown()
        watcher.stop()



def _write_demo() -> Path:
    """The demonstration programme for today, under the instance folder."""
    settings = load_settings()
    path = Path(settings["INSTANCE_DIR"]) / "demo" / f"{DEMO_ID}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(demo_schedule(utc_now()), encoding="utf-8")
    # Written whole before it is renamed in: dated an hour back, so that the registry
    # serves it at once instead of waiting for it to settle (a new user's first click).
    written = time.time() - 3600
    os.utime(temporary, (written, written))
    temporary.replace(path)
    return path.resolve()


# -- reminders ------------------------------------------------------------------------------

def _app(config: dict | None = None):
    try:
        return create_app(config)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def _configure_logging() -> None:
    """One line per request and per reminder; libraries only when they have news."""
    import logging
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("apscheduler", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _programme_or_fail(app, programme_id: str):
    programme = app.extensions["week_planner.registry"].get(programme_id)
    if programme is None:
        raise click.ClickException(f"no programme '{programme_id}' in "
                                   f"{app.config['SCHEDULES_DIR']}")
    return programme


@main.command()
def scheduler() -> None:
    """Run the reminder process alone (beside web workers that do not send)."""
    _configure_logging()
    import signal
    app = _app()
    click.echo(f"week-planner: reminder scheduler for {app.config['SCHEDULES_DIR']} "
               f"(links in mail: {app.config['BASE_URL']})")
    if not os.environ.get("WEEK_PLANNER_BASE_URL"):
        click.echo("week-planner: WEEK_PLANNER_BASE_URL is not set, so links in mail point "
                   f"at {app.config['BASE_URL']}; set it to the site's public address",
                   err=True)

    def stop(signum, frame):  # systemd's SIGTERM: let the batch under way finish
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        run_forever(app)
    except (KeyboardInterrupt, SystemExit):
        click.echo("week-planner: reminder scheduler stopped", err=True)


@main.group()
def subscribers() -> None:
    """Officials and participants who get reminders (already confirmed when added here)."""


def _add_subscriber(app, programme_id: str, address: str, event: str | None,
                    category: str | None) -> tuple[bool, str]:
    """Add a confirmed subscription; (whether it is new, the normalised address)."""
    programme = _programme_or_fail(app, programme_id)
    try:
        scope = scope_for(programme, event, category)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    try:
        if "@" in address:
            channel, address = "email", normalise_email(address)
        else:
            channel, address = "sms", normalise_mobile(address)
    except AddressError as error:
        raise click.ClickException(f"not an e-mail address or mobile number: {error}") from None
    _, before = add_subscriber(app_engine(app), programme.id, scope, channel, address,
                               "organiser", utc_now(), confirmed=True)
    return not before, address


@subscribers.command("add")
@click.argument("address")
@click.option("--programme", "programme_id", required=True)
@click.option("--event", help="Only this event.")
@click.option("--category", help="Only this category.")
def subscribers_add(address: str, programme_id: str, event: str | None,
                    category: str | None) -> None:
    """Add an e-mail address (or mobile number) to a programme, event or category."""
    app = _app()
    added, address = _add_subscriber(app, programme_id, address, event, category)
    Reminders(app).reconcile([programme_id], subscriptions_only=True)
    click.echo(f"{'added' if added else 'already subscribed'}: {mask_address(address)}")


@subscribers.command("import")
@click.argument("file", type=click.File(encoding="utf-8-sig"))
@click.option("--programme", "programme_id",
              help="Programme for rows without a programme column.")
def subscribers_import(file, programme_id: str | None) -> None:
    """Add subscribers from a CSV file with the columns address[, programme, event,
    category] (a header row names them)."""
    import csv
    app = _app()
    reader = csv.DictReader(file)
    if not reader.fieldnames or "address" not in reader.fieldnames:
        raise click.ClickException("the CSV file needs a header row with an 'address' column")
    added = existing = 0
    programmes = set()
    for number, row in enumerate(reader, start=2):
        programme = (row.get("programme") or programme_id or "").strip()
        if not programme:
            raise click.ClickException(f"line {number}: no programme (column or --programme)")
        try:
            if _add_subscriber(app, programme, (row.get("address") or "").strip(),
                               (row.get("event") or "").strip() or None,
                               (row.get("category") or "").strip() or None)[0]:
                added += 1
            else:
                existing += 1
        except click.ClickException as error:
            raise click.ClickException(f"line {number}: {error.message}") from None
        programmes.add(programme)
    Reminders(app).reconcile(programmes, subscriptions_only=True)
    click.echo(f"{added} added, {existing} already subscribed")


@subscribers.command("list")
@click.option("--programme", "programme_id")
@click.option("--show-addresses", is_flag=True,
              help="Print addresses in full (they are masked by default).")
def subscribers_list(programme_id: str | None, show_addresses: bool) -> None:
    """List subscriptions: programme, scope, channel, address, confirmed."""
    from sqlalchemy import select
    app = _app()
    query = select(subscriber_table).order_by(subscriber_table.c.programme_id,
                                              subscriber_table.c.scope, subscriber_table.c.id)
    if programme_id:
        query = query.where(subscriber_table.c.programme_id == programme_id)
    with app_engine(app).connect() as connection:
        rows = connection.execute(query).all()
    for row in rows:
        address = row.address if show_addresses else mask_address(row.address)
        click.echo(f"{row.programme_id}\t{row.scope}\t{row.channel}\t{address}\t"
                   f"{'confirmed' if row.confirmed_at else 'unconfirmed'}\t{row.source}")
    click.echo(f"{len(rows)} subscription(s)", err=True)


@subscribers.command("remove")
@click.argument("address")
@click.option("--programme", "programme_id", required=True)
@click.option("--event", help="Only the subscription to this event.")
@click.option("--category", help="Only the subscription to this category.")
def subscribers_remove(address: str, programme_id: str, event: str | None,
                       category: str | None) -> None:
    """Remove an address from a programme (all its subscriptions there, or one)."""
    from sqlalchemy import select
    app = _app()
    try:
        address = normalise_email(address) if "@" in address else normalise_mobile(address)
    except AddressError as error:
        raise click.ClickException(str(error)) from None
    query = select(subscriber_table.c.id).where(subscriber_table.c.programme_id == programme_id,
                                     subscriber_table.c.address == address)
    if event or category:
        query = query.where(subscriber_table.c.scope == (f"event:{event}" if event
                                              else f"category:{category}"))
    engine = app_engine(app)
    with engine.connect() as connection:
        ids = [row.id for row in connection.execute(query)]
    removed = remove_subscribers(engine, ids, utc_now())
    if not removed:
        raise click.ClickException("no such subscription")
    click.echo(f"{removed} subscription(s) removed")


# -- the organisers' desk ---------------------------------------------------------------------

@main.group()
def organisers() -> None:
    """Who may sign in to the organisers' desk (/organise/) and edit which programmes."""


def _organiser_address(address: str) -> str:
    try:
        return organise_accounts.normalise(address)
    except AddressError as error:
        raise click.ClickException(f"not an e-mail address: {error}") from None


def _grants(organiser) -> str:
    return "all programmes" if organiser.all_programmes else \
        " ".join(sorted(organiser.programmes)) or "no programme"


@organisers.command("add")
@click.argument("address")
@click.option("--programme", "programme_ids", multiple=True,
              help="A programme they may edit (repeat for more).")
@click.option("--all", "all_programmes", is_flag=True,
              help="Every programme, and new ones from the template (a ministry editor).")
def organisers_add(address: str, programme_ids: tuple[str, ...], all_programmes: bool) -> None:
    """Let ADDRESS sign in to the desk and edit these programmes (kept with earlier ones)."""
    if not programme_ids and not all_programmes:
        raise click.UsageError("name a --programme (or --all)")
    for programme_id in programme_ids:
        if not ID_RE.match(programme_id):
            raise click.ClickException(f"not a programme id: {programme_id}")
    app = _app()
    organiser = organise_accounts.add(app_engine(app), _organiser_address(address),
                                      programme_ids, all_programmes, utc_now())
    click.echo(f"{organiser.email}: {_grants(organiser)}")
    unknown = [p for p in programme_ids if registry_of(app).get(p) is None]
    if unknown:
        click.echo(f"note: no programme {', '.join(unknown)} is served yet; the organiser "
                   "can write it on the desk", err=True)


@organisers.command("list")
def organisers_list() -> None:
    """List organisers and the programmes each may edit."""
    found = organise_accounts.all_organisers(app_engine(_app()))
    for organiser in found:
        click.echo(f"{organiser.email}\t{_grants(organiser)}")
    click.echo(f"{len(found)} organiser(s)", err=True)


@organisers.command("remove")
@click.argument("address")
@click.option("--programme", "programme_ids", multiple=True,
              help="Only take these programmes away (default: the whole account).")
def organisers_remove(address: str, programme_ids: tuple[str, ...]) -> None:
    """Take programmes, or the desk altogether, away from ADDRESS (signed out at once)."""
    if not organise_accounts.remove(app_engine(_app()), _organiser_address(address),
                                    programme_ids):
        raise click.ClickException("no such organiser")
    click.echo("removed" if not programme_ids else f"removed: {' '.join(programme_ids)}")


@organisers.command("link")
@click.argument("address")
def organisers_link(address: str) -> None:
    """Print a one-time sign-in link for ADDRESS (15 minutes, once), for offices without
    mail."""
    app = _app()
    engine, address = app_engine(app), _organiser_address(address)
    if organise_accounts.find(engine, address) is None:
        raise click.ClickException("no such organiser (add them first)")
    click.echo(sign_in_links.link_url(app, sign_in_links.new_link(engine, address, utc_now())))


@main.group()
def channels() -> None:
    """Organiser channels (the private channels file)."""


@channels.command("test")
@click.argument("name")
def channels_test(name: str) -> None:
    """Send a test message to channel NAME."""
    app = _app()
    path = app.config.get("CHANNELS")
    if not path:
        raise click.ClickException("no channels file: set WEEK_PLANNER_CHANNELS")
    try:
        urls = read_channels(path).get(name)
    except ChannelsError as error:
        raise click.ClickException(str(error)) from None
    if not urls:
        raise click.ClickException(f"no channel '{name}' in {path}")
    if any("{phone}" in url for url in urls):
        raise click.ClickException(f"'{name}' is the SMS gateway; it is tested by "
                                   "subscribing a mobile number")
    try:
        send_apprise(urls, "week-planner", "پیام آزمایشی یادآوری هفتهٔ تعاون: این کانال کار "
                     "می‌کند.")
    except DeliveryError as error:
        raise click.ClickException(f"channel '{name}': {error}") from None
    click.echo(f"test message sent to '{name}' ({len(urls)} address(es))")


@main.group()
def reminders() -> None:
    """The reminder outbox."""


@reminders.command("list")
@click.option("--programme", "programme_id")
@click.option("--due", is_flag=True, help="Only reminders waiting to be sent.")
def reminders_list(programme_id: str | None, due: bool) -> None:
    """Show the outbox with Jalali times in each programme's timezone."""
    from zoneinfo import ZoneInfo

    from sqlalchemy import select
    app = _app()
    registry = app.extensions["week_planner.registry"]
    query = select(reminder_outbox).order_by(reminder_outbox.c.due_at, reminder_outbox.c.id)
    if programme_id:
        query = query.where(reminder_outbox.c.programme_id == programme_id)
    if due:
        query = query.where(reminder_outbox.c.status.in_(["pending", "sending"]))
    with app_engine(app).connect() as connection:
        rows = connection.execute(query).all()
    for row in rows:
        programme = registry.get(row.programme_id)
        tz = programme.tz if programme else ZoneInfo("UTC")
        when = row.next_attempt_at if row.status == "pending" else row.due_at
        local = when.astimezone(tz)
        moment = f"{jalali.iso_jalali(local.date())} {local:%H:%M:%S}"
        recipient = row.recipient if row.channel == "apprise" else \
            (mask_address(row.recipient) if row.recipient else "(deleted)")
        days, rest = divmod(row.offset_seconds, 86400)
        offset = "".join(f"{n}{unit}" for n, unit in
                         ((days, "d"), (rest // 3600, "h"), (rest % 3600 // 60, "m")) if n)
        click.echo(f"{moment}\t{row.status}\t{row.kind}\t{row.programme_id}/"
                   f"{row.occurrence_key}\t-{offset or '0m'}\t{row.channel}:{recipient}\t"
                   f"attempts={row.attempts}" + (f"\t{row.last_error}" if row.last_error else ""))
    click.echo(f"{len(rows)} row(s)", err=True)


@reminders.command("preview")
@click.argument("event")
@click.option("--programme", "programme_id",
              help="Needed when several programmes have an event of this id.")
@click.option("--raw", is_flag=True, help="The whole message as sent (MIME).")
def reminders_preview(event: str, programme_id: str | None, raw: bool) -> None:
    """Print the mail that would go out for EVENT (its first occurrence, first offset)."""
    import datetime as dt
    app = _app()
    registry = app.extensions["week_planner.registry"]
    found = [p for p in registry.programmes(include_drafts=True)
             if (programme_id is None or p.id == programme_id) and p.event(event)]
    if not found:
        raise click.ClickException(f"no event '{event}'")
    if len(found) > 1:
        raise click.ClickException(f"event '{event}' is in several programmes; "
                                   "choose one with --programme")
    programme = found[0]
    chosen = programme.event(event)
    occurrence = chosen.occurrences[0]
    offset = chosen.reminders[0] if chosen.reminders else dt.timedelta(hours=1)
    now = due_time(anchor(programme, occurrence, app.config["ALL_DAY_REMINDER_HOUR"]), offset)
    if not chosen.reminders:
        click.echo("(this event has no reminders; shown as if it had one 1 h before)", err=True)
    key = reminder_key(programme.id, occurrence.key, occurrence.start,
                       int(offset.total_seconds()), "email", "preview")
    message = build_reminder(app.jinja_env, app.config, programme, chosen, occurrence, offset,
                             "participant@example.invalid", key,
                             f"{app.config['BASE_URL'].rstrip('/')}/remind/unsubscribe/…",
                             now if now < utc_now() else utc_now(),
                             event_calendar(app, programme.id, chosen.id))
    if raw:
        click.echo(message.as_string())
        return
    for header in ("From", "To", "Subject", "Message-ID", "List-Unsubscribe"):
        click.echo(f"{header}: {header_text(message[header])}")
    click.echo("")
    click.echo(plain_text(message))
    for part in message.walk():
        if part.get_content_type() == "text/html":
            click.echo(f"[HTML part: {len(part.get_payload(decode=True))} bytes]")
        elif part.get_filename():
            click.echo(f"[attachment: {part.get_filename()} ({part.get_content_type()})]")



@main.group()
def db() -> None:
    """The database schema (SQLite file by default, or WEEK_PLANNER_DATABASE_URL)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create the schema or upgrade it to the latest migration (serve and scheduler do this
    on start)."""
    try:
        settings = load_settings()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    engine = store.engine_for(settings["DATABASE_URL"])
    store.create_schema(engine)
    click.echo(f"database at migration {store.schema_revision(engine)}")
    engine.dispose()


if __name__ == "__main__":
    main()
