"""YAML text → nodes → YMap / YSeq / scalars that remember where they stood (line and
column), read safely: no implicit typing (YAML 1.1 would turn ``1404-06-11`` into a
Gregorian date and ``16:00`` into 960), no tag that builds an object, duplicate keys
recorded, aliases bounded, and lists and mappings read only up to the longest the format
allows. Plain scalars are typed as in YAML 1.2's core schema."""

from __future__ import annotations

import contextlib
import gc
import re
import threading
from typing import Any, NamedTuple

import yaml

from week_planner.schedule.problems import N_
from week_planner.schedule.rules import MAX_ITEMS, MAX_NODES


class Loader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):
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


# How a plain scalar that is not text starts: null (empty, ~, null), true, false, or a
# number (a sign, a digit or a point). Any other plain scalar is text.
_MAYBE_TYPED = frozenset(["", *"~nNtTfF+-.0123456789"])


_FLOAT_RE = re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?$")


class Mark(NamedTuple):
    """Where something stands in the file. A tuple, as a file has one for every key, value
    and item: made a quarter as fast as a frozen dataclass, a tenth of reading a file."""

    line: int  # 1-based
    column: int  # 1-based

    @staticmethod
    def of(node: yaml.Node) -> "Mark":
        start = node.start_mark
        return _new_mark(Mark, (start.line + 1, start.column + 1))


_new_mark = tuple.__new__


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


def written_length(items: list) -> int:
    """How many items a list has in the file (past MAX_ITEMS they are only counted)."""
    return max(len(items), getattr(items, "written", 0))


def as_written(value: Any) -> str:
    return getattr(value, "raw", None) or str(value)


class Refused(Exception):
    def __init__(self, mark: Mark, code: str, message: str, **args):
        self.mark, self.code, self.message, self.args_ = mark, code, message, args


class Converter:
    """yaml nodes → YMap / YSeq / scalars, refusing what the format does not allow."""

    def __init__(self):
        self.visited = 0
        self.active: set[int] = set()
        self.duplicates: list[tuple[Mark, str, Mark]] = []

    def convert(self, node: yaml.Node) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise Refused(Mark.of(node), "alias-bomb", N_(
                "The file's anchors and aliases (&, *) expand to too large a document. "
                "Write the values out instead of repeating them through aliases."))
        if node.tag not in _ALLOWED_TAGS:
            raise Refused(Mark.of(node), "forbidden-tag", N_(
                "The YAML tag '{tag}' is not allowed in a schedule file. Remove it and "
                "write the value as plain text."), tag=node.tag)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self.active:
            raise Refused(Mark.of(node), "alias-bomb", N_(
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
        if tag == "tag:yaml.org,2002:str" and (not plain or value[:1] not in _MAYBE_TYPED):
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
            raise Refused(Mark.of(node), "wrong-type", N_(
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
                        raise Refused(Mark.of(value_node), "wrong-type", N_(
                            "A merge key (<<) needs a mapping or a list of mappings."))
                    merged.append(source)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise Refused(Mark.of(key_node), "wrong-type", N_(
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


_gc_lock = threading.Lock()


_gc_pausers = 0


@contextlib.contextmanager
def cyclic_gc_paused():
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
