"""Worst-case schedule files: each as close to the 1 MB limit as it gets, built to make the
loader do as much work as a file can ask of it. Used by ``benchmarks/hostile.py`` (time
and peak memory of each) and by the tests of the loader's bounds.

``CASES`` maps a name to a function returning the file's bytes.
"""

from __future__ import annotations

from typing import Callable

LIMIT = 1_000_000 - 1_000  # a little under the loader's 1 MB limit

HEAD = """programme:
  id: hostile-1404
  title: هفته تعاون ۱۴۰۴
  organiser: اداره تعاون
  from: 1404-06-11
  to: 1404-06-17
categories:
  visit: {label: بازدید, reminders: [1d, 2h]}
venues:
  hall: {name: سالن}
"""


def _repeat(head: str, unit: Callable[[int], str], tail: str = "") -> bytes:
    """``head``, then ``unit(n)`` for n = 0, 1, … while the file stays under the limit."""
    parts, size, n = [head], len(head.encode()), 0
    budget = LIMIT - len(tail.encode())
    while True:
        piece = unit(n)
        size += len(piece.encode())
        if size > budget:
            break
        parts.append(piece)
        n += 1
    parts.append(tail)
    return "".join(parts).encode()


def events_each_with_a_bad_date() -> bytes:
    return _repeat(HEAD + "events:\n", lambda n: (
        f"  - {{id: e{n}, title: t, category: visit, date: 1404-13-{n % 28 + 1:02d}, "
        f"start: \"09:00\", end: \"10:00\"}}\n"))


def events_each_with_many_errors() -> bytes:
    return _repeat(HEAD + "events:\n", lambda n: (
        f"  - {{id: E{n}, title: [x], category: nope, date: 2025-09-0{n % 9 + 1}, "
        f"start: \"25:00\", duration: 99999999999m, venue: nowhere, status: maybe, "
        f"url: ftp://x, reminders: [800000d]}}\n"))


def valid_events_many_dates() -> bytes:
    """As many valid events as the format allows, every one on every day at one venue:
    the largest model a file can make (venue overlaps, occurrences)."""
    days = ", ".join(f"1404-06-{day}" for day in range(11, 18))
    return _repeat(HEAD + "events:\n", lambda n: (
        f"  - {{id: e{n}, title: رویداد {n}, category: visit, dates: [{days}], "
        f"start: \"{n % 24:02d}:00\", duration: 2h, venue: hall, reminders: [1d, 2h]}}\n"))


def unknown_keys() -> bytes:
    return _repeat(HEAD + "events:\n  - id: a\n    title: t\n    category: visit\n"
                   "    date: 1404-06-12\n", lambda n: f"    unknown{n}: x\n")


def duplicate_keys() -> bytes:
    return _repeat(HEAD + "events:\n  - id: a\n    title: t\n    category: visit\n"
                   "    date: 1404-06-12\n", lambda n: "    title: x\n")


def many_reminders() -> bytes:
    return _repeat(HEAD + "events:\n  - id: a\n    title: t\n    category: visit\n"
                   "    date: 1404-06-12\n    start: \"09:00\"\n    duration: 1h\n"
                   "    reminders: [", lambda n: f"{n % 1000 + 1}m, ", "1h]\n")


def many_dates() -> bytes:
    return _repeat(HEAD + "events:\n  - id: a\n    title: t\n    category: visit\n"
                   "    start: \"09:00\"\n    duration: 1h\n    dates: [",
                   lambda n: f"1404-06-{n % 40 + 1:02d}, ", "1404-06-12]\n")


def many_categories() -> bytes:
    return _repeat(HEAD.replace("categories:\n", "categories:\n  x: {label: y}\n"),
                   lambda n: f"  c{n}: {{label: l{n}, reminders: [1d, 2h]}}\n")


def long_description() -> bytes:
    head = HEAD + "events:\n  - id: a\n    title: t\n    category: visit\n" \
        "    date: 1404-06-12\n    description: "
    return (head + "ا" * ((LIMIT - len(head.encode())) // 2) + "\n").encode()


def long_line_of_dots() -> bytes:
    """The shape that made the old e-mail pattern backtrack for hours."""
    head = HEAD[:HEAD.index("categories:")] + "  contact: {email: a@"
    return (head + "." * (LIMIT - len(head.encode()) - 3) + "}\n" +
            HEAD[HEAD.index("categories:"):]).encode()


def long_broken_line() -> bytes:
    """A syntax error on a line of almost 1 MB (the explanations skip long lines)."""
    head = HEAD + "events:\n  - id: a\n    title: "
    return (head + "a: " * ((LIMIT - len(head)) // 3) + "\n").encode()


def flat_sequence() -> bytes:
    """The most YAML nodes a megabyte holds."""
    return _repeat(HEAD + "events: [", lambda n: "a,", "a]\n")


def deep_nesting() -> bytes:
    depth = 100_000
    return (HEAD + "events: " + "[" * depth + "]" * depth + "\n").encode()


CASES: dict[str, Callable[[], bytes]] = {
    "events-each-with-a-bad-date": events_each_with_a_bad_date,
    "events-each-with-many-errors": events_each_with_many_errors,
    "valid-events-many-dates": valid_events_many_dates,
    "unknown-keys": unknown_keys,
    "duplicate-keys": duplicate_keys,
    "many-reminders": many_reminders,
    "many-dates": many_dates,
    "many-categories": many_categories,
    "long-description": long_description,
    "long-line-of-dots": long_line_of_dots,
    "long-broken-line": long_broken_line,
    "flat-sequence": flat_sequence,
    "deep-nesting": deep_nesting,
}
