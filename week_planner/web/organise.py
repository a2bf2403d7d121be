"""The organisers' desk: edit, check, preview and publish a programme from a browser.

Blueprint ``organise`` under ``/organise/``: the list of the programmes the signed-in
organiser may edit, with their state (``/organise/``, which shows anyone else the sign-in
form), and inside it the blueprints of the desk's parts: signing in
(web/organise_auth.py), the editor with its check, preview, publish, upload and download
(web/organise_editor.py), the history of published versions and their restore
(web/organise_history.py) and the "add an event" form (web/organise_events.py). The files
and versions themselves are handled in web/organise_files.py, the accounts in
web/organise_accounts.py.

Only an organiser granted a programme (or a ministry editor) gets past its pages (403
otherwise); every form carries a CSRF token (Flask-WTF); file names come from programme
ids, never from a request; a text may be as long as the loader's 1 MB limit; every action
is logged with the organiser's masked address. Every page is private (never cached,
never framed, no referrer: the sign-in links hold tokens).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from markupsafe import Markup, escape
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from week_planner.schedule import jalali
from week_planner.schedule.registry import registry_of
from week_planner.clock import current_time
from week_planner.schedule.rules import ID_RE, MAX_FILE_BYTES, RESERVED_IDS
from week_planner.store import app_engine
from week_planner.web import organise_files as files
from week_planner.web.organise_auth import (
    ButtonForm,
    auth,
    current_organiser,
    forget_stale_cookie,
    note,
    sign_in_page,
)
from week_planner.web.organise_editor import EditorForm, check_text, edit, editor_page
from week_planner.web.organise_history import history
from week_planner.web.pages import preview_url
from week_planner.web.security import CONTENT_SECURITY_POLICY

organise = Blueprint("organise", __name__, url_prefix="/organise")
for part in (auth, edit, history):
    organise.register_blueprint(part)

# The site's policy (the desk runs the site's own script; its preview, the programme
# page's inline category colours), but never framed; web/security.py adds the
# X-Frame-Options that says so, and nosniff.
DESK_POLICY = CONTENT_SECURITY_POLICY.replace("frame-ancestors 'self'",
                                              "frame-ancestors 'none'")
# A form holds the text once (multipart: not percent-encoded), and a little more.
FORM_LIMIT = MAX_FILE_BYTES + 64 * 1024
DESK_TIMEZONE = ZoneInfo("Asia/Tehran")


@organise.before_request
def _limits() -> None:
    # Room for a text just over the limit, so the loader can say in Persian that it is.
    request.max_form_memory_size = 2 * FORM_LIMIT
    request.max_content_length = 4 * FORM_LIMIT


@organise.after_request
def _headers(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = DESK_POLICY
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return forget_stale_cookie(response)


def _message(title: str, message: str, status: int):
    return render_template("organise/message.html", title=title, message=message), status


@organise.errorhandler(413)
def _too_large(error):
    return _message("پرونده بسیار بزرگ است", "این متن یا پرونده از ۱ مگابایت بزرگ‌تر است؛ "
                    "برنامهٔ یک هفته بسیار کوچک‌تر از این است.", 413)


@organise.errorhandler(403)
def _forbidden(error):
    return _message("دسترسی ندارید", "ویرایش این برنامه به شما سپرده نشده است. اگر باید "
                    "سپرده شود، به مدیر سامانه بگویید.", 403)


@organise.errorhandler(404)
def _not_found(error):
    return _message("یافت نشد", "چنین صفحه‌ای در میز برگزارکنندگان نیست.", 404)


@organise.errorhandler(CSRFError)
def _csrf(error):
    return _message("دوباره بکوشید", "فرم کهنه شده است؛ صفحه را دوباره باز کنید.", 400)


@organise.app_template_filter("persian_number")
def _persian_number(value) -> str:
    return jalali.to_persian_digits(value)


QUOTED_RE = re.compile(r"«([^»]*)»")
RTL_LETTER_RE = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


@organise.app_template_filter("isolate_quoted")
def isolate_quoted(message: str) -> Markup:
    """A message with each «quoted value» set apart for the bidi algorithm: a date such as
    «1404-06-32» inside Persian text would otherwise read 32-06-1404."""
    def isolate(match: re.Match) -> str:
        inner = match.group(1)
        direction = "auto" if RTL_LETTER_RE.search(inner) else "ltr"
        return f'«<bdi dir="{direction}">{inner}</bdi>»'
    return Markup(QUOTED_RE.sub(isolate, str(escape(message))))


@organise.app_template_filter("desk_time")
def _desk_time(moment: dt.datetime) -> str:
    """«شنبه ۱۵ شهریور ۱۴۰۴، ساعت ۱۰:۰۰» in Tehran's time."""
    local = moment.astimezone(DESK_TIMEZONE)
    return f"{jalali.format_date(local.date(), weekday=True)}، ساعت {jalali.format_time(local)}"


@organise.context_processor
def _desk_context() -> dict:
    return {"organiser": current_organiser(), "sign_out": ButtonForm(formdata=None)}


