"""Jalali dates, Persian digits and Persian names.

Every conversion between the Jalali and the Gregorian calendar in the project goes
through this module (which uses jdatetime); nothing else does date arithmetic by hand.
The model keeps Gregorian ``datetime.date`` values; these functions turn them into
Persian text for pages, feeds and mail, and parse what organisers type.

The formatting functions are also registered as Jinja filters by the app factory.
"""

from __future__ import annotations

import datetime as dt
import functools
import re

import jdatetime
from babel import Locale

PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹"
ARABIC_INDIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"

_TO_ASCII = str.maketrans(
    {**{c: str(i) for i, c in enumerate(PERSIAN_DIGITS)},
     **{c: str(i) for i, c in enumerate(ARABIC_INDIC_DIGITS)},
     "٫": ".",  # Arabic decimal separator
     "٬": ",",  # Arabic thousands separator
     "−": "-"}
)
_TO_PERSIAN = str.maketrans({str(i): c for i, c in enumerate(PERSIAN_DIGITS)})
_ARABIC_LETTERS = str.maketrans({"ي": "ی", "ك": "ک", "ى": "ی"})
_ARABIC_LETTER = re.compile("[يكى]")  # the letters _ARABIC_LETTERS changes

MONTHS = (
    "فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور",
    "مهر", "آبان", "آذر", "دی", "بهمن", "اسفند",
)
LATIN_MONTHS = (
    "Farvardin", "Ordibehesht", "Khordad", "Tir", "Mordad", "Shahrivar",
    "Mehr", "Aban", "Azar", "Dey", "Bahman", "Esfand",
)
# Saturday first, as jdatetime's weekday() counts.
WEEKDAYS = ("شنبه", "یکشنبه", "دوشنبه", "سه‌شنبه", "چهارشنبه", "پنجشنبه", "جمعه")

GREGORIAN_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
)

_DATE_RE = re.compile(r"^\s*(\d{3,4})\s*[-/]\s*(\d{1,2})\s*[-/]\s*(\d{1,2})\s*$")


class JalaliDateError(ValueError):
    """A text that is not a valid Jalali date; ``reason`` says why (a message key)."""

    def __init__(self, reason: str, **details):
        super().__init__(reason)
        self.reason = reason
        self.details = details


def to_ascii_digits(text: str) -> str:
    """Replace Persian and Arabic-Indic digits (and separators) with ASCII ones."""
    return text.translate(_TO_ASCII)


def to_persian_digits(value) -> str:
    """Write a number or a text with Persian digits."""
    return str(value).translate(_TO_PERSIAN)


def normalise_letters(text: str) -> str:
    """Arabic ي/ك/ى to Persian ی/ک, for comparing and matching (never for display)."""
    return text.translate(_ARABIC_LETTERS)


def has_arabic_letters(text: str) -> bool:
    return _ARABIC_LETTER.search(text) is not None


def parse_jalali_date(text: str) -> dt.date:
    """``1404-06-11`` or ``1404/06/11`` (any digits) → the Gregorian date of that Jalali day.

    Raises JalaliDateError with reason ``format``, ``year`` (beyond what the calendar
    library reckons), ``month`` or ``day`` (with the month's length in ``details``).
    """
    parts = date_parts(text)
    if parts is None:
        raise JalaliDateError("format")
    year, month, day = parts
    if not jdatetime.MINYEAR <= year <= jdatetime.MAXYEAR:
        raise JalaliDateError("year", year=year)
    if not 1 <= month <= 12:
        raise JalaliDateError("month", month=month)
    length = month_length(year, month)
    if not 1 <= day <= length:
        raise JalaliDateError("day", day=day, month=month, year=year, length=length)
    return _gregorian(year, month, day)


# jdatetime asks the process's locale on every date it makes (a tenth of loading a
# programme, and of writing its feed): a day is converted once. Every programme of a
# national week has the same few days.
@functools.lru_cache(maxsize=4096)
def _gregorian(year: int, month: int, day: int) -> dt.date:
    return jdatetime.date(year, month, day).togregorian()


@functools.lru_cache(maxsize=4096)  # every event of a national week names the same days
def date_parts(text: str) -> tuple[int, int, int] | None:
    """(year, month, day) as written in ``1404-06-11`` or ``۱۴۰۴/۶/۱۱``, unchecked."""
    match = _DATE_RE.match(to_ascii_digits(text))
    return tuple(int(part) for part in match.groups()) if match else None


