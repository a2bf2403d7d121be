"""The ``week-planner`` command line (click); each command a few lines over the modules."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from .config import ConfigError
from .loading import check_paths
from .problems import LANGUAGES, translate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    channel_names = None
    channels_file = channels or os.environ.get("WEEK_PLANNER_CHANNELS")
    if channels_file:
        from .channels import channel_names as read_channel_names
        channel_names = read_channel_names(channels_file)
    results = check_paths(paths, channels=channel_names)
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
@click.pass_context
def preview_link(ctx: click.Context, programme: str) -> None:
    """Print the signed link that shows a draft programme before it is published."""
    from . import create_app
    from .views import preview_url
    app = create_app()
    found = app.extensions["week_planner.registry"].get(programme)
    if found is None:
        raise click.ClickException(f"no programme '{programme}' in {app.config['SCHEDULES_DIR']}")
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        click.echo(preview_url(app, programme))


@main.command()
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--base-url", help="Public address the files will be served from "
                                 "(absolute links in feeds and pages). Default: BASE_URL.")
def export(outdir: Path, base_url: str | None) -> None:
    """Write the whole public site as static files into OUTDIR."""
    from . import create_app, get_registry
    from .export import export_site
    try:
        app = create_app({"BASE_URL": base_url.rstrip("/")} if base_url else None)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    extra = []
    for programme in get_registry(app).programmes():
        extra += [f"/{programme.id}.ics", f"/{programme.id}/schedule.json",
                  f"/{programme.id}/schedule.xml", f"/{programme.id}/changes/",
                  f"/{programme.id}/changes.atom"]
    report = export_site(app, outdir, tuple(extra))
    for path, status in sorted(report.failed.items()):
        click.echo(f"not exported: {path} (HTTP {status})", err=True)
    click.echo(f"{len(report.written)} files written to {outdir}")
    sys.exit(1 if report.failed else 0)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
def serve(host: str, port: int, threads: int) -> None:
    """Serve the site with a production WSGI server (waitress, threads, no fork)."""
    from . import create_app
    try:
        app = create_app()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    import logging
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from waitress import serve as waitress_serve

    from . import get_registry
    from .watching import start_watching
    watcher = start_watching(get_registry(app))
    click.echo(f"week-planner: serving {app.config['SCHEDULES_DIR']} on http://{host}:{port}/")
    try:
        waitress_serve(app, host=host, port=port, threads=threads)
    finally:
        watcher.stop()


if __name__ == "__main__":
    main()
