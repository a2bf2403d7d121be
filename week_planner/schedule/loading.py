"""Schedule YAML → model; every problem becomes a Problem with file, line, column, key path.

Entry points: ``load_file(path)`` and ``load_text(data, filename)`` return a LoadResult
holding either a Programme or the problems that kept one from being built (warnings may
come with a programme). ``check_paths`` checks files and folders as ``week-planner check``
does, including programme ids repeated across files.

The YAML is read safely: the document is composed into nodes with no implicit typing
(YAML 1.1 would turn ``1404-06-11`` into a Gregorian date and ``16:00`` into 960), no tag
that builds an object is accepted, duplicate keys are refused and aliases may not expand
beyond a sane size. Plain scalars are typed as in YAML 1.2's core schema.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import gc
import hashlib
import re
import threading
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml
from icalendar.prop import vDuration

from . import jalali
from .model import STATUSES, Category, Contact, Event, Occurrence, Programme, Venue
from .problems import N_, Problem

MAX_FILE_BYTES = 1_000_000
MAX_NODES = 200_000  # nodes visited while expanding aliases; a normal 1 MB file has fewer

# The limits of the format (docs/schedule-format.md, "Limits"). Each is far above what a
# real week needs and low enough that no file can make the pages, feeds or reminder plans
# of the service large or slow: the worst file costs about what a big real one does.
MAX_PROGRAMME_DAYS = 31  # the Cooperative Week is 7
JALALI_YEARS = range(1300, 1500)  # plausible Jalali years (1921–2121)
GREGORIAN_YEARS = range(1900, 2200)  # a year here was most likely typed as a Gregorian one
MAX_EVENT_LENGTH = dt.timedelta(days=3)  # longer: an all-day event on several dates
MAX_REMINDER_OFFSET = dt.timedelta(days=30)
MAX_REMINDERS = 5  # offsets in one 'reminders' list
MAX_EVENTS = 500
MAX_CATEGORIES = 50
MAX_VENUES = 200
MAX_DATES = MAX_PROGRAMME_DAYS  # dates of one event (each at most once, within the week)
MAX_LIST_ITEMS = 20  # hosts, notify
MAX_TEXT = 200  # characters of a title, label, name, host, organiser, phone, e-mail
MAX_ADDRESS = 500
MAX_LONG_TEXT = 10_000  # characters of a description
MAX_URL = 2_000
MAX_PROBLEMS = 100  # reported per file; the rest are counted in one closing problem
MAX_ITEMS = MAX_EVENTS  # items of any list read from the file (the longest list allowed)
# Lines and commas: a bound on the values a file can hold, counted before YAML reads it. The
# largest programme the limits allow has about 20,000; a megabyte of "a," has 500,000, and
# composing those alone would take seconds and 200 MB.
MAX_SEPARATORS = 100_000
ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$|^#[0-9a-fA-F]{3}$")
TIME_RE = re.compile(r"^\s*(\d{1,2})\s*:\s*(\d{2})\s*$")
SHORT_DURATION_RE = re.compile(r"^\s*(?:\d+\s*[dhm]\s*)+$", re.IGNORECASE)
SHORT_DURATION_PART = re.compile(r"(\d+)\s*([dhm])", re.IGNORECASE)


def looks_like_email(value: str) -> bool:
    """name@host.tld: one '@', no spaces, a dot inside the host. String work rather than a
    regular expression, which backtracks for a long time on a long line of dots."""
    local, at, host = value.partition("@")
    return bool(at and local and "@" not in host and "." in host[1:-1]
                and not any(character.isspace() for character in value))


URL_RE = re.compile(r"^https?://\S+$", re.IGNORECASE)
# «…», “…” and the like: quotation marks to a person, ordinary characters to YAML.
_OPENING_LOOK_ALIKES = "«“”„‘’‹"
_CLOSING_LOOK_ALIKES = "»”“‘’›"


def _inside_look_alike_quotes(value: str) -> str | None:
    """The text inside «…», “…” and the like (quotation marks to a person, ordinary
    characters to YAML), or None. Plain string work: linear in the value's length."""
    value = value.strip()
    if len(value) >= 2 and value[0] in _OPENING_LOOK_ALIKES and \
            value[-1] in _CLOSING_LOOK_ALIKES:
        return value[1:-1].strip()
    return None

# Bidi embeddings, overrides and isolates, and other invisible format characters that are
# no part of Persian writing (ZWNJ, ZWJ, LRM, RLM and ALM are, and are kept).
_HIDDEN_CHARACTERS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
                               "\u200b\u2060\ufeff\u00ad\ufff9\ufffa\ufffb")
_ASCII_DIGITS = frozenset("0123456789")
_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _persian_with_latin_digits(text: str) -> bool:
    """Persian text with 0–9 in it and no Latin letters (which would make the digits part
    of a Latin name or code, such as 'COVID-19')."""
    characters = set(text)
    return bool(characters & _ASCII_DIGITS) and not characters & _ASCII_LETTERS and \
        any("\u0600" <= c <= "\u06ff" for c in characters)

# Paths the service itself answers; a programme may not take one of these as its id.
RESERVED_IDS = frozenset({
    "healthz", "metrics", "static", "api", "admin", "export", "feeds", "favicon.ico",
    "robots.txt", "preview", "my", "remind", "unsubscribe", "confirm", "changes",
    "schedule", "calendar", "login", "logout", "assets",
})

PROGRAMME_KEYS = ("id", "title", "organiser", "timezone", "from", "to", "description",
                  "contact", "draft")
CONTACT_KEYS = ("phone", "email", "url")
CATEGORY_KEYS = ("label", "color", "reminders")
VENUE_KEYS = ("name", "address", "location")
EVENT_KEYS = ("id", "title", "category", "date", "dates", "start", "end", "duration",
              "all_day", "venue", "description", "hosts", "reminders", "notify", "status",
              "url")
TOP_KEYS = ("programme", "categories", "venues", "events")


# ---------------------------------------------------------------------------- YAML

class _Loader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):
    """Composes nodes only; with no implicit resolvers every plain scalar stays text."""

    yaml_implicit_resolvers: dict = {}

    # With no implicit resolvers every node gets its kind's default tag; saying so directly
    # spares PyYAML's generic resolver a Python call chain per node (a third of composing
    # a megabyte of short values).
    _DEFAULT_TAGS = {yaml.ScalarNode: "tag:yaml.org,2002:str",
                     yaml.SequenceNode: "tag:yaml.org,2002:seq",
                     yaml.MappingNode: "tag:yaml.org,2002:map"}

    def resolve(self, kind, value, implicit):
        return self._DEFAULT_TAGS[kind]

    def descend_resolver(self, current_node, current_index):
        pass

    def ascend_resolver(self):
        pass