@dataclass(frozen=True)
class Row:
    id: str
    title: str | None
    state: str  # published, draft, errors, waiting, new
    public_url: str | None
    preview_url: str | None
    published: files.Version | None
    changed_on_server: dt.datetime | None


def _rows(organiser) -> list[Row]:
    registry = registry_of(current_app)
    snapshot = registry.snapshot()
    served = snapshot.programmes
    wanted = set(organiser.programmes)
    if organiser.all_programmes:
        wanted |= set(served)
    last = files.last_published(app_engine(current_app))
    rows = []
    for programme_id in sorted(wanted):
        path = files.programme_file(current_app, programme_id)
        if path is None:
            continue
        programme = served.get(programme_id)
        data = files.read_file(path)
        state = next((s for s in snapshot.files.values()
                      if Path(s.path).resolve() == path), None)
        if data is None and programme is None:
            kind = "new"
        elif state is not None and state.result.errors:
            kind = "errors"
        elif programme is None or programme.version != files.live_version(
                files.digest_of(data)):
            kind = "waiting"
        else:
            kind = "draft" if programme.draft else "published"
        published = last.get(programme_id)
        changed = None
        if data is not None and (published is None or
                                 published.digest != files.digest_of(data)):
            changed = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
        rows.append(Row(
            programme_id, programme.title if programme else None, kind,
            f"/{programme_id}/" if programme is not None and not programme.draft else None,
            preview_url(current_app, programme_id)
            if programme is not None and programme.draft else None,
            published, changed))
    return rows


@organise.route("/")
def programmes():
    organiser = current_organiser()
    if organiser is None:
        return sign_in_page()
    return render_template("organise/programmes.html", organiser=organiser,
                           rows=_rows(organiser))




# -- a new programme -------------------------------------------------------------------------

TEMPLATE = "organise/programme-template.yaml"  # the sample programme, as it was in 1404
TEMPLATE_ID, TEMPLATE_YEAR = "khalilabad-1404", 1404
WEEK_MONTH_DAY = (6, 17)  # the Cooperative Week ends on 17 Shahrivar


class NewProgrammeForm(FlaskForm):
    programme_id = StringField("شناسهٔ برنامه", validators=[
        DataRequired(message="شناسه را بنویسید."), Length(max=64)])


def next_week_year(today: dt.date) -> int:
    """The Jalali year of the next Cooperative Week (this year's, until it has ended)."""
    day = jalali.jalali(today)
    return day.year if (day.month, day.day) <= WEEK_MONTH_DAY else day.year + 1


def template_text(programme_id: str, year: int) -> str:
    """The sample programme re-dated to ``year``'s week, as a draft with ``programme_id``."""
    source = current_app.jinja_loader.get_source(current_app.jinja_env, TEMPLATE)[0]
    text = source.replace(TEMPLATE_ID, programme_id).replace(f"{TEMPLATE_YEAR}-", f"{year}-")
    text = text.replace(jalali.to_persian_digits(TEMPLATE_YEAR), jalali.to_persian_digits(year))
    return text.replace(f"\n  to: {year}-06-17\n", f"\n  to: {year}-06-17\n  draft: true\n", 1)


@organise.route("/new", methods=["GET", "POST"])
def new_programme():
    """A ministry editor starts a programme from the template; it is written only when
    published from the editor it opens in."""
    organiser = current_organiser()
    if organiser is None:
        return redirect(url_for("organise.programmes"), 303)
    if not organiser.all_programmes:
        abort(403)
    form = NewProgrammeForm()
    error = None
    if form.validate_on_submit():
        programme_id = form.programme_id.data.strip().lower()
        path = files.programme_file(current_app, programme_id) \
            if ID_RE.match(programme_id) else None
        if path is None or programme_id in RESERVED_IDS:
            error = ("شناسه فقط از حرف‌های کوچک لاتین، رقم و «-» ساخته می‌شود و نباید از "
                     "نشانی‌های خود سایت باشد؛ مانند khalilabad-1405.")
        elif path.exists() or registry_of(current_app).get(programme_id) is not None:
            error = "برنامه‌ای با این شناسه هست؛ آن را از فهرست برنامه‌ها باز کنید."
        else:
            note(organiser.email, "started from the template", programme_id)
            today = current_time(current_app).astimezone(DESK_TIMEZONE).date()
            editor = EditorForm(formdata=None)
            editor.text.data = template_text(programme_id, next_week_year(today))
            editor.base.data = ""
            result, problems = check_text(programme_id, path,
                                          files.normalise_text(editor.text.data))
            return editor_page(programme_id, path, editor, problems, how="create",
                               loaded=result.programme, checked=True,
                               notice="برنامهٔ تازه از روی الگو ساخته شد و هنوز ذخیره نشده "
                                      "است. آن را با برنامهٔ شهرستان خود جایگزین کنید و "
                                      "منتشر کنید.")
    elif request.method == "POST":
        error = "شناسه را بنویسید."
    return render_template("organise/new.html", form=form, error=error), \
        (400 if error else 200)


def init_app(app) -> None:
    """Register the desk."""
    app.register_blueprint(organise)
