"""Errors raised by model validation."""

from __future__ import annotations


class ValidationError(ValueError):
    """A value outside what DAMON accepts; names the field and what is allowed."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field}: {value!r} is invalid; {allowed}")