_ALLOWED_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null", "!",
}
_NULLS = {"", "~", "null", "Null", "NULL"}
_INT_RE = re.compile(r"^[-+]?[0-9]+$")
_FLOAT_RE = re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?$")


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based

    @staticmethod
    def of(node: yaml.Node) -> "Mark":
        return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class YMap(dict):
    """A mapping from the file, with where each key and value stood. Like a list, only its
    first MAX_ITEMS keys are read; ``written`` is how many it has."""

    def __init__(self, mark: Mark, written: int = 0):
        super().__init__()
        self.mark = mark
        self.written = written
        self.key_marks: dict[str, Mark] = {}
        self.value_marks: dict[str, Mark] = {}


class YSeq(list):
    """A list from the file. Only its first MAX_ITEMS items are read; ``written`` is how
    many the file has (what a limit's message states)."""

    def __init__(self, mark: Mark, written: int = 0):
        super().__init__()
        self.mark = mark
        self.item_marks: list[Mark] = []
        self.written = written


class YInt(int):
    """A number from the file that remembers how it was written: ``phone: 0515272``
    is a number to YAML, but as text it must keep its leading zero."""

    def __new__(cls, raw: str):
        number = super().__new__(cls, int(raw))
        number.raw = raw
        return number


class YFloat(float):
    def __new__(cls, raw: str):
        number = super().__new__(cls, float(raw))
        number.raw = raw
        return number


def _written(items: list) -> int:
    """How many items a list has in the file (past MAX_ITEMS they are only counted)."""
    return max(len(items), getattr(items, "written", 0))


def _as_written(value: Any) -> str:
    return getattr(value, "raw", None) or str(value)


class _Refused(Exception):
    def __init__(self, mark: Mark, code: str, message: str, **args):
        self.mark, self.code, self.message, self.args_ = mark, code, message, args


class _Converter:
    """yaml nodes → YMap / YSeq / scalars, refusing what the format does not allow."""

    def __init__(self):
        self.visited = 0
        self.active: set[int] = set()
        self.duplicates: list[tuple[Mark, str, Mark]] = []

    def convert(self, node: yaml.Node) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise _Refused(Mark.of(node), "alias-bomb", N_(
                "The file's anchors and aliases (&, *) expand to too large a document. "
                "Write the values out instead of repeating them through aliases."))
        if node.tag not in _ALLOWED_TAGS:
            raise _Refused(Mark.of(node), "forbidden-tag", N_(
                "The YAML tag '{tag}' is not allowed in a schedule file. Remove it and "
                "write the value as plain text."), tag=node.tag)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self.active:
            raise _Refused(Mark.of(node), "alias-bomb", N_(
                "An alias (*) refers to a value that contains it, which never ends. "
                "Write the values out instead."))
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return self._sequence(node)
            return self._mapping(node)
        finally:
            self.active.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        value = node.value
        tag = node.tag
        plain = node.style in (None, "")
        if tag == "tag:yaml.org,2002:str" and not plain:
            return value
        try:
            if tag == "tag:yaml.org,2002:null" or (plain and value in _NULLS and tag != "!"):
                return None
            if tag == "tag:yaml.org,2002:bool" or (plain and value.lower() in ("true", "false")):
                if value.lower() not in ("true", "false"):
                    raise ValueError(value)
                return value.lower() == "true"
            if tag == "tag:yaml.org,2002:int" or (plain and _INT_RE.match(value)):
                # A number longer than any real one stays text: the field it is in says
                # what is wrong with it (Python refuses to read over 4,300 digits).
                return YInt(value) if len(value) <= 100 else value
            if tag == "tag:yaml.org,2002:float" or (plain and _FLOAT_RE.match(value)):
                return YFloat(value)
        except ValueError:
            raise _Refused(Mark.of(node), "wrong-type", N_(
                "'{value}' does not fit its tag {tag}."), value=value, tag=tag) from None
        return value

    def _sequence(self, node: yaml.SequenceNode) -> YSeq:
        # Items past the longest list the format allows are counted, not read: a file of
        # 15,000 events is told it has too many without 15,000 events being checked.
        result = YSeq(Mark.of(node), len(node.value))
        for item in node.value[:MAX_ITEMS + 1]:
            result.append(self.convert(item))
            result.item_marks.append(Mark.of(item))
        return result

    def _mapping(self, node: yaml.MappingNode) -> YMap:
        result = YMap(Mark.of(node), len(node.value))
        merged: list[YMap] = []
        for key_node, value_node in node.value[:MAX_ITEMS + 1]:
            if key_node.tag == "tag:yaml.org,2002:merge" or (
                    isinstance(key_node, yaml.ScalarNode) and key_node.value == "<<"
                    and key_node.style in (None, "")):
                value = self.convert(value_node)
                for source in (value if isinstance(value, list) else [value]):
                    if not isinstance(source, YMap):
                        raise _Refused(Mark.of(value_node), "wrong-type", N_(
                            "A merge key (<<) needs a mapping or a list of mappings."))
                    merged.append(source)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Refused(Mark.of(key_node), "wrong-type", N_(
                    "A key must be a plain word, not a list or a mapping."))
            self.visited += 1
            key = key_node.value
            if key in result:
                self.duplicates.append((Mark.of(key_node), key, result.key_marks[key]))
                continue
            result[key] = self.convert(value_node)
            result.key_marks[key] = Mark.of(key_node)
            result.value_marks[key] = Mark.of(value_node)
        for source in merged:  # explicit keys win over merged ones, earlier merges win
            for key, value in source.items():
                if key not in result:
                    result[key] = value
                    result.key_marks[key] = source.key_marks[key]
                    result.value_marks[key] = source.value_marks[key]
        return result


# ------------------------------------------------------------------- syntax errors
#
# PyYAML reports a syntax error in the parser's terms ("could not find expected ':'") and
# often on the line after the mistake. The organisers' common mistakes are recognised here
# and explained in their words, at the line where they made them; the parser's own text
# stays in the English message and in the JSON 'detail'.

KNOWN_KEYS = frozenset(TOP_KEYS + PROGRAMME_KEYS + CONTACT_KEYS + CATEGORY_KEYS + VENUE_KEYS
                       + EVENT_KEYS)
# Lines longer than this get the general message: the patterns below are written for the
# lines people type, and a megabyte-long line must not keep the loader busy.
_EXPLAINABLE = 1000
_LINE_BREAK = re.compile(r"\r\n|[\n\r\x85\u2028\u2029]")
_NO_SPACE_AFTER_KEY = re.compile(r"^([ \t]*(?:-[ \t]+)*)([A-Za-z_]+):(?=[^\s#])")
_KEY_AND_VALUE = re.compile(r"^([ \t]*(?:-[ \t]+)*)([^\s:#\"'][^:#]*?)[ \t]*:[ \t]+(.+?)[ \t]*$")
_LIST_ITEM = re.compile(r"^([ \t]*)-(?:[ \t]|$)")
_LEADING = re.compile(r"^[ \t]*(?:-[ \t]+)*")