def from_gregorian_parts(year: int, month: int, day: int) -> str | None:
    """``2025-09-08`` read as a Gregorian date → ``1404-06-17``; None if it is none."""
    try:
        return iso_jalali(dt.date(year, month, day))
    except ValueError:
        return None


def month_length(year: int, month: int) -> int:
    if month <= 6:
        return 31
    if month <= 11:
        return 30
    return 30 if _is_leap(year) else 29


@functools.lru_cache(maxsize=256)
def _is_leap(year: int) -> bool:
    return jdatetime.date(year, 1, 1).isleap()


@functools.lru_cache(maxsize=4096)
def jalali(day: dt.date) -> jdatetime.date:
    """The Jalali day of ``day`` (one object per day: do not change it)."""
    return jdatetime.date.fromgregorian(date=day)


def iso_jalali(day: dt.date) -> str:
    """``1404-06-11``, ASCII digits: anchors, file names, machine use."""
    j = jalali(day)
    return f"{j.year:04d}-{j.month:02d}-{j.day:02d}"


@functools.lru_cache(maxsize=4096)
def weekday_name(day: dt.date) -> str:
    return WEEKDAYS[jalali(day).weekday()]


def month_name(month: int) -> str:
    return MONTHS[month - 1]


def format_date(day: dt.date, weekday: bool = False) -> str:
    """«۱۱ شهریور ۱۴۰۴», or with ``weekday`` «سه‌شنبه ۱۱ شهریور ۱۴۰۴»."""
    j = jalali(day)
    text = f"{to_persian_digits(j.day)} {MONTHS[j.month - 1]} {to_persian_digits(j.year)}"
    return f"{weekday_name(day)} {text}" if weekday else text


def format_date_range(first: dt.date, last: dt.date) -> str:
    """«۱۱ تا ۱۷ شهریور ۱۴۰۴», «۲۸ شهریور تا ۳ مهر ۱۴۰۴», or across years in full."""
    a, b = jalali(first), jalali(last)
    if first == last:
        return format_date(first)
    if a.year != b.year:
        return f"{format_date(first)} تا {format_date(last)}"
    if a.month != b.month:
        return (f"{to_persian_digits(a.day)} {MONTHS[a.month - 1]} تا "
                f"{to_persian_digits(b.day)} {MONTHS[b.month - 1]} {to_persian_digits(b.year)}")
    return (f"{to_persian_digits(a.day)} تا {to_persian_digits(b.day)} "
            f"{MONTHS[a.month - 1]} {to_persian_digits(a.year)}")


def format_time(moment: dt.time | dt.datetime) -> str:
    """«۰۹:۳۰»."""
    return to_persian_digits(f"{moment.hour:02d}:{moment.minute:02d}")


def format_time_range(start: dt.datetime, end: dt.datetime) -> str:
    """«۰۹:۰۰ تا ۱۰:۳۰»."""
    return f"{format_time(start)} تا {format_time(end)}"


def later_end_day(start: dt.datetime, end: dt.datetime) -> dt.date | None:
    """The day an event ends on, when it is not the day it starts on and is worth saying:
    «۲۲:۰۰ تا ۰۲:۰۰ (پنجشنبه …)». An end at the midnight right after the start day is the
    end of that day («۲۰:۰۰ تا ۰۰:۰۰»), so it gives None."""
    if end.date() == start.date():
        return None
    if end.time() == dt.time() and end.date() - start.date() == dt.timedelta(days=1):
        return None
    return end.date()


def format_gregorian(day: dt.date) -> str:
    """``2 September 2025``, in English month names (the Gregorian date shown beside)."""
    return f"{day.day} {GREGORIAN_MONTHS[day.month - 1]} {day.year}"


def format_day_month(day: dt.date) -> str:
    """«۱۱ شهریور»: the date without its year."""
    j = jalali(day)
    return f"{to_persian_digits(j.day)} {MONTHS[j.month - 1]}"


def format_gregorian_persian(day: dt.date) -> str:
    """«۲ سپتامبر ۲۰۲۵»: the Gregorian date in Persian month names and digits (CLDR's)."""
    month = Locale("fa").months["format"]["wide"][day.month]
    return f"{to_persian_digits(day.day)} {month} {to_persian_digits(day.year)}"


def days_until(day: dt.date, now: dt.datetime, tz: dt.tzinfo) -> int:
    """Whole days from today (in ``tz``) to ``day``: 1 on the eve, 0 on the day itself."""
    return (day - today_in(tz, now)).days


def today_in(tz: dt.tzinfo, now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(dt.timezone.utc)).astimezone(tz).date()
