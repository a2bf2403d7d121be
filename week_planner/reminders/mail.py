"""Reminder mail: building the Persian message and handing it to SMTP or the console.

``build_reminder``, ``build_notice`` and ``build_confirmation`` make MIME messages (HTML and plain text, right to left, the event's ``.ics`` attached to reminders);
``transport_for(settings)`` gives an SMTP transport for ``SMTP_URL`` or, when it is unset,
one that writes the mail to the log with the address masked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import smtplib
import ssl
from email.header import Header, decode_header, make_header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any, Mapping
from urllib.parse import unquote, urlsplit

from week_planner.publish.feeds import event_page_url
from week_planner.reminders.delivery import DeliveryError, mask_address, mask_addresses
from week_planner.schedule import jalali
from week_planner.schedule.model import Event, Occurrence, Programme, description_text

log = logging.getLogger(__name__)

TIMEZONE_NAMES = {"Asia/Tehran": "ایران"}


# -- small pieces ---------------------------------------------------------------------------







def message_id(key: str, mail_from: str) -> str:
    """The same reminder always has the same Message-ID, so a duplicate is recognisable."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "week-planner.invalid"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def map_url(location: tuple[float, float] | None) -> str | None:
    if location is None:
        return None
    lat, lon = location
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"


def time_text(occurrence) -> str:
    """«۲۰:۰۰ تا ۲۲:۰۰», and the end's day when it is another: «۲۲:۰۰ تا ۰۲:۰۰ (پنجشنبه …)»."""
    text = jalali.format_time_range(occurrence.start, occurrence.end)
    end_day = jalali.later_end_day(occurrence.start, occurrence.end)
    return f"{text} ({jalali.format_date(end_day, weekday=True)})" if end_day else text


def timezone_label(moment: dt.datetime, timezone: str) -> str:
    """«به وقت ایران (UTC+۰۳:۳۰)»."""
    offset = moment.utcoffset() or dt.timedelta()
    sign = "+" if offset >= dt.timedelta() else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    utc = jalali.to_persian_digits(f"{sign}{minutes // 60:02d}:{minutes % 60:02d}")
    name = TIMEZONE_NAMES.get(timezone, timezone)
    return f"به وقت {name} (UTC{utc})"


def offset_text(offset: dt.timedelta) -> str:
    """«۱ روز و ۲ ساعت», «۳۰ دقیقه»."""
    total = int(offset.total_seconds()) // 60
    days, rest = divmod(total, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{jalali.to_persian_digits(n)} {unit}"
             for n, unit in ((days, "روز"), (hours, "ساعت"), (minutes, "دقیقه")) if n]
    return " و ".join(parts) or "چند لحظه"


def occurrence_details(programme: Programme, event: Event, occurrence: Occurrence,
                       base_url: str) -> dict[str, Any]:
    """Everything a message says about one occurrence, as plain values (also the JSON
    kept with a change notice)."""
    venue = event.venue
    return {
        "programme_id": programme.id,
        "programme_title": programme.title,
        "organiser": programme.organiser,
        "event_id": event.id,
        "title": event.title,
        "category": event.category.label,
        "status": event.status,
        "date": jalali.format_date(occurrence.day, weekday=True),
        "all_day": occurrence.all_day,
        "time": "تمام روز" if occurrence.all_day else time_text(occurrence),
        "timezone": timezone_label(occurrence.start, programme.timezone),
        "start": occurrence.start.isoformat(),
        "end": occurrence.end.isoformat(),
        "venue": venue.name if venue else None,
        "address": venue.address if venue else None,
        "map_url": map_url(venue.location) if venue else None,
        "url": event_page_url(base_url, programme.id, event.id),
        "description": description_text(event.description),
    }


# -- messages -----------------------------------------------------------------------------