def _parser_words(detail: str) -> dict[str, str]:
    """The parser's English text, shown after the English message only."""
    return {"en": f" (YAML: {detail})" if detail else "", "fa": ""}


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _previous_content_line(lines: list[str], index: int) -> int | None:
    for before in range(min(index, len(lines)) - 1, -1, -1):
        if _is_content(lines[before]):
            return before
    return None


def _syntax_problem(filename: str, text: str, error: yaml.YAMLError) -> Problem:
    """One Problem for a YAML syntax error, named in the organiser's terms."""
    if isinstance(error, yaml.MarkedYAMLError):
        detail = " ".join(part for part in (error.context, error.problem) if part)
    elif isinstance(getattr(error, "character", None), int):
        detail = f"unacceptable character #x{error.character:04x}: " \
                 f"{getattr(error, 'reason', '')}"
    else:
        detail = str(error)
    detail = " ".join(detail.split())
    words = {"detail": detail, "parser": _parser_words(detail)}
    try:
        explained = _explain_syntax(text, error)
    except Exception:  # an explanation must never hide the error itself
        explained = None
    if explained is None:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        return Problem(filename, line, column, "yaml-syntax", N_(_UNREADABLE_FROM_HERE),
                       words)
    line, column, message, args = explained
    return Problem(filename, line, column, "yaml-syntax", message, {**args, **words})


_UNREADABLE_FROM_HERE = N_(
    "YAML cannot read the file from here on{parser}. Check the indentation (spaces, not "
    "tabs), that every 'key: value' has a space after the colon, and put text that "
    "contains ': ' or starts with a special character in Latin double quotes (\"...\").")
MAX_LATER_SYNTAX_PROBLEMS = 9
_LATER_SYNTAX_BELOW = 200_000  # characters: each look is a full parse of the file


def _later_syntax_problems(filename: str, text: str, first: Problem) -> list[Problem]:
    """The mistakes YAML would stop at after the first one, so that an organiser fixes
    them in one go: the line of each mistake is set aside (blanked) and the file read
    again, a few times, in files small enough for that to be quick. Only mistakes
    recognised by name are listed, each below the last: a blanked line can make the lines
    after it look wrong, and such guesses would mislead."""
    if first.message == _UNREADABLE_FROM_HERE or len(text) > _LATER_SYNTAX_BELOW:
        return []
    lines = _LINE_BREAK.split(text)
    found: list[Problem] = []
    line = first.line
    while len(found) < MAX_LATER_SYNTAX_PROBLEMS and 1 <= line <= len(lines):
        lines[line - 1] = ""
        changed = "\n".join(lines)
        try:
            with _cyclic_gc_paused():
                yaml.compose(changed, Loader=_Loader)
            return found
        except yaml.YAMLError as error:
            problem = _syntax_problem(filename, changed, error)
        if problem.message == _UNREADABLE_FROM_HERE or problem.line <= line:
            return found
        found.append(problem)
        line = problem.line
    return found


def _explain_syntax(text: str, error: yaml.YAMLError) -> tuple[int, int, str, dict] | None:
    """(line, column, message, arguments) for a mistake recognised, else None."""
    lines = _LINE_BREAK.split(text)
    if not isinstance(error, yaml.MarkedYAMLError):
        character = getattr(error, "character", None)
        if isinstance(character, int) and not isinstance(character, bool):
            character = chr(character)
        if isinstance(character, str) and len(character) == 1 and character in text:
            position = getattr(error, "position", None)
            at = position if isinstance(position, int) and 0 <= position < len(text) and \
                text[position] == character else text.index(character)
            breaks = list(_LINE_BREAK.finditer(text, 0, at))
            line = len(breaks) + 1
            start = breaks[-1].end() if breaks else 0
            return line, at - start + 1, N_(
                "The file contains an invisible control character ({character}) that a "
                "schedule cannot hold; delete it (it often comes with text pasted from "
                "another program){parser}."), {"character": f"U+{ord(character):04X}"}
        return None

    problem_mark = error.problem_mark or error.context_mark
    context_mark = error.context_mark
    problem = (error.problem or "").lower()
    context = (error.context or "").lower()
    if problem_mark is None:
        return None
    index = min(problem_mark.line, len(lines) - 1)
    line_text = lines[index]
    if len(line_text) > _EXPLAINABLE:
        return None

    # A key's colon with no space after it ("title:نشست"): the parser only notices on the
    # next line, so look back to where the mistake is.
    previous = _previous_content_line(lines, index)
    if previous is not None and len(lines[previous]) > _EXPLAINABLE:
        previous = None
    scanning_key = context_mark.line if context_mark and "simple key" in context else None
    earliest = min(x for x in (index, previous, scanning_key) if x is not None)
    for candidate in range(index, earliest - 1, -1):
        if len(lines[candidate]) > _EXPLAINABLE:
            continue
        match = _NO_SPACE_AFTER_KEY.match(lines[candidate])
        if match and match.group(2) in KNOWN_KEYS:
            key = match.group(2)
            value = lines[candidate][match.end():].strip()
            return candidate + 1, match.end(2) + 1, N_(
                "A space is needed after the colon of '{key}:'. Write {fixed}{parser}."), \
                {"key": key, "fixed": f"{key}: {value}"}

    # A Tab in the indentation.
    for candidate in ([index] + ([context_mark.line] if context_mark else [])):
        if candidate < len(lines):
            indent = re.match(r"^[ \t-]*", lines[candidate]).group(0)
            if "\t" in indent:
                return candidate + 1, indent.index("\t") + 1, _TAB_MESSAGE, {}
    if "tab" in problem or "'\\t'" in problem:
        return problem_mark.line + 1, problem_mark.column + 1, _TAB_MESSAGE, {}

    # A quote that is opened and not closed on its line.
    if "quoted scalar" in context and context_mark is not None:
        return context_mark.line + 1, context_mark.column + 1, _UNCLOSED_QUOTE, {}
    opened = _multiline_quote_before(text, problem_mark)
    if opened is not None:
        return opened.line + 1, opened.column + 1, _UNCLOSED_QUOTE, {}

    # A value that starts with a character YAML reserves (@, `, *, &, !, |, >, %).
    for mark in (problem_mark, context_mark):
        special = _special_start(lines, mark)
        if special is not None:
            return special

    if "flow sequence" in context or "flow mapping" in context:
        opening = "[" if "sequence" in context else "{"
        closing = "]" if opening == "[" else "}"
        if context_mark is not None and context_mark.line < len(lines) and \
                closing not in lines[context_mark.line][context_mark.column:]:
            return context_mark.line + 1, context_mark.column + 1, N_(
                "The '{opening}' that opens here is not closed: end it with '{closing}' on "
                "the same line (or, if this is text, put it in Latin double "
                "quotes){parser}."), {"opening": opening, "closing": closing}

    if "mapping values are not allowed" in problem:
        if previous is not None and _indent(line_text) > _indent(lines[previous]) and \
                _KEY_AND_VALUE.match(lines[previous]):
            return _indentation_problem(lines, index)
        match = _KEY_AND_VALUE.match(line_text)
        if match:
            value = match.group(3)
            value = re.sub(r"[ \t]+#.*$", "", value)
            quoted = value.replace("\\", "\\\\").replace('"', '\\"')
            return problem_mark.line + 1, problem_mark.column + 1, N_(
                "The value of '{key}' contains ': ' (a colon and a space), which YAML reads "
                "as the start of another key. Put the whole value in Latin double quotes: "
                "{fixed}{parser}."), {"key": match.group(2).strip(),
                                      "fixed": f'{match.group(2).strip()}: "{quoted}"'}
        return None

    if "could not find expected ':'" in problem and context_mark is not None:
        return context_mark.line + 1, context_mark.column + 1, N_(
            "This line is not in the form 'key: value': a key, a colon and a space, then "
            "the value (or put the text on the line above, after its key){parser}."), {}

    if "expected '-' indicator" in problem or "expected key" in problem or \
            "block end" in problem:
        return _indentation_problem(lines, index)

    return None


