"""Monitored regions and their derived access metrics."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ValidationError


@dataclass(frozen=True, slots=True)
class TemperatureWeights:
    """damo's temperature weights: size, access rate (percent) and age (aggregations)."""

    size: float = 0.0
    access_rate: float = 100.0
    age: float = 100.0

    def __post_init__(self) -> None:
        for name in ("size", "access_rate", "age"):
            if getattr(self, name) < 0:
                raise ValidationError(f"temperature weight {name}", getattr(self, name), ">= 0")


DEFAULT_WEIGHTS = TemperatureWeights()


@dataclass(frozen=True, slots=True)
class Region:
    """One DAMON region: [start, end) with the access count of the last aggregation."""

    start: int
    end: int
    nr_accesses: int = 0
    age: int = 0

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValidationError("region", (self.start, self.end), "end must be above start")

    @property
    def size(self) -> int:
        return self.end - self.start

    def access_rate(self, max_nr_accesses: int) -> float:
        """Percent of sampling intervals in which the region was found accessed."""
        if max_nr_accesses <= 0:
            return 0.0
        return min(100.0, 100.0 * self.nr_accesses / max_nr_accesses)

    def temperature(
        self, max_nr_accesses: int, weights: TemperatureWeights = DEFAULT_WEIGHTS
    ) -> float:
        """damo's temperature: weighted size, access rate and age; idle regions get
        colder the longer they stay idle (age counts negative)."""
        age_weight = weights.age if self.nr_accesses > 0 else -weights.age
        return (
            weights.size * self.size
            + weights.access_rate * self.access_rate(max_nr_accesses)
            + age_weight * self.age
        )
