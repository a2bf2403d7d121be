"""Every setting of the service, in one documented list.

Settings come from the defaults below, then ``WEEK_PLANNER_<NAME>`` environment variables,
then the mapping given to ``create_app(config)``. ``load_settings`` returns a plain dict.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Mapping

ENV_PREFIX = "WEEK_PLANNER_"


def _as_int(value: Any) -> int:
    return int(value)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _as_list_of_seconds(value: Any) -> list[float]:
    parts = value.replace(",", " ").split() if isinstance(value, str) else value
    seconds = [float(part) for part in parts]
    if not seconds or min(seconds) <= 0:
        raise ValueError("a list of positive numbers of seconds is needed")
    return seconds


# name: (default, how an environment string is read, what it means)
SETTINGS: dict[str, tuple[Any, Any, str]] = {
    "SCHEDULES_DIR": ("schedules", str,
                      "Folder of the programme YAML files."),
    "INSTANCE_DIR": ("instance", str,
                     "Folder for the service's own files: the SQLite database and the "
                     "generated secret key."),
    "DATABASE_URL": (None, str,
                     "SQLAlchemy URL of the database; default a SQLite file "
                     "instance/week-planner.sqlite3. PostgreSQL: postgresql+psycopg://…"),
    "SECRET_KEY": (None, str,
                   "Key that signs preview links, personal feeds and unsubscribe links. "
                   "When unset, one is generated once and kept in instance/secret_key."),
    "BASE_URL": ("http://localhost:8000", str,
                 "Public address of the service, for absolute links in feeds, mail, "
                 "QR codes and the static export."),
    "SMTP_URL": (None, str,
                 "smtp://[user:pass@]host:port, smtp+starttls://… or smtps://…; "
                 "unset: reminders are written to the console."),
    "MAIL_FROM": ("week-planner@localhost", str, "Sender address of reminder mail."),
    "CHANNELS": (None, str,
                 "Private YAML file mapping organiser channel names to apprise URLs "
                 "(never inside the schedules folder)."),
    "RELOAD_INTERVAL": (1.0, float,
                        "Seconds between checks of the schedules folder for changes (made "
                        "by the watcher's thread where one runs, as in 'serve' and under "
                        "gunicorn, so that no request pays for them; over a shared "
                        "folder they are what sees changes made on other machines)."),
    "SCHEDULE_SETTLE_SECONDS": (2.0, float,
                                "Seconds a changed schedule file must stay unchanged before "
                                "it is applied (its modification time that old, or the same "
                                "size and time on two looks that far apart), so a file still "
                                "being written or copied is never published half-written; "
                                "until then its previous version is served."),
    "SCHEDULE_GONE_GRACE_SECONDS": (60.0, float,
                                    "Seconds a schedule file may be missing before its "
                                    "programme counts as deleted (answers 410, feeds cancel "
                                    "its events). Covers saves that delete and recreate a "
                                    "file, and copies or shares that drop files for a moment. "
                                    "Nothing counts as deleted while the folder itself is "
                                    "missing or unreadable."),
    "KEPT_MB": (512, _as_int,
                "Megabytes of work kept in instance/kept/ so that a restart does not "
                "do it again: checked schedule files (loads/, about 7 kB a programme of "
                "12 events) and built feeds (feeds/, about 20 kB a feed), half each, "
                "counted without SQLite's own overhead (the files take up to 1.5 times "
                "as much); the entries used longest ago go first. 0: keep nothing."),
    "CANCELLED_RETENTION_DAYS": (30, _as_int,
                                 "Days a removed event stays in feeds as cancelled."),
    "SUBSCRIBER_RETENTION_DAYS": (30, _as_int,
                                  "Days after a programme ends before its subscribers' "
                                  "addresses are deleted."),
    "ALL_DAY_REMINDER_HOUR": (8, _as_int,
                              "Hour of an all-day event's day that its reminder offsets "
                              "count from."),
    "RETRY_DELAYS": ([15, 30, 60], _as_list_of_seconds,
                     "Seconds between attempts to send a failed reminder; the last "
                     "repeats until the event starts, so keep it short (a minute): mail "
                     "held back while the server was unreachable goes out as soon as one "
                     "message gets through, and that is found out only by trying."),
    "REMINDER_SWEEP_INTERVAL": (30.0, float,
                                "Seconds between the scheduler's safety sweeps (schedule "
                                "changes, subscriptions made by other processes, leases)."),
    "REMINDER_LEASE": (30.0, float,
                       "Seconds a claim on reminders lasts unless renewed; the process "
                       "sending them renews it every quarter of this, so one left by a "
                       "process that died is taken over this long after its last renewal "
                       "(at once by a scheduler started on the same machine)."),
    "REMINDER_BATCH_SIZE": (50, _as_int, "Reminders claimed at once by one process."),
    "CONFIRM_MAX_AGE": (172800, _as_int,
                        "Seconds a subscription's confirmation link or code stays valid."),
    "SUBSCRIBE_RATE_LIMIT": (10, _as_int,
                             "Subscription requests allowed per client address per hour (a third "
                             "of it per e-mail address or number), counted in the database."),
    "TRUSTED_PROXIES": (0, _as_int,
                        "Number of reverse proxies (nginx) in front of the service whose "
                        "X-Forwarded-For/-Proto/-Host headers are trusted; 1 behind one "
                        "nginx. Client addresses (rate limits, logs) come from them."),
    "ORGANISER_IDLE_MINUTES": (30, _as_int,
                               "Minutes without a request after which an organiser is "
                               "signed out of the organisers' desk (/organise/)."),
    "SIGN_IN_RATE_LIMIT": (10, _as_int,
                           "Sign-in link requests allowed per client address per hour on "
                           "the organisers' desk (a third of it per e-mail address), "
                           "counted in the database."),
    "LANGUAGE": ("fa", str, "Language of messages (fa or en)."),
    "DEMO_SCHEDULE": ("", str,
                      "A schedule file served beside the folder's: the demonstration "
                      "programme that 'week-planner serve --demo' (scripts/run) writes "
                      "under the instance folder, dated around today. Empty: none."),
    "TESTING": (False, _as_bool, "Flask's testing mode."),
}

# Values that are published in examples and so never secret.
PLACEHOLDER_SECRETS = frozenset({
    "change-me", "changeme", "secret", "dev", "development", "please-change-me",
    "your-secret-key", "replace-me", "xxx",
})


class ConfigError(ValueError):
    pass


def load_settings(config: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Defaults, then the environment, then ``config``; with the derived values filled in."""
    environ = os.environ if environ is None else environ
    settings = {name: default for name, (default, _, _) in SETTINGS.items()}
    for name, (_, parse, _) in SETTINGS.items():
        raw = environ.get(ENV_PREFIX + name)
        if raw is not None and raw != "":
            try:
                settings[name] = parse(raw)
            except ValueError as error:
                raise ConfigError(f"{ENV_PREFIX}{name}: {error}") from None
    settings.update(config or {})

    instance = Path(settings["INSTANCE_DIR"])
    if not settings["DATABASE_URL"]:
        settings["DATABASE_URL"] = f"sqlite:///{(instance / 'week-planner.sqlite3').resolve()}"
    settings["SECRET_KEY"] = _secret_key(settings["SECRET_KEY"], instance)
    if settings["CHANNELS"]:
        channels = Path(settings["CHANNELS"]).resolve()
        schedules = Path(settings["SCHEDULES_DIR"]).resolve()
        if schedules == channels.parent or schedules in channels.parents:
            raise ConfigError(f"{ENV_PREFIX}CHANNELS must not lie inside the schedules "
                              f"folder ({schedules}): it holds private addresses")
    return settings


def _secret_key(configured: str | None, instance: Path) -> str:
    if configured:
        if configured.strip().lower() in PLACEHOLDER_SECRETS or len(configured) < 16:
            raise ConfigError(f"{ENV_PREFIX}SECRET_KEY is a placeholder or too short "
                              "(at least 16 characters); unset it to have one generated")
        return configured
    path = instance / "secret_key"
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    instance.mkdir(parents=True, exist_ok=True)
    # Written to a private temporary file, then linked into place: the link fails when
    # another process got there first, and a reader never sees a half-written key.
    temporary = instance / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_text(encoding="ascii").strip()
