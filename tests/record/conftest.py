from __future__ import annotations

import pytest

from damontui.backends.engine.backend import EngineBackend
from damontui.model import Snapshot

from .helpers import engine_snapshots


@pytest.fixture(scope="session")
def engine_run() -> tuple[list[Snapshot], EngineBackend]:
    return engine_snapshots(40)
