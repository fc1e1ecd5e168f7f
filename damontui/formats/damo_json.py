"""Import and export damo's kdamonds JSON ({"kdamonds": [...]}) <-> the model.

damo writes human values ("5 ms", "1,000", "max", "0 %", "128.000 MiB"; permil
and basis points shown as percent); raw numbers are accepted too, in the unit
the key names (``*_us`` microseconds, ``*_ms`` milliseconds, ``*_permil``
permil, ``access_bp`` basis points, sizes in bytes).  Exports use the human
form, exact (a value that "%.3f" would round is written in a smaller unit), so
export -> import is lossless.  Errors name the JSON key path.

Written from the notes' description of the format; no damo code is used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..model import (
    AccessPattern,
    Action,
    Filter,
    FilterType,
    GoalMetric,
    IntervalsGoal,
    MonitoringAttrs,
    QuotaGoal,
    Quotas,
    QuotaWeights,
    Range,
    Scheme,
    Target,
    TargetKind,
    WatermarkMetric,
    Watermarks,
)
from ..model.units import MAX_WORDS, U32_MAX, U64_MAX
from .units import format_size as _format_size


class DamoJsonError(ValueError):
    """Bad damo JSON; `path` is the key path (e.g. kdamonds[0].contexts[0].ops)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


@dataclass(frozen=True)
class DamoContext:
    ops: str
    attrs: MonitoringAttrs
    targets: tuple[Target, ...] = ()
    schemes: tuple[Scheme, ...] = ()
    addr_unit: int | None = None
    notes: tuple[str, ...] = ()  # what the model can't hold (e.g. dests), ignored


@dataclass(frozen=True)
class DamoKdamond:
    contexts: tuple[DamoContext, ...]
    refresh_ms: int = 0
    state: str | None = None
    pid: int | None = None


# --------------------------------------------------------------------------- parsing

# Not model.units: damo's values are read exactly (Fractions, truncated as damo does), may
# chain units ("1 s 500 ms") and use EiB, while units.py goes through float and rounds.
_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
       "sec": 1_000_000_000, "m": 60_000_000_000, "min": 60_000_000_000,
       "h": 3_600_000_000_000, "d": 86_400_000_000_000}
_BYTES = {"b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
          "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40,
          "tb": 1 << 40, "tib": 1 << 40, "p": 1 << 50, "pb": 1 << 50, "pib": 1 << 50,
          "e": 1 << 60, "eb": 1 << 60, "eib": 1 << 60}
_TOKEN = re.compile(r"\s*(-?[0-9][0-9,_]*(?:\.[0-9]+)?)\s*([A-Za-zµ%_]*)")


def _number(text: str, path: str) -> Fraction:
    try:
        return Fraction(text.replace(",", "").replace("_", ""))
    except (ValueError, ZeroDivisionError):
        raise DamoJsonError(path, f"{text!r} is not a number") from None


