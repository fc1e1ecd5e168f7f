"""One validation path for every value that enters damontui.

CLI flags, the config file, schemes TOML files, the TUI editors, damo JSON, record
files and environment variables all end here: values are finite and in range, and
only the project's own error types (ValidationError and its subclass InputError)
leave. A message names the source (the flag, or file:line), the key, the value
and what is allowed.

Reuse for another file format (damo JSON, record files)::

    data = guarded(json.loads, text, field=str(path))   # no raw exception escapes
    check_depth(data, str(path))                        # no RecursionError later
    value = guarded(reader, raw, key, field=key)        # any reader, wrapped
"""

from __future__ import annotations

import argparse as _argparse
import math
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from .model import MonitoringAttrs, Scheme, ValidationError
from .model.errors import InputError, UnknownKeyError, shown
from .model.units import U32_MAX, format_duration_us

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

_T = TypeVar("_T")

MAX_DEPTH = 32  # nesting of tables/arrays; our files need 4
MAX_FILE_BYTES = 16 << 20
MAX_DIGITS = 40  # more digits than any DAMON value (u64 has 20)

SECOND_US = 1_000_000
DAY_US = 86_400 * SECOND_US

# key -> (lowest, highest) for the monitoring attributes, whatever the source
ATTR_RANGES: dict[str, tuple[int, int]] = {
    "sample_us": (1, DAY_US),
    "aggr_us": (1, DAY_US),
    "update_us": (1, DAY_US),
    "min_nr_regions": (3, U32_MAX),
    "max_nr_regions": (3, U32_MAX),
}

# What a user may write instead of DAMON's own key (damo's and the README's spelling).
INTERVAL_ALIASES = {"sample": "sample_us", "aggr": "aggr_us", "update": "update_us"}
PATTERN_KEYS = ("sz", "nr_accesses", "access_rate", "age")


