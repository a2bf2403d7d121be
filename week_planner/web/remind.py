"""Subscription pages: ask for reminders, confirm (double opt-in), unsubscribe.

Blueprint ``remind``: ``/<programme>/remind/``, ``/<programme>/events/<event>/remind/``,
``/remind/confirm/<token>``, ``/remind/code/<token>`` (SMS) and
``/remind/unsubscribe/<token>``. Forms carry a CSRF token (Flask-WTF); requests are
rate-limited per client and per mailbox. No page shows an address, except the form
giving back what was just typed when it was wrong, so it can be corrected. A scope with no
reminder left to send (the week or the event is over) is not offered.

The form answers alike, in its page and in its time, whether the address or number is
new, already asked for or already subscribed: the confirmation (mail with a link, or SMS
with a code) is queued in the outbox and sent by the scheduler
(``reminders/confirmations.py``), never inside the request. Links name a confirmation or
a subscription by a random key (``tokens.link_token``), never by a row id.
"""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import select, update
from wtforms import RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from week_planner.clock import current_time, utc_now
from week_planner.reminders import confirmations
from week_planner.reminders.channels import sms_template
from week_planner.reminders.mail import offset_text
from week_planner.reminders.planning import scope_label
from week_planner.reminders.sending import Reminders
from week_planner.reminders.subscribers import (
    AddressError,
    confirm_subscriber,
    mailbox,
    normalise_email,
    normalise_mobile,
    rate_limit_hit,
    remove_subscribers,
    subscriber_by_link_key,
)
from week_planner.schedule.jalali import to_ascii_digits
from week_planner.store import app_engine, reminder_outbox, subscribers, write_transaction
from week_planner.tokens import (
    link_token,
    read_legacy_subscription_token,
    read_link_token,
    subscription_tag,
)
from week_planner.web import security
from week_planner.web.pages import reminders_to_come

log = logging.getLogger(__name__)

remind = Blueprint("remind", __name__)

CODE_ATTEMPTS = 5


# -- links ----------------------------------------------------------------------------------

BAD, EXPIRED, GONE = "bad", "expired", "gone"


def _read_confirmation(purpose: str, token: str) -> tuple[str | None, int | None]:
    """(problem, subscriber id) for a confirm link (``purpose`` "confirm", mail) or a
    code link ("code", SMS): problem is None, BAD, EXPIRED, or GONE when the request
    no longer exists. A link of one kind never passes for the other: the code link is
    shown to whoever typed the number, and must not confirm without the code."""
    key = read_link_token(current_app, purpose, token)
    if key is None:
        # A link of an earlier version (a row id inside) within its time: ask again.
        legacy = read_legacy_subscription_token(current_app, "confirm", token)
        return (EXPIRED if legacy is not None else BAD), None
    found = confirmations.find(app_engine(current_app), key)
    if found is None or found.channel != ("sms" if purpose == "code" else "email"):
        return BAD, None
    if found.expires_at <= utc_now():
        return EXPIRED, None
    if found.subscriber_id is None:
        return GONE, None
    return None, found.subscriber_id


def _read_unsubscribe(token: str) -> tuple[str | None, int | None]:
    """(problem, subscriber id) for an unsubscribe link; GONE when the subscription is
    gone already. Links of earlier versions (in mails already sent) still work: they name
    the row id and a tag of the subscription, which must still match."""
    engine = app_engine(current_app)
    key = read_link_token(current_app, "unsubscribe", token)
    if key is not None:
        subscriber_id = subscriber_by_link_key(engine, key)
        return (None, subscriber_id) if subscriber_id is not None else (GONE, None)
    legacy = read_legacy_subscription_token(current_app, "unsubscribe", token)
    if not isinstance(legacy, tuple):
        return BAD, None
    subscriber_id, tag = legacy
    sub = subscribers.c
    with engine.connect() as connection:
        row = connection.execute(select(sub.programme_id, sub.channel, sub.address)
                                 .where(sub.id == subscriber_id)).first()
    if row is None or not hmac.compare_digest(
            tag, subscription_tag(current_app, subscriber_id, row.programme_id, row.channel,
                                  row.address)):
        return GONE, None
    return None, subscriber_id


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


