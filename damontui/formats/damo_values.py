"""damo's value notation: "5 ms", "1,000", "max", "12.5 %", "128.000 MiB".

The readers compute what damo 3.4.3 itself would write to sysfs for a value (the same
float arithmetic and truncation, measured against damo in tests/damo/), so that a file
means the same to damontui as to damo.  The writers emit text that damo reads back to
exactly the model's value.  Errors are DamoJsonError naming the key path.

Behaviour re-derived from damo's documented formats and checked against damo at test
time; no damo code is used.
"""

from __future__ import annotations

import math
from typing import Any

from damontui.model import Range
from damontui.model.units import U32_MAX, U64_MAX


class DamoJsonError(ValueError):
    """Bad damo JSON; `path` is the key path (e.g. kdamonds[0].contexts[0].ops)."""

    def __init__(self, path: str, message: str, file: str | None = None) -> None:
        self.path = path
        self.file = file
        self.message = message
        where = f"{file}: {path}" if file else path
        super().__init__(f"{where}: {message}")

    def in_file(self, file: str) -> DamoJsonError:
        return DamoJsonError(self.path, self.message, file)


Number = int | float

_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
       "h": 3_600_000_000_000, "d": 86_400_000_000_000}  # fmt: skip
_BYTES = {"B": 1, "K": 1 << 10, "KB": 1 << 10, "KiB": 1 << 10, "M": 1 << 20, "MB": 1 << 20,
          "MiB": 1 << 20, "G": 1 << 30, "GB": 1 << 30, "GiB": 1 << 30, "T": 1 << 40,
          "TB": 1 << 40, "TiB": 1 << 40, "P": 1 << 50, "PB": 1 << 50, "PiB": 1 << 50,
          "E": 1 << 60, "EB": 1 << 60, "EiB": 1 << 60}  # fmt: skip


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v: Number, path: str) -> Number:
    if isinstance(v, float) and not math.isfinite(v):
        raise DamoJsonError(path, f"{v!r} is not a finite number")
    return v


def number(v: Any, path: str) -> Number:
    """A plain number: JSON number, or text with ',' separators; 'max' = 2^64-1."""
    if is_num(v):
        return _finite(v, path)
    if not isinstance(v, str):
        raise DamoJsonError(path, f"expected a number, got {type(v).__name__} {v!r}")
    if v == "max":
        return U64_MAX
    text = v.replace(",", "").strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return _finite(float(text), path)
    except ValueError:
        raise DamoJsonError(path, f"{v!r} is not a number") from None


def _common(v: Any, path: str, lo: Number = 0) -> Number | None:
    """'min'/'max' or a plain number; None when v is text with a unit."""
    if v == "min":
        return lo
    if v == "max":
        return U64_MAX
    try:
        return number(v, path)
    except DamoJsonError:
        if isinstance(v, str):
            return None
        raise


def to_int(v: Number, path: str, hi: int = U64_MAX) -> int:
    """What damo writes to a sysfs file: '%d' of the value (truncated), capped."""
    if isinstance(v, float) and not math.isfinite(v):
        raise DamoJsonError(path, f"{v!r} is out of range")
    if v < 0:
        raise DamoJsonError(path, f"{v!r} must not be negative")
    return min(hi, int(v))


def time_ns(v: Any, path: str) -> Number:
    """'1 s 500 ms', '1.5s', bare numbers (ns here; callers scale bare values)."""
    plain = _common(v, path)
    if plain is not None:
        return plain
    fields = v.split()
    if len(fields) > 1:
        if len(fields) % 2:
            raise DamoJsonError(path, f"cannot parse time {v!r}; use '<number> <unit>' pairs")
        return sum(time_ns("".join(fields[i : i + 2]), path) for i in range(0, len(fields), 2))
    unit = v[-2:] if v[-2:] in ("ns", "us", "ms") else v[-1:]
    if unit not in _NS:
        raise DamoJsonError(path, f"unknown time unit in {v!r}; use ns, us, ms, s, m, h or d")
    return number(v[: -len(unit)], path) * _NS[unit]


