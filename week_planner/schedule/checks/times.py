"""Dates, times and lengths of time: Jalali dates with plausible years, HH:MM times,
durations and reminder offsets as whole minutes (no arithmetic on them can overflow), the
occurrences they make, and the wall times the clocks skip or show twice."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from icalendar.prop import vDuration

from week_planner.schedule import jalali
from week_planner.schedule.checks.values import WHAT, inside_look_alike_quotes, stated
from week_planner.schedule.model import Occurrence
from week_planner.schedule.problems import N_
from week_planner.schedule.rules import (
    GREGORIAN_YEARS,
    JALALI_YEARS,
    MAX_DATES,
    MAX_EVENT_LENGTH,
    MAX_REMINDER_OFFSET,
    MAX_REMINDERS,
    SHORT_DURATION_PART,
    SHORT_DURATION_RE,
    TIME_RE,
)
from week_planner.schedule.yaml_reading import Mark, YMap, YSeq, written_length


def format_length(length: dt.timedelta) -> dict[str, str]:
    """«۳۰ روز» / "30 days": a limit as the organiser reads it."""
    days, hours = length.days, length.seconds // 3600
    english = f"{days} days" if not hours else f"{days * 24 + hours} hours"
    persian = f"{days} روز" if not hours else f"{days * 24 + hours} ساعت"
    return {"en": english, "fa": jalali.to_persian_digits(persian)}


def make_occurrence(event_id: str, day: dt.date, tz: dt.tzinfo, all_day: bool,
                start: dt.time | None, end: dt.time | None, duration: dt.timedelta | None,
                repeated: bool) -> Occurrence:
    if all_day:
        begins = dt.datetime.combine(day, dt.time(), tz)
        ends = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz)
    else:
        begins = dt.datetime.combine(day, start, tz)
        if end is not None:
            ends = dt.datetime.combine(day, end, tz)
        else:
            # Wall-clock arithmetic, so a 2 h event ends 2 h later on the clock the
            # attendees read, even across a daylight-saving change.
            ends = begins + duration
    return Occurrence(event_id, day, real_time(begins), real_time(ends), all_day, repeated)


def real_time(moment: dt.datetime) -> dt.datetime:
    """The wall time a clock shows at ``moment``'s instant. A time that does not exist (in
    the hour skipped when clocks go forward, say 00:30 when 00:00 became 01:00) becomes the
    time the clocks read then (01:30), so the page, the feeds and the reminders all name
    one instant; any other time is returned as it is (fold 0: the first of a time that
    occurs twice, as RFC 5545 reads it)."""
    actual = moment.astimezone(dt.timezone.utc).astimezone(moment.tzinfo)
    # The same wall time exactly when the same offset: both are the instant plus it.
    return moment if actual.utcoffset() == moment.utcoffset() else actual


def wall_time_kind(day: dt.date, time: dt.time, tz: dt.tzinfo) -> str | None:
    """"missing" for a wall time the clocks skip that day, "twice" for one they show
    twice, None for an ordinary one."""
    moment = dt.datetime.combine(day, time, tz)
    if real_time(moment) is not moment:
        return "missing"
    if moment.replace(fold=1).utcoffset() != moment.utcoffset():
        return "twice"
    return None


_UNIT_MINUTES = {"d": 24 * 60, "h": 60, "m": 1}


_HUGE = 10 ** 12  # minutes; what a number too long to read stands for (far over any limit)


def offset_minutes(value: Any) -> int | None:
    """``30m``, ``2h``, ``1d``, ``1d 2h``, ``1h30m`` or ISO 8601 (``PT2H``), any digits, as
    whole minutes (a Python int: any size, so no arithmetic here can overflow), or None
    when it is not a length of time. Seconds are dropped."""
    if not isinstance(value, str):
        return None
    text = jalali.to_ascii_digits(value).strip()
    if SHORT_DURATION_RE.match(text):
        total = 0
        for number, unit in SHORT_DURATION_PART.findall(text):
            total += _HUGE if len(number) > 12 else int(number) * _UNIT_MINUTES[unit.lower()]
        return min(total, _HUGE)
    if text[:1].upper() == "P" and any(c.isdigit() for c in text):
        if any(len(run) > 12 for run in re.findall(r"\d+", text)):
            return _HUGE
        try:
            duration = vDuration.from_ical(text.upper())
        except OverflowError:
            return _HUGE
        except (ValueError, TypeError):
            return None
        return duration // dt.timedelta(minutes=1)
    return None


def parse_offset(value: Any) -> dt.timedelta | None:
    """The length of time ``value`` writes, or None (also when it is beyond any limit)."""
    minutes = offset_minutes(value)
    if minutes is None or minutes >= _HUGE:
        return None
    return dt.timedelta(minutes=minutes)


class TimeChecks:
    def date(self, value: Any, mark: Mark, path: str) -> dt.date | None:
        if not isinstance(value, str) or isinstance(value, bool):
            self.problem(mark, "invalid-date", N_(
                "'{value}' is not a Jalali date; write it as YYYY-MM-DD, for example "
                "1404-06-11."), path, value="" if value is None else str(value))
            return None
        parts = jalali.date_parts(value)
        if parts is not None and parts[0] not in JALALI_YEARS:
            self.implausible_year(value, parts, mark, path)
            return None
        try:
            return jalali.parse_jalali_date(value)
        except jalali.JalaliDateError as error:
            if error.reason == "month":
                self.problem(mark, "invalid-date", N_(
                    "'{value}' is not a date: there is no month {month}; months go from "
                    "01 (Farvardin) to 12 (Esfand)."), path, value=value,
                    month=error.details["month"])
            elif error.reason == "day":
                details = error.details
                self.problem(mark, "invalid-date", N_(
                    "'{value}' is not a date: {month_name} {year} has {length} days."),
                    path, value=value, month_name={
                        "fa": jalali.month_name(details["month"]),
                        "en": jalali.LATIN_MONTHS[details["month"] - 1]},
                    year=details["year"], length=details["length"])
            else:
                self.problem(mark, "invalid-date", N_(
                    "'{value}' is not a Jalali date; write it as YYYY-MM-DD, for example "
                    "1404-06-11."), path, value=value)
            return None

    def implausible_year(self, value: str, parts: tuple[int, int, int], mark: Mark,
                         path: str) -> None:
        year = parts[0]
        converted = jalali.from_gregorian_parts(*parts) if year in GREGORIAN_YEARS else None
        if converted is not None:
            self.problem(mark, "gregorian-date", N_(
                "'{value}' looks like a Gregorian date; write the Jalali date: {jalali}."),
                path, value=value, jalali=stated(converted))
        elif year in GREGORIAN_YEARS:
            self.problem(mark, "gregorian-date", N_(
                "'{value}' looks like a Gregorian date; write the Jalali date, for example "
                "1404-06-17."), path, value=value)
        else:
            self.problem(mark, "invalid-date", N_(
                "The year of '{value}' is not plausible: write a Jalali year from {first} "
                "to {last}, for example 1404-06-17."), path, value=value,
                first=JALALI_YEARS.start, last=JALALI_YEARS.stop - 1)

    def time(self, value: Any, mark: Mark, path: str) -> dt.time | None:
        match = TIME_RE.match(jalali.to_ascii_digits(value)) if isinstance(value, str) else None
        if match:
            hour, minute = int(match.group(1)), int(match.group(2))
            if hour < 24 and minute < 60:
                return dt.time(hour, minute)
            self.problem(mark, "invalid-time", N_(
                "'{value}' is not a time: the hour must be 0–23 and the minutes 00–59. An "
                "event that runs past midnight starts the day before, with a 'duration'."),
                path, value=value)
            return None
        inner = inside_look_alike_quotes(value) if isinstance(value, str) else None
        if inner is not None and TIME_RE.match(jalali.to_ascii_digits(inner)):
            self.problem(mark, "invalid-time", N_(
                "'{value}' is in quotation marks that YAML keeps as part of the text; "
                "write the time in Latin double quotes: \"{time}\"."), path, value=value,
                time=inner)
            return None
        self.problem(mark, "invalid-time", N_(
            "'{value}' is not a time; write it as HH:MM on the 24-hour clock, in Latin "
            "double quotes (\"...\"), for example \"16:30\"."), path,
            value="" if value is None else str(value))
        return None

    def offset(self, value: Any, mark: Mark, path: str, positive: bool,
               limit: dt.timedelta, what: dict) -> dt.timedelta | None:
        minutes = offset_minutes(value)
        if minutes is None or minutes < 0 or (positive and not minutes):
            self.problem(mark, "invalid-offset", N_(
                "'{value}' is not a length of time; write for example 30m, 2h, 1d, "
                "1d 2h or PT2H."), path, value="" if value is None else str(value))
            return None
        if minutes > limit // dt.timedelta(minutes=1):
            self.problem(mark, "offset-too-long", N_(
                "'{value}' is longer than {what} may be: at most {limit}."), path,
                value=str(value), what=what, limit=format_length(limit))
            return None
        return dt.timedelta(minutes=minutes)

    def offsets(self, parent: YMap, key: str, path: str) -> tuple[dt.timedelta, ...] | None:
        if key not in parent:
            return None
        value = parent[key]
        if value is None:
            return ()
        if not isinstance(value, YSeq):
            value, marks = YSeq(parent.value_marks[key]), [parent.value_marks[key]]
            value.append(parent[key])
        else:
            marks = value.item_marks
        if written_length(value) > MAX_REMINDERS:
            self.too_many(parent.value_marks[key], WHAT["reminders"], written_length(value),
                          MAX_REMINDERS, path)
        found: set[dt.timedelta] = set()
        for index, (item, mark) in enumerate(zip(value[:MAX_REMINDERS], marks)):
            offset = self.offset(item, mark, f"{path}[{index}]", positive=False,
                                 limit=MAX_REMINDER_OFFSET, what=WHAT["reminder"])
            if offset is not None:
                found.add(offset)
        return tuple(sorted(found, reverse=True))

    def event_dates(self, item: YMap, path: str, header: dict | None) -> tuple[dt.date, ...]:
        if "date" in item and "dates" in item:
            self.problem(item.key_marks["dates"], "conflicting-keys", N_(
                "Use either 'date' (one day) or 'dates' (a list of days), not both."),
                f"{path}.dates")
            return ()
        if "date" not in item and "dates" not in item:
            self.problem(item.mark, "missing-key", N_(
                "The event has no 'date' (or 'dates' for a repeated event)."),
                f"{path}.date")
            return ()
        if "date" in item:
            values, marks, key = [item["date"]], [item.value_marks["date"]], "date"
        else:
            key = "dates"
            values = item["dates"]
            if not isinstance(values, YSeq) or not values:
                self.problem(item.value_marks["dates"], "wrong-type", N_(
                    "'dates' must be a list of Jalali dates, for example "
                    "[1404-06-12, 1404-06-14]."), f"{path}.dates")
                return ()
            marks = values.item_marks
            if written_length(values) > MAX_DATES:
                self.too_many(item.value_marks["dates"], WHAT["dates"], written_length(values),
                              MAX_DATES, f"{path}.dates")
                values = values[:MAX_DATES]
        found: set[dt.date] = set()
        for index, (value, mark) in enumerate(zip(values, marks)):
            where = f"{path}.{key}" + (f"[{index}]" if key == "dates" else "")
            day = self.date(value, mark, where)
            if day is None:
                continue
            if header and header.get("first_day") and header.get("last_day") and not (
                    header["first_day"] <= day <= header["last_day"]):
                self.problem(mark, "date-out-of-range", N_(
                    "The date {value} is outside the programme's days ({first} to {last})."),
                    where, value=str(value),
                    first=stated(jalali.iso_jalali(header["first_day"])),
                    last=stated(jalali.iso_jalali(header["last_day"])))
                continue
            if day in found:
                self.problem(mark, "duplicate-date", N_(
                    "The date {value} is listed twice."), where, value=str(value))
                continue
            found.add(day)
        return tuple(sorted(found))

    def edge_times(self, item: YMap, path: str, dates: tuple[dt.date, ...], tz: dt.tzinfo,
                   zone_name: str, times: tuple) -> None:
        """Warn of a start or end the clocks skip or show twice on one of the dates (the
        nights daylight saving began and ended, in zones that still have it)."""
        for key, time in times:
            if time is None:
                continue
            for day in dates:
                kind = wall_time_kind(day, time, tz)
                if kind is None:
                    continue
                shown = real_time(dt.datetime.combine(day, time, tz))
                args = {"day": stated(jalali.iso_jalali(day)), "zone": zone_name,
                        "time": stated(time.strftime("%H:%M")),
                        "shown": stated(shown.strftime("%H:%M"))}
                if kind == "missing":
                    self.problem(item.value_marks[key], "time-skipped", N_(
                        "On {day} the clocks of {zone} skip {time} (daylight saving begins): "
                        "the event is shown at {shown}. Write the time you mean."),
                        f"{path}.{key}", severity="warning", **args)
                else:
                    self.problem(item.value_marks[key], "time-twice", N_(
                        "On {day} the clocks of {zone} show {time} twice (daylight saving "
                        "ends): the event is taken at the first {time}, before the clocks "
                        "go back. Say which in the description if it matters."),
                        f"{path}.{key}", severity="warning", **args)
                break

    def event_times(self, item: YMap, path: str):
        all_day = self.boolean(item, "all_day", f"{path}.all_day")
        has_start = item.get("start") is not None
        if all_day and (has_start or item.get("end") is not None
                        or item.get("duration") is not None):
            self.problem(item.key_marks["all_day"], "conflicting-keys", N_(
                "An all-day event has no 'start', 'end' or 'duration'; remove them or "
                "remove 'all_day'."), f"{path}.all_day")
            return True, None, None, None
        if not has_start and item.get("all_day") is False:
            self.problem(item.key_marks["all_day"], "missing-key", N_(
                "'{key}' is missing here; it is required."), f"{path}.start", key="start")
            return False, None, None, None
        if not has_start:
            for key in ("end", "duration"):
                if item.get(key) is not None:
                    self.problem(item.key_marks[key], "missing-key", N_(
                        "'{key}' needs a 'start' time too (or remove it for an all-day "
                        "event)."), f"{path}.{key}", key=key)
            return True, None, None, None
        start = self.time(item["start"], item.value_marks["start"], f"{path}.start")
        end = duration = None
        if item.get("end") is not None and item.get("duration") is not None:
            self.problem(item.key_marks["duration"], "conflicting-keys", N_(
                "Use either 'end' or 'duration', not both."), f"{path}.duration")
        elif item.get("end") is not None:
            end = self.time(item["end"], item.value_marks["end"], f"{path}.end")
            if start is not None and end is not None and end <= start:
                self.problem(item.value_marks["end"], "end-before-start", N_(
                    "The end ({end}) is not after the start ({start}). For an event that "
                    "runs past midnight, write 'duration' instead of 'end'."),
                    f"{path}.end", end=stated(end.strftime("%H:%M")),
                    start=stated(start.strftime("%H:%M")))
                end = None
        elif item.get("duration") is not None:
            duration = self.offset(item["duration"], item.value_marks["duration"],
                                   f"{path}.duration", positive=True,
                                   limit=MAX_EVENT_LENGTH, what=WHAT["duration"])
        else:
            self.problem(item.key_marks["start"], "missing-key", N_(
                "The event has a 'start' but no 'end' or 'duration'; add one, for example "
                "end: \"17:30\" or duration: 90m."), f"{path}.end")
        return False, start, end, duration
