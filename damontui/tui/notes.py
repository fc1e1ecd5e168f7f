"""Startup problems (bad config keys, an unknown theme) in a bar under the view tabs:
they stay until Esc, instead of a toast whose first lines scroll away at 80x24."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static


class NotesBar(Static):
    DEFAULT_CSS = """
    NotesBar {
        height: auto; max-height: 6; padding: 0 1;
        background: $warning-darken-3; color: $foreground;
        text-style: none;
    }
    NotesBar.-empty { display: none; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.messages: list[str] = []
        self.add_class("-empty")

    def show_messages(self, messages: Sequence[str]) -> None:
        self.messages = list(messages)
        text = Text()
        for message in self.messages:
            text.append("! ", style="bold")
            text.append(message + "\n")
        if self.messages:
            text.append("(Esc hides these notes)", style="italic")
        self.update(text)
        self.set_class(not self.messages, "-empty")

    def dismiss(self) -> bool:
        """Hide the notes; False if there were none shown."""
        if not self.messages:
            return False
        self.show_messages(())
        return True
