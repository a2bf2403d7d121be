"""Category label colours: black or white text by luminance, WCAG AA contrast (4.5:1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from week_planner.publish.colours import (
    BLACK,
    WHITE,
    contrast_ratio,
    label_colours,
    relative_luminance,
    text_colour_for,
)
from week_planner.schedule.loading import load_file

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "schedules" / "khalilabad-1404.yaml"
DATA = ROOT / "tests" / "data"

WCAG_AA = 4.5


def test_reference_values():
    # Values from the WCAG definition: black on white is 21:1, equal colours 1:1.
    assert contrast_ratio(BLACK, WHITE) == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#777777") == pytest.approx(1.0)
    assert relative_luminance(WHITE) == pytest.approx(1.0)
    assert relative_luminance(BLACK) == pytest.approx(0.0)
    # #767676 on white is the well-known lightest grey that passes AA (4.54:1).
    assert contrast_ratio("#767676", WHITE) == pytest.approx(4.54, abs=0.01)
    assert contrast_ratio("#fff", "#000") == pytest.approx(21.0)


def sample_colours() -> list[tuple[str, str]]:
    """(category id, colour) of every category in the sample and in the good test files."""
    files = [SAMPLE, *sorted((DATA / "good").glob("*.yaml"))] if (DATA / "good").is_dir() \
        else [SAMPLE]
    found = []
    for path in files:
        result = load_file(path)
        if result.programme is None:
            continue
        for category in result.programme.categories.values():
            if category.color:
                found.append((f"{path.name}:{category.id}", category.color))
    return found


@pytest.mark.parametrize("name,colour", sample_colours())
def test_every_sample_colour_gets_readable_text(name, colour):
    background, text = label_colours(colour)
    assert text in (BLACK, WHITE)
    assert contrast_ratio(background, text) >= WCAG_AA, name
    # And it is the better of the two.
    other = WHITE if text == BLACK else BLACK
    assert contrast_ratio(background, text) >= contrast_ratio(background, other)


def test_the_sample_has_colours_on_both_sides():
    texts = {label_colours(colour)[1] for _, colour in sample_colours()}
    assert texts == {BLACK, WHITE}


@given(st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)))
def test_any_colour_gets_aa_contrast(rgb):
    colour = "#%02x%02x%02x" % rgb
    assert contrast_ratio(colour, text_colour_for(colour)) >= WCAG_AA


def test_a_category_without_colour_gets_a_light_grey_with_black_text():
    background, text = label_colours(None)
    assert text == BLACK and contrast_ratio(background, text) >= WCAG_AA


def test_short_hex_is_expanded():
    assert label_colours("#FA0") == ("#ffaa00", BLACK)
