"""Real .hyper files behind published data sources, via the Tableau Hyper API.

- validate a published file, append one file into another (publish mode Append);
- apply an "Update Data in Hyper Data Source" action batch (insert / update / upsert / delete /
  replace) atomically: the batch runs on a copy in one transaction, and the copy replaces the
  stored file only when every action succeeded;
- read rows back for tests.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import shutil
import threading
import zipfile
from pathlib import Path
from typing import Any

from tableauhyperapi import Connection, HyperException, HyperProcess, SchemaName, TableName, Telemetry, TypeTag

from tableau_sandbox.errors import ApiError, bad_request


class ActionError(Exception):
    """An action batch that Tableau would reject; the job fails with this message in its notes."""


def q(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


_CONST_TYPES = {
    "string": "TEXT", "text": "TEXT", "integer": "BIGINT", "int": "BIGINT", "bigint": "BIGINT",
    "double": "DOUBLE PRECISION", "float": "DOUBLE PRECISION", "numeric": "NUMERIC(38,10)",
    "boolean": "BOOLEAN", "bool": "BOOLEAN", "date": "DATE", "datetime": "TIMESTAMP",
    "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ", "time": "TIME",
}
_CMP = {"eq": "=", "ne": "<>", "neq": "<>", "gt": ">", "gte": ">=", "ge": ">=", "lt": "<", "lte": "<=",
        "le": "<="}


def compile_condition(cond: Any, has_source: bool) -> str:
    """Translate a Tableau action condition to SQL over aliases ``t`` (target) and ``s`` (source)."""
    if not isinstance(cond, dict) or "op" not in cond:
        raise ActionError(f"invalid condition {cond!r}: expected an object with 'op'")
    op = str(cond["op"]).lower()
    if op in ("and", "or"):
        args = cond.get("args")
        if not isinstance(args, list) or not args:
            raise ActionError(f"condition '{op}' needs a non-empty 'args' list")
        return "(" + f" {op.upper()} ".join(compile_condition(a, has_source) for a in args) + ")"
    if op == "not":
        arg = cond.get("args", cond.get("arg"))
        if isinstance(arg, list):
            if len(arg) != 1:
                raise ActionError("condition 'not' takes exactly one argument")
            arg = arg[0]
        return f"(NOT {compile_condition(arg, has_source)})"
    if op in ("is-null", "is-not-null"):
        if "target-col" not in cond:
            raise ActionError(f"condition '{op}' needs 'target-col'")
        return f"(t.{q(cond['target-col'])} IS {'NOT ' if op == 'is-not-null' else ''}NULL)"
    if op not in _CMP:
        raise ActionError(f"unsupported condition operator {op!r}")
    if "target-col" not in cond:
        raise ActionError(f"condition '{op}' needs 'target-col'")
    left = f"t.{q(cond['target-col'])}"
    if "source-col" in cond:
        if not has_source:
            raise ActionError("the condition refers to 'source-col' but the action has no source table")
        right = f"s.{q(cond['source-col'])}"
    elif "const" in cond:
        const = cond["const"]
        if not isinstance(const, dict) or "v" not in const:
            raise ActionError("'const' must be an object with 'type' and 'v'")
        ctype = _CONST_TYPES.get(str(const.get("type", "string")).lower())
        if ctype is None:
            raise ActionError(f"unsupported const type {const.get('type')!r}")
        value = const["v"]
        if value is None:
            right = f"CAST(NULL AS {ctype})"
        elif isinstance(value, bool):
            right = "TRUE" if value else "FALSE"
        else:
            right = f"CAST({lit(value)} AS {ctype})"
    else:
        raise ActionError(f"condition '{op}' needs 'source-col' or 'const'")
    return f"({left} {_CMP[op]} {right})"


def validate_actions(actions: list, has_payload: bool) -> None:
    """Checks Tableau does before accepting a batch (column names are checked when the job runs)."""
    for i, action in enumerate(actions):
        where = f"actions[{i}]"
        if not isinstance(action, dict):
            raise ActionError(f"{where} must be an object")
        kind = str(action.get("action", "")).lower()
        if kind not in ("insert", "update", "upsert", "delete", "replace"):
            raise ActionError(f"{where}: unsupported action {action.get('action')!r}")
        if not action.get("target-table"):
            raise ActionError(f"{where}: '{kind}' needs 'target-table'")
        has_source = bool(action.get("source-table"))
        if kind in ("insert", "update", "upsert", "replace") and not has_source:
            raise ActionError(f"{where}: '{kind}' needs 'source-table'")
        if has_source and not has_payload:
            raise ActionError(f"{where}: '{kind}' reads a source table but no payload file was uploaded "
                              "(uploadSessionId)")
        if kind in ("update", "upsert", "delete"):
            if action.get("condition") is None:
                raise ActionError(f"{where}: '{kind}' needs a 'condition'")
            compile_condition(action["condition"], has_source)


class HyperService:
    """One Hyper process per sandbox, started on first use, shared by all requests and jobs."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._proc: HyperProcess | None = None
        self._lock = threading.Lock()
        self._file_locks: dict[str, threading.Lock] = {}

    def _process(self) -> HyperProcess:
        with self._lock:
            if self._proc is None:
                self._log_dir.mkdir(parents=True, exist_ok=True)
                self._proc = HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU,
                                          parameters={"log_dir": str(self._log_dir)})
            return self._proc

    def file_lock(self, path: Path) -> threading.Lock:
        with self._lock:
            return self._file_locks.setdefault(str(path), threading.Lock())

    def close(self) -> None:
        with self._lock:
            if self._proc is not None:
                self._proc.close()
                self._proc = None

    # ------------------------------------------------------------------ helpers
    def _connect(self, **attach: Path) -> Connection:
        conn = Connection(self._process().endpoint)
        try:
            for alias, path in attach.items():
                conn.catalog.attach_database(str(path), alias=alias)
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _tables(conn: Connection, db: str) -> list[TableName]:
        out = []
        for schema in conn.catalog.get_schema_names(db):
            out.extend(conn.catalog.get_table_names(SchemaName(db, schema.name.unescaped)))
        return out

    @staticmethod
    def _columns(conn: Connection, table: TableName) -> list[str]:
        return [c.name.unescaped for c in conn.catalog.get_table_definition(table).columns]

    # ------------------------------------------------------------------ API
    def tables(self, path: Path) -> list[tuple[str, str]]:
        """(schema, table) pairs of a .hyper file; raises ApiError 400 when it is not a Hyper file."""
        try:
            with self._connect(db=path) as conn:
                return [(t.schema_name.name.unescaped, t.name.unescaped) for t in self._tables(conn, "db")]
        except HyperException as exc:
            raise bad_request(f"The uploaded file is not a valid .hyper file ({exc.main_message}).",
                              "400000") from None

    def append(self, target: Path, source: Path) -> None:
        """Publish mode Append: add the rows of every table of ``source`` to the same table of ``target``."""
        with self.file_lock(target):
            work = target.with_suffix(".append.tmp")
            shutil.copyfile(target, work)
            try:
                with self._connect(tgt=work, src=source) as conn:
                    conn.execute_command("BEGIN TRANSACTION")
                    existing = {(t.schema_name.name.unescaped, t.name.unescaped) for t in self._tables(conn, "tgt")}
                    if len(existing) > 1:
                        raise ApiError(400, "400000", "Bad Request", "Cannot append: the data source is a "
                                       "multiple-tables extract; Tableau only appends to single-table extracts.")
                    for src_table in self._tables(conn, "src"):
                        schema, name = src_table.schema_name.name.unescaped, src_table.name.unescaped
                        if (schema, name) not in existing:
                            raise ApiError(400, "400000", "Bad Request",
                                           f"Cannot append: table {schema}.{name} does not exist in the data source.")
                        cols = self._columns(conn, src_table)
                        col_sql = ", ".join(q(c) for c in cols)
                        conn.execute_command(
                            f"INSERT INTO tgt.{q(schema)}.{q(name)} ({col_sql}) "
                            f"SELECT {col_sql} FROM src.{q(schema)}.{q(name)}")
                    conn.execute_command("COMMIT")
                os.replace(work, target)
            except HyperException as exc:
                raise bad_request(f"Cannot append to the data source: {exc.main_message}") from None
            finally:
                if work.exists():
                    work.unlink()

    def apply_actions(self, target: Path, payload: Path | None, actions: list[dict]) -> list[dict]:
        """Apply an action batch atomically; returns per-action row counts."""
        with self.file_lock(target):
            work = target.with_suffix(".update.tmp")
            shutil.copyfile(target, work)
            try:
                attach = {"tgt": work}
                if payload is not None:
                    attach["src"] = payload
                with self._connect(**attach) as conn:
                    conn.execute_command("BEGIN TRANSACTION")
                    results = [self._apply_one(conn, a, payload is not None) for a in actions]
                    conn.execute_command("COMMIT")
                os.replace(work, target)
                return results
            except HyperException as exc:
                raise ActionError(exc.main_message) from None
            finally:
                if work.exists():
                    work.unlink()

    def _apply_one(self, conn: Connection, action: dict, has_payload: bool) -> dict:
        if not isinstance(action, dict):
            raise ActionError(f"invalid action {action!r}")
        kind = str(action.get("action", "")).lower()
        if kind not in ("insert", "update", "upsert", "delete", "replace"):
            raise ActionError(f"unsupported action {action.get('action')!r}")
        target_table = action.get("target-table")
        if not target_table:
            raise ActionError(f"action '{kind}' needs 'target-table'")
        target = TableName("tgt", action.get("target-schema", "Extract"), target_table)
        if not conn.catalog.has_table(target):
            raise ActionError(f"target table {action.get('target-schema', 'Extract')}.{target_table} does not exist")
        tcols = self._columns(conn, target)
        source = None
        scols: list[str] = []
        if action.get("source-table"):
            if not has_payload:
                raise ActionError(f"action '{kind}' names a source table but no payload file was uploaded")
            source = TableName("src", action.get("source-schema", "Extract"), action["source-table"])
            if not conn.catalog.has_table(source):
                raise ActionError(f"source table {action.get('source-schema', 'Extract')}.{action['source-table']} "
                                  "does not exist in the payload")
            scols = self._columns(conn, source)
            unknown = [c for c in scols if c not in tcols]
            if unknown and kind != "delete":
                raise ActionError(f"source columns {unknown} do not exist in the target table")
        elif kind in ("insert", "update", "upsert", "replace"):
            raise ActionError(f"action '{kind}' needs 'source-table' (and a payload file)")
        cond = action.get("condition")
        if kind in ("update", "upsert") and cond is None:
            raise ActionError(f"action '{kind}' needs a 'condition'")
        if kind == "delete" and cond is None:
            raise ActionError("action 'delete' needs a 'condition'")
        t_sql = str(target)
        s_sql = str(source) if source else None
        col_list = ", ".join(q(c) for c in scols)
        sel_list = ", ".join(f"s.{q(c)}" for c in scols)
        where = compile_condition(cond, source is not None) if cond is not None else None
        if kind == "insert":
            n = conn.execute_command(f"INSERT INTO {t_sql} ({col_list}) SELECT {sel_list} FROM {s_sql} AS s")
        elif kind == "replace":
            deleted = conn.execute_command(f"DELETE FROM {t_sql}")
            n = conn.execute_command(f"INSERT INTO {t_sql} ({col_list}) SELECT {sel_list} FROM {s_sql} AS s")
            return {"action": kind, "deleted": deleted, "inserted": n}
        elif kind == "delete":
            if source is not None:
                n = conn.execute_command(
                    f"DELETE FROM {t_sql} AS t WHERE EXISTS (SELECT 1 FROM {s_sql} AS s WHERE {where})")
            else:
                n = conn.execute_command(f"DELETE FROM {t_sql} AS t WHERE {where}")
        else:  # update / upsert
            sets = ", ".join(f"{q(c)} = s.{q(c)}" for c in scols)
            n = conn.execute_command(f"UPDATE {t_sql} AS t SET {sets} FROM {s_sql} AS s WHERE {where}")
            if kind == "upsert":
                ins = conn.execute_command(
                    f"INSERT INTO {t_sql} ({col_list}) SELECT {sel_list} FROM {s_sql} AS s "
                    f"WHERE NOT EXISTS (SELECT 1 FROM {t_sql} AS t WHERE {where})")
                return {"action": kind, "updated": n, "inserted": ins}
        return {"action": kind, "rows": n}

    def read_rows(self, path: Path, schema: str = "Extract", table: str = "Extract") -> dict[str, Any]:
        with self.file_lock(path):
            with self._connect(db=path) as conn:
                tn = TableName("db", schema, table)
                if not conn.catalog.has_table(tn):
                    raise KeyError(f"{schema}.{table}")
                defn = conn.catalog.get_table_definition(tn)
                cols = [c.name.unescaped for c in defn.columns]
                scales = [c.type.scale if c.type.tag == TypeTag.NUMERIC else None for c in defn.columns]
                rows = conn.execute_list_query(f"SELECT * FROM {tn}")
        return {"columns": cols,
                "rows": [[_jsonable(v, sc) for v, sc in zip(row, scales)] for row in rows]}


def _jsonable(value: Any, scale: int | None = None) -> Any:
    if isinstance(value, decimal.Decimal):
        if scale is not None:
            value = value.quantize(decimal.Decimal(1).scaleb(-scale))
        return str(value)  # exact: money stays a decimal string with the column's scale
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if hasattr(value, "to_datetime"):  # tableauhyperapi Timestamp
        return value.to_datetime().isoformat()
    if hasattr(value, "to_date"):  # tableauhyperapi Date
        return value.to_date().isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


def extract_hyper_from_tdsx(tdsx: Path, dest: Path) -> bool:
    """A .tdsx is a zip holding the .tds and (for extracts) Data/Extracts/*.hyper."""
    try:
        with zipfile.ZipFile(tdsx) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".hyper")]
            if not names:
                return False
            with zf.open(names[0]) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
            return True
    except zipfile.BadZipFile:
        raise bad_request("The uploaded .tdsx file is not a valid zip archive.") from None