_RESERVED_START = "@`*&!|>%"
_VALUE_START = re.compile(r"^([ \t]*(?:-[ \t]+)*)(?:([^\s:#\"'][^:#]*?)[ \t]*:[ \t]+)?$")


def _special_start(lines: list[str], mark: Any) -> tuple[int, int, str, dict] | None:
    if mark is None or mark.line >= len(lines):
        return None
    line = lines[mark.line]
    if len(line) > _EXPLAINABLE or mark.column >= len(line) or \
            line[mark.column] not in _RESERVED_START:
        return None
    before = _VALUE_START.match(line[:mark.column])
    if before is None or (before.group(2) is None and "-" not in before.group(1)):
        return None
    value = re.sub(r"[ \t]+#.*$", "", line[mark.column:]).strip()
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    key = before.group(2)
    return mark.line + 1, mark.column + 1, N_(
        "This value starts with '{character}', which means something else to YAML. Put "
        "the whole value in Latin double quotes: {fixed}{parser}."), {
            "character": line[mark.column],
            "fixed": f"{key.strip()}: {quoted}" if key else f"- {quoted}"}


_TAB_MESSAGE = N_(
    "This line is indented with a Tab. YAML indents with spaces only: delete the Tab and "
    "type spaces, as many as the lines of the same level above{parser}.")
_UNCLOSED_QUOTE = N_(
    "The quote that opens here is not closed. End the text with the same quote mark "
    "(\" or ') on this line{parser}.")


def _indent(line: str) -> int:
    """Where the line's key starts (after any '- '), counting the Tab as one character."""
    return len(_LEADING.match(line).group(0))


def _indentation_problem(lines: list[str], index: int) -> tuple[int, int, str, dict]:
    line_text = lines[index]
    found = _indent(line_text)
    # Compare a '- ' item with the item above it, a key with the line above it.
    other = None
    item = _LIST_ITEM.match(line_text)
    for before in range(index - 1, -1, -1):
        if not _is_content(lines[before]):
            continue
        if item is None:
            other = before
            break
        previous_item = _LIST_ITEM.match(lines[before])
        if previous_item:
            other = before
            break
    column = (len(item.group(1)) if item else found) + 1
    if other is not None:
        expected = len(_LIST_ITEM.match(lines[other]).group(1)) + 1 if item \
            else _indent(lines[other]) + 1
        if expected != column:
            return index + 1, column, N_(
                "This line is not indented like the lines around it: it starts at column "
                "{found}, line {other} at column {expected}. The keys of one mapping start "
                "in the same column, and so do the '- ' items of one list; indent with "
                "spaces only{parser}."), {"found": column, "other": other + 1,
                                          "expected": expected}
    return index + 1, column, N_(
        "This line is not indented like the lines around it. The keys of one mapping "
        "start in the same column, and so do the '- ' items of one list; indent with "
        "spaces only{parser}."), {}


def _multiline_quote_before(text: str, mark: Any) -> Any:
    """Where a quoted value starts that runs over several lines and ends just before the
    error: almost always a closing quote left out."""
    last = None
    try:
        for token in yaml.scan(text, Loader=_Loader):
            if (token.start_mark.line, token.start_mark.column) >= (mark.line, mark.column):
                break
            last = token
    except yaml.YAMLError:
        pass
    if isinstance(last, yaml.ScalarToken) and last.style in ('"', "'") and \
            last.start_mark.line != last.end_mark.line:
        return last.start_mark
    return None


_gc_lock = threading.Lock()
_gc_pausers = 0


@contextlib.contextmanager
def _cyclic_gc_paused():
    """Composing a megabyte of YAML makes some 100,000 nodes, and Python's cyclic garbage
    collector runs over all of them again and again as they are made: 1.0 s of a 1.2 s
    compose (0.2 s without it). Nodes form no cycles, so reference counting frees them as
    usual; the collector is paused (once, however many threads load) and then resumed."""
    global _gc_pausers
    with _gc_lock:
        if _gc_pausers == 0:
            _pause_state["was_enabled"] = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _pause_state["was_enabled"]:
                gc.enable()


_pause_state = {"was_enabled": True}


# --------------------------------------------------------------------------- results

@dataclass
class LoadResult:
    file: str
    programme: Programme | None = None
    problems: list[Problem] = field(default_factory=list)
    id_mark: Mark | None = None  # where the programme id is written

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    @property
    def ok(self) -> bool:
        return self.programme is not None and not self.errors


def load_file(path: str | Path, display_name: str | None = None,
              channels: Iterable[str] | None = None) -> LoadResult:
    """Read and validate one schedule file. Never raises for anything in the file."""
    name = display_name or str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        return LoadResult(name, problems=[Problem(name, 0, 0, "unreadable-file", N_(
            "The file cannot be read: {reason}"), {"reason": error.strerror or str(error)})])
    return load_text(data, name, channels=channels)


