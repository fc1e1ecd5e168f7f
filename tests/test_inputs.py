"""Every probe of issue 11: a clear message naming the source, key and value, no traceback.

CLI probes run `damontui.cli.main` in-process (argparse exits 2 with the message);
the few that need a running backend run as subprocesses with the engine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fakesysfs import FakeSysfs

from damontui import cli, inputs
from damontui.config import parse_config
from damontui.model import MonitoringAttrs, ValidationError
from damontui.model.errors import InputError
from damontui.model.serialize import read_bp, read_count, read_duration_us, read_size

ROOT = Path(__file__).resolve().parents[1]
DIGITS = "1" * 400


def cli_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """stderr of `damontui ARGV` that must fail with exit 2 and no traceback."""
    with pytest.raises(SystemExit) as exc:
        code = cli.main(["--once", "--backend", "engine", *argv])
        raise SystemExit(code)
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("flag", ["--sample", "--aggr", "--update", "--min-regions",
                                  "--max-regions"])  # fmt: skip
@pytest.mark.parametrize(
    "value", [DIGITS, "inf", "nan", "-1", "1e400"], ids=["400digits", "inf", "nan", "-1", "1e400"]
)
def test_huge_or_infinite_attribute_flags(capsys, flag: str, value: str) -> None:
    err = cli_error(capsys, flag, value)
    assert f"argument {flag}:" in err
    assert "allowed" in err or "digits" in err or "finite" in err or "unit" in err, err
    assert len(err) < 300, err  # 400 digits are not echoed back whole


@pytest.mark.parametrize("value", ["inf", "1e300", DIGITS], ids=["inf", "1e300", "400digits"])
def test_refresh_and_delay_that_would_overflow_sleep(capsys, value: str) -> None:
    for flag in ("--refresh", "--delay"):
        err = cli_error(capsys, flag, value)
        assert f"argument {flag}:" in err


@pytest.mark.parametrize("value", ["0", "-1", "nan", "10us"])
def test_refresh_zero_negative_nan(capsys, value: str) -> None:
    err = cli_error(capsys, "--refresh", value)
    assert "argument --refresh:" in err and ("50ms..1h" in err or "finite" in err), err


def test_count_minus_one(capsys) -> None:
    err = cli_error(capsys, "--count", "-1")
    assert "argument --count: '-1' is invalid; allowed: 0..1,000,000,000" in err


def test_delay_minus_one(capsys) -> None:
    err = cli_error(capsys, "--delay", "-1")
    assert "argument --delay: '-1' is invalid; allowed: 0..1d" in err


def test_limit_minus_three(capsys) -> None:
    err = cli_error(capsys, "--limit", "-3")
    assert "argument --limit: '-3' is invalid; allowed: 1..1,000,000,000" in err


def test_sample_huge_is_blamed_on_sample(capsys) -> None:
    err = cli_error(capsys, "--sample", "1000000s")
    assert "argument --sample: '1000000s' is invalid; allowed: 1us..1d" in err
    assert "update_us" not in err


def test_sample_conflicting_with_default_update_names_the_flag(capsys) -> None:
    err = cli_error(capsys, "--sample", "1h")
    assert "--sample 1h:" in err and "update_us" in err and "give --update too" in err


def test_source_pageidle_without_a_target_says_so_and_names_the_path(capsys) -> None:
    for backend in ("engine", "auto"):
        err = cli_error(capsys, "--backend", backend, "--source", "pageidle")
        assert "--source pageidle needs a target: add --pid N or --paddr" in err
        assert "/sys/kernel/mm/page_idle/bitmap" in err


def test_reset_stopped_must_name_a_kdamond(capsys) -> None:
    err = cli_error(capsys, "--reset-stopped", "nine")
    assert "argument --reset-stopped: 'nine' is invalid; a kdamond name like kdamond.1" in err


def test_reset_stopped_with_the_engine_is_refused(capsys) -> None:
    err = cli_error(capsys, "--reset-stopped", "kdamond.9")
    assert "--reset-stopped: only for the kernel backend" in err


def test_reset_stopped_no_such_kdamond(tmp_path: Path) -> None:
    fake = FakeSysfs.build(tmp_path, version=(6, 12))
    fake.setup_kdamond(ops="paddr", running=False)
    where = dict(sysfs=fake, runtime_dir=fake.runtime_dir, proc_root=fake.proc_root)
    with pytest.raises(InputError, match=r"--reset-stopped kdamond.9: no such kdamond "
                                         r"\(existing: kdamond.0\)"):  # fmt: skip
        inputs.check_reset_stopped(("kdamond.9",), "kernel", fake.admin, **where)
    inputs.check_reset_stopped(("kdamond.0",), "kernel", fake.admin, **where)  # it exists
    fake.mark_running(0, pid=71)
    with pytest.raises(InputError, match="kdamond.0: it is running"):
        inputs.check_reset_stopped(("kdamond.0",), "auto", fake.admin, **where)
    assert not fake.writes_under("kdamonds"), "the check only reads"


def test_reset_stopped_without_damon_sysfs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--reset-stopped"):
        inputs.check_reset_stopped(("kdamond.0",), "kernel", str(tmp_path / "none"))


def run(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path), PYTHONPATH=str(ROOT), TERM="dumb")
    return subprocess.run([sys.executable, "-m", "damontui", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)  # fmt: skip


def test_once_does_not_wait_for_the_refresh_interval(tmp_path: Path) -> None:
    # with a 1 h refresh the report must still come with the first snapshot
    result = run(tmp_path, "--once", "--backend", "engine", "--refresh", "1h", timeout=90)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("damontui engine")


def test_batch_reports_are_new_snapshots(tmp_path: Path) -> None:
    result = run(tmp_path, "--batch", "--count", "2", "--delay", "0", "--backend", "engine",
                 "--aggr", "50ms", "--sample", "5ms", "--limit", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.split("=" * 72)
    seqs = re.findall(r"\bseq (\d+)\b", result.stdout)
    assert len(seqs) == 2 and seqs[0] != seqs[1], result.stdout  # not the same snapshot twice
    assert first and second


def test_bad_columns_environment_is_reported_not_raised(tmp_path: Path) -> None:
    result = run(tmp_path, "--once", "--backend", "engine", "--limit", "1")
    assert result.returncode == 0
    env_run = subprocess.run(
        [sys.executable, "-m", "damontui", "--once", "--backend", "engine", "--limit", "1"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env=dict(os.environ, XDG_CONFIG_HOME=str(tmp_path), PYTHONPATH=str(ROOT),
                 TERM="dumb", COLUMNS="abc"))  # fmt: skip
    assert env_run.returncode == 0, env_run.stderr
    assert "environment COLUMNS: 'abc' is invalid" in env_run.stderr


# --- config file probes: warn, use the default, keep going ---------------------------


def config_errors(text: str) -> list[str]:
    config, errors = parse_config(text, Path("c.toml"))
    assert config is not None
    for error in errors:
        assert "Traceback" not in error and len(error) < 400, error
    return errors


def test_config_refresh_with_400_digits() -> None:
    [error] = config_errors(f'refresh = "{DIGITS}"')
    assert error.startswith("c.toml:1: refresh: ") and "at most 40 digits" in error
    assert error.endswith("using the default")


def test_config_schemes_file_of_unknown_user() -> None:
    [error] = config_errors('schemes_file = "~nosuchuser/x"')
    assert error.startswith("c.toml:1: schemes_file: '~nosuchuser/x' is invalid; no user "
                            "'nosuchuser'")  # fmt: skip


@pytest.mark.parametrize("text", [
    "a" + ".a" * 5000 + " = 1",
    "x = " + "[" * 5000 + "]" * 5000,
    "x = " + "{a = " * 5000 + "1" + "}" * 5000,
])  # fmt: skip
def test_config_nested_5000_levels(text: str) -> None:
    assert config_errors(text) == ["c.toml: nested deeper than 32 levels; using all defaults"]


def test_config_sample_us_nan_names_sample_us() -> None:
    [error] = config_errors("[intervals]\nsample_us = nan\naggr_us = 100000\n")
    assert error.startswith("c.toml:2: intervals.sample_us: nan is invalid")
    config, _ = parse_config("[intervals]\nsample_us = nan\n", Path("c.toml"))
    assert config.intervals == MonitoringAttrs()  # the default, not the maximum


def test_config_sample_us_inf_names_sample_us() -> None:
    [error] = config_errors("[intervals]\nsample_us = inf\n")
    assert error.startswith("c.toml:2: intervals.sample_us: inf is invalid; allowed: 1us..1d")


def test_config_integer_of_5000_digits() -> None:
    [error] = config_errors("seed = " + "1" * 5000)
    assert "more than 4,300 digits" in error and "using all defaults" in error


def test_config_unknown_key_blames_the_key() -> None:
    [error] = config_errors('[intervals]\nsampel = "5ms"\n')
    assert error.startswith("c.toml:2: intervals.sampel: unknown key; known: ")
    assert "'5ms'" not in error


# --- schemes files and editors --------------------------------------------------------


def test_schemes_file_with_400_digit_watermark(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f'[[schemes]]\naction = "pageout"\n[schemes.watermarks]\nlow = "{DIGITS}"\n')
    with pytest.raises(InputError) as exc:
        inputs.load_schemes_file(path)
    assert str(exc.value).startswith(f"{path}:4: schemes[0].watermarks.low: ")


@pytest.mark.parametrize("content", [b"\xff\xfe", b"x = " + b"[" * 5000 + b"]" * 5000,
                                     b"[[schemes]]\naction = 3", b"seed = 1"])  # fmt: skip
def test_schemes_file_errors_are_input_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "s.toml"
    path.write_bytes(content)
    with pytest.raises(InputError) as exc:
        inputs.load_schemes_file(path)
    assert str(exc.value).startswith(str(path))


def test_missing_schemes_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such schemes file"):
        inputs.load_schemes_file(tmp_path / "nope.toml")


@pytest.mark.parametrize("read", [read_size, read_duration_us, read_count, read_bp])
@pytest.mark.parametrize("value", [DIGITS, "1" * 5000, "nan", "inf%", f"{DIGITS}%", "0x" + "f" * 99,
                                   float("nan")], ids=range(7))  # fmt: skip
def test_editor_readers_raise_only_validation_errors(read, value) -> None:
    try:
        read(value, "field")
    except ValidationError as exc:
        assert exc.field == "field"


async def test_f3_loading_400_digits_keeps_the_tui_alive(tmp_path: Path) -> None:
    from test_tui_schemes import COLD, PanelApp

    from damontui.tui.schemes import SchemeList

    path = tmp_path / "bad.toml"
    path.write_text(f'[[schemes]]\naction = "pageout"\n[schemes.watermarks]\nlow = "{DIGITS}"\n')
    app = PanelApp(schemes_file=path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one(SchemeList).focus()
        await pilot.press("f3")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert app.panel.schemes == (COLD,)
        messages = [n.message for n in app._notifications]
        assert any(f"{path}:4: schemes[0].watermarks.low" in m for m in messages), messages
        assert app.is_running


# --- the shared harness for other formats ---------------------------------------------


def test_guarded_turns_python_errors_into_validation_errors() -> None:
    with pytest.raises(ValidationError, match="k: .* not usable"):
        inputs.guarded(int, "x", field="k", value="x")
    with pytest.raises(ValidationError, match="nested too deeply"):
        inputs.guarded(lambda: (_ for _ in ()).throw(RecursionError()), field="k")


def test_check_depth_is_iterative() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InputError, match="nested deeper than 32"):
        inputs.check_depth(deep, "x.json")
    inputs.check_depth({"a": [{"b": 1}]}, "x.json")


@pytest.mark.parametrize("value", ["inf", DIGITS, "0", "2d", "nan"], ids=range(5))
def test_attributes_editor_uses_the_same_ranges(value: str) -> None:
    from damontui.tui.attrs_screen import FIELDS

    with pytest.raises(ValidationError) as exc:
        FIELDS["sample_us"][1](value, "sample_us")
    assert exc.value.field == "sample_us" and len(str(exc.value)) < 200


def test_key_line_ends_on_odd_key_names() -> None:
    # found by bench/fuzz_long.py: an unknown key with ']' in it made key_line loop for ever
    import signal

    from damontui.config import key_line

    def hung(*_: object) -> None:
        raise AssertionError("key_line did not return")

    signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)  # generous: it takes microseconds
    assert key_line("[temperature_weights]\nsize = 1\n", "temperature_weights.a]b") == 1
    assert key_line("x = 1\n", "a]b") is None
    [error] = config_errors('[temperature_weights]\n"a]b" = 1\n')
    signal.alarm(0)
    assert "unknown key" in error


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1e400", DIGITS], ids=range(5))
def test_temperature_weights_flag(capsys, value: str) -> None:
    err = cli_error(capsys, "--temperature-weights", "0", value, "100")
    assert "argument --temperature-weights/--temperature_weights:" in err and len(err) < 300


def test_unicode_digits_are_not_whole_numbers() -> None:
    # found by bench/fuzz_long.py: '²'.isdigit() is True, int('²') raises ValueError
    from damontui.model.serialize import read_accesses, read_count

    for read in (read_count, lambda v, p: read_accesses(v, p, MonitoringAttrs())):
        with pytest.raises(ValidationError):
            read("²", "field")
    from damontui.formats import damo_json

    try:  # refused with damo JSON's own error, or read as "no pid": never a ValueError
        kdamonds = damo_json.load_damo('{"kdamonds": [{"pid": "²", "contexts": []}]}')
    except damo_json.DamoJsonError as exc:
        assert "pid" in str(exc)
    else:
        assert kdamonds[0].pid is None


def test_turn_off_names_a_damon_module(capsys) -> None:
    err = cli_error(capsys, "--turn-off", "foo")
    assert "argument --turn-off: invalid choice: 'foo'" in err and "damon_stat" in err