def _message(settings: Mapping[str, Any], to: str, subject: str, text: str, html: str,
             key: str, now: dt.datetime, unsubscribe_url: str | None,
             attachment: MIMEText | None = None) -> Message:
    # The legacy (compat32) MIME classes: they make the same standard message several
    # times faster than EmailMessage's header registry, which matters for a 10,000-
    # reminder batch.
    body = MIMEMultipart("alternative")
    body.attach(MIMEText(text, "plain", "utf-8"))
    body.attach(MIMEText(html, "html", "utf-8"))
    if attachment is not None:
        message = MIMEMultipart("mixed")
        message.attach(body)
        message.attach(attachment)
    else:
        message = body
    name, sender = parseaddr(settings["MAIL_FROM"])
    message["From"] = formataddr((name, sender), charset="utf-8")
    message["To"] = to if to.isascii() else Header(to, "utf-8", header_name="To")
    # One line whatever the YAML held: a line break must not start a new header.
    message["Subject"] = Header(" ".join(subject.split()), "utf-8", header_name="Subject")
    message["Date"] = format_datetime(now.astimezone(dt.timezone.utc))
    message["Message-ID"] = message_id(key, settings["MAIL_FROM"])
    message["MIME-Version"] = "1.0"
    message["Content-Language"] = "fa"
    message["Auto-Submitted"] = "auto-generated"
    if unsubscribe_url:
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def calendar_attachment(ics: bytes, filename: str) -> MIMEText:
    """The .ics as text with its charset, so mail programs decode the Persian (base64
    keeps the CRLF line ends iCalendar requires). No ``method`` parameter: it must match a
    METHOD in the calendar (RFC 6047), and this is a calendar to add, not an invitation."""
    part = MIMEText(ics.decode("utf-8"), "calendar", "utf-8")
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


def plain_text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain" and not part.get_filename():
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    return ""


def header_text(value: str | None) -> str:
    return str(make_header(decode_header(value))) if value else ""


def build_reminder(jinja_env, settings: Mapping[str, Any], programme: Programme,
                   event: Event, occurrence: Occurrence, offset: dt.timedelta, to: str,
                   key: str, unsubscribe_url: str | None, now: dt.datetime,
                   ics: bytes | None = None) -> Message:
    details = occurrence_details(programme, event, occurrence, settings["BASE_URL"])
    context = {"d": details, "before": offset_text(offset), "unsubscribe_url": unsubscribe_url}
    subject = f"یادآوری: {event.title} — {details['date']}"
    if not occurrence.all_day:
        subject += f"، ساعت {jalali.format_time(occurrence.start)}"
    return _message(settings, to, subject,
                    jinja_env.get_template("mail/reminder.txt").render(context),
                    jinja_env.get_template("mail/reminder.html").render(context),
                    key, now, unsubscribe_url,
                    calendar_attachment(ics, f"{event.id}.ics") if ics else None)


def reminder_text(programme: Programme, event: Event, occurrence: Occurrence,
                  base_url: str) -> str:
    """The short form for SMS and organiser channels."""
    details = occurrence_details(programme, event, occurrence, base_url)
    parts = [f"یادآوری: {event.title}", f"{details['date']}، {details['time']}"]
    if details["venue"]:
        parts.append(details["venue"])
    parts.append(details["url"])
    return "\n".join(parts)


def notice_text(detail: Mapping[str, Any]) -> str:
    old, new = detail["old"], detail.get("new")
    if new is None or new.get("status") == "cancelled":
        lines = [f"لغو شد: {old['title']}", f"{old['date']}، {old['time']}"]
    else:
        lines = [f"تغییر برنامه: {new['title']}", f"زمان: {new['date']}، {new['time']}"]
        if new.get("venue"):
            lines.append(f"مکان: {new['venue']}")
        lines.append(new["url"])
    return "\n".join(lines)


