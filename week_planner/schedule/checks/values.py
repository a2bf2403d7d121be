"""The generic checks every part of a schedule file uses: keys, text, ids, lists, web
addresses; each reports a Problem at the value's line and column (``ValueChecks.problem``,
capped at MAX_PROBLEMS per file), and the words filled into messages in both languages."""

from __future__ import annotations

import difflib
import re
import zoneinfo
from typing import Any, Iterable

from week_planner.schedule import jalali
from week_planner.schedule.problems import N_, Problem
from week_planner.schedule.rules import (
    ID_RE,
    MAX_ITEMS,
    MAX_LIST_ITEMS,
    MAX_PROBLEMS,
    MAX_TEXT,
    MAX_URL,
    URL_RE,
)
from week_planner.schedule.yaml_reading import Mark, YMap, YSeq, as_written, written_length
from week_planner.schedule.yaml_syntax import parser_words


def looks_like_email(value: str) -> bool:
    """name@host.tld: one '@', no spaces, a dot inside the host. String work rather than a
    regular expression, which backtracks for a long time on a long line of dots."""
    local, at, host = value.partition("@")
    return bool(at and local and "@" not in host and "." in host[1:-1]
                and not any(character.isspace() for character in value))


# «…», “…” and the like: quotation marks to a person, ordinary characters to YAML.
_OPENING_LOOK_ALIKES = "«“”„‘’‹"


_CLOSING_LOOK_ALIKES = "»”“‘’›"


def inside_look_alike_quotes(value: str) -> str | None:
    """The text inside «…», “…” and the like (quotation marks to a person, ordinary
    characters to YAML), or None. Plain string work: linear in the value's length."""
    value = value.strip()
    if len(value) >= 2 and value[0] in _OPENING_LOOK_ALIKES and \
            value[-1] in _CLOSING_LOOK_ALIKES:
        return value[1:-1].strip()
    return None


# Bidi embeddings, overrides and isolates, and other invisible format characters that are
# no part of Persian writing (ZWNJ, ZWJ, LRM, RLM and ALM are, and are kept).
_HIDDEN_CHARACTERS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b\u202a-\u202e\u2060\u2066-\u2069"
    "\ufeff\ufff9-\ufffb]")
_ARABIC_INDIC_DIGIT = re.compile("[\u0660-\u0669]")


_ASCII_DIGIT = re.compile("[0-9]")


_ASCII_LETTER = re.compile("[a-zA-Z]")


_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff]")


def persian_with_latin_digits(text: str) -> bool:
    """Persian text with 0–9 in it and no Latin letters (which would make the digits part
    of a Latin name or code, such as 'COVID-19')."""
    return _ASCII_DIGIT.search(text) is not None and _ASCII_LETTER.search(text) is None \
        and _ARABIC_SCRIPT.search(text) is not None


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


def stated(text: str) -> dict[str, str]:
    """A value the checker states (a computed date, a time it read): Persian digits in
    Persian sentences. Values quoted as the organiser wrote them stay as written."""
    return {"en": text, "fa": jalali.to_persian_digits(text)}


def did_you_mean(suggestion: str | None) -> dict[str, str]:
    if not suggestion:
        return {"en": "", "fa": ""}
    return {"en": f" (did you mean '{suggestion}'?)", "fa": f"؛ شاید منظورتان «{suggestion}» است"}


def suggest(word: str, choices: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def comparable(text: str) -> str:
    """Text as organisers mean it: Persian letters for Arabic ي/ك, no ZWNJ or spaces."""
    return re.sub(r"[\s\u200c\u200f\u200e]+", "", jalali.normalise_letters(text)).casefold()


def suggest_reference(value: str, names: dict[str, str]) -> dict[str, str]:
    """The hint for a category or venue reference that names no id: the id whose label
    (or venue name) was written instead, else a close id, else a close label."""
    wanted = comparable(value)
    for choice_id, name in names.items():
        if comparable(name) == wanted:
            return {"en": f" (you mean '{choice_id}' ({name}): write the id here, not the "
                          f"name)",
                    "fa": f"؛ منظورتان «{choice_id}» ({name}) است: این‌جا شناسه را بنویسید، "
                          f"نه نام را"}
    close = suggest(value, names)
    if close:
        return did_you_mean(close)
    by_name = {comparable(name): choice_id for choice_id, name in names.items()}
    found = difflib.get_close_matches(wanted, list(by_name), n=1, cutoff=0.75)
    if found:
        choice_id = by_name[found[0]]
        return {"en": f" (did you mean '{choice_id}' ({names[choice_id]})?)",
                "fa": f"؛ شاید منظورتان «{choice_id}» ({names[choice_id]}) است"}
    return did_you_mean(None)


def valid_timezone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


class ValueChecks:
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
        if written_length(mapping) > MAX_ITEMS:
            self.too_many(mapping.mark, WHAT["keys"], written_length(mapping), len(allowed), path)
        for key in mapping:
            if key not in allowed:
                if self.full:  # only counted: no need to look for a suggestion
                    self.problem(None, "unknown-key", "", path)
                    continue
                suggestion = suggest(key, allowed)
                where = f"{path}.{key}" if path else key
                before, colon, after = str(key).partition(":")
                if colon and before in allowed and after.strip():
                    # {label:نشست} reads as one key "label:نشست" with no value.
                    self.problem(mapping.key_marks[key], "unknown-key", N_(
                        "A space is needed after the colon of '{key}:'. Write "
                        "{fixed}{parser}."), where, key=before,
                        fixed=f"{before}: {after.strip()}", parser=parser_words(""))
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
        text = as_written(value).strip()
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
        found = _HIDDEN_CHARACTERS.search(text)
        if found is not None:
            hidden = found.group(0)
            self.problem(mark, "control-character", N_(
                "'{key}' contains an invisible character ({character}) that changes how "
                "the text around it is shown; delete it (it often comes with text pasted "
                "from another program)."), path, key=key,
                character=f"U+{ord(hidden):04X}")
            return False
        if _ARABIC_INDIC_DIGIT.search(text):
            self.problem(mark, "arabic-digits", N_(
                "'{key}' has Arabic digits (٤ ٥ ٦); Persian digits (۴ ۵ ۶) are probably "
                "meant (switch the keyboard layout to Persian)."), path,
                severity="warning", key=key)
        elif persian_with_latin_digits(text):
            self.problem(mark, "latin-digits", N_(
                "'{key}' is Persian text with Latin digits (0–9); pages show it as written, "
                "so write the numbers with Persian digits (۰–۹)."), path,
                severity="warning", key=key)
        return True

    def slug(self, value: Any, mark: Mark, path: str, what: dict) -> str | None:
        text = as_written(value) if isinstance(value, (str, int)) and \
            not isinstance(value, bool) else None
        if text is None or not ID_RE.match(text):
            self.problem(mark, "invalid-id", N_(
                "'{value}' cannot be used as {what} id: use lowercase English letters, "
                "digits and '-', at most 64 characters (for example 'taxi-parade')."),
                path, value="" if value is None else str(value), what=what)
            return None
        return text

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
        if written_length(value) > MAX_LIST_ITEMS:
            self.too_many(self._value_mark(parent, key), WHAT["items"], written_length(value),
                          MAX_LIST_ITEMS, path)
        items = []
        for index, (item, mark) in enumerate(zip(value[:MAX_LIST_ITEMS], marks)):
            if item is None or isinstance(item, (bool, YMap, YSeq)):
                self.problem(mark, "wrong-type", N_("'{key}' must be a list of texts."),
                             f"{path}[{index}]", key=key)
                continue
            text = as_written(item).strip()
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
