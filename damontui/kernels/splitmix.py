"""splitmix64 constants shared by the engine's region container and both kernel
implementations (the generator itself is described in backends/engine/regionset.py)."""

from __future__ import annotations

MASK64 = (1 << 64) - 1
SPLITMIX_GAMMA = 0x9E3779B97F4A7C15
SPLITMIX_MUL1 = 0xBF58476D1CE4E5B9
SPLITMIX_MUL2 = 0x94D049BB133111EB
