"""A DAMON context: operations set, monitoring attributes, targets and schemes."""

from __future__ import annotations

from dataclasses import dataclass, field

from .attrs import MonitoringAttrs
from .errors import ValidationError
from .scheme import Scheme
from .snapshot import Target

OPS = ("vaddr", "fvaddr", "paddr")


@dataclass(frozen=True, slots=True)
class Context:
    """What one kdamond context holds (sysfs contexts/C/)."""

    ops: str = "paddr"
    attrs: MonitoringAttrs = field(default_factory=MonitoringAttrs)
    targets: tuple[Target, ...] = ()
    schemes: tuple[Scheme, ...] = ()
    addr_unit: int = 1  # 6.18: bytes per address unit (paddr only may use != 1)
    pause: bool = False  # 7.x: context paused (monitoring and schemes stop, state kept)

    def validate(self) -> Context:
        """Raise ValidationError naming the first bad field; return self for chaining."""
        if self.ops not in OPS:
            raise ValidationError("ops", self.ops, f"one of {', '.join(OPS)}")
        if self.addr_unit < 1:
            raise ValidationError("addr_unit", self.addr_unit, ">= 1 byte")
        if self.addr_unit != 1 and self.ops != "paddr":
            raise ValidationError("addr_unit", self.addr_unit, "1 unless ops is paddr")
        self.attrs.validate()
        for index, scheme in enumerate(self.schemes):
            try:
                scheme.validate()
            except ValidationError as e:
                raise ValidationError(f"schemes[{index}].{e.field}", e.value, e.allowed) from None
        return self
