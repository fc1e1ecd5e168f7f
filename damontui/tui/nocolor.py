"""NO_COLOR that means no colour: Textual's own NO_COLOR handling keeps 256-colour
greys (its Monochrome filter); this swaps that for a filter that drops every
foreground and background colour and keeps bold, reverse, underline and italic."""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import LineFilter, Monochrome

_DEFAULT = Style(color="default", bgcolor="default")


class StripColor(LineFilter):
    """Every colour becomes the terminal's default (SGR 39/49, no colour value)."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        return [
            Segment(text, None if style is None else style + _DEFAULT, control)
            for text, style, control in segments
        ]


_STRIP = StripColor()


def without_colour(filters: Sequence[LineFilter]) -> list[LineFilter]:
    """`filters` with Textual's Monochrome replaced by StripColor (one is added if none)."""
    out = [f for f in filters if not isinstance(f, Monochrome)]
    return [*out, _STRIP]
