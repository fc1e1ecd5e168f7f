"""The live app's save keys: the in-memory history as a record, the screen as SVG.

Files go to the current directory when it is writable, else to the temporary
directory; the notification names the full path either way.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .frames import RecordError
from .writer import RecordWriter

if TYPE_CHECKING:
    from ..tui.app import DamonApp


def default_path(suffix: str, directory: Path | None = None) -> Path:
    """damontui-YYYYmmdd-HHMMSS.<suffix> in `directory`, the cwd, or the temp dir."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for folder in ([directory] if directory else []) + [Path.cwd(), Path(tempfile.gettempdir())]:
        if os.access(folder, os.W_OK):
            path = folder / f"damontui-{stamp}.{suffix}"
            n = 1
            while path.exists():
                path = folder / f"damontui-{stamp}-{n}.{suffix}"
                n += 1
            return path
    raise RecordError(str(Path.cwd()), None, "no writable directory for the file")


def save_history(app: DamonApp, directory: Path | None = None) -> Path | None:
    """Write every snapshot the app holds to a new record; notify where it went."""
    snaps = list(app.history.snapshots)
    if not snaps:
        app.notify("No snapshots yet: nothing to save.", severity="warning", markup=False)
        return None
    try:
        path = default_path("dtrec", directory)
        with RecordWriter(path, extra={"saved_from": "live app history"}) as writer:
            for snap in snaps:
                writer.write(snap, app.info)
    except (RecordError, OSError) as e:
        app.notify(f"History not saved: {e}", severity="error", markup=False)
        return None
    app.notify(f"Saved {len(snaps)} snapshots to {path} (damontui replay {path.name})",
               title="History saved", markup=False, timeout=8)  # fmt: skip
    return path


def save_screenshot(app: DamonApp, directory: Path | None = None) -> Path | None:
    """An SVG of the current screen (Textual's own export); notify where it went."""
    try:
        path = default_path("svg", directory)
        app.save_screenshot(filename=path.name, path=str(path.parent))
    except (RecordError, OSError) as e:
        app.notify(f"Screenshot not saved: {e}", severity="error", markup=False)
        return None
    app.notify(f"Screenshot saved to {path}", title="Screenshot", markup=False, timeout=8)
    return path


class SaveKeys:
    """The live app's actions for `W` and `S` (DamonApp mixes this in)."""

    def action_save_history(self) -> None:
        save_history(self)  # type: ignore[arg-type]

    def action_save_svg(self) -> None:
        save_screenshot(self)  # type: ignore[arg-type]
