"""The history of a programme on the organisers' desk: every version published from the
desk (and the file as the desk found it when it had been changed on the server), who
published it and when, what changed from the previous one, and a one-click restore, which
publishes the old text again as a new version (checked, and refused if the file changed
since the page was opened, like any publication).

Blueprint ``history`` (inside ``organise``): ``/organise/<programme>/history/``,
``/organise/<programme>/history/<version>/`` and its ``restore`` (POST).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template
from flask_wtf import FlaskForm
from wtforms import HiddenField

from week_planner.publish.changes import change_entries
from week_planner.publish.feeds import occurrence_snapshots
from week_planner.schedule import jalali
from week_planner.schedule.loading import load_text
from week_planner.store import app_engine
from week_planner.web import organise_files as files
from week_planner.web.organise_auth import note, programme_page
from week_planner.web.organise_editor import (
    EditorForm,
    check_text,
    editor_page,
    publish,
)

history = Blueprint("history", __name__)

ACTION_LABELS = {
    "publish": "انتشار از ویرایشگر", "upload": "انتشار پروندهٔ بارگذاری‌شده",
    "add-event": "افزودن رویداد", "restore": "بازگرداندن نسخهٔ پیشین",
    "create": "آغاز برنامه", "server": "تغییر روی سرور، بیرون از این میز",
}


class RestoreForm(FlaskForm):
    base = HiddenField()  # the file's digest when the page was shown


def _current_digest(path: Path) -> str:
    return files.digest_of(files.read_file(path))


@history.route("/<programme_id>/history/")
@programme_page
def versions(organiser, programme_id: str, path: Path):
    found = files.versions(app_engine(current_app), programme_id)
    current = _current_digest(path)
    form = RestoreForm(formdata=None, base=current)
    return render_template("organise/history.html", programme_id=programme_id,
                           versions=found, current=current, form=form, labels=ACTION_LABELS)


def event_summary(programme_id: str, old_text: str | None, new_text: str) -> list[str]:
    """What a version changed in the programme's events, in Persian sentences (the
    changelog's); empty when either text does not load."""
    new = load_text(new_text.encode("utf-8"), "new.yaml").programme
    if new is None:
        return []
    if old_text is None:
        count = jalali.to_persian_digits(len(new.events))
        return [f"نخستین نسخه‌ای که این میز می‌شناسد، با {count} رویداد."]
    old = load_text(old_text.encode("utf-8"), "old.yaml").programme
    if old is None:
        return []
    before, after = occurrence_snapshots(old), occurrence_snapshots(new)
    first = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    then = first + dt.timedelta(days=1)
    rows = [{"occurrence_key": key, "event_id": snapshot["event"], "kind": "added",
             "snapshot": snapshot, "previous": None, "changed_at": first}
            for key, snapshot in before.items()]
    for key, snapshot in after.items():
        if key not in before:
            rows.append({"occurrence_key": key, "event_id": snapshot["event"],
                         "kind": "added", "snapshot": snapshot, "previous": None,
                         "changed_at": then})
        elif before[key] != snapshot:
            rows.append({"occurrence_key": key, "event_id": snapshot["event"],
                         "kind": "changed", "snapshot": snapshot, "previous": before[key],
                         "changed_at": then})
    for key, snapshot in before.items():
        if key not in after:
            rows.append({"occurrence_key": key, "event_id": snapshot["event"],
                         "kind": "removed", "snapshot": snapshot, "previous": snapshot,
                         "changed_at": then})
    entries = change_entries(programme_id, {"title": new.title}, rows)
    sentences = [entry.sentence for entry in entries if entry.changed_at == then]
    if (old.title, old.first_day, old.last_day, old.draft) != \
            (new.title, new.first_day, new.last_day, new.draft):
        sentences.insert(0, "عنوان، روزها یا پیش‌نویس بودن برنامه تغییر کرد.")
    return sentences


@history.route("/<programme_id>/history/<int:version_id>/")
@programme_page
def version(organiser, programme_id: str, path: Path, version_id: int):
    engine = app_engine(current_app)
    chosen = files.version(engine, programme_id, version_id)
    if chosen is None:
        abort(404)
    previous = files.previous_version(engine, programme_id, version_id)
    old_text = previous.text if previous else None
    current = _current_digest(path)
    return render_template(
        "organise/version.html", programme_id=programme_id, version=chosen,
        previous=previous, labels=ACTION_LABELS, is_current=chosen.digest == current,
        summary=event_summary(programme_id, old_text, chosen.text),
        diff=files.line_diff(old_text or "", chosen.text),
        form=RestoreForm(formdata=None, base=current))


@history.route("/<programme_id>/history/<int:version_id>/restore", methods=["POST"])
@programme_page
def restore(organiser, programme_id: str, path: Path, version_id: int):
    chosen = files.version(app_engine(current_app), programme_id, version_id)
    if chosen is None:
        abort(404)
    form = RestoreForm()
    editor = EditorForm(formdata=None)
    editor.text.data = chosen.text
    if not form.validate_on_submit():
        editor.base.data = _current_digest(path)
        return editor_page(programme_id, path, editor, [], 400, how="restore",
                           notice="فرم کهنه شده بود؛ متن آن نسخه در ویرایشگر است و هنوز "
                                  "منتشر نشده است.")
    editor.base.data = form.base.data
    data = files.normalise_text(chosen.text)
    _result, problems = check_text(programme_id, path, data)
    note(organiser.email, "asked to restore", programme_id, f"version {version_id}")
    return publish(organiser, programme_id, path, editor, data, problems, "restore",
                   restored_from=version_id)