def load_text(data: bytes | str, filename: str = "<text>",
              channels: Iterable[str] | None = None) -> LoadResult:
    """Validate a schedule given as bytes (or text) and build its Programme."""
    result = LoadResult(filename)
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > MAX_FILE_BYTES:
        result.problems.append(Problem(filename, 0, 0, "file-too-large", N_(
            "The file is larger than 1 MB. Split the week into one file per programme."),
            {}))
        return result
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        result.problems.append(Problem(filename, line, column, "not-utf8", N_(
            "The file is not UTF-8 text. Save it again as UTF-8 (in Notepad: Save As, "
            "Encoding: UTF-8)."), {}))
        return result
    text = text.lstrip("\ufeff")
    if not text.strip() or all(not line.strip() or line.lstrip().startswith("#")
                               for line in text.splitlines()):
        result.problems.append(Problem(filename, 0, 0, "empty-file", N_(
            "The file is empty. Start it with 'programme:' (see docs/schedule-format.md)."),
            {}))
        return result

    separators = text.count("\n") + text.count(",")
    if separators > MAX_SEPARATORS:
        result.problems.append(Problem(filename, 0, 0, "too-many", N_(
            "The file has {found} lines and commas; a programme has far fewer (at most "
            "{limit}). Check that this is the right file."), {
                "found": separators, "limit": MAX_SEPARATORS}))
        return result
    try:
        with _cyclic_gc_paused():
            node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as error:
        first = _syntax_problem(filename, text, error)
        result.problems.append(first)
        result.problems.extend(_later_syntax_problems(filename, text, first))
        return result

    converter = _Converter()
    try:
        with _cyclic_gc_paused():
            document = converter.convert(node)
    except _Refused as refused:
        result.problems.append(Problem(filename, refused.mark.line, refused.mark.column,
                                       refused.code, refused.message, refused.args_))
        return result
    except RecursionError:
        result.problems.append(Problem(filename, 0, 0, "too-deep", N_(
            "The file is nested too deeply to be a schedule."), {}))
        return result
    for mark, key, first in converter.duplicates:
        result.problems.append(Problem(filename, mark.line, mark.column, "duplicate-key", N_(
            "The key '{key}' appears twice in the same place (first on line {first}). "
            "Keep one of them: otherwise one value would be silently lost."),
            {"key": key, "first": first.line}))

    builder = _Builder(filename, channels)
    programme = builder.build(document, hashlib.sha256(raw).hexdigest()[:16])
    result.problems.extend(builder.problems)
    result.id_mark = builder.id_mark
    result.problems.sort(key=lambda p: (p.line, p.column, p.severity != "error"))
    unreported = dict(builder.unreported)
    for problem in result.problems[MAX_PROBLEMS:]:
        unreported[problem.severity] += 1
    del result.problems[MAX_PROBLEMS:]
    if unreported["error"] or unreported["warning"]:
        result.problems.append(Problem(
            filename, 0, 0, "too-many-problems", N_(
                "… and {count} more problems ({errors} of them errors) that are not listed. "
                "Correct the ones above and check the file again."),
            {"count": unreported["error"] + unreported["warning"],
             "errors": unreported["error"]},
            "error" if unreported["error"] else "warning"))
    if not result.errors and not builder.error_count:
        result.programme = programme
    return result


def check_paths(paths: Iterable[str | Path], channels: Iterable[str] | None = None,
                ) -> list[LoadResult]:
    """Load every schedule file under ``paths``; add duplicate programme ids as errors."""
    files = schedule_files(paths)
    results = [load_file(path, channels=channels) for path in files]
    order = sorted(range(len(files)), key=lambda i: keeping_order(files[i]))
    add_duplicate_id_problems([results[i] for i in order])
    return results


def keeping_order(path: Path) -> tuple:
    """Which of two files with one programme id keeps it: the one changed longer ago (the
    original, not the copy being edited), and on equal times the first by name. The
    registry serves a folder by the same rule when it starts."""
    try:
        modified = path.stat().st_mtime_ns
    except OSError:
        modified = 0
    return (modified, str(path))


def schedule_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir()
                                if p.suffix in (".yaml", ".yml") and p.is_file()
                                and not p.name.startswith(".")))
        else:
            files.append(path)
    return files


def add_duplicate_id_problems(results: list[LoadResult]) -> None:
    """Files sharing a programme id, given in keeping order (the first keeps the id, as it
    is the one served): every later one gets an error at its id naming the first, and no
    programme."""
    seen: dict[str, LoadResult] = {}
    for result in results:
        programme = result.programme
        if programme is None:
            continue
        first = seen.get(programme.id)
        if first is None:
            seen[programme.id] = result
            continue
        mark = result.id_mark or Mark(0, 0)
        result.problems.append(Problem(result.file, mark.line, mark.column,
                                       "duplicate-programme-id", N_(
            "The programme id '{id}' is already used by {other}, which keeps it; this file "
            "is not published until it has an id of its own. Programme ids must be unique "
            "across the schedules folder."),
            {"id": programme.id, "other": first.file}, path="programme.id"))
        result.problems.sort(key=lambda p: (p.line, p.column, p.severity != "error"))
        result.programme = None


# --------------------------------------------------------------------------- building

# Words filled into messages, in each language (see problems.translate).
WHAT = {
    "programme": {"en": "a programme", "fa": "برنامه"},
    "category": {"en": "a category", "fa": "دسته"},
    "venue": {"en": "a venue", "fa": "مکان"},
    "event": {"en": "an event", "fa": "رویداد"},
    # counted things, after a number ("7 reminders"; Persian keeps the singular)
    "reminders": {"en": "reminders", "fa": "یادآوری"},
    "items": {"en": "items", "fa": "مورد"},
    "events": {"en": "events", "fa": "رویداد"},
    "categories": {"en": "categories", "fa": "دسته"},
    "venues": {"en": "venues", "fa": "مکان"},
    "dates": {"en": "dates", "fa": "تاریخ"},
    "keys": {"en": "keys", "fa": "کلید"},
    # what a length of time is ("longer than … may be")
    "reminder": {"en": "the time of a reminder before its event",
                 "fa": "فاصلهٔ یادآوری تا رویداد"},
    "duration": {"en": "an event", "fa": "یک رویداد"},
}


def _format_length(length: dt.timedelta) -> dict[str, str]:
    """«۳۰ روز» / "30 days": a limit as the organiser reads it."""
    days, hours = length.days, length.seconds // 3600
    english = f"{days} days" if not hours else f"{days * 24 + hours} hours"
    persian = f"{days} روز" if not hours else f"{days * 24 + hours} ساعت"
    return {"en": english, "fa": jalali.to_persian_digits(persian)}


def _stated(text: str) -> dict[str, str]:
    """A value the checker states (a computed date, a time it read): Persian digits in
    Persian sentences. Values quoted as the organiser wrote them stay as written."""
    return {"en": text, "fa": jalali.to_persian_digits(text)}


