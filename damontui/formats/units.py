"""Unit formatting, in one place: sizes for display, damo's exact size text, and the
exact '<n><unit>' form of the TOML files. A leaf module: model.units re-exports
format_size from here, so nothing in damontui is imported."""

from __future__ import annotations

# model.units.U64_MAX (not imported: model.units imports this module)
_U64_MAX = (1 << 64) - 1
# above this, "<n> MiB" would lose bytes through float parsing
EXACT_FLOAT = 1 << 53

_DISPLAY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
# the largest first: exact forms pick the largest unit that keeps the value exact
SIZE_UNITS: tuple[tuple[str, int], ...] = (
    ("PiB", 1 << 50),
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
)
TIME_UNITS: tuple[tuple[str, int], ...] = (
    ("d", 86_400_000_000),
    ("h", 3_600_000_000),
    ("min", 60_000_000),
    ("s", 1_000_000),
    ("ms", 1000),
)
_DAMO_SIZE_UNITS = (("EiB", 1 << 60), *SIZE_UNITS)


def format_size(nbytes: int | float, precision: int = 1, *, exact: bool = False) -> str:
    """'1.5 GiB' style (rounded to `precision` decimals), exact bytes below 1 KiB, 'max'
    for U64_MAX.

    With exact=True the text reads back to the same byte count: damo's form, the
    largest unit the value exceeds in which `precision` decimals hold it exactly
    ('128.000 MiB' at 3), else plain bytes ('1073741825 B')."""
    if nbytes >= _U64_MAX:
        return "max"
    if exact:
        return _exact_decimals(int(nbytes), precision)
    value = float(nbytes)
    for unit in _DISPLAY_UNITS:
        if abs(value) < 1024 or unit == _DISPLAY_UNITS[-1]:
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.{precision}f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _exact_decimals(nbytes: int, decimals: int) -> str:
    scale = 10**decimals
    for unit, size in _DAMO_SIZE_UNITS:
        if nbytes > size and (nbytes * scale) % size == 0:
            whole, frac = divmod(nbytes * scale // size, scale)
            return f"{whole}.{frac:0{decimals}d} {unit}" if decimals else f"{whole} {unit}"
    return f"{nbytes} B"


def in_unit(value: int, units: tuple[tuple[str, int], ...]) -> str | None:
    """'<n><unit>' in the largest of `units` dividing `value`; None if none does
    (or the value is 0, or too big to read back exactly through a float)."""
    if value and value < EXACT_FLOAT:
        for unit, factor in units:
            if value % factor == 0:
                return f"{value // factor}{unit}"
    return None
