"""The theme's heat ramp as Rich styles. Which bucket a value falls in is the
analysis layer's business (analysis.heat); this module only holds the Style objects
of each bucket, per theme."""

from __future__ import annotations

from rich.style import Style
from textual.app import App
from textual.color import Color

from ..analysis.heat import bucket
from .themes import heat_ramp

_ramp_cache: dict[tuple[str, bool], tuple[Style, ...]] = {}


def heat_styles(app: App[object], badge: bool = False) -> tuple[Style, ...]:
    """The theme's cold -> hot ramp as background styles; `badge` adds a text colour
    that contrasts with each background (for text drawn on the colour)."""
    key = (app.theme, badge)
    styles = _ramp_cache.get(key)
    if styles is None:
        colors = [Color.parse(c) for c in heat_ramp(app)]
        styles = tuple(
            Style(bgcolor=c.hex, color=("#000000" if c.brightness > 0.5 else "#ffffff"))
            if badge else Style(bgcolor=c.hex)
            for c in colors
        )  # fmt: skip
        _ramp_cache[key] = styles
    return styles


def pick(styles: tuple[Style, ...], fraction: float) -> Style:
    """The ramp entry for `fraction` in 0 (cold) .. 1 (hot)."""
    return styles[bucket(fraction, len(styles))]