def _isolated(sentence: str, text: str) -> Markup:
    """``sentence`` with ``text`` (a title from a schedule file) put in for ``{}``, escaped
    and isolated in <bdi>: a title in Latin letters stays whole inside the Persian."""
    return Markup(sentence).format(Markup("<bdi>{}</bdi>").format(text))


def _nothing_to_come(programme, event):
    """The page that says why no reminder can be asked for any more."""
    if event is None:
        if programme.phase(current_time(current_app)) == "after":
            return _done("هفته به پایان رسیده است", _isolated(
                "برنامه‌های «{}» به پایان رسیده است و یادآوری دیگری فرستاده نمی‌شود.",
                programme.title), 200, programme)
        return _done("یادآوری‌ای در پیش نیست", "برنامه‌ای که پیش از آن یادآوری فرستاده "
                     "شود دیگر در پیش نیست.", 200, programme)
    if event.cancelled:
        sentence = "«{}» لغو شده و زمانش گذشته است؛ یادآوری‌ای برای آن فرستاده نمی‌شود."
    elif all(occurrence.end <= current_time(current_app) for occurrence in event.occurrences):
        sentence = "«{}» برگزار شده است و یادآوری دیگری برای آن فرستاده نمی‌شود."
    else:
        sentence = "«{}» آغاز شده است و یادآوری دیگری برای آن فرستاده نمی‌شود."
    return _done("یادآوری‌ای در پیش نیست", _isolated(sentence, event.title), 200, programme,
                 event=event)


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
            # Per mailbox: name+1@, name+2@… of one mailbox are one address here.
            if not rate_limit_hit(engine, "client", request.remote_addr or "unknown", limit,
                                  now) or \
                    not rate_limit_hit(engine, "address", mailbox(address),
                                       max(1, limit // 3), now):
                return _done("درخواست‌های زیاد", "در این ساعت درخواست‌های زیادی از شما "
                             "رسیده است. کمی بعد دوباره بکوشید.", 429, programme)
            return _start_subscription(programme, form.scope.data, form.channel.data,
                                       address)
    elif request.method == "POST" and ended_category is not None \
            and not form.csrf_token.errors:
        error = _isolated("یادآوری‌ای برای برنامه‌های «{}» در پیش نیست؛ گزینهٔ دیگری را "
                          "برگزینید.", ended_category.label)
    elif request.method == "POST":
        error = "فرم کامل نیست یا کهنه شده است؛ دوباره بفرستید."
    offsets = [offset_text(offset) for offset in event.reminders] if event else []
    # After an error the address comes back as typed (escaped by the template), to be
    # corrected; a page after success never shows it.
    typed = (form.address.data or "") if error else ""
    return render_template("remind.html", programme=programme, event=event, form=form,
                           sms=bool(sms), error=error, offsets=offsets, typed=typed), \
        (400 if error else 200)


def _start_subscription(programme, scope, channel, address):
    """The same work and the same answer for a new, a pending and a confirmed address:
    a confirmation queued in the outbox (sent by the scheduler, which sends nothing to an
    address confirmed already), the scheduler of this process woken, and the page."""
    settings = current_app.config
    key = confirmations.ask(app_engine(current_app), settings["SECRET_KEY"], programme.id,
                            scope, channel, address, utc_now(), settings["CONFIRM_MAX_AGE"])
    _wake_scheduler()
    if channel == "sms":
        return redirect(url_for("remind.code", token=link_token(current_app, "code", key)))
    return _done("نامه‌ای فرستادیم", "اگر نشانی درست باشد، نامه‌ای برای تأیید به آن "
                 "می‌فرستیم. با زدن پیوند آن نامه، یادآوری‌ها آغاز می‌شود.", 200, programme)


def _wake_scheduler() -> None:
    """Under ``week-planner serve`` the scheduler runs in this process: it sends the
    confirmation at once. Elsewhere a scheduler process finds it at its next sweep."""
    scheduler = current_app.extensions.get("week_planner.scheduler")
    if scheduler is None:
        return
    try:
        scheduler.wake_soon()
    except Exception:  # the row is queued; the next sweep sends it
        log.exception("could not wake the reminder scheduler")


@remind.route("/remind/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str):
    problem, subscriber_id = _read_confirmation("confirm", token)
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
    programme, what = _subscription(subscriber_id)
    return render_template("remind_confirm.html", form=form, action="confirm",
                           programme=programme, what=what)


def _subscription(subscriber_id: int):
    """(the programme, what the subscription is for in words) — (None, None) when either
    is no longer known."""
    with app_engine(current_app).connect() as connection:
        row = connection.execute(select(subscribers.c.programme_id, subscribers.c.scope)
                                 .where(subscribers.c.id == subscriber_id)).first()
    programme = None if row is None else \
        current_app.extensions["week_planner.registry"].get(row.programme_id)
    if programme is None or programme.draft:
        return None, None
    return programme, scope_label(programme, row.scope)


UPCOMING_SHOWN = 5  # reminders listed on the page that confirms a subscription


def _upcoming(engine, subscriber_id: int, programme) -> tuple[list[dict], int]:
    """The subscriber's next reminders (what and when, in the programme's time), and how
    many more there are."""
    out = reminder_outbox.c
    with engine.connect() as connection:
        rows = connection.execute(
            select(out.event_id, out.occurrence_start, out.due_at)
            .where(out.subscriber_id == subscriber_id, out.kind == "reminder",
                   out.status == "pending")
            .order_by(out.due_at, out.occurrence_start)).all()
    zone = programme.tz
    found = []
    for row in rows[:UPCOMING_SHOWN]:
        event = programme.event(row.event_id)
        found.append({"title": event.title if event else row.event_id,
                      "event_id": row.event_id, "all_day": bool(event and event.all_day),
                      "starts": row.occurrence_start.astimezone(zone),
                      "sent": row.due_at.astimezone(zone)})
    return found, len(rows) - len(found)


def _confirmed(subscriber_id: int):
    reminders = Reminders(current_app)
    programme_id = confirm_subscriber(reminders.engine, subscriber_id, utc_now())
    if programme_id is None:
        return _done("یافت نشد", "این درخواست دیگر وجود ندارد.", 404)
    reminders.reconcile([programme_id], subscriptions_only=True)
    programme = current_app.extensions["week_planner.registry"].get(programme_id)
    if programme is not None and programme.draft:
        programme = None  # a programme taken back to draft shows nothing of itself
    with reminders.engine.connect() as connection:
        scope = connection.execute(select(subscribers.c.scope)
                                   .where(subscribers.c.id == subscriber_id)).scalar()
    if programme is not None and scope and not reminders_to_come(programme, scope):
        # Asked for in time, confirmed too late: do not promise what will not come.
        return _done("یادآوری‌ای در پیش نیست", "درخواست شما تأیید شد، ولی برنامه‌ای که "
                     "پیش از آن یادآوری فرستاده شود دیگر در پیش نیست.", 200, programme)
    upcoming, more = _upcoming(reminders.engine, subscriber_id, programme) \
        if programme is not None else ([], 0)
    return _done("یادآوری فعال شد", "یادآوری‌ها پیش از برنامه برایتان فرستاده می‌شود. "
                 "در هر پیام پیوند لغو اشتراک هست.", 200, programme,
                 what=scope_label(programme, scope) if programme and scope else None,
                 upcoming=upcoming, more=more)


@remind.route("/remind/code/<token>", methods=["GET", "POST"])
def code(token: str):
    problem, subscriber_id = _read_confirmation("code", token)
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
        expected = confirmations.code_hash(current_app.config["SECRET_KEY"], subscriber_id,
                                           typed)
        if hmac.compare_digest(expected, row.code_hash):
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
    problem, subscriber_id = _read_unsubscribe(token)
    if problem == GONE:  # already unsubscribed
        return _done("لغو شد", "دیگر یادآوری‌ای از این اشتراک برایتان فرستاده نمی‌شود.")
    if problem is not None:
        return _done("پیوند نادرست", "این پیوند درست نیست.", 404)
    if request.method == "POST":
        removed = remove_subscribers(app_engine(current_app), [subscriber_id], utc_now())
        log.info("a subscription was cancelled (%s)", "removed" if removed else "already gone")
        return _done("لغو شد", "دیگر یادآوری‌ای از این اشتراک برایتان فرستاده نمی‌شود.")
    return render_template("remind_confirm.html", form=None, action="unsubscribe")


# Personal pages with a CSRF token or a link's token (web/security.py; the headers every
# response has are added after these).
remind.after_request(security.personal)


def init_app(app) -> None:
    """Register the pages. CSRF is checked by each FlaskForm, not app-wide: the
    unsubscribe POST is proved by its signed link instead."""
    app.register_blueprint(remind)
