"""pytest fixtures (registered through the ``pytest11`` entry point).

* ``qbo_sandbox``: a fresh in-process sandbox per test (2 realms, demo size, seed 42).
* ``qbo_sandbox_factory(**kwargs)``: start sandboxes with other options
  (``QboSandboxServer`` keyword arguments); all are stopped after the test.
"""
from __future__ import annotations

import pytest

from .testing import QboSandboxServer


@pytest.fixture
def qbo_sandbox():
    with QboSandboxServer(realms=2, size="demo", seed=42) as sb:
        yield sb


@pytest.fixture
def qbo_sandbox_factory():
    started: list[QboSandboxServer] = []

    def make(**kwargs) -> QboSandboxServer:
        sb = QboSandboxServer(**kwargs).start()
        started.append(sb)
        return sb

    yield make
    for sb in started:
        sb.stop()
