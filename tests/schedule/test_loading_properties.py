"""Property-based: any text, any YAML-shaped data, any mutation of a valid programme gives
a model or specific problems — the loader never raises and never reports a catch-all."""

from __future__ import annotations

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from week_planner.schedule.loading import LoadResult, load_text
from week_planner.schedule.rules import (
    MAX_EVENT_LENGTH,
    MAX_PROGRAMME_DAYS,
    MAX_REMINDER_OFFSET,
)

KNOWN_CODES = {
    "yaml-syntax", "empty-file", "not-utf8", "file-too-large", "duplicate-key", "unknown-key",
    "missing-key", "wrong-type", "invalid-id", "reserved-id", "duplicate-event-id",
    "unknown-category", "unknown-venue", "invalid-date", "date-out-of-range", "date-order",
    "duplicate-date", "invalid-time", "end-before-start", "invalid-offset", "unknown-timezone",
    "invalid-location", "alias-bomb", "forbidden-tag", "conflicting-keys", "invalid-status",
    "invalid-color", "invalid-url", "invalid-email", "too-deep", "arabic-letters",
    "venue-overlap", "unknown-channel", "too-many", "too-long", "offset-too-long",
    "gregorian-date", "programme-too-long", "time-skipped", "time-twice", "too-many-problems",
    "control-character", "arabic-digits", "latin-digits", "unknown-province",
}

VALID = {
    "programme": {"id": "prop-1404", "title": "هفته تعاون", "organiser": "اداره تعاون",
                  "from": "1404-06-11", "to": "1404-06-17",
                  "contact": {"phone": "۰۵۱", "email": "a@b.ir", "url": "https://b.ir"}},
    "categories": {"visit": {"label": "بازدید", "color": "#2e7d32", "reminders": ["1d"]}},
    "venues": {"hall": {"name": "سالن", "location": [35.2, 58.2]}},
    "events": [
        {"id": "a", "title": "بازدید", "category": "visit", "date": "1404-06-12",
         "start": "09:00", "end": "10:00", "venue": "hall", "hosts": ["فرماندار"]},
        {"id": "b", "title": "رژه", "category": "visit", "dates": ["1404-06-13"],
         "start": "16:00", "duration": "90m", "status": "tentative"},
    ],
}


def check(result: LoadResult) -> None:
    assert isinstance(result, LoadResult)
    for problem in result.problems:
        assert problem.code in KNOWN_CODES, problem
        assert problem.text("fa") and problem.text("en")
    if result.programme is None:
        assert result.errors, "no programme and no error"
    else:
        assert not result.errors


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=20), st.sampled_from(
                        ["1404-06-12", "1404-12-30", "25:00", "9:30", "1d", "PT2H", "#fff",
                         "visit", "hall", "", "۱۴۰۴/۰۶/۱۲", "<<", "*", "!!python/object"]))
yaml_data = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=8) | st.sampled_from(
                                   ["programme", "events", "id", "date", "start"]),
                                   children, max_size=4)),
    max_leaves=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_any_text(text):
    check(load_text(text, "any.yaml"))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes(data):
    check(load_text(data, "any.yaml"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_data)
def test_any_yaml_shaped_data(data):
    check(load_text(yaml.safe_dump(data, allow_unicode=True), "shaped.yaml"))


def _paths(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, prefix + (index,))


ALL_PATHS = [p for p in _paths(VALID) if p]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), yaml_data), min_size=1, max_size=3),
       st.booleans())
def test_mutations_of_a_valid_programme(mutations, delete):
    data = copy.deepcopy(VALID)
    for path, value in mutations:
        target = data
        try:
            for step in path[:-1]:
                target = target[step]
            if delete:
                del target[path[-1]]
            else:
                target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    check(load_text(yaml.safe_dump(data, allow_unicode=True), "mutated.yaml"))


def test_the_valid_base_loads():
    result = load_text(yaml.safe_dump(VALID, allow_unicode=True), "valid.yaml")
    assert result.ok, [p.format("en") for p in result.problems]


# Extreme numbers in every numeric and date field: the loader returns a model or problems,
# never raises, and a model it returns stays within the format's limits.
huge_numbers = st.one_of(st.integers(min_value=-10**30, max_value=10**30),
                         st.integers(min_value=0, max_value=10**4).map(str))
extreme_dates = st.builds(lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}",
                          st.integers(0, 99_999), st.integers(0, 99), st.integers(0, 99)) \
    | st.sampled_from(["9999-01-01", "9999-12-29", "0001-01-01", "2025-09-08", "1404-12-30",
                       "1403-12-30", "1499-12-29", "1300-01-01"])
extreme_lengths = st.builds(lambda n, unit: f"{n}{unit}", st.integers(0, 10**40),
                            st.sampled_from(["d", "h", "m"])) \
    | st.builds(lambda n, unit: f"P{n}{unit}", st.integers(0, 10**40), st.sampled_from(["D", "W"])) \
    | st.builds(lambda n: f"PT{n}H", st.integers(0, 10**40))
extreme_times = st.builds(lambda h, m: f"{h}:{m:02d}", st.integers(0, 10**6), st.integers(0, 99))
FIELDS = {
    ("programme", "from"): extreme_dates, ("programme", "to"): extreme_dates,
    ("events", 0, "date"): extreme_dates,
    ("events", 1, "dates"): st.lists(extreme_dates, max_size=40),
    ("events", 0, "start"): extreme_times, ("events", 0, "end"): extreme_times,
    ("events", 1, "duration"): extreme_lengths | huge_numbers,
    ("events", 0, "reminders"): st.lists(extreme_lengths | huge_numbers, max_size=8),
    ("categories", "visit", "reminders"): st.lists(extreme_lengths, max_size=8),
    ("venues", "hall", "location"): st.lists(huge_numbers | st.floats(), min_size=2, max_size=2),
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({path: strategy for path, strategy in FIELDS.items()}),
       st.sets(st.sampled_from(sorted(FIELDS, key=str)), min_size=1))
def test_extreme_numbers_in_every_field(values, chosen):
    import datetime as dt

    data = copy.deepcopy(VALID)
    for path in chosen:
        target = data
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = values[path]
    result = load_text(yaml.safe_dump(data, allow_unicode=True), "extreme.yaml")
    check(result)
    programme = result.programme
    if programme is not None:
        assert (programme.last_day - programme.first_day).days < MAX_PROGRAMME_DAYS
        for event in programme.events:
            assert all(offset <= MAX_REMINDER_OFFSET for offset in event.own_reminders or ())
            for occurrence in event.occurrences:
                assert dt.timedelta(0) < occurrence.end - occurrence.start <= \
                    MAX_EVENT_LENGTH + dt.timedelta(hours=1)
