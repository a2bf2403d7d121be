"""The editor of the organisers' desk: check, preview and publish a programme's file.

Blueprint ``edit`` (inside ``organise``):

- ``/organise/<programme>/`` — the file's text with line numbers; its form's buttons check
  it, preview it (the programme page as it will look, "now / next" as of a chosen moment
  of the week) and publish it. Publishing accepts only text without errors whose programme
  id is the page's, and only if the file has not changed since the editor opened it (else
  the difference is shown, and the text kept); the new file is written atomically and
  ``/organise/<programme>/published/<version>`` says when the site serves it;
- ``/organise/<programme>/check`` — the same check as JSON, for the editor's script
  (static/organise.js); without it every button submits the form;
- ``/organise/<programme>/download`` and ``…/upload`` — the file to and from a computer;
  an uploaded file goes into the editor, to be checked, previewed and published like any
  text.

``check_text``, ``editor_page`` and ``publish`` are shared with the history and the "add
an event" form.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf import FlaskForm
from flask_wtf.csrf import validate_csrf
from wtforms import FileField, HiddenField, StringField, TextAreaField
from wtforms.validators import ValidationError

from week_planner.clock import current_time, utc_now
from week_planner.publish.colours import label_colours
from week_planner.schedule import jalali
from week_planner.schedule.loading import LoadResult, load_text
from week_planner.schedule.registry import registry_of
from week_planner.schedule.rules import MAX_FILE_BYTES
from week_planner.store import app_engine
from week_planner.web import organise_files as files
from week_planner.web.organise_auth import note, programme_page
from week_planner.web.organise_events import add_event, fields_for
from week_planner.web.pages import map_links, now_next, preview_url, timezone_name

edit = Blueprint("edit", __name__)

DEFAULT_PREVIEW_TIME = "10:00"


# -- checking ------------------------------------------------------------------------------

def check_text(programme_id: str, path: Path, data: bytes) -> tuple[LoadResult, list[dict]]:
    """The loader's problems of a text (in Persian), and the desk's own: the text must be
    the programme of this page."""
    registry = registry_of(current_app)
    result = load_text(data, path.name, channels=registry.channels)
    problems = [problem.as_dict("fa") for problem in result.problems]
    if result.programme is not None and result.programme.id != programme_id:
        mark = result.id_mark
        problems.insert(0, {
            "file": path.name, "line": mark.line if mark else 0,
            "column": mark.column if mark else 0, "severity": "error",
            "code": "programme-id-changed", "path": "programme.id",
            "message": f"شناسهٔ برنامه در این صفحه باید «{programme_id}» بماند: این متن "
                       f"جای پروندهٔ همین برنامه را می‌گیرد. برای برنامهٔ دیگری، صفحهٔ "
                       "همان برنامه را باز کنید."})
    return result, problems


def _errors(problems: list[dict]) -> int:
    return sum(problem["severity"] == "error" for problem in problems)


@edit.route("/<programme_id>/check", methods=["POST"])
@programme_page
def check(organiser, programme_id: str, path: Path):
    try:
        validate_csrf(request.headers.get("X-CSRFToken"))
    except ValidationError:
        return jsonify({"error": "csrf"}), 400
    data = files.normalise_text(request.get_data(as_text=True))
    _result, problems = check_text(programme_id, path, data)
    errors = _errors(problems)
    return jsonify({"problems": problems, "errors": errors,
                    "warnings": len(problems) - errors})


# -- the editor ----------------------------------------------------------------------------

class EditorForm(FlaskForm):
    text = TextAreaField("متن برنامه")
    base = HiddenField()
    preview_day = StringField("روز")
    preview_time = StringField("ساعت", default=DEFAULT_PREVIEW_TIME)


class UploadForm(FlaskForm):
    file = FileField("پروندهٔ YAML")


def _preview_days(programme) -> list[tuple[str, str]]:
    return [(day.isoformat(), jalali.format_date(day, weekday=True))
            for day in programme.days] if programme else []


def editor_page(programme_id: str, path: Path, form: EditorForm, problems: list[dict],
                status: int = 200, *, notice: str | None = None, conflict=None,
                checked: bool = False, how: str | None = None,
                restored_from: int | None = None, loaded=None, fields=None):
    """The editor with ``form``'s text, its problems and whatever else there is to say.
    ``loaded`` is the text's programme when it loads (for the preview's days and the
    "add an event" form), else the one the site serves is used."""
    text = form.text.data or ""
    served = registry_of(current_app).get(programme_id)
    programme = loaded or served
    days = _preview_days(programme)
    if form.preview_day.data not in {value for value, _ in days} and days:
        form.preview_day.data = _default_day(programme)
    lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    marked = {}
    for problem in problems:
        if problem["line"]:
            marked.setdefault(problem["line"], problem["severity"])
    return render_template(
        "organise/editor.html", programme_id=programme_id, file_name=path.name,
        programme=programme, form=form, problems=problems, errors=_errors(problems),
        lines=max(lines, 1), marked=marked, days=days, notice=notice, conflict=conflict,
        checked=checked, upload=UploadForm(), how=how if how in ACTIONS else "publish",
        restored_from=restored_from, fields=fields or fields_for(programme),
        live=served is not None and not served.draft), status


def _default_day(programme) -> str:
    today = jalali.today_in(programme.tz, current_time(current_app))
    return (today if programme.first_day <= today <= programme.last_day
            else programme.first_day).isoformat()


def _form_for(path: Path, text: str | None = None) -> EditorForm:
    """A fresh editor form holding the file as it is now (or ``text`` over it)."""
    data = files.read_file(path)
    form = EditorForm(formdata=None)
    form.text.data = files.shown_text(data) if text is None else text
    form.base.data = files.digest_of(data)
    return form


@edit.route("/<programme_id>/", methods=["GET", "POST"])
@programme_page
def editor(organiser, programme_id: str, path: Path):
    if request.method == "GET":
        form = _form_for(path)
        result, problems = None, []
        if form.text.data:
            result, problems = check_text(programme_id, path,
                                          files.normalise_text(form.text.data))
        return editor_page(programme_id, path, form, problems,
                           loaded=result.programme if result else None)
    form = EditorForm()
    how = request.form.get("how", "publish")
    restored_from = request.form.get("restored_from", type=int) if how == "restore" else None
    if not form.validate_on_submit():
        return editor_page(programme_id, path, form, [], 400, how=how,
                           restored_from=restored_from,
                           notice="فرم کهنه شده است؛ دوباره بفرستید (متن شما همین‌جا "
                                  "مانده است).")
    action = request.form.get("action", "check")
    data = files.normalise_text(form.text.data or "")
    result, problems = check_text(programme_id, path, data)
    if action == "add-event":
        return _add_event(programme_id, path, form, result, problems, how, restored_from)
    if action == "preview" and not _errors(problems):
        return preview_page(programme_id, path, form, result.programme, how,
                            restored_from)
    if action == "publish":
        return publish(organiser, programme_id, path, form, data, problems, how,
                       restored_from, loaded=result.programme)
    return editor_page(programme_id, path, form, problems,
                       422 if action == "preview" else 200,
                       checked=action in ("check", "preview"), how=how,
                       restored_from=restored_from, loaded=result.programme,
                       notice="پیش از پیش‌نمایش، خطاها را درست کنید."
                       if action == "preview" else None)


def _add_event(programme_id: str, path: Path, form: EditorForm, result: LoadResult,
               problems: list[dict], how: str, restored_from: int | None):
    """The text with the event of the "add an event" fields appended, checked."""
    programme = result.programme or registry_of(current_app).get(programme_id)
    fields = fields_for(programme, request.form)
    if programme is None or not fields.validate():
        return editor_page(programme_id, path, form, problems, 422, how=how,
                           restored_from=restored_from, loaded=result.programme,
                           fields=fields, notice="رویداد افزوده نشد: خانه‌های فرم «افزودن "
                           "رویداد» را کامل کنید." if programme is not None else
                           "رویداد افزوده نشد: نخست متن برنامه باید بی‌خطا خوانده شود.")
    text, line, event_id = add_event(form.text.data or "", fields, programme)
    form.text.data = text
    result, problems = check_text(programme_id, path, files.normalise_text(text))
    return editor_page(
        programme_id, path, form, problems, how="add-event" if how == "publish" else how,
        restored_from=restored_from, loaded=result.programme, checked=True,
        notice=f"رویداد «{fields.title.data.strip()}» با شناسهٔ «{event_id}» از سطر "
               f"{jalali.to_persian_digits(line)} به متن افزوده شد. هنوز منتشر نشده "
               "است: بررسی کنید، پیش‌نمایش ببینید و منتشر کنید.")


ACTIONS = {"publish": "published", "upload": "published an upload of",
           "add-event": "added an event to", "restore": "restored a version of",
           "create": "created"}


def publish(organiser, programme_id: str, path: Path, form: EditorForm, data: bytes,
            problems: list[dict], how: str = "publish", restored_from: int | None = None,
            loaded=None):
    """Publish ``data`` if it has no errors and the file is still ``form.base``."""
    if _errors(problems):
        return editor_page(programme_id, path, form, problems, 422, how=how,
                           restored_from=restored_from, loaded=loaded,
                           notice="این متن خطا دارد و منتشر نشد. خطاهای زیر را درست کنید.")
    if len(data) > MAX_FILE_BYTES:  # the loader said so already; never written
        abort(413)
    how = how if how in ACTIONS else "publish"
    outcome = files.publish(app_engine(current_app), programme_id, path, data,
                            form.base.data or "", organiser.email, how, utc_now(),
                            restored_from)
    if outcome.version_id is None:
        note(organiser.email, "was refused publishing (the file had changed)", programme_id)
        current = files.shown_text(outcome.current)
        form.base.data = outcome.digest
        return editor_page(
            programme_id, path, form, problems, 409, how=how, restored_from=restored_from,
            loaded=loaded,
            conflict=files.line_diff(current, data.decode("utf-8")),
            notice="منتشر نشد: پس از آنکه این صفحه را باز کردید، پرونده تغییر کرده است "
                   "(برگزارکنندهٔ دیگری یا ویرایشی روی سرور). تفاوت آنچه اکنون روی سایت است "
                   "با متن شما در زیر آمده است. متن شما همین‌جا مانده است؛ اگر پس از "
                   "دیدن تفاوت‌ها باز هم «انتشار» را بزنید، جای نسخهٔ کنونی را می‌گیرد.")
    note(organiser.email, ACTIONS[how], programme_id,
         f"version {files.live_version(outcome.digest)}")
    return redirect(url_for("organise.edit.published", programme_id=programme_id,
                            version=files.live_version(outcome.digest)), 303)


def preview_page(programme_id: str, path: Path, form: EditorForm, programme,
                 how: str | None = None, restored_from: int | None = None):
    """The programme page as it will look, "now / next" at the moment chosen."""
    moment = _preview_moment(programme, form)
    state = now_next(programme, moment)
    days = [(day, programme.occurrences_on(day)) for day in programme.days]
    counts = {category: sum(1 for event in programme.events if event.category.id == category)
              for category in programme.categories}
    if form.preview_day.data not in {value for value, _ in _preview_days(programme)}:
        form.preview_day.data = _default_day(programme)
    return render_template(
        "organise/preview.html", programme=programme, preview=True, days=days,
        category=None, state=state, counts=counts, form=form, moment=moment,
        choices=_preview_days(programme), file_name=path.name, programme_id=programme_id,
        how=how if how in ACTIONS else "publish", restored_from=restored_from,
        link=lambda endpoint, **values: "#days",
        category_style=_category_style, map_links=map_links,
        timezone_name=timezone_name(programme),
        event_occurrences=lambda event: sorted(event.occurrences,
                                               key=lambda o: (o.start, o.end)),
        day_bounds=lambda day: ("", ""), remind_url=None)


def _category_style(category) -> str:
    background, text = label_colours(category.color)
    return f"--label-bg: {background}; --label-fg: {text};"


def _preview_moment(programme, form: EditorForm) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(form.preview_day.data or "")
    except ValueError:
        day = dt.date.fromisoformat(_default_day(programme))
    day = min(max(day, programme.first_day), programme.last_day)
    try:
        hours, _, minutes = jalali.to_ascii_digits(
            (form.preview_time.data or DEFAULT_PREVIEW_TIME).strip()).partition(":")
        clock = dt.time(int(hours), int(minutes or 0))
    except ValueError:
        clock = dt.time(10)
    form.preview_time.data = clock.strftime("%H:%M")
    return dt.datetime.combine(day, clock, programme.tz)


@edit.route("/<programme_id>/published/<version>")
@programme_page
def published(organiser, programme_id: str, path: Path, version: str):
    """Says whether the site serves the version just published yet; reloads itself until
    it does (the site applies a file once it has not changed for a moment)."""
    registry = registry_of(current_app)
    programme = registry.get(programme_id)
    data = files.read_file(path)
    live = programme is not None and programme.version == version
    replaced = not live and files.live_version(files.digest_of(data)) != version
    problems = []
    if not live and not replaced:
        snapshot = registry.snapshot()
        problems = [problem.as_dict("fa") for state in snapshot.files.values()
                    if Path(state.path).resolve() == path
                    for problem in state.result.errors]
    loaded_at = registry.snapshot().loaded_at.get(programme_id) if live else None
    return render_template(
        "organise/published.html", programme_id=programme_id, programme=programme,
        live=live, replaced=replaced, problems=problems, loaded_at=loaded_at,
        settle=f'{current_app.config["SCHEDULE_SETTLE_SECONDS"]:g}',
        preview_link=preview_url(current_app, programme_id)
        if live and programme.draft else None)


# -- download and upload ---------------------------------------------------------------

@edit.route("/<programme_id>/download")
@programme_page
def download(organiser, programme_id: str, path: Path):
    data = files.read_file(path)
    if data is None:
        abort(404)
    note(organiser.email, "downloaded", programme_id)
    response = current_app.response_class(data, mimetype="application/yaml")
    response.headers["Content-Disposition"] = f'attachment; filename="{path.name}"'
    return response


@edit.route("/<programme_id>/upload", methods=["POST"])
@programme_page
def upload(organiser, programme_id: str, path: Path):
    """An uploaded file goes into the editor, checked, to be previewed and published like
    any text (nothing is written until then)."""
    form = UploadForm()
    if not form.validate_on_submit() or not form.file.data:
        editor_form = _form_for(path)
        return editor_page(programme_id, path, editor_form, [], 400,
                           notice="پرونده‌ای برگزیده نشد، یا فرم کهنه شده بود.")
    raw = form.file.data.read(MAX_FILE_BYTES + 1)
    note(organiser.email, "uploaded a file for", programme_id)
    _result, problems = check_text(programme_id, path, raw)
    unreadable = [problem["message"] for problem in problems
                  if problem["code"] in ("not-utf8", "file-too-large", "empty-file")]
    if unreadable:
        return editor_page(programme_id, path, _form_for(path), [], 422,
                           notice=f"پروندهٔ بارگذاری‌شده به کار نمی‌آید: {unreadable[0]} "
                                  "متن کنونی برنامه همچنان در ویرایشگر است.")
    editor_form = _form_for(path, files.shown_text(raw))
    data = files.normalise_text(editor_form.text.data)
    result, problems = check_text(programme_id, path, data)
    return editor_page(programme_id, path, editor_form, problems, how="upload",
                       loaded=result.programme,
                       notice="پرونده در ویرایشگر گذاشته شد و هنوز منتشر نشده است. آن را "
                              "بررسی کنید، پیش‌نمایش ببینید و منتشر کنید.", checked=True)
