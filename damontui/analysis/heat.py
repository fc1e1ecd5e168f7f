"""From a value to a colour-ramp bucket: the logic behind every heat colour and ramp
character (the TUI keeps only the Style objects of each bucket)."""

from __future__ import annotations

RAMP = " .:-=+*#%@"  # idle to always accessed, without colour (NO_COLOR, batch mode)


def bucket(fraction: float, levels: int) -> int:
    """The ramp index (0 = cold .. levels-1 = hot) of `fraction` in 0..1."""
    return max(0, min(levels - 1, int(fraction * levels)))


def heat_fraction(value: float, low: float, high: float) -> float:
    """`value` normalised to 0..1 within [low, high] (1 when the range is empty)."""
    span = high - low
    return (value - low) / span if span > 0 else 1.0


def ramp_char(fraction: float, ramp: str = RAMP) -> str:
    """The ramp character of an access fraction 0..1."""
    return ramp[bucket(fraction, len(ramp))]