def _did_you_mean(suggestion: str | None) -> dict[str, str]:
    if not suggestion:
        return {"en": "", "fa": ""}
    return {"en": f" (did you mean '{suggestion}'?)", "fa": f"؛ شاید منظورتان «{suggestion}» است"}


def _suggest(word: str, choices: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def _comparable(text: str) -> str:
    """Text as organisers mean it: Persian letters for Arabic ي/ك, no ZWNJ or spaces."""
    return re.sub(r"[\s\u200c\u200f\u200e]+", "", jalali.normalise_letters(text)).casefold()


def _suggest_reference(value: str, names: dict[str, str]) -> dict[str, str]:
    """The hint for a category or venue reference that names no id: the id whose label
    (or venue name) was written instead, else a close id, else a close label."""
    wanted = _comparable(value)
    for choice_id, name in names.items():
        if _comparable(name) == wanted:
            return {"en": f" (you mean '{choice_id}' ({name}): write the id here, not the "
                          f"name)",
                    "fa": f"؛ منظورتان «{choice_id}» ({name}) است: این‌جا شناسه را بنویسید، "
                          f"نه نام را"}
    close = _suggest(value, names)
    if close:
        return _did_you_mean(close)
    by_name = {_comparable(name): choice_id for choice_id, name in names.items()}
    found = difflib.get_close_matches(wanted, list(by_name), n=1, cutoff=0.75)
    if found:
        choice_id = by_name[found[0]]
        return {"en": f" (did you mean '{choice_id}' ({names[choice_id]})?)",
                "fa": f"؛ شاید منظورتان «{choice_id}» ({names[choice_id]}) است"}
    return _did_you_mean(None)


class _Builder:
    """Checks the composed document against the format and builds the model."""

    def __init__(self, filename: str, channels: Iterable[str] | None):
        self.file = filename
        self.channels = set(channels) if channels is not None else None
        self.problems: list[Problem] = []
        self.error_count = 0  # every error found, reported or not
        self.unreported: dict[str, int] = {"error": 0, "warning": 0}
        self.event_marks: dict[str, Mark] = {}
        self.id_mark: Mark | None = None
        # Ids written under categories / venues, including those with errors of their own
        # (an event naming one of them is not told that it does not exist).
        self.declared: dict[str, set[str]] = {"categories": set(), "venues": set()}

    # -- reporting
    def problem(self, mark: Mark | None, code: str, message: str, path: str = "",
                severity: str = "error", **args) -> None:
        if severity == "error":
            self.error_count += 1
        if self.full:
            self.unreported[severity] += 1
            return
        line, column = (mark.line, mark.column) if mark else (0, 0)
        self.problems.append(Problem(self.file, line, column, code, message, args,
                                     severity, path))

    @property
    def full(self) -> bool:
        """Enough problems reported: the rest are only counted (a file of 15,000 broken
        events is told about its first hundred, not made into a 200 MB report)."""
        return len(self.problems) >= MAX_PROBLEMS

    def too_many(self, mark: Mark | None, what: dict, found: int, limit: int,
                 path: str) -> None:
        self.problem(mark, "too-many", N_(
            "There are {found} {what} here; at most {limit} are allowed. Only the first "
            "{limit} are checked."), path, found=found, what=what, limit=limit)

    def too_long(self, mark: Mark, key: str, path: str, length: int, limit: int) -> None:
        self.problem(mark, "too-long", N_(
            "'{key}' is {length} characters long; it may have at most {limit}. Shorten it "
            "(a long text belongs on the programme's own web page, linked with 'url')."),
            path, key=key, length=length, limit=limit)

    def _value_mark(self, parent: YMap, key: str) -> Mark:
        return parent.value_marks.get(key, parent.mark)

    # -- generic checks
    def keys(self, mapping: YMap, allowed: tuple[str, ...], required: tuple[str, ...],
             path: str) -> None:
        if _written(mapping) > MAX_ITEMS:
            self.too_many(mapping.mark, WHAT["keys"], _written(mapping), len(allowed), path)
        for key in mapping:
            if key not in allowed:
                if self.full:  # only counted: no need to look for a suggestion
                    self.problem(None, "unknown-key", "", path)
                    continue
                suggestion = _suggest(key, allowed)
                where = f"{path}.{key}" if path else key
                before, colon, after = str(key).partition(":")
                if colon and before in allowed and after.strip():
                    # {label:نشست} reads as one key "label:نشست" with no value.
                    self.problem(mapping.key_marks[key], "unknown-key", N_(
                        "A space is needed after the colon of '{key}:'. Write "
                        "{fixed}{parser}."), where, key=before,
                        fixed=f"{before}: {after.strip()}", parser=_parser_words(""))
                elif suggestion:
                    self.problem(mapping.key_marks[key], "unknown-key", N_(
                        "Unknown key '{key}'. Did you mean '{suggestion}'?"), where,
                        key=key, suggestion=suggestion)
                else:
                    self.problem(mapping.key_marks[key], "unknown-key", N_(
                        "Unknown key '{key}'. Allowed here: {allowed}."), where,
                        key=key, allowed=", ".join(allowed))
        glued = {str(key).partition(":")[0] for key in mapping if ":" in str(key)}
        for key in required:
            if key not in mapping and key not in glued:
                self.problem(mapping.mark, "missing-key", N_(
                    "'{key}' is missing here; it is required."),
                    f"{path}.{key}" if path else key, key=key)

    def mapping(self, parent: YMap, key: str, path: str) -> YMap | None:
        value = parent.get(key)
        if value is None:
            return None
        if not isinstance(value, YMap):
            self.problem(self._value_mark(parent, key), "wrong-type", N_(
                "'{key}' must be a mapping of 'name: value' lines, indented under it."),
                path, key=key)
            return None
        return value

    def text(self, parent: YMap, key: str, path: str, required: bool = False,
             limit: int = MAX_TEXT) -> str | None:
        value = parent.get(key)
        if value is None:
            if required and key in parent:
                self.problem(self._value_mark(parent, key), "missing-key", N_(
                    "'{key}' is empty; it is required."), path, key=key)
            return None
        if isinstance(value, bool) or isinstance(value, (YMap, YSeq)):
            self.problem(self._value_mark(parent, key), "wrong-type", N_(
                "'{key}' must be text."), path, key=key)
            return None
        text = _as_written(value).strip()
        if not text:
            if required:
                self.problem(self._value_mark(parent, key), "missing-key", N_(
                    "'{key}' is empty; it is required."), path, key=key)
            return None
        if len(text) > limit:
            self.too_long(self._value_mark(parent, key), key, path, len(text), limit)
            return None
        if not self.plain_text(text, self._value_mark(parent, key), key, path):
            return None
        if jalali.has_arabic_letters(text):
            self.problem(self._value_mark(parent, key), "arabic-letters", N_(
                "'{key}' contains the Arabic letters ي or ك; the Persian ی and ک are "
                "probably meant (switch the keyboard layout to Persian)."),
                path, severity="warning", key=key)
        return text

    def plain_text(self, text: str, mark: Mark, key: str, path: str) -> bool:
        """Refuse invisible characters that change what text around them looks like (a
        bidi override turns «کارگاه» on a page into its mirror image, an escape character
        garbles a terminal); warn of digits a Persian reader does not expect. False when
        the text is refused."""
        hidden = next((c for c in text if c in _HIDDEN_CHARACTERS or (
            ord(c) < 32 and c not in "\n\t") or 0x7f <= ord(c) < 0xa0), None)
        if hidden is not None:
            self.problem(mark, "control-character", N_(
                "'{key}' contains an invisible character ({character}) that changes how "
                "the text around it is shown; delete it (it often comes with text pasted "
                "from another program)."), path, key=key,
                character=f"U+{ord(hidden):04X}")
            return False
        if any(c in jalali.ARABIC_INDIC_DIGITS for c in text):
            self.problem(mark, "arabic-digits", N_(
                "'{key}' has Arabic digits (٤ ٥ ٦); Persian digits (۴ ۵ ۶) are probably "
                "meant (switch the keyboard layout to Persian)."), path,
                severity="warning", key=key)
        elif _persian_with_latin_digits(text):
            self.problem(mark, "latin-digits", N_(
                "'{key}' is Persian text with Latin digits (0–9); pages show it as written, "
                "so write the numbers with Persian digits (۰–۹)."), path,
                severity="warning", key=key)
        return True

    def slug(self, value: Any, mark: Mark, path: str, what: dict) -> str | None:
        text = _as_written(value) if isinstance(value, (str, int)) and \
            not isinstance(value, bool) else None
        if text is None or not ID_RE.match(text):
            self.problem(mark, "invalid-id", N_(
                "'{value}' cannot be used as {what} id: use lowercase English letters, "
                "digits and '-', at most 64 characters (for example 'taxi-parade')."),
                path, value="" if value is None else str(value), what=what)
            return None
        return text

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
                path, value=value, jalali=_stated(converted))
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
        inner = _inside_look_alike_quotes(value) if isinstance(value, str) else None
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
                value=str(value), what=what, limit=_format_length(limit))
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
        if _written(value) > MAX_REMINDERS:
            self.too_many(parent.value_marks[key], WHAT["reminders"], _written(value),
                          MAX_REMINDERS, path)
        found: set[dt.timedelta] = set()
        for index, (item, mark) in enumerate(zip(value[:MAX_REMINDERS], marks)):
            offset = self.offset(item, mark, f"{path}[{index}]", positive=False,
                                 limit=MAX_REMINDER_OFFSET, what=WHAT["reminder"])
            if offset is not None:
                found.add(offset)
        return tuple(sorted(found, reverse=True))

    def text_list(self, parent: YMap, key: str, path: str) -> tuple[str, ...]:
        value = parent.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            value, marks = [value], [parent.value_marks[key]]
        elif isinstance(value, YSeq):
            marks = value.item_marks
        else:
            self.problem(self._value_mark(parent, key), "wrong-type", N_(
                "'{key}' must be a list, for example [first, second]."), path, key=key)
            return ()
        if _written(value) > MAX_LIST_ITEMS:
            self.too_many(self._value_mark(parent, key), WHAT["items"], _written(value),
                          MAX_LIST_ITEMS, path)
        items = []
        for index, (item, mark) in enumerate(zip(value[:MAX_LIST_ITEMS], marks)):
            if item is None or isinstance(item, (bool, YMap, YSeq)):
                self.problem(mark, "wrong-type", N_("'{key}' must be a list of texts."),
                             f"{path}[{index}]", key=key)
                continue
            text = _as_written(item).strip()
            if len(text) > MAX_TEXT:
                self.too_long(mark, key, f"{path}[{index}]", len(text), MAX_TEXT)
                continue
            if not self.plain_text(text, mark, key, f"{path}[{index}]"):
                continue
            items.append(text)
            if jalali.has_arabic_letters(items[-1]):
                self.problem(mark, "arabic-letters", N_(
                    "'{key}' contains the Arabic letters ي or ك; the Persian ی and ک are "
                    "probably meant (switch the keyboard layout to Persian)."),
                    f"{path}[{index}]", severity="warning", key=key)
        return tuple(items)

    def boolean(self, parent: YMap, key: str, path: str) -> bool:
        value = parent.get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.problem(self._value_mark(parent, key), "wrong-type", N_(
                "'{key}' must be true or false."), path, key=key)
            return False
        return value

    def url(self, parent: YMap, key: str, path: str) -> str | None:
        value = self.text(parent, key, path, limit=MAX_URL)
        if value is not None and not URL_RE.match(value):
            self.problem(self._value_mark(parent, key), "invalid-url", N_(
                "'{value}' is not a web address; it must start with http:// or https://."),
                path, value=value)
            return None
        return value

    # -- sections
    def build(self, document: Any, version: str) -> Programme | None:
        if not isinstance(document, YMap):
            self.problem(getattr(document, "mark", Mark(1, 1)), "wrong-type", N_(
                "A schedule file must be a mapping that starts with 'programme:'."))
            return None
        self.keys(document, TOP_KEYS, ("programme", "categories", "events"), "")
        head = self.mapping(document, "programme", "programme")
        if "programme" in document and head is None and document["programme"] is None:
            self.problem(document.key_marks["programme"], "missing-key", N_(
                "'{key}' is empty; it is required."), "programme", key="programme")
        header = self.programme_header(head) if head is not None else None
        categories = self.categories(document)
        venues = self.venues(document)
        events = self.events(document, header, categories, venues)
        if header is None or self._has_errors():
            return None
        self.venue_overlaps(events)
        return Programme(categories=categories, venues=venues, events=tuple(events),
                         source=self.file, version=version, **header)

    def _has_errors(self) -> bool:
        return self.error_count > 0

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
        timezone = self.text(head, "timezone", "programme.timezone") or "Asia/Tehran"
        if not _valid_timezone(timezone):
            suggestion = _suggest(timezone, zoneinfo.available_timezones())
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
        if _written(section) > MAX_CATEGORIES:
            self.too_many(section.mark, WHAT["categories"], _written(section), MAX_CATEGORIES,
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
        if section and _written(section) > MAX_VENUES:
            self.too_many(section.mark, WHAT["venues"], _written(section), MAX_VENUES,
                          "venues")
        for raw_id, value in list((section or {}).items())[:MAX_VENUES]:
            path = f"venues.{raw_id}"
            venue_id = self.slug(raw_id, section.key_marks[raw_id], path, WHAT["venue"])
            venue = self.venue(value, section.value_marks[raw_id], path, venue_id)
            if venue_id and venue:
                result[venue_id] = venue
        return result

    def events(self, document: YMap, header: dict | None, categories: dict[str, Category],
               venues: dict[str, Venue]) -> list[Event]:
        section = document.get("events")
        if section is None:
            return []
        if not isinstance(section, YSeq):
            self.problem(document.value_marks["events"], "wrong-type", N_(
                "'events' must be a list: each event starts with '- id: ...'."), "events")
            return []
        seen: dict[str, Mark] = {}
        events = []
        if _written(section) > MAX_EVENTS:
            self.too_many(document.value_marks["events"], WHAT["events"], _written(section),
                          MAX_EVENTS, "events")
        for index, (item, mark) in enumerate(zip(section[:MAX_EVENTS], section.item_marks)):
            event = self.event(item, mark, f"events[{index}]", header, categories, venues)
            if event is None:
                continue
            if event.id in seen:
                self.problem(item.value_marks["id"], "duplicate-event-id", N_(
                    "The event id '{id}' is used twice, on lines {first} and {second}. "
                    "Give each event its own id, and never reuse an old one."),
                    f"events[{index}].id", id=event.id, first=seen[event.id].line,
                    second=item.value_marks["id"].line)
                continue
            seen[event.id] = item.value_marks["id"]
            self.event_marks[event.id] = mark
            events.append(event)
        return events

    def event(self, item: Any, mark: Mark, path: str, header: dict | None,
              categories: dict[str, Category], venues: dict[str, Venue]) -> Event | None:
        if not isinstance(item, YMap):
            self.problem(mark, "wrong-type", N_(
                "Each event is a mapping that starts with '- id: ...'."), path)
            return None
        before = self.error_count
        self.keys(item, EVENT_KEYS, ("id", "title", "category"), path)
        event_id = None
        if "id" in item:
            event_id = self.slug(item["id"], item.value_marks["id"], f"{path}.id", WHAT["event"])
        title = self.text(item, "title", f"{path}.title", required=True)

        category = None
        if item.get("category") is not None:
            name = str(item["category"])
            category = categories.get(name)
            if category is None and name not in self.declared["categories"]:
                self.problem(item.value_marks["category"], "unknown-category", N_(
                    "There is no category '{value}' under 'categories'{hint}."),
                    f"{path}.category", value=name, hint=_suggest_reference(
                        name, {key: c.label for key, c in categories.items()}))

        dates = self.event_dates(item, path, header)
        all_day, start, end, duration = self.event_times(item, path)

        venue = None
        if item.get("venue") is not None:
            if isinstance(item["venue"], YMap):
                venue = self.venue(item["venue"], item.value_marks["venue"], f"{path}.venue",
                                   None)
            else:
                name = str(item["venue"])
                venue = venues.get(name)
                if venue is None and name not in self.declared["venues"]:
                    self.problem(item.value_marks["venue"], "unknown-venue", N_(
                        "There is no venue '{value}' under 'venues'{hint}."),
                        f"{path}.venue", value=name, hint=_suggest_reference(
                            name, {key: v.name for key, v in venues.items()}))

        status = self.text(item, "status", f"{path}.status") or "scheduled"
        if status not in STATUSES:
            self.problem(item.value_marks["status"], "invalid-status", N_(
                "'{value}' is not a status; use scheduled, tentative or cancelled."),
                f"{path}.status", value=status)
            status = "scheduled"
        notify = self.text_list(item, "notify", f"{path}.notify")
        if self.channels is not None:
            for name in notify:
                if name not in self.channels:
                    self.problem(item.value_marks["notify"], "unknown-channel", N_(
                        "The channel '{value}' is not defined in the channels file."),
                        f"{path}.notify", severity="warning", value=name)
        own_reminders = self.offsets(item, "reminders", f"{path}.reminders")
        description = self.text(item, "description", f"{path}.description",
                                limit=MAX_LONG_TEXT)
        hosts = self.text_list(item, "hosts", f"{path}.hosts")
        url = self.url(item, "url", f"{path}.url")

        if self.error_count > before or not (event_id and title and category and dates) \
                or header is None:
            return None
        tz = zoneinfo.ZoneInfo(header["timezone"]) if _valid_timezone(header["timezone"]) \
            else None
        if tz is None:
            return None
        occurrences = tuple(
            _occurrence(event_id, day, tz, all_day, start, end, duration, len(dates) > 1)
            for day in dates)
        if not all_day:
            self.edge_times(item, path, dates, tz, header["timezone"],
                            (("start", start), ("end", end)))
        return Event(id=event_id, title=title, category=category, dates=dates,
                     occurrences=occurrences, all_day=all_day, start_time=start,
                     end_time=end, duration=duration, venue=venue,
                     description=description, hosts=hosts, own_reminders=own_reminders,
                     notify=notify, status=status, url=url, line=mark.line)

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
            if _written(values) > MAX_DATES:
                self.too_many(item.value_marks["dates"], WHAT["dates"], _written(values),
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
                    first=_stated(jalali.iso_jalali(header["first_day"])),
                    last=_stated(jalali.iso_jalali(header["last_day"])))
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
                args = {"day": _stated(jalali.iso_jalali(day)), "zone": zone_name,
                        "time": _stated(time.strftime("%H:%M")),
                        "shown": _stated(shown.strftime("%H:%M"))}
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
                    f"{path}.end", end=_stated(end.strftime("%H:%M")),
                    start=_stated(start.strftime("%H:%M")))
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

    def venue_overlaps(self, events: list[Event]) -> None:
        by_venue: dict[str, list[tuple[Occurrence, Event]]] = {}
        for event in events:
            if event.venue is None or event.cancelled:
                continue
            key = event.venue.id or jalali.normalise_letters(event.venue.name)
            for occurrence in event.occurrences:
                by_venue.setdefault(key, []).append((occurrence, event))
        for entries in by_venue.values():
            entries.sort(key=lambda pair: (pair[0].start, pair[0].end))
            for (first, first_event), (second, second_event) in zip(entries, entries[1:]):
                if second.start < first.end and not (first.all_day or second.all_day):
                    self.problem(self.event_marks[second_event.id], "venue-overlap", N_(
                        "'{second}' overlaps '{first}' (line {line}) at the same venue on "
                        "{day}."), severity="warning", path=f"events.{second_event.id}",
                        first=first_event.id, second=second_event.id,
                        line=first_event.line, day=_stated(jalali.iso_jalali(second.day)))


def _valid_timezone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _occurrence(event_id: str, day: dt.date, tz: dt.tzinfo, all_day: bool,
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
    return moment if actual.replace(tzinfo=None) == moment.replace(tzinfo=None) else actual


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

