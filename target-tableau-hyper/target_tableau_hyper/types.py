"""JSON Schema property → Hyper column type (and the matching Arrow / msgspec types).

Mapping (documented in the README):
- string → TEXT; `format: date` → DATE; `format: date-time` → TIMESTAMP_TZ (UTC instant;
  a timestamp without offset is read as UTC)
- integer → BIGINT; boolean → BOOL
- number → NUMERIC(p, s), never DOUBLE. p/s come from, in this order: the per-stream/column
  setting `numeric_overrides`, the property's `x-sql-datatype` (e.g. "NUMERIC(38,10)"),
  its `multipleOf` (0.01 → scale 2), else `default_numeric_precision`/`default_numeric_scale`
  (18, 6). A value needing more scale or precision than its column is an error, never rounded.
- object / array (not flattened), and properties with several or no JSON types → TEXT holding
  the JSON text (numbers keep their exact decimal text).
"""

from __future__ import annotations

import datetime
import decimal
import re
import typing as t
from dataclasses import dataclass

import msgspec
import pyarrow as pa

KIND_TEXT = "text"
KIND_JSON = "json"
KIND_BIGINT = "bigint"
KIND_NUMERIC = "numeric"
KIND_BOOL = "bool"
KIND_DATE = "date"
KIND_TIMESTAMPTZ = "timestamptz"

MAX_NUMERIC_PRECISION_V2 = 18
MAX_NUMERIC_PRECISION = 38
_BIGINT = t.Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_SQL_NUMERIC = re.compile(r"^\s*(?:numeric|decimal)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)\s*$", re.I)


class SchemaError(ValueError):
    """A stream schema the target cannot load safely."""


@dataclass(frozen=True)
class Column:
    """One table column derived from one (flattened) schema property."""

    name: str
    kind: str
    precision: int | None = None
    scale: int | None = None

    @property
    def sql_type(self) -> str:
        return {
            KIND_TEXT: "TEXT",
            KIND_JSON: "TEXT",
            KIND_BIGINT: "BIGINT",
            KIND_BOOL: "BOOL",
            KIND_DATE: "DATE",
            KIND_TIMESTAMPTZ: "TIMESTAMPTZ",
        }.get(self.kind) or f"NUMERIC({self.precision},{self.scale})"

    @property
    def arrow_type(self) -> pa.DataType:
        if self.kind == KIND_NUMERIC:
            return pa.decimal128(self.precision, self.scale)
        return {
            KIND_TEXT: pa.string(),
            KIND_JSON: pa.string(),
            KIND_BIGINT: pa.int64(),
            KIND_BOOL: pa.bool_(),
            KIND_DATE: pa.date32(),
            KIND_TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
        }[self.kind]


def parse_sql_numeric(text: str) -> tuple[int, int]:
    """'NUMERIC(18,2)' → (18, 2)."""
    match = _SQL_NUMERIC.match(str(text))
    if not match:
        raise SchemaError(f"unsupported numeric type {text!r} (expected NUMERIC(p,s))")
    return int(match.group(1)), int(match.group(2) or 0)


def scale_of_multiple_of(multiple_of: t.Any) -> int:
    """multipleOf 0.01 → 2, 1 → 0, 0.5 → 1 (the decimal places a multiple can have)."""
    exponent = decimal.Decimal(str(multiple_of)).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def json_types(prop: dict) -> list[str]:
    """Non-null JSON types of a property (empty when untyped/composite)."""
    types = prop.get("type")
    if types is None:
        return []
    if isinstance(types, str):
        types = [types]
    return [x for x in types if x != "null"]


def column_for(
    name: str,
    prop: dict,
    *,
    override: str | None,
    default_precision: int,
    default_scale: int,
    stream: str,
) -> Column:
    """Decide the column type of one schema property."""
    types = json_types(prop)
    if len(types) == 1 and types[0] == "string":
        fmt = prop.get("format")
        if fmt == "date":
            return Column(name, KIND_DATE)
        if fmt == "date-time":
            return Column(name, KIND_TIMESTAMPTZ)
        return Column(name, KIND_TEXT)
    if len(types) == 1 and types[0] == "boolean":
        return Column(name, KIND_BOOL)
    if len(types) == 1 and types[0] == "integer" and not override:
        return Column(name, KIND_BIGINT)
    if types and set(types) <= {"number", "integer"}:
        if override:
            precision, scale = parse_sql_numeric(override)
        elif prop.get("x-sql-datatype"):
            precision, scale = parse_sql_numeric(prop["x-sql-datatype"])
        elif prop.get("multipleOf") is not None:
            precision, scale = default_precision, scale_of_multiple_of(prop["multipleOf"])
        elif types == ["integer"]:
            precision, scale = default_precision, 0
        else:
            precision, scale = default_precision, default_scale
        if not (1 <= precision <= MAX_NUMERIC_PRECISION) or not (0 <= scale <= precision):
            raise SchemaError(
                f"stream '{stream}', field '{name}': invalid NUMERIC({precision},{scale})"
            )
        return Column(name, KIND_NUMERIC, precision, scale)
    if types and set(types) <= {"object", "array"}:
        return Column(name, KIND_JSON)
    return Column(name, KIND_TEXT)  # several types or none: text (JSON for non-strings)


