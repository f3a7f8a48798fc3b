"""pytest fixtures shared by every package's tests (registered through the `pytest11` entry point).

* `postgres_cluster` (session): a throw-away PostgreSQL cluster (see `ml_testing.postgres`).
* `postgres_url` (session): `postgresql://postgres@127.0.0.1:PORT/postgres`, its superuser URL.
* `postgres_database` (function): the URL of a fresh empty database, dropped after the test.
"""

from __future__ import annotations

import itertools

import pytest

from ml_testing.postgres import PostgresCluster, running_cluster

_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_cluster():
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    return postgres_cluster.url


@pytest.fixture
def postgres_database(postgres_cluster: PostgresCluster):
    name = f"test_{next(_database_numbers)}"
    url = postgres_cluster.create_database(name)
    yield url
    postgres_cluster.drop_database(name)
