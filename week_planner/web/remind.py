"""Subscription pages: ask for reminders, confirm (double opt-in), unsubscribe.

Blueprint ``remind``: ``/<programme>/remind/``, ``/<programme>/events/<event>/remind/``,
``/remind/confirm/<token>``, ``/remind/code/<token>`` (SMS) and
``/remind/unsubscribe/<token>``. Forms carry a CSRF token (Flask-WTF); requests are
rate-limited per client and per address. No page shows an address, except the form
giving back what was just typed when it was wrong, so it can be corrected. A scope with no
reminder left to send (the week or the event is over) is not offered.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, SignatureExpired
from sqlalchemy import select, update
from wtforms import RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from week_planner.clock import current_time, utc_now
from week_planner.reminders.channels import send_sms, sms_template
from week_planner.reminders.delivery import DeliveryError
from week_planner.reminders.mail import build_confirmation, offset_text, transport_for
from week_planner.reminders.planning import scope_label
from week_planner.reminders.sending import Reminders
from week_planner.reminders.subscribers import (
    AddressError,
    add_subscriber,
    confirm_subscriber,
    normalise_email,
    normalise_mobile,
    rate_limit_hit,
    remove_subscribers,
)
from week_planner.schedule.jalali import to_ascii_digits
from week_planner.store import app_engine, subscribers, write_transaction
from week_planner.tokens import confirm_token, subscription_serializer, subscription_tag
from week_planner.web.pages import reminders_to_come

log = logging.getLogger(__name__)

remind = Blueprint("remind", __name__)

CODE_ATTEMPTS = 5


# -- signed tokens ------------------------------------------------------------------------









BAD, EXPIRED, GONE = "bad", "expired", "gone"


def _read_token(purpose: str, token: str, max_age: int | None = None
                ) -> tuple[str | None, int | None]:
    """(problem, subscriber id): problem is None, BAD, EXPIRED, or GONE when the
    subscription the token was made for no longer exists."""
    try:
        value = subscription_serializer(current_app, purpose).loads(token, max_age=max_age)
    except SignatureExpired:
        return EXPIRED, None
    except BadSignature:
        return BAD, None
    if not (isinstance(value, list) and len(value) == 2 and type(value[0]) is int
            and isinstance(value[1], str)):
        return BAD, None
    subscriber_id, tag = value
    sub = subscribers.c
    with app_engine(current_app).connect() as connection:
        row = connection.execute(select(sub.programme_id, sub.channel, sub.address)
                                 .where(sub.id == subscriber_id)).first()
    if row is None or not hmac.compare_digest(
            tag, subscription_tag(current_app, subscriber_id, row.programme_id, row.channel,
                                  row.address)):
        return GONE, None
    return None, subscriber_id


def _code_hash(subscriber_id: int, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode("utf-8")
    return hmac.new(key, f"{subscriber_id}:{code}".encode(), hashlib.sha256).hexdigest()


# -- forms --------------------------------------------------------------------------------

class SubscribeForm(FlaskForm):
    scope = SelectField("یادآوری برای", choices=[], validate_choice=True)
    channel = RadioField("با", choices=[SelectChoice("email", "رایانامه"),
                                       SelectChoice("sms", "پیامک")], default="email")
    address = StringField("نشانی", validators=[DataRequired(message="این خانه را پر کنید."),
                                               Length(max=254)])


class ConfirmForm(FlaskForm):
    pass


class CodeForm(FlaskForm):
    code = StringField("کد", validators=[DataRequired(message="کد را بنویسید."),
                                         Length(max=12)])


# -- pages --------------------------------------------------------------------------------

def _programme(programme_id: str):
    registry = current_app.extensions["week_planner.registry"]
    programme = registry.get(programme_id)
    if programme is None or programme.draft:
        abort(410 if registry.is_gone(programme_id) else 404)
    return programme


def _channels() -> dict[str, list[str]]:
    return Reminders(current_app).channels() if current_app.config.get("CHANNELS") else {}


def _done(title: str, message: str, status: int = 200, programme=None, **extra):
    return render_template("remind_done.html", title=title, message=message,
                           programme=programme, **extra), status


@remind.route("/<programme_id>/remind/", methods=["GET", "POST"])
def programme_form(programme_id: str):
    return _subscribe(_programme(programme_id), None)


@remind.route("/<programme_id>/events/<event_id>/remind/", methods=["GET", "POST"])
def event_form(programme_id: str, event_id: str):
    programme = _programme(programme_id)
    event = programme.event(event_id)
    if event is None:
        abort(404)
    return _subscribe(programme, event)


def _nothing_to_come(programme, event):
    """The page that says why no reminder can be asked for any more."""
    if event is None:
        if programme.phase(current_time(current_app)) == "after":
            return _done("هفته به پایان رسیده است", f"برنامه‌های «{programme.title}» به پایان "
                         "رسیده است و یادآوری دیگری فرستاده نمی‌شود.", 200, programme)
        return _done("یادآوری‌ای در پیش نیست", "برنامه‌ای که پیش از آن یادآوری فرستاده "
                     "شود دیگر در پیش نیست.", 200, programme)
    if event.cancelled:
        message = f"«{event.title}» لغو شده و زمانش گذشته است؛ یادآوری‌ای برای آن فرستاده نمی‌شود."
    elif all(occurrence.end <= current_time(current_app) for occurrence in event.occurrences):
        message = f"«{event.title}» برگزار شده است و یادآوری دیگری برای آن فرستاده نمی‌شود."
    else:
        message = f"«{event.title}» آغاز شده است و یادآوری دیگری برای آن فرستاده نمی‌شود."
    return _done("یادآوری‌ای در پیش نیست", message, 200, programme, event=event)


def _subscribe(programme, event):
    if not reminders_to_come(programme, f"event:{event.id}" if event else "programme"):
        # GET and POST alike: no form, no subscriber, no mail.
        return _nothing_to_come(programme, event)
    sms = sms_template(_channels())
    form = SubscribeForm()
    ended_category = None
    if event is not None:
        form.scope.choices = [SelectChoice(f"event:{event.id}", event.title)]
    else:
        form.scope.choices = [SelectChoice("programme", "همهٔ برنامه‌های هفته")]
        for category in programme.categories.values():
            if reminders_to_come(programme, f"category:{category.id}"):
                form.scope.choices.append(SelectChoice(f"category:{category.id}",
                                                       category.label))
            elif request.form.get("scope") == f"category:{category.id}":
                ended_category = category
    if not sms:
        form.channel.choices = [SelectChoice("email", "رایانامه")]
    if request.method == "GET" and request.args.get("scope") in \
            {choice.value for choice in form.scope.choices}:
        form.scope.data = request.args["scope"]  # from a category's page
    error = None
    if request.method == "POST" and form.validate_on_submit():
        try:
            if form.channel.data == "sms":
                address = normalise_mobile(form.address.data)
            else:
                address = normalise_email(form.address.data)
        except AddressError:
            error = ("شمارهٔ همراه درست نیست (مانند ۰۹۱۲۳۴۵۶۷۸۹)." if form.channel.data == "sms"
                     else "نشانی رایانامه درست نیست.")
        else:
            limit = current_app.config["SUBSCRIBE_RATE_LIMIT"]
            engine, now = app_engine(current_app), utc_now()
            if not rate_limit_hit(engine, "client", request.remote_addr or "unknown", limit,
                                  now) or \
                    not rate_limit_hit(engine, "address", address, max(1, limit // 3), now):
                return _done("درخواست‌های زیاد", "در این ساعت درخواست‌های زیادی از شما "
                             "رسیده است. کمی بعد دوباره بکوشید.", 429, programme)
            return _start_subscription(programme, form.scope.data, form.channel.data,
                                       address, sms)
    elif request.method == "POST" and ended_category is not None \
            and not form.csrf_token.errors:
        error = (f"یادآوری‌ای برای برنامه‌های «{ended_category.label}» در پیش نیست؛ "
                 "گزینهٔ دیگری را برگزینید.")
    elif request.method == "POST":
        error = "فرم کامل نیست یا کهنه شده است؛ دوباره بفرستید."
    offsets = [offset_text(offset) for offset in event.reminders] if event else []
    # After an error the address comes back as typed (escaped by the template), to be
    # corrected; a page after success never shows it.
    typed = (form.address.data or "") if error else ""
    return render_template("remind.html", programme=programme, event=event, form=form,
                           sms=bool(sms), error=error, offsets=offsets, typed=typed), \
        (400 if error else 200)


def _start_subscription(programme, scope, channel, address, sms_templates):
    engine = app_engine(current_app)
    now = utc_now()
    label = scope_label(programme, scope)
    if channel == "sms":
        code = f"{secrets.randbelow(10 ** 6):06d}"
        subscriber_id, _ = add_subscriber(engine, programme.id, scope, "sms", address, "web",
                                          now, confirmed=False)
        token = confirm_token(current_app, subscriber_id, programme.id, "sms", address)
        # A code even when the number is already subscribed: the next page must not tell
        # a stranger which numbers are.
        with engine.begin() as connection:
            connection.execute(update(subscribers).where(subscribers.c.id == subscriber_id)
                               .values(code_hash=_code_hash(subscriber_id, code)))
        try:
            send_sms(sms_templates, address,
                     f"کد تأیید یادآوری «{label}»: {code}")
        except DeliveryError as error:
            log.warning("confirmation code not sent: %s", error)
            return _done("ارسال نشد", "پیامک تأیید فرستاده نشد. کمی بعد دوباره بکوشید.",
                         503, programme)
        return redirect(url_for("remind.code", token=token))

    subscriber_id, confirmed = add_subscriber(engine, programme.id, scope, "email", address,
                                              "web", now, confirmed=False)
    if not confirmed:
        confirm_url = (current_app.config["BASE_URL"].rstrip("/") +
                       url_for("remind.confirm", token=confirm_token(
                           current_app, subscriber_id, programme.id, "email", address)))
        message = build_confirmation(current_app.jinja_env, current_app.config, programme,
                                     label, address, confirm_url,
                                     f"confirm|{subscriber_id}|{now.isoformat()}", now)
        transport = transport_for(current_app.config)
        try:
            transport.send(message)
        except DeliveryError as error:
            log.warning("confirmation mail not sent: %s", error)
            return _done("ارسال نشد", "نامهٔ تأیید فرستاده نشد. کمی بعد دوباره بکوشید.",
                         503, programme)
        finally:
            transport.close()
    # The same answer whether or not the address was already subscribed.
    return _done("نامه‌ای فرستادیم", "اگر نشانی درست باشد، نامه‌ای برای تأیید به آن "
                 "فرستادیم. با زدن پیوند آن نامه، یادآوری‌ها آغاز می‌شود.", 200, programme)


@remind.route("/remind/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str):
    problem, subscriber_id = _read_token("confirm", token, current_app.config["CONFIRM_MAX_AGE"])
    if problem == BAD:
        return _done("پیوند نادرست", "این پیوند درست نیست.", 404)
    if problem == EXPIRED:
        return _done("پیوند کهنه", "زمان این پیوند گذشته است. دوباره درخواست یادآوری "
                     "کنید.", 410)
    if problem == GONE:
        return _done("یافت نشد", "این درخواست دیگر وجود ندارد.", 404)
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return _done("دوباره بکوشید", "فرم کهنه شده است؛ پیوند نامه را دوباره باز "
                         "کنید.", 400)
        return _confirmed(subscriber_id)
    return render_template("remind_confirm.html", form=form, action="confirm")


def _confirmed(subscriber_id: int):
    reminders = Reminders(current_app)
    programme_id = confirm_subscriber(reminders.engine, subscriber_id, utc_now())
    if programme_id is None:
        return _done("یافت نشد", "این درخواست دیگر وجود ندارد.", 404)
    reminders.reconcile([programme_id])
    programme = current_app.extensions["week_planner.registry"].get(programme_id)
    with reminders.engine.connect() as connection:
        scope = connection.execute(select(subscribers.c.scope)
                                   .where(subscribers.c.id == subscriber_id)).scalar()
    if programme is not None and scope and not reminders_to_come(programme, scope):
        # Asked for in time, confirmed too late: do not promise what will not come.
        return _done("یادآوری‌ای در پیش نیست", "درخواست شما تأیید شد، ولی برنامه‌ای که "
                     "پیش از آن یادآوری فرستاده شود دیگر در پیش نیست.", 200, programme)
    return _done("یادآوری فعال شد", "یادآوری‌ها پیش از برنامه برایتان فرستاده می‌شود. "
                 "در هر پیام پیوند لغو اشتراک هست.", 200, programme)


@remind.route("/remind/code/<token>", methods=["GET", "POST"])
def code(token: str):
    problem, subscriber_id = _read_token("confirm", token, current_app.config["CONFIRM_MAX_AGE"])
    if problem == GONE:
        return _done("یافت نشد", "این درخواست دیگر وجود ندارد.", 404)
    if problem is not None:
        return _done("پیوند کهنه", "زمان این کد گذشته است. دوباره درخواست یادآوری کنید.",
                     410)
    form = CodeForm()
    error = None
    if request.method == "POST" and form.validate_on_submit():
        engine = app_engine(current_app)
        # Counted under the write lock (and the row's lock on PostgreSQL), so guesses sent
        # at once cannot all read the same count.
        with write_transaction(engine) as connection:
            row = connection.execute(select(subscribers.c.code_hash,
                                            subscribers.c.code_attempts)
                                     .where(subscribers.c.id == subscriber_id)
                                     .with_for_update()).first()
            if row is not None:
                connection.execute(update(subscribers)
                                   .where(subscribers.c.id == subscriber_id)
                                   .values(code_attempts=subscribers.c.code_attempts + 1))
        if row is None:
            return _done("یافت نشد", "این درخواست دیگر وجود ندارد.", 404)
        if row.code_attempts >= CODE_ATTEMPTS or row.code_hash is None:
            return _done("تلاش‌های زیاد", "کد چند بار نادرست وارد شد. دوباره درخواست "
                         "یادآوری کنید.", 429)
        typed = to_ascii_digits(form.code.data.strip())
        if hmac.compare_digest(_code_hash(subscriber_id, typed), row.code_hash):
            return _confirmed(subscriber_id)
        error = "کد درست نیست."
    elif request.method == "POST":
        error = "کد را بنویسید."
    return render_template("remind_code.html", form=form, error=error), \
        (400 if error else 200)


@remind.route("/remind/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    """GET shows one button (mail scanners open links); POST unsubscribes, also as the
    RFC 8058 one-click request a mail program sends from the List-Unsubscribe header,
    which carries no CSRF token: the signed link is the proof."""
    problem, subscriber_id = _read_token("unsubscribe", token)
    if problem == GONE:  # already unsubscribed (its id may be someone else's now)
        return _done("لغو شد", "دیگر یادآوری‌ای از این اشتراک برایتان فرستاده نمی‌شود.")
    if problem is not None:
        return _done("پیوند نادرست", "این پیوند درست نیست.", 404)
    if request.method == "POST":
        removed = remove_subscribers(app_engine(current_app), [subscriber_id], utc_now())
        log.info("a subscription was cancelled (%s)", "removed" if removed else "already gone")
        return _done("لغو شد", "دیگر یادآوری‌ای از این اشتراک برایتان فرستاده نمی‌شود.")
    return render_template("remind_confirm.html", form=None, action="unsubscribe")


CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                           "script-src 'none'; object-src 'none'; base-uri 'none'; "
                           "frame-ancestors 'none'; form-action 'self'")


@remind.after_request
def _headers(response):
    # Personal pages with a CSRF token: never cached, never framed.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Referrer-Policy"] = "no-referrer"  # the links carry tokens
    return response


def init_app(app) -> None:
    """Register the pages. CSRF is checked by each FlaskForm, not app-wide: the
    unsubscribe POST is proved by its signed link instead."""
    app.register_blueprint(remind)
