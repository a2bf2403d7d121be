"""The ``categories:`` and ``venues:`` sections (and a venue written in place)."""

from __future__ import annotations

from typing import Any

from week_planner.schedule import jalali
from week_planner.schedule.checks.values import WHAT
from week_planner.schedule.model import Category, Venue
from week_planner.schedule.problems import N_
from week_planner.schedule.rules import (
    CATEGORY_KEYS,
    COLOR_RE,
    MAX_ADDRESS,
    MAX_CATEGORIES,
    MAX_VENUES,
    VENUE_KEYS,
)
from week_planner.schedule.yaml_reading import Mark, YMap, YSeq, written_length


class SectionChecks:
    def categories(self, document: YMap) -> dict[str, Category]:
        section = self.mapping(document, "categories", "categories")
        if section is None:
            if "categories" in document:
                self.problem(document.key_marks["categories"], "missing-key", N_(
                    "At least one category is needed under 'categories'."), "categories")
            return {}
        if not section:
            self.problem(section.mark, "missing-key", N_(
                "At least one category is needed under 'categories'."), "categories")
        result = {}
        self.declared["categories"] = {str(raw_id) for raw_id in section}
        if written_length(section) > MAX_CATEGORIES:
            self.too_many(section.mark, WHAT["categories"], written_length(section), MAX_CATEGORIES,
                          "categories")
        for raw_id, value in list(section.items())[:MAX_CATEGORIES]:
            path = f"categories.{raw_id}"
            category_id = self.slug(raw_id, section.key_marks[raw_id], path, WHAT["category"])
            if not isinstance(value, YMap):
                self.problem(section.value_marks[raw_id], "wrong-type", N_(
                    "A category needs its settings under it, at least 'label'."), path)
                continue
            self.keys(value, CATEGORY_KEYS, ("label",), path)
            label = self.text(value, "label", f"{path}.label", required=True)
            color = self.text(value, "color", f"{path}.color")
            if color is not None and not COLOR_RE.match(color):
                self.problem(value.value_marks["color"], "invalid-color", N_(
                    "'{value}' is not a colour; write it as \"#rrggbb\" in quotes, for "
                    "example \"#2e7d32\"."), f"{path}.color", value=color)
                color = None
            if color is not None and len(color) == 4:
                color = "#" + "".join(c * 2 for c in color[1:])
            reminders = self.offsets(value, "reminders", f"{path}.reminders") or ()
            if category_id and label:
                result[category_id] = Category(category_id, label,
                                               color.lower() if color else None, reminders)
        return result

    def venue(self, value: Any, mark: Mark, path: str, venue_id: str | None) -> Venue | None:
        if not isinstance(value, YMap):
            self.problem(mark, "wrong-type", N_(
                "A venue needs its settings under it, at least 'name'."), path)
            return None
        self.keys(value, VENUE_KEYS, ("name",), path)
        name = self.text(value, "name", f"{path}.name", required=True)
        address = self.text(value, "address", f"{path}.address", limit=MAX_ADDRESS)
        location = None
        if value.get("location") is not None:
            location = self.location(value["location"], value.value_marks["location"],
                                     f"{path}.location")
        return Venue(venue_id, name, address, location) if name else None

    def location(self, value: Any, mark: Mark, path: str) -> tuple[float, float] | None:
        numbers = []
        if isinstance(value, YSeq) and len(value) == 2:
            for item in value:
                if isinstance(item, str):
                    try:
                        item = float(jalali.to_ascii_digits(item))
                    except ValueError:
                        pass
                if isinstance(item, (int, float)) and not isinstance(item, bool):
                    numbers.append(float(item))
        if len(numbers) != 2:
            self.problem(mark, "invalid-location", N_(
                "A location is [latitude, longitude] in degrees, for example "
                "[35.2553, 58.2866]."), path)
            return None
        latitude, longitude = numbers
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            self.problem(mark, "invalid-location", N_(
                "The location [{latitude}, {longitude}] is out of range: latitude is "
                "between -90 and 90, longitude between -180 and 180 (latitude first)."),
                path, latitude=str(latitude), longitude=str(longitude))
            return None
        return (latitude, longitude)

    def venues(self, document: YMap) -> dict[str, Venue]:
        section = self.mapping(document, "venues", "venues")
        result = {}
        self.declared["venues"] = {str(raw_id) for raw_id in (section or {})}
        if section and written_length(section) > MAX_VENUES:
            self.too_many(section.mark, WHAT["venues"], written_length(section), MAX_VENUES,
                          "venues")
        for raw_id, value in list((section or {}).items())[:MAX_VENUES]:
            path = f"venues.{raw_id}"
            venue_id = self.slug(raw_id, section.key_marks[raw_id], path, WHAT["venue"])
            venue = self.venue(value, section.value_marks[raw_id], path, venue_id)
            if venue_id and venue:
                result[venue_id] = venue
        return result