def guarded(call: Callable[..., _T], *args: Any, field: str, value: object = None) -> _T:
    """call(*args), with any Python error turned into a ValidationError naming `field`."""
    try:
        return call(*args)
    except ValidationError:
        raise
    except RecursionError:
        raise ValidationError(field, value, f"nested too deeply (at most {MAX_DEPTH} "
                              "levels)") from None  # fmt: skip
    except (ArithmeticError, ValueError, TypeError, RuntimeError, KeyError, IndexError) as exc:
        raise ValidationError(field, value, f"not usable ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]


def in_range(number: int | float, field: str, value: object, low: float, high: float,
             unit: str = "") -> None:  # fmt: skip
    if isinstance(number, float) and not math.isfinite(number):
        raise ValidationError(field, value, f"must be a finite number{unit_hint(unit)}")
    if not low <= number <= high:
        raise ValidationError(field, value, f"allowed: {_fmt(low, unit)}..{_fmt(high, unit)}")


def unit_hint(unit: str) -> str:
    return {"us": " or a duration like '5ms'", "s": " or a duration like '500ms'"}.get(unit, "")


def _fmt(number: float, unit: str) -> str:
    if number == 0:
        return "0"
    if unit == "us":
        return format_duration_us(number).replace(" ", "")
    if unit == "s":
        return format_duration_us(round(number * SECOND_US)).replace(" ", "")
    return f"{int(number):,}" if float(number).is_integer() else f"{number:g}"


# --- scalar parsers (CLI flags, config keys, editor fields) ------------------------------


def duration_us(value: object, field: str, low: int = 1, high: int = DAY_US) -> int:
    """Microseconds from '5ms', 5000, '1 s'; finite, within [low, high]."""
    from .model.serialize import read_duration_us

    _check_digits(value, field)
    us = guarded(read_duration_us, value, field, field=field, value=value)
    in_range(us, field, value, low, high, "us")
    return us


def seconds(value: object, field: str, low: float, high: float) -> float:
    """Seconds from a number (1, 0.5) or a duration ('500ms', '1h')."""
    _check_digits(value, field)
    if isinstance(value, bool):
        raise ValidationError(field, value, "seconds, or a duration like '500ms'")
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = duration_us(value, field, 0, 1 << 64) / SECOND_US
    elif isinstance(value, (int, float)):
        number = guarded(float, value, field=field, value=value)
    else:
        raise ValidationError(field, value, "seconds, or a duration like '500ms'")
    in_range(number, field, value, low, high, "s")
    return number


def whole(value: object, field: str, low: int, high: int) -> int:
    """A whole number ('1,000' too) within [low, high]."""
    _check_digits(value, field)
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*[-+]?[0-9][0-9_,]*\s*", value):
        number = int(value.strip().replace(",", "").replace("_", ""))
    else:
        raise ValidationError(field, value, f"allowed: whole numbers {_fmt(low, '')}.."
                              f"{_fmt(high, '')}")  # fmt: skip
    in_range(number, field, value, low, high)
    return number


WEIGHT_RANGE = (0.0, 1e6)


def weight(value: object, field: str) -> float:
    """A temperature weight: a finite number 0..1e6 (the CLI's and the config's)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValidationError(field, value, "a number 0..1000000")
    _check_digits(value, field)
    try:
        number = float(value)
    except ValueError:
        raise ValidationError(field, value, "a number 0..1000000") from None
    in_range(number, field, value, *WEIGHT_RANGE)
    return number


def _check_digits(value: object, field: str) -> None:
    digits = len(str(value)) if isinstance(value, (int, str)) and not isinstance(value, bool) else 0
    if digits > MAX_DIGITS + 16:
        raise ValidationError(field, value, f"too long (at most {MAX_DIGITS} digits)")


def attr_value(key: str, value: object, field: str) -> int:
    """One monitoring attribute (ATTR_RANGES key) from a file, flag or editor value."""
    low, high = ATTR_RANGES[key]
    if key.endswith("_us"):
        return duration_us(value, field, low, high)
    return whole(value, field, low, high)


def scaled_aggr(given: Mapping[str, object], base: MonitoringAttrs | None = None
                ) -> dict[str, int]:  # fmt: skip
    """A sampling interval given alone keeps the samples per aggregation (as damo's
    --sample does not, but the user expects 20 samples per aggregation to stay)."""
    base = base or MonitoringAttrs()
    sample = given.get("sample_us")
    if isinstance(sample, int) and "aggr_us" not in given:
        return {"aggr_us": sample * base.max_nr_accesses}
    return {}


def check_attrs(attrs: MonitoringAttrs, prefix: str = "") -> MonitoringAttrs:
    """Ranges (finite, at most a day per interval) on top of DAMON's own rules."""
    for key, (low, high) in ATTR_RANGES.items():
        value = getattr(attrs, key)
        in_range(value, f"{prefix}{key}", value, low, high, "us" if key.endswith("_us") else "")
    return guarded(attrs.validate, field=prefix.rstrip(".") or "intervals", value=attrs)


# --- structured input ------------------------------------------------------------------


def check_depth(data: object, field: str, limit: int = MAX_DEPTH) -> None:
    """Refuse data nested deeper than `limit` (iteratively: deep data can't crash this)."""
    stack: list[tuple[object, int]] = [(data, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise InputError(f"{field}: nested deeper than {limit} levels", field)
        if isinstance(item, Mapping):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)


def read_text(path: Path, what: str = "file") -> str:
    """A file's text, or InputError naming the file."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what}", str(path)) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})", str(path)) from None
    if len(raw) > MAX_FILE_BYTES:
        raise InputError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB", str(path))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})",
                         str(path)) from None  # fmt: skip


def parse_toml(text: str, file: Path | str) -> dict[str, Any]:
    """tomllib.loads with a line number in every error, and a depth limit."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = match.group(1) if match else str(len(text.splitlines()) or 1)
        raise InputError(f"{file}:{line}: TOML syntax error: {exc}", str(file)) from None
    except RecursionError:
        raise InputError(f"{file}: nested deeper than {MAX_DEPTH} levels", str(file)) from None
    except (ValueError, ArithmeticError) as exc:  # e.g. an integer of 5,000 digits
        why = "a number with more than 4,300 digits" if "digits" in str(exc) else _reason(exc)
        raise InputError(f"{file}: {why}", str(file)) from None
    check_depth(data, str(file))
    return data


def located(exc: ValidationError, file: Path | str, text: str) -> InputError:
    """`exc` with 'file:line: ' in front (the line where its key is set)."""
    if isinstance(exc, InputError):
        return exc
    from .config import key_line

    line = key_line(text, exc.field) if exc.field else None
    where = f"{file}:{line}" if line else str(file)
    return InputError(f"{where}: {exc}", exc.field, exc.value, exc.allowed)


# --- friendly spellings ------------------------------------------------------------------


def friendly_intervals(data: Mapping[str, Any], path: str = "intervals") -> dict[str, Any]:
    """`sample = "5ms"` as `sample_us = "5ms"` (the README's and damo's spelling)."""
    out = dict(data)
    for alias, key in INTERVAL_ALIASES.items():
        if alias in out:
            if key in out:
                raise ValidationError(f"{path}.{alias}", out[alias], f"give {alias} or {key}, "
                                      "not both")  # fmt: skip
            out[key] = out.pop(alias)
    return out


def friendly_scheme(data: object, path: str) -> object:
    """A scheme may give `access_rate`, `age`, `sz`, `nr_accesses` beside `action`:
    they go into its access_pattern table."""
    if not isinstance(data, Mapping):
        return data
    loose = [k for k in PATTERN_KEYS if k in data]
    if not loose:
        return data
    pattern = data.get("access_pattern", {})
    if not isinstance(pattern, Mapping):
        return data  # the reader reports the bad access_pattern
    for key in loose:
        if key in pattern:
            raise ValidationError(f"{path}.{key}", data[key], "given twice: here and in "
                                  "access_pattern")  # fmt: skip
    out = {k: v for k, v in data.items() if k not in loose}
    out["access_pattern"] = {**pattern, **{k: data[k] for k in loose}}
    return out


def unfriendly_field(field: str, data: object) -> str:
    """Map an error field on the rewritten scheme back to the key the user wrote."""
    match = re.fullmatch(r"(.*?schemes\[(\d+)\])\.access_pattern\.([a-z_]+)(.*)", field)
    if not match or not isinstance(data, list):
        return field
    index, key = int(match.group(2)), match.group(3)
    item = data[index] if index < len(data) else None
    if isinstance(item, Mapping) and key in item and key in PATTERN_KEYS:
        return f"{match.group(1)}.{key}{match.group(4)}"
    return field


def schemes_from_data(items: object, attrs: MonitoringAttrs, path: str = "schemes") -> list[Scheme]:
    """Schemes from parsed TOML/JSON-like data; every error is a ValidationError."""
    from .model.serialize import schemes_from_dicts

    if not isinstance(items, list):
        raise ValidationError(path, items, "a list of [[schemes]] tables")
    friendly = [friendly_scheme(item, f"{path}[{i}]") for i, item in enumerate(items)]
    try:
        return guarded(schemes_from_dicts, friendly, attrs, path, field=path, value=items)
    except ValidationError as exc:
        field = unfriendly_field(exc.field, items)
        if field == exc.field:
            raise
        if isinstance(exc, UnknownKeyError):
            raise UnknownKeyError(field, exc.known) from None
        raise ValidationError(field, exc.value, exc.allowed) from None


def load_schemes_text(text: str, file: Path | str, attrs: MonitoringAttrs | None = None
                      ) -> list[Scheme]:  # fmt: skip
    """A schemes file's schemes, or InputError 'file:line: key: why'."""
    attrs = attrs or MonitoringAttrs()
    data = parse_toml(text, file)
    try:
        for key in data:
            if key != "schemes":
                raise UnknownKeyError(key, ["schemes"])
        return schemes_from_data(data.get("schemes", []), attrs)
    except ValidationError as exc:
        raise located(exc, file, text) from None


def load_schemes_file(path: Path, attrs: MonitoringAttrs | None = None) -> list[Scheme]:
    """F3 in the scheme panel and `schemes_file` in the config: one way to load."""
    return load_schemes_text(read_text(path, "schemes file"), path, attrs)


def expand_path(value: object, field: str) -> Path:
    """'~/x' expanded; '~nosuchuser/x' is an error naming the key, not a RuntimeError."""
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise ValidationError(field, value, "a non-empty path")
    try:
        return Path(value).expanduser()
    except RuntimeError:
        user = value[1:].split("/", 1)[0]
        raise ValidationError(field, value, f"no user {user!r} to expand '~{user}' "
                              "for") from None  # fmt: skip


# --- command line and environment --------------------------------------------------------

PID_MAX = 1 << 22  # PID_MAX_LIMIT on 64-bit Linux
FLAG_OF_ATTR = {
    "sample_us": "--sample",
    "aggr_us": "--aggr",
    "update_us": "--update",
    "min_nr_regions": "--min-regions",
    "max_nr_regions": "--max-regions",
}


def flag_type(parse: Callable[[str, str], _T], flag: str) -> Callable[[str], _T]:
    """An argparse `type=`: argparse prints 'argument FLAG: <why>' and exits 2."""

    def convert(text: str) -> _T:
        try:
            return parse(text, flag)
        except ValidationError as exc:
            why = exc if isinstance(exc, InputError) else f"{shown(text)} is invalid; {exc.allowed}"
            raise _argparse.ArgumentTypeError(why) from None

    convert.__name__ = flag.lstrip("-").replace("-", "_")  # argparse names it on other errors
    return convert


def whole_flag(flag: str, low: int, high: int) -> Callable[[str], int]:
    return flag_type(lambda text, name: whole(text, name, low, high), flag)


def seconds_flag(flag: str, low: float, high: float) -> Callable[[str], float]:
    return flag_type(lambda text, name: seconds(text, name, low, high), flag)


def attr_flag(key: str) -> Callable[[str], int]:
    return flag_type(lambda text, name: attr_value(key, text, name), FLAG_OF_ATTR[key])


def kdamond_name(text: str, flag: str) -> str:
    name = text.strip()
    if not re.fullmatch(r"kdamond\.[0-9]{1,5}", name):
        raise ValidationError(flag, text, "a kdamond name like kdamond.1")
    return name


def attrs_from_flags(base: MonitoringAttrs, given: Mapping[str, int], origin: str
                     ) -> MonitoringAttrs:  # fmt: skip
    """`base` (from `origin`: the config file or the defaults) with the flags' values;
    a conflict names the flags, not only the key."""
    from dataclasses import replace

    changes: dict[str, Any] = dict(given)
    changes.update(scaled_aggr(changes, base))
    attrs = replace(base, **changes)
    try:
        return check_attrs(attrs)
    except ValidationError as exc:
        key = exc.field.split(".")[-1]
        flags = " ".join(f"{FLAG_OF_ATTR[k]} {format_duration_us(v).replace(' ', '')}"
                         if k.endswith("_us") else f"{FLAG_OF_ATTR[k]} {v}"
                         for k, v in given.items())  # fmt: skip
        if key in given:
            why = str(exc)
        elif key == "aggr_us" and "aggr_us" not in given and "sample_us" in given:
            why = f"{exc} (aggr_us is {base.max_nr_accesses} samples, as in {origin})"
        else:
            why = f"{exc} ({key} is from {origin}; give {FLAG_OF_ATTR.get(key, key)} too)"
        raise InputError(f"{flags}: {why}", FLAG_OF_ATTR.get(key, key)) from None


def check_reset_stopped(names: tuple[str, ...], backend: str, root: str, **where: Any) -> None:
    """--reset-stopped names stopped kdamonds that exist (read-only look at sysfs)."""
    if not names:
        return
    if backend == "engine":
        raise InputError("--reset-stopped: only for the kernel backend (not with --backend "
                         "engine)", "--reset-stopped")  # fmt: skip
    from .backends.kernel.inventory import list_kdamonds

    try:
        infos = {k.name: k for k in list_kdamonds(root=root, deep=False, **where)}
    except Exception as exc:  # no DAMON sysfs, no permission: say so, never a traceback
        raise InputError(f"--reset-stopped: cannot read the kdamonds in {root} "
                         f"({_reason(exc)})", "--reset-stopped") from None  # fmt: skip
    existing = ", ".join(sorted(infos)) or "none"
    for name in names:
        if name not in infos:
            raise InputError(f"--reset-stopped {name}: no such kdamond (existing: {existing})",
                             "--reset-stopped")  # fmt: skip
        if infos[name].state == "on":
            raise InputError(f"--reset-stopped {name}: it is running; only a stopped "
                             "kdamond's staged configuration can be reset",
                             "--reset-stopped")  # fmt: skip


def env_int(name: str, default: int, low: int, high: int,
            warn: Callable[[str], None] | None = None) -> int:  # fmt: skip
    """An integer environment variable; a bad one is reported and the default used."""
    import os

    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        return whole(raw, name, low, high)
    except ValidationError as exc:
        if warn is not None:
            warn(f"environment {name}: {shown(raw)} is invalid; {exc.allowed}; using {default}")
        return default


class ArgumentParser(_argparse.ArgumentParser):
    """argparse with a two-line error: the message, then where help is (the usage
    block would push the message off a small terminal)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n(see '{self.prog} --help')\n")


SOURCE_READS = {  # what each engine source reads, for messages
    "pageidle": "/sys/kernel/mm/page_idle/bitmap and /proc/PID/pagemap",
    "softdirty": "/proc/PID/clear_refs and /proc/PID/pagemap",
    "smaps": "/proc/PID/clear_refs and /proc/PID/smaps",
}


def source_needs_target(source: str) -> str:
    reads = SOURCE_READS.get(source, "")
    how = f" (it reads {reads})" if reads else ""
    return (f"--source {source} needs a target: add --pid N or --paddr{how}; without one "
            "damontui monitors its synthetic workload")  # fmt: skip
