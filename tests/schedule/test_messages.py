"""The message catalogues: every message the package can show has a Persian translation.

The message ids are extracted from the package source at test time with Babel (the same
keywords as ``babel.cfg``), so a message added to the loader without a translation fails
here, not in front of an organiser.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from week_planner.schedule import jalali
from week_planner.schedule.loading import load_file
from week_planner.schedule.problems import LOCALE_DIR, translate

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "week_planner"
BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
KEYWORDS = {"N_": None, "translate": (1,)}
PERSIAN_LETTER = re.compile("[\u0600-\u06FF]")
ASCII_DIGIT = re.compile("[0-9]")


def extracted_ids() -> dict[str, str]:
    """message id → where it was found, from the package source as it is now."""
    found: dict[str, str] = {}
    for filename, line, message, _comments, _context in extract_from_dir(
            PACKAGE, method_map=[("**.py", "python")], keywords=KEYWORDS):
        if isinstance(message, str) and message:
            found.setdefault(message, f"week_planner/{filename}:{line}")
    return found


def read_catalogue(path: Path):
    with path.open("rb") as handle:
        return read_po(handle, locale="fa" if "fa" in path.parts else None)


def fields(text: str) -> set[str]:
    return {name for _literal, name, _spec, _conversion in string.Formatter().parse(text)
            if name is not None}


IDS = extracted_ids()
FA = {message.id: message for message in
      read_catalogue(LOCALE_DIR / "fa" / "LC_MESSAGES" / "messages.po") if message.id}


def test_extraction_finds_the_loader_and_cli_messages():
    # A handful that must be there, so a broken keyword list cannot pass as "all done".
    assert len(IDS) >= 50
    assert "'{key}' must be true or false." in IDS
    assert "{files} file(s) checked: {errors} error(s), {warnings} warning(s)." in IDS
    assert all(where.startswith(("week_planner/schedule/", "week_planner/cli.py"))
               for where in IDS.values()), IDS


def test_babel_cfg_maps_the_package_sources_with_the_same_keywords():
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle, "babel.cfg")
    assert method_map == [("week_planner/**.py", "python")]
    keywords = options_map["week_planner/**.py"].get("keywords")
    if keywords is not None:  # Babel ≥ 2.18 reads keywords from the mapping file
        assert set(keywords) == set(KEYWORDS)


def test_template_is_up_to_date_with_the_source():
    template = {message.id for message in
                read_catalogue(LOCALE_DIR / "messages.pot") if message.id}
    missing = sorted(set(IDS) - template)
    assert not missing, f"re-extract messages.pot (docs/translating.md); missing: {missing}"


@pytest.mark.parametrize("message_id", sorted(IDS), ids=lambda m: m[:40])
def test_every_message_has_a_persian_translation(message_id):
    entry = FA.get(message_id)
    assert entry is not None, f"{IDS[message_id]}: no entry in fa/messages.po"
    translation = entry.string
    assert isinstance(translation, str) and translation.strip(), \
        f"{IDS[message_id]}: empty Persian translation"
    assert not entry.fuzzy, f"{IDS[message_id]}: the Persian translation is marked fuzzy"
    assert translation != message_id, f"{IDS[message_id]}: not translated"
    assert PERSIAN_LETTER.search(translation), translation
    assert fields(translation) == fields(message_id), (
        f"{IDS[message_id]}: placeholders differ: {sorted(fields(translation))} "
        f"instead of {sorted(fields(message_id))}")
    # The translation is formatted with the same arguments as the English text.
    values = {name: "x" for name in fields(message_id)}
    assert translation.format(**values)


@pytest.mark.parametrize("message_id", sorted(IDS), ids=lambda m: m[:40])
def test_persian_translation_writing(message_id):
    translation = FA[message_id].string
    # Persian punctuation, not its Latin look-alikes after Persian words; YAML written
    # as it must be typed ([a, b] lists, "quoted" values) keeps its Latin commas.
    prose = re.sub(r'\[[^\]]*\]|"[^"]*"', "", translation)
    assert not re.search(r"[\u0600-\u06FF]\s*[,;?]", prose), translation
    # The Arabic ي and ك only where the message speaks about them.
    if "ي" not in message_id:
        assert not jalali.has_arabic_letters(translation), translation
    # Words that take a zero-width non-joiner are written with it.
    for joined in ("میشود", "نمیتوان", "نمیشود", "تعاونیها", "شناختهشده", "بهجای",
                   "دستکم", "تمامروز", "آنها", "اینها"):
        assert joined not in translation, translation


def test_python_brace_placeholders_are_flagged():
    for message_id in IDS:
        if fields(message_id):
            assert "python-brace-format" in FA[message_id].flags, message_id


@pytest.mark.parametrize("name", [
    "invalid-date-esfand-30.yaml", "invalid-date-month.yaml", "duplicate-key-event.yaml",
    "duplicate-event-id.yaml",
])
def test_problems_in_persian_use_persian_letters_and_digits(name):
    problems = load_file(BAD / name).problems
    assert problems
    for problem in problems:
        text = problem.text("fa")
        assert PERSIAN_LETTER.search(text), text
        numbers = [value for value in problem.args.values()
                   if isinstance(value, int) and not isinstance(value, bool)]
        assert numbers, f"{name}: expected a number in {problem.args}"
        for number in numbers:
            assert jalali.to_persian_digits(number) in text, text
        # Apart from what the organiser typed (quoted back as it was), no Latin digits.
        rest = text
        for value in problem.args.values():
            if isinstance(value, str):
                rest = rest.replace(value, "")
        assert not ASCII_DIGIT.search(rest), text
        # English stays available and is not the same text.
        assert problem.text("en") != text


@pytest.mark.parametrize("path", sorted(BAD.glob("*.yaml")), ids=lambda p: p.name)
def test_every_bad_file_reads_in_persian(path):
    for problem in load_file(path).problems:
        text = problem.text("fa")
        assert PERSIAN_LETTER.search(text), text
        assert text != problem.text("en")
        for value in problem.args.values():
            if isinstance(value, int) and not isinstance(value, bool):
                assert jalali.to_persian_digits(value) in text, text


def test_check_summary_in_persian():
    text = translate("{files} file(s) checked: {errors} error(s), {warnings} warning(s).",
                     "fa", files=3, errors=12, warnings=0)
    assert PERSIAN_LETTER.search(text) and not ASCII_DIGIT.search(text), text
    assert [text.index(number) for number in ("۳", "۱۲", "۰")] == \
        sorted(text.index(number) for number in ("۳", "۱۲", "۰")), text
