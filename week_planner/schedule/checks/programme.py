"""The ``programme:`` header: id, title, organiser, timezone, days, contact."""

from __future__ import annotations

import zoneinfo
from typing import Any

from week_planner.schedule import provinces
from week_planner.schedule.checks.values import (
    WHAT,
    did_you_mean,
    looks_like_email,
    suggest,
    valid_timezone,
)
from week_planner.schedule.model import Contact
from week_planner.schedule.problems import N_
from week_planner.schedule.rules import (
    CONTACT_KEYS,
    MAX_LONG_TEXT,
    MAX_PROGRAMME_DAYS,
    PROGRAMME_KEYS,
    RESERVED_IDS,
)
from week_planner.schedule.yaml_reading import YMap


class ProgrammeChecks:
    def programme_header(self, head: YMap) -> dict | None:
        self.keys(head, PROGRAMME_KEYS, ("id", "title", "organiser", "from", "to"),
                  "programme")
        header: dict[str, Any] = {}
        if "id" in head:
            self.id_mark = head.value_marks["id"]
            header["id"] = self.slug(head["id"], head.value_marks["id"], "programme.id",
                                     WHAT["programme"])
            if header["id"] in RESERVED_IDS:
                self.problem(head.value_marks["id"], "reserved-id", N_(
                    "'{value}' is a reserved address of the site; choose another "
                    "programme id, for example with the county and year."),
                    "programme.id", value=header["id"])
        header["title"] = self.text(head, "title", "programme.title", required=True)
        header["organiser"] = self.text(head, "organiser", "programme.organiser",
                                        required=True)
        header["description"] = self.text(head, "description", "programme.description",
                                          limit=MAX_LONG_TEXT)
        header["draft"] = self.boolean(head, "draft", "programme.draft")
        province = self.text(head, "province", "programme.province")
        if province is not None:
            header["province"] = provinces.find(province)
            if header["province"] is None:
                close = provinces.closest(province)
                self.problem(self._value_mark(head, "province"), "unknown-province", N_(
                    "'{value}' is not one of Iran's provinces{hint}. Write its name as in "
                    "«خراسان رضوی», or leave 'province' out."), "programme.province",
                    value=province, hint=did_you_mean(close))
        header["county"] = self.text(head, "county", "programme.county")
        timezone = self.text(head, "timezone", "programme.timezone") or "Asia/Tehran"
        if not valid_timezone(timezone):
            suggestion = suggest(timezone, zoneinfo.available_timezones())
            self.problem(self._value_mark(head, "timezone"), "unknown-timezone", N_(
                "'{value}' is not a known timezone; use an IANA name such as "
                "Asia/Tehran{hint}."), "programme.timezone", value=timezone,
                hint={"en": f" (did you mean {suggestion}?)",
                      "fa": f"؛ شاید منظورتان «{suggestion}» است"} if suggestion else "")
        header["timezone"] = timezone
        for key, name in (("from", "first_day"), ("to", "last_day")):
            if key in head:
                header[name] = self.date(head[key], head.value_marks[key], f"programme.{key}")
        if header.get("first_day") and header.get("last_day") and \
                header["first_day"] > header["last_day"]:
            self.problem(head.value_marks["to"], "date-order", N_(
                "'to' ({to}) comes before 'from' ({from_}); the week must end on or after "
                "its first day."), "programme.to", to=str(head["to"]),
                from_=str(head["from"]))
        elif header.get("first_day") and header.get("last_day") and \
                (header["last_day"] - header["first_day"]).days + 1 > MAX_PROGRAMME_DAYS:
            self.problem(head.value_marks["to"], "programme-too-long", N_(
                "From {from_} to {to} is {days} days; a programme spans at most {limit} days "
                "(the Cooperative Week is 7). Check the year and month of 'from' and 'to'."),
                "programme.to", from_=str(head["from"]), to=str(head["to"]),
                days=(header["last_day"] - header["first_day"]).days + 1,
                limit=MAX_PROGRAMME_DAYS)
            header["last_day"] = None
        contact = self.mapping(head, "contact", "programme.contact")
        if contact is not None:
            self.keys(contact, CONTACT_KEYS, (), "programme.contact")
            email = self.text(contact, "email", "programme.contact.email")
            if email and not looks_like_email(email):
                self.problem(contact.value_marks["email"], "invalid-email", N_(
                    "'{value}' is not an email address."), "programme.contact.email",
                    value=email)
            header["contact"] = Contact(
                phone=self.text(contact, "phone", "programme.contact.phone"),
                email=email, url=self.url(contact, "url", "programme.contact.url"))
        if any(header.get(key) is None for key in ("id", "title", "organiser", "first_day",
                                                    "last_day")):
            return None
        if header["first_day"] > header["last_day"]:
            return None
        return header