def time_us(v: Any, path: str) -> Number:
    plain = _common(v, path)
    return plain if plain is not None else time_ns(v, path) / 1_000


def time_ms(v: Any, path: str) -> Number:
    plain = _common(v, path)
    return plain if plain is not None else time_us(v, path) / 1_000


def size(v: Any, path: str) -> int:
    plain = _common(v, path)
    if plain is not None:
        return to_int(plain, path)
    for width in (3, 2, 1):
        unit = v[-width:]
        if len(v) > width and unit in _BYTES:
            return to_int(number(v[:-width], path) * _BYTES[unit], path)
    raise DamoJsonError(path, f"cannot parse size {v!r}; e.g. '4 KiB', '1.5 GiB', 'max'")


def ratio(v: Any, path: str, scale: int) -> Number:
    """'12.5 %' -> value in 1/scale units (1000: permil, 10000: bp); bare = units."""
    plain = _common(v, path)
    if plain is not None:
        return plain
    text = v.strip()
    if not text.endswith("%"):
        raise DamoJsonError(path, f"expected a percentage like '50 %', got {v!r}")
    return number(text[:-1], path) / 100.0 * scale


def boolean(v: Any, path: str) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("y", "yes", "true"):
        return True
    if isinstance(v, str) and v.lower() in ("n", "no", "false"):
        return False
    raise DamoJsonError(path, f"expected true or false (or y/yes/n/no), got {v!r}")


def text(v: Any, path: str) -> str:
    if not isinstance(v, str):
        raise DamoJsonError(path, f"expected a string, got {type(v).__name__} {v!r}")
    return v


def nr_unit(v: Any, path: str, units: tuple[str, ...]) -> tuple[Number, str]:
    """'10 samples' -> (10, 'samples')."""
    fields = v.split() if isinstance(v, str) else []
    if len(fields) != 2 or fields[1] not in units:
        raise DamoJsonError(path, f"expected '<number> {'|'.join(units)}' or a percentage/time, "
                            f"got {v!r}")  # fmt: skip
    return number(fields[0], path), fields[1]


# --------------------------------------------------------------------------- typed readers


def parse_int(v: Any, path: str, hi: int = U64_MAX) -> int:
    return to_int(number(v, path), path, hi)


def parse_us(v: Any, path: str) -> int:
    return to_int(time_us(v, path), path)


def parse_ms(v: Any, path: str) -> int:
    return to_int(time_ms(v, path), path)


def parse_permil(v: Any, path: str) -> int:
    return to_int(ratio(v, path, 1000), path)


def pct_or_none(v: Any, path: str) -> float | None:
    try:
        return ratio(v, path, 100)
    except DamoJsonError:
        if isinstance(v, str):
            return None
        raise


def nr_accesses_range(o: dict, path: str, max_nr: float) -> Range:
    lo, hi = o.get("min", "min"), o.get("max", "max")
    pcts = (pct_or_none(lo, f"{path}.min"), pct_or_none(hi, f"{path}.max"))
    if None not in pcts:
        return Range(*(to_int(p * max_nr / 100, path, U32_MAX) for p in pcts))  # type: ignore[operator]
    if pcts[0] is not None:  # a percentage min: the max is the odd one; name it
        nr_unit(hi, f"{path}.max", ("samples", "percent"))
    (a, ua), (b, ub) = (nr_unit(v, f"{path}.{k}", ("samples", "percent"))
                        for k, v in (("min", lo), ("max", hi)))  # fmt: skip
    if ua != ub:
        raise DamoJsonError(path, f"min and max need the same unit ({ua!r} != {ub!r})")
    if ua == "percent":
        a, b = a * max_nr / 100, b * max_nr / 100
    return Range(to_int(a, f"{path}.min", U32_MAX), to_int(b, f"{path}.max", U32_MAX))


