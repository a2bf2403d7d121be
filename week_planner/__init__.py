"""week-planner: programme pages, calendar feeds and reminders for the Cooperative Week.

``create_app(config=None)`` builds the Flask application; it starts no threads and no
scheduler (``week-planner serve`` and ``week-planner scheduler`` do).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from flask import Flask

from week_planner.config import ConfigError, load_settings
from week_planner.kept import kept_files
from week_planner.schedule import jalali
from week_planner.schedule.kept_loads import KeptLoads
from week_planner.schedule.registry import REGISTRY_EXTENSION, Registry, registry_of

PACKAGE_DIR = Path(__file__).resolve().parent


def template_folder() -> Path:
    """Templates ship inside the wheel; in a source checkout they sit beside the package."""
    inside = PACKAGE_DIR / "templates"
    return inside if inside.is_dir() else PACKAGE_DIR.parent / "templates"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    settings = load_settings(config)
    app = Flask(__name__, template_folder=str(template_folder()),
                static_folder=str(PACKAGE_DIR / "static"), instance_path=None)
    app.config.update(settings)
    channels = None
    if app.config["CHANNELS"]:
        from week_planner.reminders.channels import ChannelsError, channel_names
        try:
            channels = channel_names(app.config["CHANNELS"])
        except ChannelsError as error:
            raise ConfigError(f"WEEK_PLANNER_CHANNELS: {error}") from None
    kept_loads = kept_files(app, "loads")
    app.extensions[REGISTRY_EXTENSION] = Registry(
        app.config["SCHEDULES_DIR"], interval=app.config["RELOAD_INTERVAL"],
        channels=channels, settle=app.config["SCHEDULE_SETTLE_SECONDS"],
        gone_grace=app.config["SCHEDULE_GONE_GRACE_SECONDS"],
        extra_files=[app.config["DEMO_SCHEDULE"]] if app.config["DEMO_SCHEDULE"] else [],
        kept=None if kept_loads is None else KeptLoads(kept_loads))

    for name in ("to_persian_digits", "format_date", "format_date_range", "format_time",
                 "format_time_range", "format_gregorian", "iso_jalali", "weekday_name",
                 "later_end_day"):
        app.add_template_filter(getattr(jalali, name), name)

    # The web layer is imported here, not at the top: importing the package (the loader
    # behind 'week-planner check', a benchmark) should not load every blueprint with it.
    from week_planner.web import operations, prepared, remind
    from week_planner.web.calendars import calendar
    from week_planner.web.changes import changelog
    from week_planner.web.conference import conference_schedules
    from week_planner.web.directory import directory
    from week_planner.web.offline import offline
    from week_planner.web.pages import pages
    operations.init_app(app)
    app.register_blueprint(directory)
    app.register_blueprint(pages)
    app.register_blueprint(calendar)
    app.register_blueprint(conference_schedules)
    app.register_blueprint(changelog)
    app.register_blueprint(offline)
    remind.init_app(app)
    from week_planner.web import organise
    organise.init_app(app)
    # Unchanged pages and feeds are answered from memory, in front of Flask; behind the
    # proxy fix, so that what is logged is the client's address.
    prepared.init_app(app)
    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    return app


def get_registry(app: Flask) -> Registry:
    return registry_of(app)
