"""Colour contrast for category labels (WCAG 2.x relative luminance and contrast ratio).

``label_colours(background)`` is the entry point: the YAML colour of a category and the
text colour (black or white) that reads best on it.
"""

from __future__ import annotations

BLACK = "#000000"
WHITE = "#ffffff"
DEFAULT_BACKGROUND = "#e8e8e8"  # a category without a colour


def parse_hex(colour: str) -> tuple[int, int, int]:
    """``#rgb`` or ``#rrggbb`` → (r, g, b) in 0..255."""
    text = colour.strip().lstrip("#")
    if len(text) == 3:
        text = "".join(c * 2 for c in text)
    if len(text) != 6:
        raise ValueError(f"not a #rrggbb colour: {colour!r}")
    return tuple(int(text[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]


def normalise_hex(colour: str) -> str:
    return "#%02x%02x%02x" % parse_hex(colour)


def _linear(channel: int) -> float:
    value = channel / 255
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: str) -> float:
    r, g, b = (_linear(c) for c in parse_hex(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    """From 1 (same luminance) to 21 (black on white)."""
    a, b = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def text_colour_for(background: str) -> str:
    """Black or white, whichever contrasts more with ``background``."""
    if contrast_ratio(background, BLACK) >= contrast_ratio(background, WHITE):
        return BLACK
    return WHITE


def label_colours(background: str | None) -> tuple[str, str]:
    """(background, text) for a category label; a missing colour gets a light grey."""
    colour = normalise_hex(background) if background else DEFAULT_BACKGROUND
    return colour, text_colour_for(colour)
