"""pytest fixtures (registered through the ``pytest11`` entry point of ml-connector-sandbox).

- ``tableau_sandbox``: a fresh Tableau Server-flavoured sandbox per test;
- ``tableau_cloud_sandbox``: a fresh Tableau Cloud-flavoured sandbox per test;
- ``tableau_sandbox_factory(flavor="server"|"cloud")``: start more; all stop at test end.
"""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from tableau_sandbox.testing import TableauSandboxServer


@pytest.fixture
def tableau_sandbox_factory() -> Iterator[Callable[..., TableauSandboxServer]]:
    started: list[TableauSandboxServer] = []

    def make(flavor: str = "server", **kwargs) -> TableauSandboxServer:
        server = TableauSandboxServer(flavor=flavor, **kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def tableau_sandbox(tableau_sandbox_factory) -> TableauSandboxServer:
    return tableau_sandbox_factory("server")


@pytest.fixture
def tableau_cloud_sandbox(tableau_sandbox_factory) -> TableauSandboxServer:
    return tableau_sandbox_factory("cloud")
