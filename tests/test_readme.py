"""The README is executed: its shell commands run, its TOML loads without a warning,
and its key and flag tables match `damontui --help` and the help screen.

Every fenced block is found generically, so sections added later are tested too.
An HTML comment right before a fence (blank lines between are allowed) says how:

    <!-- readme-test: skip: REASON -->   never run here (needs a VM, a kernel, ssh, root)
    <!-- readme-test: slow: REASON -->   run only with DAMONTUI_README_SLOW=1 (.ci/run)
    <!-- readme-test: schemes -->        a TOML block that is a schemes file, not a config
    <!-- readme-test: text -->           a TOML/shell-looking block that is only an illustration

Shell blocks (sh, bash, shell, console) run line by line with bash, from the
repository root, `damontui` being this tree's entry point, stdout a pipe (so batch
mode), and a config that pins the user-space engine: README commands never touch
the machine's DAMON sysfs. Each must exit 0 without a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from damontui.cli import build_parser
from damontui.config import parse_config
from damontui.inputs import load_schemes_text

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHELL = {"sh", "bash", "shell", "console"}
MARKER = re.compile(r"<!--\s*readme-test:\s*(skip|slow|schemes|text)\s*(?::\s*(.*?))?\s*-->")
FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)[^\n]*$")


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int  # of the opening fence, 1-based
    mode: str  # "" | skip | slow | schemes | text
    reason: str

    @property
    def id(self) -> str:
        return f"README.md:{self.line}:{self.lang or 'plain'}"


def blocks(text: str) -> list[Block]:
    """Every fenced block with the marker comment before it, if any."""
    lines = text.splitlines()
    out: list[Block] = []
    i, pending = 0, ("", "")
    while i < len(lines):
        marker = MARKER.search(lines[i])
        fence = FENCE.match(lines[i])
        if marker:
            pending = (marker.group(1), marker.group(2) or "")
        elif fence:
            end = i + 1
            while end < len(lines) and not lines[end].strip().startswith(fence.group(1)):
                end += 1
            body = textwrap.dedent("\n".join(lines[i + 1 : end])) + "\n"  # fences in lists
            out.append(Block(fence.group(2).lower(), body, i + 1, *pending))
            pending, i = ("", ""), end
        elif lines[i].strip():
            pending = ("", "")  # a marker applies to the very next block only
        i += 1
    return out


ALL = blocks(README.read_text(encoding="utf-8"))


def test_markers_have_reasons_and_blocks_are_found() -> None:
    assert any(b.lang == "toml" for b in ALL) and any(b.lang in SHELL for b in ALL)
    for block in ALL:
        if block.mode in ("skip", "slow"):
            assert len(block.reason) > 10, f"{block.id}: say why it is not run here"
    text = README.read_text(encoding="utf-8")
    stray = [m.group(0) for m in re.finditer(r"<!--\s*readme-test[^>]*-->", text)
             if not MARKER.fullmatch(m.group(0))]  # fmt: skip
    assert not stray, f"unknown readme-test markers: {stray}"


def commands(block: Block) -> list[str]:
    """Logical command lines: continuations joined, prompts and comment lines dropped."""
    out: list[str] = []
    current = ""
    for raw in block.text.splitlines():
        line = raw.removeprefix("$ ") if block.lang == "console" else raw
        if block.lang == "console" and not raw.startswith("$ ") and not current:
            continue  # output shown in a console block
        current += line.rstrip("\\") + (" " if line.endswith("\\") else "")
        if not line.endswith("\\"):
            if current.strip() and not current.lstrip().startswith("#"):
                out.append(current.strip())
            current = ""
    return out


def shell_env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "damontui" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('backend = "engine"\n')  # never the machine's kernel DAMON
    bindir = str(Path(sys.executable).parent)
    return dict(os.environ, XDG_CONFIG_HOME=str(tmp_path), TERM="dumb", COLUMNS="100",
                PATH=f"{bindir}:{os.environ.get('PATH', '')}", PYTHONPATH=str(ROOT))  # fmt: skip


SHELL_BLOCKS = [b for b in ALL if b.lang in SHELL]


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=[b.id for b in SHELL_BLOCKS])
def test_shell_block_runs(block: Block, tmp_path: Path) -> None:
    if block.mode in ("skip", "text"):
        pytest.skip(f"{block.id}: {block.reason or 'illustration'}")
    cwd = ROOT
    if block.mode == "slow":
        if os.environ.get("DAMONTUI_README_SLOW") != "1":
            pytest.skip(f"{block.id}: {block.reason}")
        cwd = tmp_path / "checkout"  # a clean copy: the block may create .venv
        shutil.copytree(ROOT, cwd, ignore=shutil.ignore_patterns(
            ".venv*", ".git", "build", "*.so", "__pycache__", "*.egg-info"))  # fmt: skip
    env = shell_env(tmp_path)
    for command in commands(block):
        result = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, text=True,
                                capture_output=True, stdin=subprocess.DEVNULL,
                                timeout=1800 if block.mode == "slow" else 180)  # fmt: skip
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{block.id}: `{command}` failed:\n{output[-3000:]}"
        assert "Traceback" not in output, f"{block.id}: `{command}`:\n{output[-3000:]}"


TOML_BLOCKS = [b for b in ALL if b.lang == "toml"]


@pytest.mark.parametrize("block", TOML_BLOCKS, ids=[b.id for b in TOML_BLOCKS])
def test_toml_block_loads_without_a_warning(block: Block) -> None:
    if block.mode in ("skip", "slow", "text"):
        pytest.skip(f"{block.id}: {block.reason or 'illustration'}")
    where = Path(f"README.md:{block.line}")
    if block.mode == "schemes":
        assert load_schemes_text(block.text, where)
        return
    config, warnings = parse_config(block.text, where)
    assert warnings == [], f"{block.id}: {warnings}"
    data_keys = re.findall(r"^\s*([A-Za-z_]+)\s*=", block.text, re.MULTILINE)
    assert data_keys and config.path == where


# --- tables versus --help and the help screen ----------------------------------------


def section(text: str, title: str) -> str:
    start = text.index(title)
    following = re.search(r"^#{1,3} ", text[start + len(title) :], re.MULTILINE)
    return text[start : start + len(title) + following.start()] if following else text[start:]


def first_cells(table_text: str) -> list[str]:
    return [line.split("|")[1] for line in table_text.splitlines()
            if line.startswith("|") and not re.match(r"\|\s*-", line)][1:]  # fmt: skip


def parser_flags() -> tuple[set[str], set[str]]:
    """Flags in the text `damontui --help` (and each `damontui CMD --help`) prints;
    commands are argparse's subcommands and those the help's epilog names (a module
    may dispatch its own, e.g. `damontui damo-json`)."""
    parser = build_parser()
    main_help = parser.format_help()
    texts = [main_help]
    commands: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                commands.add(name)
                texts.append(sub.format_help())
    for name in set(re.findall(r"'damontui ([a-z][a-z-]*)\b", main_help)) - commands:
        commands.add(name)
        result = subprocess.run([sys.executable, "-m", "damontui", name, "--help"], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert result.returncode == 0, f"damontui {name} --help: {result.stderr}"
        texts.append(result.stdout)
    entries = [
        line for text in texts for line in text.splitlines() if re.match(r"\s{2}-", line)
    ]  # the option list, not prose naming damo's flags
    flags = {f for line in entries for f in re.findall(r"(?<![\w-])--[a-z][a-z_-]*", line)}
    return flags - {"--help"}, commands


def test_options_table_lists_every_flag_of_help() -> None:
    text = README.read_text(encoding="utf-8")
    cells = first_cells(section(text, "### Options"))
    readme = {f for cell in cells for f in re.findall(r"--[a-z][a-z_-]*", cell)}
    readme_commands = {c for cell in cells for c in re.findall(r"`damontui ([a-z-]+)`", cell)}
    meaning = "\n".join(line for line in section(text, "### Options").splitlines()
                        if line.startswith("|"))  # fmt: skip
    readme |= set(re.findall(r"`(--[a-z][a-z_-]*)", meaning))
    flags, commands = parser_flags()
    assert flags - readme == set(), "flags in --help missing from the README's Options table"
    assert readme - flags == set(), "flags in the README's Options table that --help lacks"
    assert commands == readme_commands


def normal_key(key: str) -> str:
    key = key.strip().strip("`").strip()
    names = {"esc": "escape", "del": "delete", "pgup": "pageup", "pgdn": "pagedown",
             "insert": "insert", "?": "question_mark"}  # fmt: skip
    if key.startswith("^"):
        key = "ctrl+" + key[1:]
    low = key.lower()
    if len(key) == 1:
        return names.get(key, key)  # letters keep their case: t and T differ
    return names.get(low, low)


def readme_keys() -> set[str]:
    cells = first_cells(section(README.read_text(encoding="utf-8"), "### Keys"))
    return {normal_key(k) for cell in cells for k in re.findall(r"`([^`]+)`", cell)}


async def test_keys_table_matches_the_help_screen() -> None:
    from fake_backend import FakeBackend

    from damontui.tui.app import DamonApp
    from damontui.tui.help_screen import HelpScreen

    app = DamonApp(FakeBackend(), refresh_s=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        shown = {normal_key(k) for _, keys, _ in app.screen.rows for k in keys.split(" / ")}
    readme = readme_keys() - {"ctrl+p"}  # Textual's command palette, named in the help text
    arrows = {"↑", "↓", "←", "→"}
    assert shown - readme == set(), "keys on the help screen missing from the README table"
    assert readme - shown - arrows == set(), "README keys the help screen does not list"
    assert arrows & readme == arrows & shown
