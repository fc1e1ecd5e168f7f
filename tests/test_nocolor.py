"""NO_COLOR / --no-color: no SGR colour at all (16, 256 or truecolor, fg or bg); bold,
reverse and underline stay; the heatmap uses its character ramp. Checked on an SVG
snapshot and on a real terminal (tmux capture-pane -e)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from test_snapshots import feeding, make_app

ROOT = Path(__file__).resolve().parents[1]
SGR = re.compile(r"\x1b\[([0-9;:]*)m")


def colour_codes(text: str) -> list[str]:
    """SGR parameter lists that set a colour (anything but 39/49, the defaults)."""
    found = []
    for params in SGR.findall(text):
        codes = [int(p) for p in re.split("[;:]", params) if p.isdigit()]
        i = 0
        while i < len(codes):
            code = codes[i]
            if code in (38, 48, 58):  # extended colour: 5;N or 2;R;G;B
                found.append(params)
                break
            if 30 <= code <= 37 or 40 <= code <= 47 or 90 <= code <= 97 or 100 <= code <= 107:
                found.append(params)
            i += 1
    return found


def test_colour_code_parser() -> None:
    assert colour_codes("\x1b[38;5;245mx\x1b[48;2;1;2;3m\x1b[31m") == ["38;5;245", "48;2;1;2;3",
                                                                      "31"]  # fmt: skip
    assert colour_codes("\x1b[1;4;7mx\x1b[0m\x1b[39m\x1b[49m\x1b[m") == []


def svg_colours(svg: str) -> tuple[set[str], set[str]]:
    """(text fills, rect fills) of the terminal area of a Textual SVG screenshot."""
    text_fills = set(re.findall(r"\.terminal-r\d+ \{[^}]*fill: (#[0-9a-fA-F]{6})", svg))
    body = svg[svg.index("terminal-matrix") :] if "terminal-matrix" in svg else svg
    rect_fills = set(re.findall(r'<rect fill="(#[0-9a-fA-F]{6})"', body))
    return text_fills, rect_fills


@pytest.mark.parametrize("view", ["1", "2", "3"])
def test_no_color_svg_snapshot(snap_compare, monkeypatch, view: str) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NO_COLOR", "1")  # read when the App is created
    shots: list[str] = []
    feed = feeding(80, view)

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await feed(pilot)
        shots.append(pilot.app.export_screenshot())

    assert snap_compare(make_app(), run_before=run_before, terminal_size=(80, 24))
    [svg] = shots
    text_fills, rect_fills = svg_colours(svg)
    # the terminal's default foreground and background only (reverse video swaps them)
    assert len(text_fills | rect_fills) <= 2, f"colours: {text_fills | rect_fills}"
    if view == "2":
        assert re.search(r"[.:=+*#%@-]{8}", svg.replace("&#160;", " ")), "heatmap ramp"


def _tmux() -> str:
    tmux = shutil.which("tmux")
    if tmux is None:
        pytest.skip("tmux is not installed (.ci/run installs it with apt-get)")
    return tmux


class Tmux:
    """damontui in a detached tmux session on a private server (-L)."""

    def __init__(self, tmp_path: Path, command: list[str], env: dict[str, str]) -> None:
        self.tmux = _tmux()
        self.socket = f"damontui-test-{uuid.uuid4().hex[:8]}"
        self.session = "t"
        envs = [f"{k}={v}" for k, v in env.items()]
        self.run("new-session", "-d", "-s", self.session, "-x", "80", "-y", "24",
                 "env", *envs, *command)  # fmt: skip

    def run(self, *args: str) -> str:
        return subprocess.run([self.tmux, "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=30, check=True).stdout  # fmt: skip

    def capture(self) -> str:
        return self.run("capture-pane", "-t", self.session, "-p", "-e")

    def wait_for(self, pattern: str, timeout: float = 90) -> str:
        end = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < end:
            screen = self.capture()
            if re.search(pattern, SGR.sub("", screen)):
                return screen
            time.sleep(0.5)
        raise AssertionError(f"{pattern!r} never showed:\n{SGR.sub('', screen)}")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def close(self) -> None:
        subprocess.run([self.tmux, "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=30)  # fmt: skip


@pytest.mark.parametrize("how", ["NO_COLOR", "--no-color"])
def test_no_color_in_a_real_terminal(tmp_path: Path, how: str) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path), "TERM": "xterm-256color", "COLORTERM": "truecolor",
           "PYTHONPATH": str(ROOT), "HOME": os.environ.get("HOME", str(tmp_path))}  # fmt: skip
    command = [sys.executable, "-m", "damontui", "--backend", "engine", "--refresh", "0.2"]
    if how == "NO_COLOR":
        env["NO_COLOR"] = "1"
    else:
        command.append("--no-color")
    term = Tmux(tmp_path, command, env)
    try:
        screens = [term.wait_for(r"damontui engine: synthetic")]
        term.keys("2")
        screens.append(term.wait_for(r"Heatmap · "))
        term.keys("3")
        screens.append(term.wait_for(r"3 Histograms"))
        for screen in screens:
            assert colour_codes(screen) == [], sorted(set(colour_codes(screen)))[:5]
        heatmap = SGR.sub("", screens[1])
        assert re.search(r"^0x[0-9a-f]+ [ .:=+*#%@-]{20}", heatmap, re.MULTILINE), heatmap
        # reverse video marks the tab of the view shown (here the heatmap)
        assert re.search(r"\x1b\[(?:[0-9]*;)*7(?:;[0-9]*)*m 2 Heatmap ", screens[1]), screens[1][
            :600
        ]
    finally:
        term.keys("q")
        time.sleep(0.5)
        term.close()


def test_colours_without_no_color(tmp_path: Path) -> None:
    """The same check sees colours when they are on (it can fail)."""
    env = {"XDG_CONFIG_HOME": str(tmp_path), "TERM": "xterm-256color", "PYTHONPATH": str(ROOT),
           "HOME": os.environ.get("HOME", str(tmp_path))}  # fmt: skip
    env_clean = {k: v for k, v in env.items()}
    term = Tmux(tmp_path, ["env", "-u", "NO_COLOR", sys.executable, "-m", "damontui",
                           "--backend", "engine"], env_clean)  # fmt: skip
    try:
        screen = term.wait_for(r"damontui engine: synthetic")
        assert colour_codes(screen)
    finally:
        term.keys("q")
        time.sleep(0.5)
        term.close()
