"""The "add an event" form beside the desk's editor: the most common edit without typing
YAML.

The form's fields (``EventFields``, prefixed ``event-``) sit inside the editor's form, so
adding an event keeps whatever the organiser has typed: its button appends the event to
the text, correctly indented inside ``events:``, with a fresh id, and the editor shows the
new text checked, to be previewed and published like any edit. Categories and venues are
chosen from the file's own; the days are the programme's, each named by its Jalali date
(a date picker that needs no script).

``fields_for(programme, formdata)`` makes the fields with their choices; ``add_event(text,
fields, programme)`` returns the new text and the line the event starts on.
"""

from __future__ import annotations

import json
import re

import yaml
from wtforms import Form, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from week_planner.schedule import jalali
from week_planner.schedule.model import Programme
from week_planner.schedule.rules import ID_RE, MAX_LONG_TEXT, MAX_TEXT

# A value written unquoted must not look like anything but text to YAML.
PLAIN_RE = re.compile(r"^[^\s\-?:,\[\]{}#&*!|>'\"%@`][^\n]*$")
TOP_KEY_RE = re.compile(r"^[^\s#-]")
EVENTS_RE = re.compile(r"^events\s*:\s*(#.*)?$")
EMPTY_EVENTS_RE = re.compile(r"^events\s*:\s*\[\s*\]\s*(#.*)?$")
ITEM_RE = re.compile(r"^(\s*)-\s")


class DayChoices(SelectMultipleField):
    """The programme's days as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EventFields(Form):
    title = StringField("عنوان", validators=[
        DataRequired(message="عنوان رویداد را بنویسید."), Length(max=MAX_TEXT)])
    category = SelectField("دسته", choices=[])
    venue = SelectField("مکان", choices=[], validators=[Optional()])
    dates = DayChoices("روز یا روزها", choices=[], validators=[
        DataRequired(message="دست‌کم یک روز را برگزینید.")])
    start = StringField("آغاز", validators=[Optional(), Length(max=5)])
    end = StringField("پایان", validators=[Optional(), Length(max=5)])
    duration = StringField("یا مدت", validators=[Optional(), Length(max=20)])
    reminders = StringField("یادآوری‌ها", validators=[Optional(), Length(max=60)])
    description = TextAreaField("توضیح", validators=[Optional(), Length(max=MAX_LONG_TEXT)])


def fields_for(programme: Programme | None, formdata=None) -> EventFields:
    fields = EventFields(formdata, prefix="event-")
    if programme is not None:
        fields.category.choices = [(category.id, category.label)
                                   for category in programme.categories.values()]
        fields.venue.choices = [("", "بی‌مکان")] + [
            (venue_id, venue.name) for venue_id, venue in programme.venues.items()]
        fields.dates.choices = [(jalali.iso_jalali(day), jalali.format_date(day, weekday=True))
                                for day in programme.days]
    return fields


def scalar(value: str) -> str:
    """``value`` as a YAML scalar: plain when it reads back as the same text, else in
    double quotes (JSON's escapes are YAML's)."""
    value = value.strip()
    if PLAIN_RE.match(value) and ": " not in value and " #" not in value \
            and not value.endswith(":") and _reads_back(value):
        return value
    return json.dumps(value, ensure_ascii=False)


def _reads_back(value: str) -> bool:
    """Whether YAML reads the plain ``value`` as that very text (YAML 1.1's reading,
    which takes more for numbers, dates and yes/no than the loader's 1.2 does)."""
    try:
        return yaml.safe_load(value) == value
    except yaml.YAMLError:
        return False


def fresh_id(programme: Programme, category_id: str) -> str:
    """``<category>-<n>``, the first such id no event has."""
    taken = {event.id for event in programme.events}
    stem = category_id[:55].rstrip("-") or "event"
    number = 1
    while f"{stem}-{number}" in taken or not ID_RE.match(f"{stem}-{number}"):
        number += 1
    return f"{stem}-{number}"


def event_lines(fields: EventFields, event_id: str, indent: str) -> list[str]:
    """The event as YAML lines, ``indent`` before its dash."""
    key = indent + "  "
    lines = [f"{indent}- id: {event_id}", f"{key}title: {scalar(fields.title.data)}",
             f"{key}category: {fields.category.data}"]
    dates = fields.dates.data
    lines.append(f"{key}date: {dates[0]}" if len(dates) == 1
                 else f"{key}dates: [{', '.join(dates)}]")
    start = jalali.to_ascii_digits((fields.start.data or "").strip())
    end = jalali.to_ascii_digits((fields.end.data or "").strip())
    duration = jalali.to_ascii_digits((fields.duration.data or "").strip())
    if start:
        lines.append(f'{key}start: {json.dumps(start)}')
        if end:
            lines.append(f'{key}end: {json.dumps(end)}')
        elif duration:
            lines.append(f"{key}duration: {scalar(duration)}")
    elif not end and not duration:
        lines.append(f"{key}all_day: true")
    else:  # an end without a start: written as typed, for the check to name
        lines += [f'{key}end: {json.dumps(end)}'] if end else \
            [f"{key}duration: {scalar(duration)}"]
    if fields.venue.data:
        lines.append(f"{key}venue: {fields.venue.data}")
    reminders = [part.strip() for part in
                 jalali.to_ascii_digits(fields.reminders.data or "").replace("،", ",")
                 .split(",") if part.strip()]
    if reminders:
        lines.append(f"{key}reminders: [{', '.join(scalar(part) for part in reminders)}]")
    description = (fields.description.data or "").replace("\r\n", "\n").strip()
    if description:
        lines.append(f"{key}description: |")
        lines += [f"{key}  {line}".rstrip() for line in description.split("\n")]
    return lines


def add_event(text: str, fields: EventFields, programme: Programme) -> tuple[str, int, str]:
    """The text with the event appended to its ``events:`` list; the line it starts on
    and its id."""
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    event_id = fresh_id(programme, fields.category.data)
    start = next((index for index, line in enumerate(lines)
                  if EVENTS_RE.match(line) or EMPTY_EVENTS_RE.match(line)), None)
    if start is None:
        lines += ["", "events:"]
        start = len(lines) - 1
    elif EMPTY_EVENTS_RE.match(lines[start]):
        lines[start] = "events:"
    end = next((index for index in range(start + 1, len(lines))
                if TOP_KEY_RE.match(lines[index])), len(lines))
    indent = next((match.group(1) for line in lines[start + 1:end]
                   for match in [ITEM_RE.match(line)] if match), "  ")
    last = max((index for index in range(start, end) if lines[index].strip()
                and not lines[index].startswith("#")), default=start)
    new = event_lines(fields, event_id, indent)
    separator = [""] if last > start else []
    lines[last + 1:last + 1] = separator + new
    return "\n".join(lines) + "\n", last + 2 + len(separator), event_id
