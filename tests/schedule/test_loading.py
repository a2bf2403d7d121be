"""The loader: the bad-file corpus, the good files, and what a YAML 1.1 loader would mangle."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from week_planner.schedule import rules, yaml_reading
from week_planner.schedule.checks.times import parse_offset
from week_planner.schedule.jalali import month_length, parse_jalali_date
from week_planner.schedule.loading import load_file, load_text
from week_planner.schedule.problems import translate

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLE = DATA.parent.parent / "schedules" / "khalilabad-1404.yaml"
BAD = sorted((DATA / "bad").glob("*.yaml"))
GOOD = sorted((DATA / "good").glob("*.yaml"))
EXPECT = re.compile(rb"^# expect: (error|warning) ([a-z0-9-]+) (\d+):(\d+)\s*$", re.M)
OCCURS = re.compile(r"^# occurs: (\S+) (\S+) (\S+)\s*$", re.M)
# What the messages must (or must not) say, in a language: "# says fa: …", "# never fa: …".
SAYS = re.compile(r"^# (says|never) (fa|en): (.+?)\s*$", re.M)
TEHRAN = dt.timezone(dt.timedelta(hours=3, minutes=30))


def expectations(path: Path) -> list[tuple[str, str, int, int]]:
    found = [(sev.decode(), code.decode(), int(line), int(col))
             for sev, code, line, col in EXPECT.findall(path.read_bytes()[:2000])]
    assert found, f"{path.name} states no expectation"
    return sorted(found)


def test_corpus_is_large_enough():
    assert len(BAD) >= 30
    assert len(GOOD) >= 8


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_file_gives_exactly_the_stated_problems(path):
    result = load_file(path)
    got = sorted((p.severity, p.code, p.line, p.column) for p in result.problems)
    assert got == expectations(path)
    assert result.programme is None
    for problem in result.problems:
        # Every message is written out in both languages, with nothing left unformatted.
        for language in ("fa", "en"):
            text = problem.text(language)
            assert text and "{" not in text, (language, text)
    for kind, language, words in SAYS.findall(path.read_bytes().decode("utf-8", "replace")):
        texts = [problem.text(language) for problem in result.problems]
        if kind == "says":
            assert any(words in text for text in texts), (words, texts)
        else:
            assert not any(words in text for text in texts), (words, texts)


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_good_file_loads_with_the_stated_occurrences(path):
    result = load_file(path)
    assert result.errors == []
    stated_warnings = [e for e in expectations_or_empty(path) if e[0] == "warning"]
    assert sorted((p.severity, p.code, p.line, p.column) for p in result.warnings) == \
        stated_warnings
    programme = result.programme
    assert programme is not None
    expected = [(key, dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end))
                for key, start, end in OCCURS.findall(path.read_text(encoding="utf-8"))]
    assert expected, f"{path.name} states no occurrence"
    got = [(o.key, o.start, o.end) for o in programme.occurrences()]
    assert sorted(got) == sorted(expected)
    for _, start, end in got:
        assert start.tzinfo is not None and end > start


def expectations_or_empty(path: Path):
    return sorted((sev.decode(), code.decode(), int(line), int(col))
                  for sev, code, line, col in EXPECT.findall(path.read_bytes()[:2000]))


def test_alias_bomb_is_refused_after_a_bounded_number_of_nodes(monkeypatch):
    # The file expands to 10^7 values; the converter must stop at its node limit, not
    # walk them all (counted, not timed: a loaded machine must not fail this).
    visited = []
    original = yaml_reading.Converter.convert

    def counting(self, node):
        visited.append(1)
        return original(self, node)

    monkeypatch.setattr(yaml_reading.Converter, "convert", counting)
    result = load_file(DATA / "bad" / "alias-bomb.yaml")
    assert [p.code for p in result.problems] == ["alias-bomb"]
    assert len(visited) <= rules.MAX_NODES + 1


def test_yaml_1_1_traps_stay_text():
    # A YAML 1.1 loader would read these as a Gregorian date, 570 (base 60) and False.
    result = load_text(SAMPLE_WITH("date: 1404-02-31", 'start: 9:30', "end: 10:00",
                                   "title: no"))
    assert result.errors == [], [p.format("en") for p in result.errors]
    event = result.programme.events[0]
    assert event.title == "no"
    # Ordibehesht has 31 days: 1404-02-31 is a real Jalali day (21 May 2025).
    assert event.dates == (dt.date(2025, 5, 21),)
    assert event.start_time == dt.time(9, 30)
    assert event.end_time == dt.time(10, 0)


def SAMPLE_WITH(date_line: str, start_line: str, end_line: str, title_line: str) -> str:
    return f"""programme:
  id: traps
  title: آزمون
  organiser: اداره
  from: 1404-02-25
  to: 1404-02-31
categories:
  c: {{label: دسته}}
events:
  - id: e
    {title_line}
    category: c
    {date_line}
    {start_line}
    {end_line}
