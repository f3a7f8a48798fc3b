"""Helpers for the target core tests: run the target in-process on Singer text, read tables back."""

from __future__ import annotations

import io
import json
import typing as t
from pathlib import Path

import pytest
import simplejson
from tableauhyperapi import Connection, HyperProcess, Telemetry, TableName

from target_tableau_hyper.target import TargetTableauHyper

RESOURCES = Path(__file__).parent / "resources"


def singer_text(messages: t.Iterable[dict | str]) -> str:
    """Messages (dicts, or raw lines kept byte-exact) → Singer text."""
    # simplejson writes Decimal values as JSON numbers with their exact text
    return "".join(
        (m if isinstance(m, str) else simplejson.dumps(m, use_decimal=True)) + "\n" for m in messages
    )


class HyperRun:
    """Result of one in-process target run."""

    def __init__(self, target: TargetTableauHyper, stdout: str) -> None:
        self.target = target
        self.run_id = target.run_id
        self.states = [json.loads(line) for line in stdout.splitlines() if line.strip()]
        self.counts = target.counts


@pytest.fixture(scope="session")
def hyper_reader():
    """Read back tables with a separate Hyper process: {'rows': [...dict], 'columns': {name: type}}."""
    with HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_config": ""}) as hp:

        def read(path: str | Path, table: str = "Extract", order_by: str | None = None) -> dict:
            name = TableName("Extract", table)
            with Connection(hp.endpoint, str(path)) as conn:
                definition = conn.catalog.get_table_definition(name)
                columns = {c.name.unescaped: str(c.type) for c in definition.columns}
                order = f" ORDER BY {order_by}" if order_by else ""
                result = conn.execute_list_query(f"SELECT * FROM {name}{order}")
                rows = [dict(zip(columns, r)) for r in result]
                tables = conn.catalog.get_table_names("Extract")
            return {"rows": rows, "columns": columns, "tables": [n.name.unescaped for n in tables]}

        yield read


@pytest.fixture
def run_target(tmp_path, capsys):
    """run_target(messages_or_text, **config) → HyperRun; output in tmp_path/'out'."""

    def run(messages: t.Any, **config: t.Any) -> HyperRun:
        cfg = {"output_dir": str(tmp_path / "out"), **config}
        text = messages if isinstance(messages, str) else singer_text(messages)
        target = TargetTableauHyper(config=cfg)
        capsys.readouterr()
        target.listen_safely(io.BytesIO(text.encode()))
        out = capsys.readouterr().out
        return HyperRun(target, out)

    run.out_dir = tmp_path / "out"
    return run


def resource(name: str) -> str:
    return (RESOURCES / name).read_text(encoding="utf-8")


@pytest.fixture
def singer_resource():
    """singer_resource('name.singer') → the text of tests/resources/name.singer."""
    return resource
