"""Problems found in schedule files, and their messages in Persian and English.

A Problem has a stable ``code`` (e.g. ``invalid-date``), a place (file, line, column,
key path) and an English message template. The templates are gettext message ids; the
Persian catalogue lives in ``locale/fa/LC_MESSAGES/messages.po`` and is read with Babel.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field
from gettext import GNUTranslations, NullTranslations
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from week_planner.schedule.jalali import to_persian_digits

LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
LANGUAGES = ("fa", "en")


def N_(message: str) -> str:
    """Marks a message id for extraction; translation happens when it is shown."""
    return message


@functools.lru_cache(maxsize=None)
def translations(language: str, domain: str = "messages") -> NullTranslations:
    """The catalogue of ``domain`` (``messages``: ours; ``click``: the command-line
    library's usage errors) in ``language``."""
    po_file = LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"
    if not po_file.is_file():
        return NullTranslations()
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return GNUTranslations(buffer)


def translate(message: str, language: str = "fa", **args: Any) -> str:
    text = translations(language).gettext(message)
    text = _unquote_quoted_values(text, args)
    # A value given per language ({"fa": …, "en": …}), such as a month's name.
    args = {key: value.get(language, value.get("en")) if isinstance(value, dict) else value
            for key, value in args.items()}
    if language == "fa":
        args = {key: to_persian_digits(value) if isinstance(value, int) else value
                for key, value in args.items()}
    return text.format(**args)


def _unquote_quoted_values(text: str, args: dict) -> str:
    """``«{value}»`` becomes ``{value}`` when the value already has its own guillemets, so
    that an organiser who wrote ``«10:00»`` does not read ``««10:00»»``."""
    for name, value in args.items():
        if isinstance(value, str) and value.startswith("«") and value.endswith("»"):
            text = text.replace(f"«{{{name}}}»", f"{{{name}}}")
    return text


# The severity word of a printed problem, in each language (the JSON 'severity' field and
# the code in brackets stay English for tools).
SEVERITIES = {"error": N_("error"), "warning": N_("warning")}

# What the registry finds while publishing a file (``week-planner check`` reads each file
# on its own and never reports these): among ``Registry.problems()``, as a file's own.
LOAD_CRASHED = N_(
    "Internal error while loading this file; the last good version stays published. The "
    "service's log has the details.")
MANY_EVENTS_REMOVED = N_(
    "{removed} of the previous version's {before} events are missing from this version, "
    "which has {after}. It is published, and subscribers' calendars show the missing "
    "events as cancelled: if the file was cut short or replaced by mistake, put the "
    "events back.")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based; 0 when the problem is about the whole file
    column: int  # 1-based; 0 when unknown
    code: str
    message: str  # English template, a gettext message id
    args: dict = field(default_factory=dict, compare=False, hash=False)
    severity: str = "error"  # or "warning"
    path: str = ""  # key path, e.g. events[3].start

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def text(self, language: str = "fa") -> str:
        return translate(self.message, language, **self.args)

    def format(self, language: str = "fa") -> str:
        """``schedules/x.yaml:42:7: error: <message> [code]``, as compilers print it; in
        Persian the severity word is Persian too (``خطا``, ``هشدار``), so tools read
        ``--lang en`` or the JSON form."""
        place = self.file
        if self.line:
            place += f":{self.line}"
            if self.column:
                place += f":{self.column}"
        severity = translate(SEVERITIES.get(self.severity, self.severity), language)
        return f"{place}: {severity}: {self.text(language)} [{self.code}]"

    def as_dict(self, language: str = "fa") -> dict:
        found = {"file": self.file, "line": self.line, "column": self.column,
                 "severity": self.severity, "code": self.code, "path": self.path,
                 "message": self.text(language)}
        if isinstance(self.args.get("detail"), str):  # the YAML parser's own words
            found["detail"] = self.args["detail"]
        return found