"""


def test_persian_and_arabic_indic_digits_everywhere():
    text = SAMPLE_WITH("date: ۱۴۰۴/۰۲/۳۱", 'start: "۹:۳۰"', "duration: ١h ٣٠m", "title: x")
    result = load_text(text.replace("1404-02-25", "۱۴۰۴-۰۲-۲۵"))
    assert result.errors == [], [p.format("en") for p in result.errors]
    occurrence = result.programme.events[0].occurrences[0]
    assert occurrence.start == dt.datetime(2025, 5, 21, 9, 30, tzinfo=TEHRAN)
    assert occurrence.end == dt.datetime(2025, 5, 21, 11, 0, tzinfo=TEHRAN)


@pytest.mark.parametrize("text, minutes", [
    ("30m", 30), ("2h", 120), ("1d", 1440), ("1d 2h", 1560), ("1h30m", 90),
    ("PT2H", 120), ("P1D", 1440), ("PT1H30M", 90), ("۲h", 120), ("0m", 0),
])
def test_offsets(text, minutes):
    assert parse_offset(text) == dt.timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["", "2", "h", "2x", "soon", "P", "-2h", "1.5h"])
def test_bad_offsets(text):
    assert parse_offset(text) is None


def test_every_valid_jalali_date_loads_as_that_day():
    import jdatetime
    day = jdatetime.date(1399, 1, 1)
    for year in (1399, 1403, 1404, 1408):  # leap years 1399, 1403, 1408
        for month in range(1, 13):
            for d in range(1, month_length(year, month) + 1):
                gregorian = parse_jalali_date(f"{year}-{month:02d}-{d:02d}")
                back = jdatetime.date.fromgregorian(date=gregorian)
                assert (back.year, back.month, back.day) == (year, month, d)
    assert day.togregorian() == dt.date(2020, 3, 20)
    assert month_length(1403, 12) == 30 and month_length(1404, 12) == 29


def test_duplicate_event_ids_name_both_lines():
    result = load_file(DATA / "bad" / "duplicate-event-id.yaml")
    [problem] = result.problems
    assert problem.args["first"] == 13 and problem.args["second"] == 19
    assert "13" in problem.text("en") and "19" in problem.text("en")
    assert "۱۳" in problem.text("fa") and "۱۹" in problem.text("fa")


def test_unknown_key_suggests_the_right_one():
    result = load_file(DATA / "bad" / "unknown-key-suggestion.yaml")
    assert "Did you mean 'date'?" in result.problems[0].text("en")


def test_messages_are_persian_by_default():
    result = load_file(DATA / "bad" / "invalid-date-esfand-30.yaml")
    fa = result.problems[0].text()
    assert re.search("[\u0600-\u06FF]", fa), fa
    assert "اسفند" in fa and "۲۹" in fa
    assert translate("'{key}' must be true or false.", "en", key="draft") == \
        "'draft' must be true or false."


def test_sample_programme_is_the_khalilabad_week():
    result = load_file(Path(__file__).resolve().parents[2] / "schedules" /
                       "khalilabad-1404.yaml")
    assert result.problems == []
    programme = result.programme
    assert programme.id == "khalilabad-1404"
    assert programme.first_day == dt.date(2025, 9, 2)  # 11 Shahrivar 1404, a Tuesday
    assert programme.last_day == dt.date(2025, 9, 8)  # 17 Shahrivar 1404
    assert len(programme.events) == 11
    for figure in ("۲۵۵", "۲۰۰۰", "۸۵", "۴۰۰"):
        assert figure in programme.description
    assert "تعاونی‌ها" in programme.description  # with its zero-width non-joiner
    friday = [e for e in programme.events if e.id == "friday-prayer"][0]
    assert friday.dates[0].weekday() == 4  # a Friday
    reminded = {e.id for e in programme.events if e.reminders}
    assert {"taxi-parade", "best-cooperatives-award", "think-tank",
            "cooperative-visits"} <= reminded


def test_a_control_character_after_an_unusual_line_break_is_placed_on_its_line():
    (problem,) = load_text("a: b\x85c\x01").problems
    # NEL ends line 1 for YAML; the control character is the second of line 2
    assert (problem.line, problem.column, problem.code) == (2, 2, "yaml-syntax")


@pytest.mark.parametrize("text, line", [
    ("programme:\n  id: x\n  organiser: a: b" + " " * 5000 + "c\n", 3),
    ("a" + " " * 5000 + "b: @x\n", 1),
])
def test_a_very_long_line_gets_the_general_syntax_message(text, line):
    """The explanations are for lines people type; a line of thousands of characters gets
    the general message, still at its line (the loading benchmark times such lines)."""
    (problem,) = [p for p in load_text(text).problems if p.code == "yaml-syntax"]
    assert problem.line == line
    assert "YAML cannot read the file from here on" in problem.message


def test_time_in_look_alike_quotes_with_spaces_inside():
    result = load_text('events:\n  - {id: e, start: "\u201c  16:30  \u201d"}\n')
    (problem,) = [p for p in result.problems if p.code == "invalid-time"]
    assert '"16:30"' in problem.text("en")
    long = load_text('events:\n  - {id: e, start: "\u201c' + " " * 5000 + 'x"}\n')
    assert [p.code for p in long.problems if p.path.endswith("start")] == ["invalid-time"]


def test_several_syntax_mistakes_are_named_in_one_go():
    # A missing space after a colon, a Tab and an unclosed quote, far apart: each at its
    # line, so the organiser mends them all before checking again.
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace("title: ادای احترام به شهدای انقلاب",
                        "title:ادای احترام به شهدای انقلاب")
    text = text.replace('    start: "10:00"\n    end: "11:30"', '\tstart: "10:00"\n    end: "11:30"')
    text = text.replace("title: دیدارهای مردمی در روستاها و مساجد",
                        'title: "دیدارهای مردمی در روستاها')
    result = load_text(text, "three.yaml")
    assert [p.code for p in result.problems] == ["yaml-syntax"] * 3
    lines = text.splitlines()
    named = [lines[p.line - 1] for p in result.problems]
    assert "title:ادای" in named[0] and named[1].startswith("\t") and '"دیدارهای' in named[2]
    assert "Tab" in result.problems[1].text("en")


def test_an_unrecognised_syntax_error_is_not_followed_by_guesses():
    text = SAMPLE.read_text(encoding="utf-8").replace("events:\n", "events:\n  ]]\n", 1)
    result = load_text(text, "guess.yaml")
    assert len(result.problems) == 1