def age_range(o: dict, path: str, aggr_us: int) -> Range:
    lo, hi = o.get("min", "min"), o.get("max", "max")
    try:
        usecs = (time_us(lo, f"{path}.min"), time_us(hi, f"{path}.max"))
    except DamoJsonError:
        if not (isinstance(lo, str) and isinstance(hi, str)):
            raise
        usecs = None
        try:
            time_us(lo, "")
        except DamoJsonError:
            pass
        else:  # a time min: the max is the odd one; name it
            nr_unit(hi, f"{path}.max", ("usec", "aggr_intervals"))
    if usecs is not None:
        return Range(*(to_int(u / max(1, aggr_us), path, U32_MAX) for u in usecs))
    (a, ua), (b, ub) = (nr_unit(v, f"{path}.{k}", ("usec", "aggr_intervals"))
                        for k, v in (("min", lo), ("max", hi)))  # fmt: skip
    if ua != ub:
        raise DamoJsonError(path, f"min and max need the same unit ({ua!r} != {ub!r})")
    if ua == "usec":
        a, b = a / max(1, aggr_us), b / max(1, aggr_us)
    return Range(to_int(a, f"{path}.min", U32_MAX), to_int(b, f"{path}.max", U32_MAX))


# --------------------------------------------------------------------------- writers


def fmt_nr(n: int, raw: bool = False) -> str:
    if raw:
        return str(n)
    return f"{n:,}"


def fmt_time_ns(ns: int, raw: bool = False) -> str:
    """Exact: '1 s 500 ms' (largest units first); 'max' for 2^64-1."""
    if raw:
        return str(ns)
    if ns >= U64_MAX:
        return "max"
    if ns == 0:
        return "0 ns"
    parts = []
    for unit in ("d", "h", "m", "s", "ms", "us", "ns"):
        count, ns = divmod(ns, _NS[unit])
        if count:
            parts.append(f"{count:,} {unit}")
    return " ".join(parts)


def fmt_time_us(us: int, raw: bool = False) -> str:
    if us >= U64_MAX:
        return "max" if not raw else str(us)
    return str(us) if raw else fmt_time_ns(us * 1_000)


def fmt_time_ms(ms: int, raw: bool = False) -> str:
    if ms >= U64_MAX:
        return "max" if not raw else str(ms)
    return str(ms) if raw else fmt_time_ns(ms * 1_000_000)


def fmt_size(nbytes: int, raw: bool = False) -> str:
    """'128.000 MiB' when exact at three decimals, else bytes ('1,234 B' is not damo's)."""
    if raw:
        return str(nbytes)
    if nbytes >= U64_MAX:
        return "max"
    for unit in ("EiB", "PiB", "TiB", "GiB", "MiB", "KiB"):
        mult = _BYTES[unit]
        if nbytes > mult and (nbytes * 1000) % mult == 0:
            text_ = f"{nbytes / mult:.3f} {unit}"
            if size(text_, "") == nbytes:
                return text_
    return f"{nbytes} B"


def fmt_ratio(value: int, scale: int, raw: bool = False) -> str:
    """Permil/bp as a percentage damo reads back to `value`, else the bare number."""
    if raw or value >= U64_MAX:
        return str(value) if value < U64_MAX else "max"
    for digits in range(0, 5):
        pct = f"{value * 100 / scale:.{digits}f}"
        candidate = f"{pct} %"
        exact = _exact(pct, value * 100, scale)
        if exact and to_int(ratio(candidate, "", scale), "") == value:
            return candidate
    return str(value)


def _exact(text_: str, num: int, den: int) -> bool:
    """Whether decimal text equals num/den exactly."""
    whole, _, frac = text_.partition(".")
    scale = 10 ** len(frac)
    return int(whole + frac) * den == num * scale


def fmt_percent_of_samples(samples: int, max_nr: float) -> str | None:
    """A whole percentage damo converts back to exactly `samples`, or None."""
    if max_nr <= 0:
        return None
    guess = round(samples * 100 / max_nr)
    for pct in (guess, guess + 1, guess - 1):
        if 0 <= pct <= 100 and int(pct / 100.0 * 100 * max_nr / 100) == samples:
            return f"{pct:,} %"
    return None
