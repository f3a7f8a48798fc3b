"""Building the files that go to Tableau from the local extracts, with the Hyper API.

- `build_delta`: a small .hyper holding, per table, the current rows of the keys touched since the
  last successful publish (`<t>_upserts`) and the key scopes to delete first (`<t>_deletes`),
  plus the update-data actions that apply them. Its size follows the change, not the table.
- `build_combined`: one .hyper with one table per stream (the multi-table datasource).
- `schema_signature`: the columns and types of a local table, to detect schema changes.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

from tableauhyperapi import (
    Connection,
    CreateMode,
    HyperProcess,
    Inserter,
    SchemaName,
    SqlType,
    TableDefinition,
    TableName,
    Telemetry,
    escape_name,
)

LOCAL_TABLE = ("Extract", "Extract")
DELTA_SCHEMA = "Extract"


def hyper_process() -> HyperProcess:
    return HyperProcess(telemetry=Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_config": ""})


def local_table(conn: Connection, database: str | None = None, stream: str | None = None) -> TableName:
    """The extract table of a local file: `"Extract"."<stream>"` in the target's multi-table file,
    else `"Extract"."Extract"`, else the only table in schema "Extract"."""
    schema = SchemaName(database, "Extract") if database else SchemaName("Extract")
    names = [t.name.unescaped for t in conn.catalog.get_table_names(schema)]

    def name(table: str) -> TableName:
        return TableName(database, "Extract", table) if database else TableName("Extract", table)

    if stream and stream in names:
        return name(stream)
    if "Extract" in names or not names:
        return name("Extract")
    if len(names) > 1:
        raise ValueError(f"expected one table in schema Extract, found {', '.join(sorted(names))}")
    return name(names[0])


def local_table_name(hyper: HyperProcess, path: str, stream: str | None = None) -> tuple[str, str]:
    with Connection(hyper.endpoint, path, CreateMode.NONE) as conn:
        table = local_table(conn, stream=stream)
        return (table.schema_name.name.unescaped, table.name.unescaped)


def table_columns(conn: Connection, table: TableName) -> list[tuple[str, str]]:
    definition = conn.catalog.get_table_definition(table)
    return [(col.name.unescaped, str(col.type)) for col in definition.columns]


def schema_signature(hyper: HyperProcess, local_path: str, stream: str | None = None) -> str:
    with Connection(hyper.endpoint, local_path, CreateMode.NONE) as conn:
        return json.dumps(table_columns(conn, local_table(conn, stream=stream)))


OUT = "out"  # alias of the file being written; every name is qualified once others are attached


@contextmanager
def _open_output(hyper: HyperProcess, path: str) -> Iterator[Connection]:
    if os.path.exists(path):
        os.remove(path)
    with Connection(hyper.endpoint) as conn:
        conn.catalog.create_database(path)
        conn.catalog.attach_database(path, alias=OUT)
        conn.catalog.create_schema(SchemaName(OUT, DELTA_SCHEMA))
        yield conn
        conn.catalog.detach_database(OUT)


def _condition(columns: Sequence[str]) -> dict[str, Any]:
    parts = [{"op": "eq", "target-col": c, "source-col": c} for c in columns]
    return parts[0] if len(parts) == 1 else {"op": "and", "args": parts}


@dataclass
class TableChange:
    """What changed in one local table since the last successful publish."""

    stream: str
    local_path: str
    target_table: tuple[str, str] | None  # (schema, table) in the published datasource; None: as local
    key_columns: list[str]
    scope_columns: list[str]  # columns a delete matches on (parent key for line streams)
    touched_scopes: list[tuple[Any, ...]]  # scope key values touched (upserted or deleted)
    replace_scope: bool = False  # line streams: delete every row of a touched parent, then insert


@dataclass
class DeltaFile:
    path: str
    actions: list[dict[str, Any]] = field(default_factory=list)
    rows_upserted: int = 0
    rows_deleted: int = 0  # delete keys sent

    @property
    def size(self) -> int:
        return os.path.getsize(self.path)


def build_delta(hyper: HyperProcess, changes: Iterable[TableChange], delta_path: str) -> DeltaFile:
    """Write the delta .hyper and return it with its actions (deletes before upserts, per table)."""
    result = DeltaFile(delta_path)
    with _open_output(hyper, delta_path) as conn:
        for index, change in enumerate(changes):
            if not change.touched_scopes:
                continue  # nothing of this table changed: no scan, no actions
            alias = f"local{index}"
            conn.catalog.attach_database(change.local_path, alias=alias)
            local = local_table(conn, alias, change.stream)
            local_def = conn.catalog.get_table_definition(local)
            types = {col.name.unescaped: col.type for col in local_def.columns}
            target_table = change.target_table or (local.schema_name.name.unescaped, local.name.unescaped)
            prefix = f"t{index}"
            upserts = TableName(OUT, DELTA_SCHEMA, f"{prefix}_upserts")
            deletes = TableName(OUT, DELTA_SCHEMA, f"{prefix}_deletes")

            # The touched scope keys arrive as text (the audit trail's JSON); typed like the local
            # columns once, so the joins below are plain equi-joins on native types.
            scope = change.scope_columns
            raw, touched = TableName(f"raw_{index}"), TableName(f"touched_{index}")
            conn.execute_command(
                f"CREATE TEMPORARY TABLE {raw} (" + ", ".join(f"{escape_name(c)} TEXT" for c in scope) + ")"
            )
            with Inserter(conn, raw) as inserter:
                seen: set[tuple[Any, ...]] = set()
                for key in change.touched_scopes:
                    key = tuple(None if v is None else str(v) for v in key)
                    if key not in seen:
                        seen.add(key)
                        inserter.add_row(list(key))
                inserter.execute()
            conn.execute_command(
                f"CREATE TEMPORARY TABLE {touched} AS SELECT DISTINCT "
                + ", ".join(f"CAST({escape_name(c)} AS {types[c]}) AS {escape_name(c)}" for c in scope)
                + f" FROM {raw}"
            )
            join = " AND ".join(f"l.{escape_name(c)} = t.{escape_name(c)}" for c in scope)
            conn.catalog.create_table(TableDefinition(upserts, local_def.columns))
            upserted = conn.execute_command(
                f"INSERT INTO {upserts} SELECT l.* FROM {local} l WHERE EXISTS (SELECT 1 FROM {touched} t WHERE {join})"
            )
            conn.catalog.create_table(
                TableDefinition(deletes, [TableDefinition.Column(c, types[c]) for c in scope])
            )
            if change.replace_scope:
                delete_filter = "TRUE"  # every touched parent loses its old rows first
            else:  # only scopes gone from the local table: not among the (small) upserts just selected
                delete_filter = f"NOT EXISTS (SELECT 1 FROM {upserts} l WHERE {join})"
            cols = ", ".join(f"t.{escape_name(c)}" for c in scope)
            deleted = conn.execute_command(f"INSERT INTO {deletes} SELECT {cols} FROM {touched} t WHERE {delete_filter}")

            target = {"target-schema": target_table[0], "target-table": target_table[1]}
            if deleted:
                result.actions.append(
                    {"action": "delete", **target, "source-schema": DELTA_SCHEMA,
                     "source-table": deletes.name.unescaped, "condition": _condition(scope)}
                )
            if upserted:
                result.actions.append(
                    {"action": "upsert", **target, "source-schema": DELTA_SCHEMA,
                     "source-table": upserts.name.unescaped, "condition": _condition(change.key_columns)}
                )
            result.rows_upserted += upserted
            result.rows_deleted += deleted
            conn.execute_command(f"DROP TABLE {touched}")
            conn.execute_command(f"DROP TABLE {raw}")
            conn.catalog.detach_database(alias)
    return result


def build_combined(hyper: HyperProcess, tables: Sequence[tuple[str, str]], path: str, *,
                   single_table: bool = False) -> str:
    """One .hyper with table `Extract.<stream>` per (stream, local_path): the multi-table datasource;
    `single_table`: the one stream's table as `Extract.Extract` (out of the target's shared file)."""
    with _open_output(hyper, path) as conn:
        for index, (stream, local_path) in enumerate(tables):
            alias = f"local{index}"
            conn.catalog.attach_database(local_path, alias=alias)
            local = local_table(conn, alias, stream)
            definition = conn.catalog.get_table_definition(local)
            target = TableName(OUT, DELTA_SCHEMA, "Extract" if single_table else stream)
            conn.catalog.create_table(TableDefinition(target, definition.columns))
            conn.execute_command(f"INSERT INTO {target} SELECT * FROM {local}")
            conn.catalog.detach_database(alias)
    return path


def read_rows(hyper: HyperProcess, path: str, table: tuple[str, str] | None = None,
              order_by: Sequence[str] = ()) -> list[list[Any]]:
    """All rows of a table (tests and comparisons); default: the local extract table."""
    with Connection(hyper.endpoint, path, CreateMode.NONE) as conn:
        name = TableName(*table) if table else local_table(conn)
        order = f" ORDER BY {', '.join(escape_name(c) for c in order_by)}" if order_by else ""
        return conn.execute_list_query(f"SELECT * FROM {name}{order}")


def count_rows(hyper: HyperProcess, path: str, stream: str | None = None) -> int:
    with Connection(hyper.endpoint, path, CreateMode.NONE) as conn:
        return int(conn.execute_scalar_query(f"SELECT COUNT(*) FROM {local_table(conn, stream=stream)}"))


__all__ = [
    "DeltaFile",
    "TableChange",
    "build_combined",
    "build_delta",
    "count_rows",
    "local_table_name",
    "hyper_process",
    "read_rows",
    "schema_signature",
    "SqlType",
]
