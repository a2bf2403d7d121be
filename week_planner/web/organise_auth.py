"""Signing in to the organisers' desk, with no password: a one-time link by mail.

Blueprint ``auth`` (inside ``organise``, under ``/organise/``): the sign-in form
(``POST /organise/sign-in``), the link's page (``/organise/sign-in/<token>``: GET shows a
button, POST signs in, so a mail scanner that opens the link does not use it up) and
``POST /organise/sign-out``. The form answers alike whether or not the address is an
organiser's, and is rate-limited per client and per address in the database.

``current_organiser()`` is the signed-in organiser of the request, or None; the decorators
``signed_in`` and ``programme_page`` keep everyone else out of the desk's pages. The session is
a random key in the cookie ``organiser_session`` (HttpOnly, SameSite=Lax, Secure when the
request came over HTTPS, also behind a trusted proxy; path ``/organise/``), ended after
``ORGANISER_IDLE_MINUTES`` without a request (web/organise_accounts.py).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms.validators import DataRequired, Length

from week_planner.clock import utc_now
from week_planner.reminders import sign_in_links
from week_planner.reminders.delivery import mask_address
from week_planner.reminders.subscribers import AddressError, mailbox, rate_limit_hit
from week_planner.schedule.rules import ID_RE
from week_planner.store import app_engine
from week_planner.web import organise_accounts as accounts
from week_planner.web.organise_files import programme_file

log = logging.getLogger("week_planner.organise")

auth = Blueprint("auth", __name__)

COOKIE = "organiser_session"
COOKIE_PATH = "/organise/"


class SignInForm(FlaskForm):
    email = EmailField("نشانی رایانامه", validators=[
        DataRequired(message="نشانی رایانامهٔ خود را بنویسید."), Length(max=254)])


class ButtonForm(FlaskForm):
    """A form that is only a button (and its CSRF token)."""


def note(organiser_email: str, action: str, programme_id: str = "-", detail: str = "") -> None:
    """One log line per action on the desk, the organiser's address masked."""
    log.info("organiser %s: %s %s%s", mask_address(organiser_email), action, programme_id,
             f" ({detail})" if detail else "")


def current_organiser() -> accounts.Organiser | None:
    if "organiser" not in g:
        key = request.cookies.get(COOKIE)
        idle = dt.timedelta(minutes=current_app.config["ORGANISER_IDLE_MINUTES"])
        g.organiser = accounts.session_organiser(app_engine(current_app), key, utc_now(),
                                                 idle) if key else None
        g.signed_out_now = bool(key) and g.organiser is None
    return g.organiser


def forget_stale_cookie(response):
    """An expired or unknown session's cookie is deleted with the response."""
    if g.get("signed_out_now"):
        response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


def _page(template: str, status: int = 200, **context):
    return render_template(f"organise/{template}", **context), status


def sign_in_page(form: SignInForm | None = None, status: int = 200, error: str | None = None,
                 kept_text: str | None = None):
    """The sign-in form; ``kept_text``, the text of an editor posted after the session
    ended, is shown to be copied, so that it is not lost."""
    return _page("sign_in.html", status, form=form or SignInForm(formdata=None), error=error,
                 idle=g.get("signed_out_now", False), kept_text=kept_text)