def build_notice(jinja_env, settings: Mapping[str, Any], detail: Mapping[str, Any], to: str,
                 key: str, unsubscribe_url: str | None, now: dt.datetime,
                 ics: bytes | None = None, ics_name: str = "event.ics") -> Message:
    """A change notice; ``ics`` (the event's own calendar, its SEQUENCE raised) is attached
    so that one tap moves the event, or cancels it, in the reader's calendar."""
    old, new = detail["old"], detail.get("new")
    cancelled = new is None or new.get("status") == "cancelled"
    context = {"old": old, "new": new, "cancelled": cancelled,
               "unsubscribe_url": unsubscribe_url}
    subject = (f"لغو شد: {old['title']}" if cancelled
               else f"تغییر در برنامه: {new['title']}")
    return _message(settings, to, subject,
                    jinja_env.get_template("mail/notice.txt").render(context),
                    jinja_env.get_template("mail/notice.html").render(context),
                    key, now, unsubscribe_url,
                    calendar_attachment(ics, ics_name) if ics else None)


def build_confirmation(jinja_env, settings: Mapping[str, Any], programme: Programme,
                       scope_label: str, to: str, confirm_url: str, key: str,
                       now: dt.datetime) -> Message:
    context = {"programme": programme, "scope_label": scope_label,
               "confirm_url": confirm_url,
               "hours": jalali.to_persian_digits(settings["CONFIRM_MAX_AGE"] // 3600)}
    return _message(settings, to, f"تأیید یادآوری — {programme.title}",
                    jinja_env.get_template("mail/confirm.txt").render(context),
                    jinja_env.get_template("mail/confirm.html").render(context),
                    key, now, None)


# -- transports ---------------------------------------------------------------------------

class SmtpTransport:
    """One SMTP connection, opened on first use and reused for a batch."""

    DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}

    def __init__(self, url: str, timeout: float = 20.0):
        parts = urlsplit(url)
        if parts.scheme not in self.DEFAULT_PORTS:
            raise ValueError("SMTP_URL must start with smtp://, smtp+starttls:// or smtps://")
        self.scheme = parts.scheme
        self.host = parts.hostname or "localhost"
        self.port = parts.port or self.DEFAULT_PORTS[parts.scheme]
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else ""
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.scheme == "smtps":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.scheme == "smtp+starttls":
                smtp.starttls(context=context)
        if self.username:
            smtp.login(self.username, self.password)
        return smtp

    def send(self, message: Message) -> None:
        reused = self._smtp is not None
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            self._smtp.send_message(message)
        except smtplib.SMTPServerDisconnected as error:
            self._smtp = None
            if reused:  # an idle connection the server had closed: one fresh try
                return self.send(message)
            raise DeliveryError(f"SMTP server disconnected: {error}", connection=True) from None
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            raise DeliveryError(f"SMTP refused the recipient ({min(codes)})",
                                permanent=min(codes) >= 500) from None
        except (smtplib.SMTPConnectError, smtplib.SMTPHeloError,
                smtplib.SMTPAuthenticationError) as error:
            self.close()
            raise DeliveryError(f"SMTP {error.smtp_code}: {_reply(error)}",
                                connection=True) from None
        except smtplib.SMTPResponseException as error:
            self._reset()
            raise DeliveryError(f"SMTP {error.smtp_code}: {_reply(error)}",
                                permanent=error.smtp_code >= 500) from None
        except (OSError, smtplib.SMTPException) as error:
            self.close()
            raise DeliveryError(f"SMTP server unreachable: {mask_addresses(str(error))}",
                                connection=True) from None

    def _reset(self) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self.close()

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


def _reply(error: smtplib.SMTPResponseException) -> str:
    """The server's reply, addresses masked: it often repeats the recipient."""
    reply = error.smtp_error
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return mask_addresses(text)


class ConsoleTransport:
    """No SMTP configured: the mail goes to the log, addresses masked, so a new user sees
    what would be sent."""

    def send(self, message: Message) -> None:
        log.warning("mail to %s (no SMTP_URL set, not sent)\nSubject: %s\n\n%s",
                    mask_address(header_text(message["To"])), header_text(message["Subject"]),
                    plain_text(message))

    def close(self) -> None:
        pass


def transport_for(settings: Mapping[str, Any]):
    url = settings.get("SMTP_URL")
    return SmtpTransport(url) if url else ConsoleTransport()
