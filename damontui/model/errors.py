"""Errors raised by model validation."""

from __future__ import annotations

from collections.abc import Iterable


def shown(value: object, limit: int = 48) -> str:
    """repr() cut short, so a 400-digit value doesn't fill the screen."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 16]}... ({len(text)} chars)"


class ValidationError(ValueError):
    """A value outside what DAMON accepts; names the field and what is allowed."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field}: {shown(value)} is invalid; {allowed}")


class UnknownKeyError(ValidationError):
    """A key nobody knows: the message blames the key and lists the known ones."""

    def __init__(self, field: str, known: Iterable[str]) -> None:
        self.known = tuple(sorted(known))
        names = ", ".join(self.known)
        ValueError.__init__(self, f"{field}: unknown key; known: {names}")
        self.field = field
        self.value = None
        self.allowed = f"known: {names}"


class InputError(ValidationError):
    """A ValidationError whose message already says where: '--flag: ...', 'file:3: ...'."""

    def __init__(self, message: str, field: str = "", value: object = None,
                 allowed: str = "") -> None:  # fmt: skip
        ValueError.__init__(self, message)
        self.field = field
        self.value = value
        self.allowed = allowed