def decode_type(column: Column, prop: dict) -> t.Any:
    """The msgspec type that validates a JSON value for this column (without null)."""
    kind = column.kind
    types = json_types(prop)
    if kind == KIND_TEXT:
        if types != ["string"]:
            return t.Any
        if prop.get("enum"):
            values = tuple(v for v in prop["enum"] if isinstance(v, str))
            return t.Literal[values] if values else str
        meta = {}
        if "maxLength" in prop:
            meta["max_length"] = int(prop["maxLength"])
        if "minLength" in prop:
            meta["min_length"] = int(prop["minLength"])
        if "pattern" in prop:
            meta["pattern"] = prop["pattern"]
        return t.Annotated[str, msgspec.Meta(**meta)] if meta else str
    if kind == KIND_BIGINT:
        meta = {"ge": -(2**63), "le": 2**63 - 1}
        if "minimum" in prop:
            meta["ge"] = max(meta["ge"], int(prop["minimum"]))
        if "maximum" in prop:
            meta["le"] = min(meta["le"], int(prop["maximum"]))
        return t.Annotated[int, msgspec.Meta(**meta)]
    if kind == KIND_NUMERIC:
        return decimal.Decimal
    if kind == KIND_BOOL:
        return bool
    if kind == KIND_DATE:
        return datetime.date
    if kind == KIND_TIMESTAMPTZ:
        return datetime.datetime
    if kind == KIND_JSON:
        if types == ["object"]:
            return dict
        if types == ["array"]:
            return list
        return dict | list
    return t.Any


# Schema evolution: the column keeps a type that holds both the old values and the new ones.
# Order integer → number → string; NUMERIC grows to the larger scale and integer digits;
# anything → text. Any other change (e.g. date → boolean) is unsafe.
_RANK = {KIND_BIGINT: 0, KIND_NUMERIC: 1, KIND_TEXT: 2, KIND_JSON: 2}


def merge_columns(old: Column, new: Column, *, stream: str) -> Column:
    """The column type to use when a schema change meets an existing column."""
    if old.sql_type == new.sql_type:
        return old
    if old.kind in (KIND_TEXT, KIND_JSON):
        return old  # new values are stored as text: nothing lost
    if new.kind in (KIND_TEXT, KIND_JSON):
        return Column(old.name, KIND_TEXT)
    if old.kind in _RANK and new.kind in _RANK:
        if old.kind == KIND_BIGINT and new.kind == KIND_BIGINT:
            return old
        # BIGINT counts as NUMERIC(d, 0) with the other side's integer digits: converting
        # checks every existing value (Hyper's cast fails on overflow, nothing is rounded).
        other = new if old.kind == KIND_BIGINT else old
        int_digits = other.precision - other.scale
        old_p, old_s = (old.precision, old.scale) if old.kind == KIND_NUMERIC else (int_digits, 0)
        new_p, new_s = (new.precision, new.scale) if new.kind == KIND_NUMERIC else (int_digits, 0)
        scale = max(old_s, new_s)
        digits = max(old_p - old_s, new_p - new_s)
        precision = digits + scale
        if precision > MAX_NUMERIC_PRECISION:
            raise SchemaError(
                f"stream '{stream}', field '{old.name}': cannot widen {old.sql_type} to "
                f"{new.sql_type} (would need NUMERIC({precision},{scale}), max 38)"
            )
        merged = Column(old.name, KIND_NUMERIC, precision, scale)
        return old if merged.sql_type == old.sql_type else merged
    raise SchemaError(
        f"stream '{stream}', field '{old.name}': unsafe type change {old.sql_type} → "
        f"{new.sql_type}; the existing column cannot hold the new values without loss. "
        "Change the tap schema back, or move/delete the .hyper file to rebuild it."
    )
