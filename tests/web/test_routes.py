"""Programme ids share the URL space with the service's own paths: every fixed first path
segment a route uses must be refused as a programme id."""

from __future__ import annotations

from week_planner.schedule.loading import load_text
from week_planner.schedule.rules import RESERVED_IDS


def fixed_first_segments(app) -> set[str]:
    segments = set()
    for rule in app.url_map.iter_rules():
        first = rule.rule.lstrip("/").split("/", 1)[0]
        if first and "<" not in first:
            segments.add(first)
    return segments


def test_every_fixed_top_level_path_is_reserved(app):
    segments = fixed_first_segments(app)
    assert {"healthz", "metrics", "static"} <= segments
    assert segments <= RESERVED_IDS, segments - RESERVED_IDS


def test_a_programme_cannot_take_a_reserved_id(app):
    for reserved in sorted(fixed_first_segments(app)):
        if not reserved.replace("-", "").isalnum() or reserved != reserved.lower():
            continue  # not a valid slug anyway (e.g. favicon.ico)
        text = f"""programme:
  id: {reserved}
  title: t
  organiser: o
  from: 1404-06-11
  to: 1404-06-17
categories:
  c: {{label: c}}
events: []
"""
        result = load_text(text, "reserved.yaml")
        assert [p.code for p in result.errors] == ["reserved-id"], reserved