@auth.route("/sign-in", methods=["POST"])
def sign_in():
    form = SignInForm()
    if not form.validate_on_submit():
        return sign_in_page(form, 400, "فرم کامل نیست یا کهنه شده است؛ دوباره بفرستید.")
    try:
        address = accounts.normalise(form.email.data)
    except AddressError:
        return sign_in_page(form, 400, "نشانی رایانامه درست نیست.")
    engine, now = app_engine(current_app), utc_now()
    limit = current_app.config["SIGN_IN_RATE_LIMIT"]
    if not rate_limit_hit(engine, "sign-in-client", request.remote_addr or "unknown", limit,
                          now) or \
            not rate_limit_hit(engine, "sign-in-address", mailbox(address),
                               max(1, limit // 3), now):
        return _page("message.html", 429, title="درخواست‌های زیاد",
                     message="در این ساعت درخواست‌های زیادی برای ورود رسیده است. کمی بعد "
                             "دوباره بکوشید.")
    # The same work for every address; whether it is an organiser's is seen when the
    # mail is built, by the scheduler.
    sign_in_links.ask(engine, address, now)
    _wake_scheduler()
    return _page("message.html", 200, title="نامه‌ای در راه است",
                 message="اگر این نشانی از آنِ یکی از برگزارکنندگان باشد، پیوند ورود به آن "
                         "فرستاده شد. پیوند ۱۵ دقیقه و فقط یک بار کار می‌کند. نامه را باز "
                         "کنید و پیوندش را بزنید.")


def _wake_scheduler() -> None:
    """Under ``week-planner serve`` the scheduler runs in this process: the mail goes at
    once. Elsewhere a scheduler process finds it at its next sweep."""
    wake = getattr(current_app.extensions.get("week_planner.scheduler"), "wake_soon", None)
    if wake is None:
        return
    try:
        wake()
    except Exception:  # the row is queued; the next sweep sends it
        log.exception("could not wake the reminder scheduler")


def _link_problem(token: str):
    """(key, None) for a link that can still sign in, else (None, the page saying why)."""
    key = sign_in_links.read_link_token(current_app, token)
    if key is None:
        return None, _page("message.html", 404, title="پیوند نادرست",
                           message="این پیوند درست نیست. نشانی را کامل از نامه بردارید.")
    if not sign_in_links.usable(app_engine(current_app), key, utc_now()):
        return None, _page("message.html", 410, title="پیوند به کار نمی‌آید",
                           message="این پیوند پیش‌تر به کار رفته یا زمانش (۱۵ دقیقه) گذشته "
                                   "است. از صفحهٔ ورود پیوند تازه‌ای بخواهید.",
                           sign_in_again=True)
    return key, None


@auth.route("/sign-in/<token>", methods=["GET", "POST"])
def sign_in_link(token: str):
    key, problem = _link_problem(token)
    if problem is not None:
        return problem
    form = ButtonForm()
    if request.method == "GET":
        return _page("sign_in_link.html", form=form)
    if not form.validate_on_submit():
        return _page("sign_in_link.html", 400, form=form,
                     error="فرم کهنه شده است؛ دکمه را دوباره بزنید.")
    engine, now = app_engine(current_app), utc_now()
    organiser_id = sign_in_links.spend(engine, key, now)
    organiser = accounts.by_id(engine, organiser_id) if organiser_id is not None else None
    if organiser is None:
        return _page("message.html", 410, title="پیوند به کار نمی‌آید",
                     message="این پیوند دیگر کار نمی‌کند. از صفحهٔ ورود پیوند تازه‌ای "
                             "بخواهید.", sign_in_again=True)
    session_key = accounts.start_session(engine, organiser.id, now)
    note(organiser.email, "signed in")
    response = redirect(url_for("organise.programmes"), 303)
    response.set_cookie(COOKIE, session_key, path=COOKIE_PATH, httponly=True,
                        samesite="Lax", secure=request.is_secure)
    return response


@auth.route("/sign-out", methods=["POST"])
def sign_out():
    organiser = current_organiser()
    form = ButtonForm()
    if organiser is not None and form.validate_on_submit():
        accounts.end_session(app_engine(current_app), request.cookies[COOKIE])
        note(organiser.email, "signed out")
    elif organiser is not None:
        return _page("message.html", 400, title="دوباره بکوشید",
                     message="فرم کهنه شده است؛ صفحه را دوباره باز کنید و دکمهٔ خروج را "
                             "بزنید.")
    response = redirect(url_for("organise.programmes"), 303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


# -- who gets in ------------------------------------------------------------------------------

def signed_in(view):
    """The view gets the organiser; anyone else is shown the sign-in form."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        organiser = current_organiser()
        if organiser is None:
            if request.method == "GET":
                return redirect(url_for("organise.programmes"), 303)
            return sign_in_page(status=401, error="برای این کار دوباره وارد شوید.",
                                kept_text=request.form.get("text") or None)
        return view(organiser, *args, **kwargs)
    return wrapper


def programme_page(view):
    """A programme's page: the organiser must have been granted it (403 otherwise), and
    the view gets its file, found from the id alone."""
    @signed_in
    @functools.wraps(view)
    def wrapper(organiser, programme_id: str, *args, **kwargs):
        if not ID_RE.match(programme_id):
            abort(404)
        if not organiser.may_edit(programme_id):
            note(organiser.email, "was refused", programme_id)
            abort(403)
        path = programme_file(current_app, programme_id)
        if path is None:
            abort(404)
        return view(organiser, programme_id, path, *args, **kwargs)
    return wrapper