def _tokens(text: str, path: str) -> list[tuple[Fraction, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise DamoJsonError(path, f"cannot parse {text!r}")
        out.append((_number(m.group(1), path), m.group(2)))
        pos = m.end()
    if not out:
        raise DamoJsonError(path, "empty value")
    return out


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _to_int(value: Fraction, path: str, what: str) -> int:
    if value < 0:
        raise DamoJsonError(path, f"{what} must not be negative")
    return int(value)  # truncates like damo does


def _special(v: Any, hi: int) -> int | None:
    if isinstance(v, str):
        word = v.strip().lower()
        if word in MAX_WORDS:
            return hi
        if word == "min":
            return 0
    return None


def _plain(v: Any, path: str, what: str, expected: str, hi: int,
           scale: Fraction = Fraction(1)) -> int | None:
    """A bare number (times `scale`) or 'max'/'min' as an int; None for text to parse."""
    if _is_num(v):
        return _to_int(Fraction(v) * scale, path, what)
    if not isinstance(v, str):
        raise DamoJsonError(path, f"expected {expected}, got {v!r}")
    return _special(v, hi)


def parse_time(v: Any, path: str, bare_ns: int = 1_000, out_ns: int = 1_000,
               hi: int = U64_MAX) -> int:
    """Time in units of `out_ns` ns; bare numbers are in units of `bare_ns` ns."""
    plain = _plain(v, path, "time", "a time like '5 ms'", hi, Fraction(bare_ns, out_ns))
    if plain is not None:
        return plain
    total = Fraction(0)
    for number, unit in _tokens(v, path):
        mult = (_NS.get(unit) or _NS.get(unit.lower())) if unit else bare_ns
        if mult is None:
            raise DamoJsonError(path, f"unknown time unit {unit!r} in {v!r}")
        total += number * mult
    return min(hi, _to_int(total / out_ns, path, "time"))


def parse_size(v: Any, path: str) -> int:
    plain = _plain(v, path, "size", "a size like '128 MiB'", U64_MAX)
    if plain is not None:
        return plain
    toks = _tokens(v, path)
    if len(toks) != 1:
        raise DamoJsonError(path, f"cannot parse size {v!r}")
    number, unit = toks[0]
    mult = _BYTES.get(unit.lower() or "b")
    if mult is None:
        raise DamoJsonError(path, f"unknown size unit {unit!r} in {v!r}")
    return min(U64_MAX, _to_int(number * mult, path, "size"))


def parse_nr(v: Any, path: str, hi: int = U64_MAX) -> int:
    plain = _plain(v, path, "count", "a number", hi)
    if plain is not None:
        return plain
    toks = _tokens(v, path)
    if len(toks) != 1 or toks[0][1]:
        raise DamoJsonError(path, f"expected a plain number, got {v!r}")
    return _to_int(toks[0][0], path, "count")


def parse_ratio(v: Any, path: str, scale: int) -> int:
    """'12.5 %' -> 12.5 % of `scale` (1000 for permil, 10000 for bp); bare = units."""
    plain = _plain(v, path, "ratio", "a percentage like '50 %'", scale)
    if plain is not None:
        return plain
    toks = _tokens(v, path)
    if len(toks) != 1:
        raise DamoJsonError(path, f"cannot parse {v!r}")
    number, unit = toks[0]
    if unit == "%":
        return _to_int(number * scale / 100, path, "ratio")
    if unit:
        raise DamoJsonError(path, f"expected '%' or a plain number, got {v!r}")
    return _to_int(number, path, "ratio")


def parse_bool(v: Any, path: str) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("y", "yes", "true", "1"):
        return True
    if isinstance(v, str) and v.strip().lower() in ("n", "no", "false", "0"):
        return False
    if _is_num(v) and v in (0, 1):
        return bool(v)
    raise DamoJsonError(path, f"expected true/false, got {v!r}")


_MISSING = object()


def _get(obj: dict, key: str, path: str, default: Any = _MISSING) -> Any:
    if not isinstance(obj, dict):
        raise DamoJsonError(path, f"expected an object, got {type(obj).__name__}")
    if key in obj and obj[key] is not None:
        return obj[key]
    if default is _MISSING:
        raise DamoJsonError(f"{path}.{key}", "missing")
    return default


def _list(v: Any, path: str) -> list:
    if not isinstance(v, list):
        raise DamoJsonError(path, f"expected a list, got {type(v).__name__}")
    return v


def _enum(enum_type, value: Any, path: str):
    try:
        return enum_type(value)
    except ValueError:
        names = ", ".join(m.value for m in enum_type)
        raise DamoJsonError(path, f"{value!r} is not one of {names}") from None


def _intervals(obj: dict, path: str) -> dict:
    goal_obj = _get(obj, "intervals_goal", path, None)
    goal = IntervalsGoal()
    if goal_obj is not None:
        gp = f"{path}.intervals_goal"
        goal = IntervalsGoal(
            access_bp=parse_ratio(_get(goal_obj, "access_bp", gp, 0), f"{gp}.access_bp", 10_000),
            aggrs=parse_nr(_get(goal_obj, "aggrs", gp, 0), f"{gp}.aggrs"),
            min_sample_us=parse_time(_get(goal_obj, "min_sample_us", gp, 0),
                                     f"{gp}.min_sample_us"),
            max_sample_us=parse_time(_get(goal_obj, "max_sample_us", gp, 0),
                                     f"{gp}.max_sample_us"),
        )
    return dict(
        sample_us=parse_time(_get(obj, "sample_us", path, "5 ms"), f"{path}.sample_us"),
        aggr_us=parse_time(_get(obj, "aggr_us", path, "100 ms"), f"{path}.aggr_us"),
        update_us=parse_time(_get(obj, "ops_update_us", path, "1 s"), f"{path}.ops_update_us"),
        intervals_goal=goal,
    )


def _nr_accesses(v: Any, path: str, attrs: MonitoringAttrs) -> int:
    special = _special(v, U32_MAX)
    if special is not None:
        return special
    if _is_num(v):  # raw: samples (what the kernel file holds)
        return min(U32_MAX, _to_int(Fraction(v), path, "nr_accesses"))
    if isinstance(v, dict):  # damo's region form {samples, percent}
        if v.get("samples") is not None:
            return parse_nr(v["samples"], f"{path}.samples", U32_MAX)
        v = f"{v.get('percent', 0)} %"
    if not isinstance(v, str):
        raise DamoJsonError(path, f"expected '50 %' or '10 samples', got {v!r}")
    toks = _tokens(v, path)
    if len(toks) != 1:
        raise DamoJsonError(path, f"cannot parse {v!r}")
    number, unit = toks[0]
    if unit == "%":
        max_nr = Fraction(attrs.aggr_us, max(1, attrs.sample_us))
        return min(U32_MAX, _to_int(number * max_nr / 100, path, "nr_accesses"))
    if unit in ("", "samples", "sample"):
        return min(U32_MAX, _to_int(number, path, "nr_accesses"))
    raise DamoJsonError(path, f"unknown nr_accesses unit {unit!r}")


def _age(v: Any, path: str, attrs: MonitoringAttrs) -> int:
    special = _special(v, U32_MAX)
    if special is not None:
        return special
    if _is_num(v):  # raw: aggregation intervals (what the kernel file holds)
        return min(U32_MAX, _to_int(Fraction(v), path, "age"))
    if isinstance(v, dict):
        if v.get("aggr_intervals") is not None:
            return parse_nr(v["aggr_intervals"], f"{path}.aggr_intervals", U32_MAX)
        v = v.get("usec", 0)
        if _is_num(v):
            v = f"{v} us"
    if not isinstance(v, str):
        raise DamoJsonError(path, f"expected '5 s' or '3 aggr_intervals', got {v!r}")
    toks = _tokens(v, path)
    if len(toks) == 1 and toks[0][1] in ("aggr_intervals", "aggr_interval", "aggrs"):
        return min(U32_MAX, _to_int(toks[0][0], path, "age"))
    usec = parse_time(v, path)
    if usec >= U64_MAX:
        return U32_MAX
    return min(U32_MAX, usec // max(1, attrs.aggr_us))


def _access_pattern(obj: dict, path: str, attrs: MonitoringAttrs) -> AccessPattern:
    sz = _get(obj, "sz_bytes", path, {})
    nr = _get(obj, "nr_accesses", path, {})
    age = _get(obj, "age", path, {})
    p_sz, p_nr, p_age = f"{path}.sz_bytes", f"{path}.nr_accesses", f"{path}.age"
    return AccessPattern(
        sz=Range(parse_size(_get(sz, "min", p_sz, 0), f"{p_sz}.min"),
                 parse_size(_get(sz, "max", p_sz, "max"), f"{p_sz}.max")),
        nr_accesses=Range(_nr_accesses(_get(nr, "min", p_nr, 0), f"{p_nr}.min", attrs),
                          _nr_accesses(_get(nr, "max", p_nr, "max"), f"{p_nr}.max", attrs)),
        age=Range(_age(_get(age, "min", p_age, 0), f"{p_age}.min", attrs),
                  _age(_get(age, "max", p_age, "max"), f"{p_age}.max", attrs)),
    )


def _goal(obj: dict, path: str) -> QuotaGoal:
    metric = _enum(GoalMetric, _get(obj, "metric", path, "user_input"), f"{path}.metric")
    raw_target = _get(obj, "target_value", path, 0)
    if metric is GoalMetric.SOME_MEM_PSI_US:
        target = parse_time(raw_target, f"{path}.target_value")
    elif metric.value.endswith("_bp"):
        target = parse_ratio(raw_target, f"{path}.target_value", 10_000)
    else:
        target = parse_nr(raw_target, f"{path}.target_value")
    return QuotaGoal(
        metric=metric,
        target_value=target,
        current_value=parse_nr(_get(obj, "current_value", path, 0), f"{path}.current_value"),
        nid=parse_nr(_get(obj, "nid", path, 0), f"{path}.nid"),
        path=str(_get(obj, "path", path, _get(obj, "memcg_path", path, ""))),
    )


def _quotas(obj: dict, path: str) -> Quotas:
    weights = _get(obj, "weights", path, {})
    wp = f"{path}.weights"
    goals = [_goal(g, f"{path}.goals[{i}]")
             for i, g in enumerate(_list(_get(obj, "goals", path, []), f"{path}.goals"))]
    return Quotas(
        ms=parse_time(_get(obj, "time_ms", path, 0), f"{path}.time_ms", bare_ns=1_000_000,
                      out_ns=1_000_000),
        bytes=parse_size(_get(obj, "sz_bytes", path, 0), f"{path}.sz_bytes"),
        reset_interval_ms=parse_time(_get(obj, "reset_interval_ms", path, 0),
                                     f"{path}.reset_interval_ms", bare_ns=1_000_000,
                                     out_ns=1_000_000),
        weights=QuotaWeights(
            sz_permil=parse_ratio(_get(weights, "sz_permil", wp, 0), f"{wp}.sz_permil", 1000),
            nr_accesses_permil=parse_ratio(_get(weights, "nr_accesses_permil", wp, 0),
                                           f"{wp}.nr_accesses_permil", 1000),
            age_permil=parse_ratio(_get(weights, "age_permil", wp, 0), f"{wp}.age_permil", 1000),
        ),
        goals=tuple(goals),
    )


def _watermarks(obj: dict, path: str) -> Watermarks:
    return Watermarks(
        metric=_enum(WatermarkMetric, _get(obj, "metric", path, "none"), f"{path}.metric"),
        interval_us=parse_time(_get(obj, "interval_us", path, 0), f"{path}.interval_us"),
        high=parse_ratio(_get(obj, "high_permil", path, 0), f"{path}.high_permil", 1000),
        mid=parse_ratio(_get(obj, "mid_permil", path, 0), f"{path}.mid_permil", 1000),
        low=parse_ratio(_get(obj, "low_permil", path, 0), f"{path}.low_permil", 1000),
    )


def _filter(obj: dict, path: str) -> Filter:
    ftype = _enum(FilterType, _get(obj, "filter_type", path), f"{path}.filter_type")
    allow = _get(obj, "allow", path, _get(obj, "filter_pass", path, False))
    kw: dict[str, Any] = dict(
        type=ftype,
        matching=parse_bool(_get(obj, "matching", path, True), f"{path}.matching"),
        allow=parse_bool(allow, f"{path}.allow"),
    )
    if ftype is FilterType.MEMCG:
        kw["memcg_path"] = str(_get(obj, "memcg_path", path))
    elif ftype is FilterType.ADDR:
        ar = _get(obj, "address_range", path)
        ap = f"{path}.address_range"
        kw["addr_start"] = parse_nr(_get(ar, "start", ap), f"{ap}.start")
        kw["addr_end"] = parse_nr(_get(ar, "end", ap), f"{ap}.end")
    elif ftype is FilterType.TARGET:
        kw["target_idx"] = parse_nr(_get(obj, "damon_target_idx", path), f"{path}.damon_target_idx")
    elif ftype is FilterType.HUGEPAGE_SIZE:
        hs = _list(_get(obj, "hugepage_size", path), f"{path}.hugepage_size")
        if len(hs) != 2:
            raise DamoJsonError(f"{path}.hugepage_size", "expected [min, max]")
        kw["min"] = parse_size(hs[0], f"{path}.hugepage_size[0]")
        kw["max"] = parse_size(hs[1], f"{path}.hugepage_size[1]")
    return Filter(**kw)


def _scheme(obj: dict, path: str, attrs: MonitoringAttrs, notes: list[str]) -> Scheme:
    action = _enum(Action, _get(obj, "action", path, "stat"), f"{path}.action")
    ap = _get(obj, "access_pattern", path, None)
    dests = _get(obj, "dests", path, [])
    if dests:
        notes.append(f"{path}.dests: migration destinations are not supported by damontui; "
                     "ignored")
    target_nid = -1
    if action in (Action.MIGRATE_HOT, Action.MIGRATE_COLD):
        target_nid = parse_nr(_get(obj, "target_nid", path), f"{path}.target_nid")
    filters = [_filter(f, f"{path}.filters[{i}]")
               for i, f in enumerate(_list(_get(obj, "filters", path, []), f"{path}.filters"))]
    return Scheme(
        action=action,
        access_pattern=_access_pattern(ap, f"{path}.access_pattern", attrs)
        if ap is not None else AccessPattern(),
        quotas=_quotas(_get(obj, "quotas", path, {}), f"{path}.quotas"),
        watermarks=_watermarks(_get(obj, "watermarks", path, {}), f"{path}.watermarks"),
        filters=tuple(filters),
        apply_interval_us=parse_time(_get(obj, "apply_interval_us", path, 0),
                                     f"{path}.apply_interval_us"),
        target_nid=target_nid,
    )


def context_from_damo(obj: dict, path: str = "context") -> DamoContext:
    ops = _get(obj, "ops", path)
    if ops not in ("vaddr", "fvaddr", "paddr"):
        raise DamoJsonError(f"{path}.ops", f"{ops!r} is not one of vaddr, fvaddr, paddr")
    iv = _intervals(_get(obj, "intervals", path, {}), f"{path}.intervals")
    nr = _get(obj, "nr_regions", path, {})
    attrs = MonitoringAttrs(
        min_nr_regions=parse_nr(_get(nr, "min", f"{path}.nr_regions", 10),
                                f"{path}.nr_regions.min"),
        max_nr_regions=parse_nr(_get(nr, "max", f"{path}.nr_regions", 1000),
                                f"{path}.nr_regions.max"),
        **iv,
    )
    targets = []
    for i, t in enumerate(_list(_get(obj, "targets", path, []), f"{path}.targets")):
        tp = f"{path}.targets[{i}]"
        ranges = []
        for j, r in enumerate(_list(_get(t, "regions", tp, []), f"{tp}.regions")):
            rp = f"{tp}.regions[{j}]"
            ranges.append((parse_nr(_get(r, "start", rp), f"{rp}.start"),
                           parse_nr(_get(r, "end", rp), f"{rp}.end")))
        if ops == "paddr":
            targets.append(Target(TargetKind.PADDR, ranges=tuple(ranges)))
        else:
            pid = _get(t, "pid", tp)
            if not _is_num(pid) and not (isinstance(pid, str) and pid.strip().isdigit()):
                raise DamoJsonError(f"{tp}.pid", f"expected a pid, got {pid!r}")
            targets.append(Target(TargetKind.PID, pid=int(pid), ranges=tuple(ranges)))
    notes: list[str] = []
    schemes = [_scheme(s, f"{path}.schemes[{i}]", attrs, notes)
               for i, s in enumerate(_list(_get(obj, "schemes", path, []), f"{path}.schemes"))]
    addr_unit = _get(obj, "addr_unit", path, None)
    return DamoContext(
        ops=ops,
        attrs=attrs,
        targets=tuple(targets),
        schemes=tuple(schemes),
        addr_unit=parse_nr(addr_unit, f"{path}.addr_unit") if addr_unit is not None else None,
        notes=tuple(notes),
    )


def load_damo(data: str | bytes | dict | list) -> list[DamoKdamond]:
    """Parse damo's kdamonds JSON (text or already-decoded) into the model."""
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as e:
            raise DamoJsonError("$", f"not JSON: {e}") from None
    if isinstance(data, dict) and "kdamonds" in data:
        kdamonds, base = data["kdamonds"], "kdamonds"
    elif isinstance(data, list):
        kdamonds, base = data, "kdamonds"
    elif isinstance(data, dict) and "contexts" in data:
        kdamonds, base = [data], "kdamonds"
    else:
        raise DamoJsonError("$", 'expected {"kdamonds": [...]}')
    out = []
    for k, kd in enumerate(_list(kdamonds, base)):
        kp = f"{base}[{k}]"
        contexts = tuple(context_from_damo(c, f"{kp}.contexts[{i}]")
                         for i, c in enumerate(_list(_get(kd, "contexts", kp), f"{kp}.contexts")))
        refresh = _get(kd, "refresh_ms", kp, 0)
        pid = _get(kd, "pid", kp, None)
        out.append(DamoKdamond(
            contexts=contexts,
            refresh_ms=parse_time(refresh, f"{kp}.refresh_ms", bare_ns=1_000_000,
                                  out_ns=1_000_000),
            state=_get(kd, "state", kp, None),
            pid=int(pid) if pid is not None and str(pid).lstrip("-").isdigit() else None,
        ))
    return out


# --------------------------------------------------------------------------- formatting

_UNITS_NS = (("d", 86_400_000_000_000), ("h", 3_600_000_000_000), ("m", 60_000_000_000),
             ("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000), ("ns", 1))


def format_nr(n: int) -> str:
    return "max" if n >= U64_MAX else f"{n:,}"


def format_time_ns_exact(ns: int) -> str:
    """'1 s 500 ms' - exact, largest units first; '0 ns' for zero."""
    if ns == 0:
        return "0 ns"
    parts = []
    for unit, size in _UNITS_NS:
        if ns >= size:
            count, ns = divmod(ns, size)
            parts.append(f"{count:,} {unit}")
    return " ".join(parts)


def format_time_us(us: int) -> str:
    return "max" if us >= U64_MAX else format_time_ns_exact(us * 1_000)


def format_time_ms(ms: int) -> str:
    return "max" if ms >= U64_MAX else format_time_ns_exact(ms * 1_000_000)


def format_size(nbytes: int) -> str:
    """damo's '128.000 MiB' when exact at 3 decimals, else a smaller unit or bytes."""
    return _format_size(nbytes, 3, exact=True)


def format_ratio(value: int, scale: int) -> str:
    """Permil (scale 1000) or bp (10000) as damo's percent text: 125 -> '12.5 %'."""
    pct = Fraction(value * 100, scale)
    if pct.denominator == 1:
        return f"{pct.numerator:,} %"
    text = f"{float(pct):.7f}".rstrip("0")
    if Fraction(text) != pct:
        return str(value)  # not exact as a short percentage: raw units
    return f"{text} %"


def _nr_accesses_text(samples: int, attrs: MonitoringAttrs) -> str:
    if samples >= U32_MAX:
        return "max"
    max_nr = Fraction(attrs.aggr_us, max(1, attrs.sample_us))
    pct = Fraction(samples * 100) / max_nr
    if pct.denominator == 1 and int(pct * max_nr / 100) == samples:
        return f"{pct.numerator:,} %"
    return f"{samples:,} samples"


def _age_text(age: int, attrs: MonitoringAttrs) -> str:
    if age >= U32_MAX:
        return "max"
    return format_time_us(age * attrs.aggr_us)


def _v(x: Any) -> str:
    return x.value if hasattr(x, "value") else str(x)


def _goal_to(g: QuotaGoal) -> dict:
    metric = _v(g.metric)
    out: dict[str, Any] = {
        "metric": metric,
        "nid": format_nr(g.nid) if metric.startswith("node_") else None,
        "target_value": format_nr(g.target_value),
        "current_value": format_nr(g.current_value),
    }
    if g.path:
        out["path"] = g.path
    return out


def _filter_to(f: Filter) -> dict:
    ftype = _v(f.type)
    return {
        "filter_type": ftype,
        "matching": f.matching,
        "allow": f.allow,
        "memcg_path": f.memcg_path if ftype == "memcg" else None,
        "address_range": {"start": format_nr(f.addr_start), "end": format_nr(f.addr_end)}
        if ftype == "addr" else None,
        "damon_target_idx": format_nr(f.target_idx) if ftype == "target" else None,
        "hugepage_size": [format_size(f.min), format_size(f.max)]
        if ftype == "hugepage_size" else None,
    }


def scheme_to_damo(s: Scheme, attrs: MonitoringAttrs, raw: bool = False) -> dict:
    ap = s.access_pattern
    action = _v(s.action)
    out: dict[str, Any] = {"action": action, "dests": []}
    if action in ("migrate_hot", "migrate_cold"):
        out["target_nid"] = s.target_nid
    if raw:
        out["access_pattern"] = {
            "sz_bytes": {"min": ap.sz.min, "max": ap.sz.max},
            "nr_accesses": {"min": ap.nr_accesses.min, "max": ap.nr_accesses.max},
            "age": {"min": ap.age.min, "max": ap.age.max},
        }
    else:
        out["access_pattern"] = {
            "sz_bytes": {"min": format_size(ap.sz.min), "max": format_size(ap.sz.max)},
            "nr_accesses": {"min": _nr_accesses_text(ap.nr_accesses.min, attrs),
                            "max": _nr_accesses_text(ap.nr_accesses.max, attrs)},
            "age": {"min": _age_text(ap.age.min, attrs), "max": _age_text(ap.age.max, attrs)},
        }
    q, w = s.quotas, s.quotas.weights
    wm = s.watermarks
    if raw:
        out["apply_interval_us"] = s.apply_interval_us
        out["quotas"] = {
            "time_ms": q.ms, "sz_bytes": q.bytes, "reset_interval_ms": q.reset_interval_ms,
            "goals": [_goal_to(g) for g in q.goals], "effective_sz_bytes": 0,
            "weights": {"sz_permil": w.sz_permil, "nr_accesses_permil": w.nr_accesses_permil,
                        "age_permil": w.age_permil},
        }
        out["watermarks"] = {"metric": _v(wm.metric), "interval_us": wm.interval_us,
                             "high_permil": wm.high, "mid_permil": wm.mid,
                             "low_permil": wm.low}
    else:
        out["apply_interval_us"] = format_time_us(s.apply_interval_us)
        out["quotas"] = {
            "time_ms": format_time_ms(q.ms),
            "sz_bytes": format_size(q.bytes),
            "reset_interval_ms": format_time_ms(q.reset_interval_ms),
            "goals": [_goal_to(g) for g in q.goals],
            "effective_sz_bytes": "0 B",
            "weights": {"sz_permil": format_ratio(w.sz_permil, 1000),
                        "nr_accesses_permil": format_ratio(w.nr_accesses_permil, 1000),
                        "age_permil": format_ratio(w.age_permil, 1000)},
        }
        out["watermarks"] = {"metric": _v(wm.metric), "interval_us": format_time_us(wm.interval_us),
                             "high_permil": format_ratio(wm.high, 1000),
                             "mid_permil": format_ratio(wm.mid, 1000),
                             "low_permil": format_ratio(wm.low, 1000)}
    out["filters"] = [_filter_to(f) for f in s.filters]
    return out


def context_to_damo(ctx: DamoContext, raw: bool = False) -> dict:
    a = ctx.attrs
    g = a.intervals_goal
    t = (lambda us: us) if raw else format_time_us
    out: dict[str, Any] = {"ops": ctx.ops}
    if ctx.addr_unit is not None:
        out["addr_unit"] = ctx.addr_unit
    out["targets"] = [
        {"pid": tg.pid if tg.kind is TargetKind.PID else None,
         "regions": [{"start": s if raw else format_nr(s), "end": e if raw else format_nr(e)}
                     for s, e in tg.ranges]}
        for tg in ctx.targets
    ]
    out["intervals"] = {
        "sample_us": t(a.sample_us),
        "aggr_us": t(a.aggr_us),
        "ops_update_us": t(a.update_us),
        "intervals_goal": {
            "access_bp": g.access_bp if raw else format_ratio(g.access_bp, 10_000),
            "aggrs": g.aggrs if raw else format_nr(g.aggrs),
            "min_sample_us": t(g.min_sample_us),
            "max_sample_us": t(g.max_sample_us),
        },
    }
    out["nr_regions"] = {"min": a.min_nr_regions if raw else format_nr(a.min_nr_regions),
                         "max": a.max_nr_regions if raw else format_nr(a.max_nr_regions)}
    out["schemes"] = [scheme_to_damo(s, a, raw) for s in ctx.schemes]
    return out


def dump_damo(kdamonds: Sequence[DamoKdamond] | DamoKdamond | DamoContext,
              raw: bool = False) -> dict:
    """The {"kdamonds": [...]} object for kdamonds (or one kdamond/context)."""
    if isinstance(kdamonds, DamoContext):
        kdamonds = [DamoKdamond((kdamonds,))]
    elif isinstance(kdamonds, DamoKdamond):
        kdamonds = [kdamonds]
    out = []
    for kd in kdamonds:
        entry: dict[str, Any] = {}
        if kd.state is not None:
            entry["state"] = kd.state
            entry["pid"] = kd.pid
        entry["refresh_ms"] = kd.refresh_ms
        entry["contexts"] = [context_to_damo(c, raw) for c in kd.contexts]
        out.append(entry)
    return {"kdamonds": out}


def loads(text: str | bytes) -> list[DamoKdamond]:
    return load_damo(text)


def dumps(kdamonds: Sequence[DamoKdamond] | DamoKdamond | DamoContext, raw: bool = False,
          indent: int = 4) -> str:
    return json.dumps(dump_damo(kdamonds, raw), indent=indent)


def from_kdamond_info(info) -> DamoKdamond:
    """A live kdamond (inventory.KdamondInfo) as damo JSON data (user schemes only)."""
    contexts = tuple(DamoContext(c.operations, c.attrs, c.targets,
                                 tuple(s.scheme for s in c.user_schemes), c.addr_unit)
                     for c in info.contexts)
    return DamoKdamond(contexts, info.refresh_ms or 0, info.state, info.pid)
