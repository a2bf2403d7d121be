"""YAML syntax errors explained to organisers, at the line of the mistake.

PyYAML reports a syntax error in the parser's terms ("could not find expected ':'") and
often on the line after the mistake. The organisers' common mistakes are recognised here
and explained in their words, at the line where they made them; the parser's own text
stays in the English message and in the JSON 'detail'. Entry points: ``syntax_problem``
and ``later_syntax_problems``."""

from __future__ import annotations

import re
from typing import Any

import yaml

from week_planner.schedule.problems import N_, Problem
from week_planner.schedule.rules import KNOWN_KEYS
from week_planner.schedule.yaml_reading import Loader, cyclic_gc_paused

# Lines longer than this get the general message: the patterns below are written for the
# lines people type, and a megabyte-long line must not keep the loader busy.
_EXPLAINABLE = 1000


_LINE_BREAK = re.compile(r"\r\n|[\n\r\x85\u2028\u2029]")


_NO_SPACE_AFTER_KEY = re.compile(r"^([ \t]*(?:-[ \t]+)*)([A-Za-z_]+):(?=[^\s#])")


_KEY_AND_VALUE = re.compile(r"^([ \t]*(?:-[ \t]+)*)([^\s:#\"'][^:#]*?)[ \t]*:[ \t]+(.+?)[ \t]*$")


_LIST_ITEM = re.compile(r"^([ \t]*)-(?:[ \t]|$)")


_LEADING = re.compile(r"^[ \t]*(?:-[ \t]+)*")


def parser_words(detail: str) -> dict[str, str]:
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


def syntax_problem(filename: str, text: str, error: yaml.YAMLError) -> Problem:
    """One Problem for a YAML syntax error, named in the organiser's terms."""
    if isinstance(error, yaml.MarkedYAMLError):
        detail = " ".join(part for part in (error.context, error.problem) if part)
    elif isinstance(getattr(error, "character", None), int):
        detail = f"unacceptable character #x{error.character:04x}: " \
                 f"{getattr(error, 'reason', '')}"
    else:
        detail = str(error)
    detail = " ".join(detail.split())
    words = {"detail": detail, "parser": parser_words(detail)}
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


def later_syntax_problems(filename: str, text: str, first: Problem) -> list[Problem]:
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
            with cyclic_gc_paused():
                yaml.compose(changed, Loader=Loader)
            return found
        except yaml.YAMLError as error:
            problem = syntax_problem(filename, changed, error)
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
        for token in yaml.scan(text, Loader=Loader):
            if (token.start_mark.line, token.start_mark.column) >= (mark.line, mark.column):
                break
            last = token
    except yaml.YAMLError:
        pass
    if isinstance(last, yaml.ScalarToken) and last.style in ('"', "'") and \
            last.start_mark.line != last.end_mark.line:
        return last.start_mark
    return None
