"""Problems found in schedule files, and their messages in Persian and English.

A Problem has a stable ``code`` (e.g. ``invalid-date``), a place (file, line, column,
key path) and an English message template. The templates are gettext message ids; the
Persian catalogue lives in ``locale/fa/LC_MESSAGES/messages.po`` and is read with Babel.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from gettext import GNUTranslations, NullTranslations

from .jalali import to_persian_digits

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("fa", "en")


def N_(message: str) -> str:
    """Marks a message id for extraction; translation happens when it is shown."""
    return message


@functools.lru_cache(maxsize=None)
def translations(language: str) -> NullTranslations:
    po_file = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
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
    # A value given per language ({"fa": …, "en": …}), such as a month's name.
    args = {key: value.get(language, value.get("en")) if isinstance(value, dict) else value
            for key, value in args.items()}
    if language == "fa":
        args = {key: to_persian_digits(value) if isinstance(value, int) else value
                for key, value in args.items()}
    return text.format(**args)


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
        """``schedules/x.yaml:42:7: error: <message>`` (the severity word stays English,
        as compilers print it, so editors can parse the line)."""
        place = self.file
        if self.line:
            place += f":{self.line}"
            if self.column:
                place += f":{self.column}"
        return f"{place}: {self.severity}: {self.text(language)} [{self.code}]"

    def as_dict(self, language: str = "fa") -> dict:
        return {"file": self.file, "line": self.line, "column": self.column,
                "severity": self.severity, "code": self.code, "path": self.path,
                "message": self.text(language)}
