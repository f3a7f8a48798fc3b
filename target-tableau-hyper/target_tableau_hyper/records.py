"""Per-stream record model: validates and decodes a RECORD's JSON in one pass (msgspec).

Each stream schema is compiled once into a msgspec Struct whose field types carry the JSON
Schema's types and constraints (nullability, formats date/date-time, string length/pattern/enum,
integer range). msgspec checks them in C while decoding the raw record bytes, so validation
costs about as much as parsing (the SDK's jsonschema validator does ~9,000 records/s).
Numbers decode to `Decimal` from their exact text; scale/precision are checked when the batch
is converted to Arrow (never rounded). Schemas using keywords msgspec cannot express
(anyOf/oneOf/allOf/not/$ref, numeric bounds, multipleOf that is not a power of ten) are also
checked with fastjsonschema on the decoded dict (slower path, still compiled).
"""

from __future__ import annotations

import decimal
import typing as t
from dataclasses import dataclass, field
from operator import attrgetter

import fastjsonschema
import msgspec

from target_tableau_hyper.errors import InputError
from target_tableau_hyper.types import Column, column_for, decode_type

DELETED_AT = "_sdc_deleted_at"
SDC_METADATA = (
    "_sdc_extracted_at",
    "_sdc_received_at",
    "_sdc_batched_at",
    "_sdc_deleted_at",
    "_sdc_sequence",
    "_sdc_table_version",
    "_sdc_sync_started_at",
)
_DICT_DECODER = msgspec.json.Decoder(float_hook=decimal.Decimal)
_COMPOSITE = ("anyOf", "oneOf", "allOf", "not", "$ref")
_NUMERIC_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _needs_full_validation(prop: dict) -> bool:
    if any(k in prop for k in _COMPOSITE):
        return True
    types = prop.get("type")
    types = [types] if isinstance(types, str) else (types or [])
    if "number" in types and any(k in prop for k in _NUMERIC_BOUNDS):
        return True
    if "object" in types or "array" in types:
        return bool(prop.get("properties") or prop.get("items") or prop.get("required"))
    return False


_CONSTRAINTS = ("enum", "const", "pattern", "maxLength", "minLength", "minimum", "maximum",
                "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems") + _COMPOSITE


def _arrow_plain(column: Column, prop: dict) -> bool:
    """True when Arrow's JSON reader validates this property as strictly as msgspec."""
    from target_tableau_hyper.types import KIND_BIGINT, KIND_BOOL, KIND_DATE, KIND_NUMERIC, KIND_TEXT, KIND_TIMESTAMPTZ

    if any(k in prop for k in _CONSTRAINTS):
        return False
    if column.kind == KIND_TEXT:
        types = prop.get("type")
        return types == "string" or (isinstance(types, list) and [x for x in types if x != "null"] == ["string"])
    return column.kind in (KIND_BIGINT, KIND_NUMERIC, KIND_BOOL, KIND_DATE, KIND_TIMESTAMPTZ)


def _arrow_read_type(column: Column) -> t.Any:
    import pyarrow as pa

    if column.kind in ("date", "timestamptz"):
        return pa.string()  # parsed (and checked) by an Arrow cast after reading
    return column.arrow_type


def _line_decoder(struct: t.Any) -> msgspec.json.Decoder:
    envelope = msgspec.defstruct(
        "RecordLine",
        [("type", str), ("stream", str), ("record", t.Optional[struct], None),
         ("time_extracted", t.Any, None), ("version", t.Any, None)],
    )
    return msgspec.json.Decoder(envelope, float_hook=decimal.Decimal)


def _without_multiple_of(node: t.Any) -> t.Any:
    """multipleOf is enforced as a decimal scale when staging (fastjsonschema would divide a
    Decimal by a float)."""
    if isinstance(node, dict):
        return {k: _without_multiple_of(v) for k, v in node.items() if k != "multipleOf"}
    if isinstance(node, list):
        return [_without_multiple_of(v) for v in node]
    return node


@dataclass
class StreamModel:
    """Everything the target needs to turn a stream's records into table rows."""

    stream: str
    schema: dict
    key_properties: list[str]
    parent_key: list[str]
    columns: list[Column]  # table columns, in schema order
    validate: bool = True
    struct: t.Any = None
    decoder: msgspec.json.Decoder | None = None
    field_of: dict[str, str] = field(default_factory=dict)  # property → struct attribute
    full_validator: t.Callable | None = None
    loose_text: set[str] = field(default_factory=set)  # TEXT columns fed by non-string JSON
    # Arrow JSON path: schema of a whole RECORD line, set when every property is a plain
    # type Arrow's JSON reader checks exactly (no JSON/mixed columns, no extra keywords).
    arrow_line_schema: t.Any = None
    line_decoder: t.Any = None  # msgspec decoder of a whole RECORD line (fallback, errors)
    # flatten.FlattenPlan when the target decodes this (flattened) stream's raw records itself
    flattened: t.Any = None

    @classmethod
    def build(
        cls,
        stream: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
        *,
        validate: bool = True,
        keep_deleted_at: bool,
        numeric_overrides: dict[str, str] | None = None,
        default_precision: int = 18,
        default_scale: int = 6,
    ) -> StreamModel:
        properties: dict = dict(schema.get("properties") or {})
        keys = list(key_properties or [])
        parent_key = list(schema.get("x-parent-key") or [])
        for name in keys + parent_key:
            if name not in properties:
                raise InputError(
                    f"key property '{name}' is not in the schema", stream=stream, field=name
                )
        if parent_key and not set(parent_key) < set(keys):
            raise InputError(
                "x-parent-key must be a strict subset of the key properties",
                stream=stream,
                field=",".join(parent_key),
            )
        # Deletes are records carrying _sdc_deleted_at, even when the tap forgot to declare it.
        properties.setdefault(DELETED_AT, {"type": ["string", "null"], "format": "date-time"})
        overrides = numeric_overrides or {}
        columns_all = [
            column_for(
                name,
                prop,
                override=overrides.get(name),
                default_precision=default_precision,
                default_scale=default_scale,
                stream=stream,
            )
            for name, prop in properties.items()
        ]
        required = set(schema.get("required") or [])
        fields: list[tuple] = []
        rename: dict[str, str] = {}
        field_of: dict[str, str] = {}
        for i, (column, (name, prop)) in enumerate(zip(columns_all, properties.items())):
            attr = f"f{i}"
            field_of[name] = attr
            rename[attr] = name
            base = decode_type(column, prop)
            nullable = "null" in (prop.get("type") or []) or base is t.Any
            if name in keys or name == DELETED_AT:
                # keys may be null only in a parent tombstone; checked when the batch is staged
                fields.append((attr, base | None, None))
            elif name in required:
                fields.append((attr, (base | None) if nullable else base))
            else:
                fields.append((attr, base | None, None))
        struct = msgspec.defstruct(
            f"Record_{abs(hash(stream))}", fields, rename=rename, kw_only=True, gc=False
        )
        loose = {
            c.name for c, prop in zip(columns_all, properties.values())
            if c.kind == "text" and decode_type(c, prop) is t.Any
        }
        full = None
        if validate and any(_needs_full_validation(p) for p in properties.values()):
            full = fastjsonschema.compile(_without_multiple_of({**schema, "properties": properties}))
        arrow_ok = validate and full is None and not loose and all(
            _arrow_plain(c, prop) for c, prop in zip(columns_all, properties.values())
        )
        arrow_line_schema = None
        if arrow_ok:
            import pyarrow as pa

            arrow_line_schema = pa.schema([
                ("type", pa.string()),
                ("stream", pa.string()),
                ("record", pa.struct([(c.name, _arrow_read_type(c)) for c in columns_all])),
            ])
        columns = [
            c
            for c in columns_all
            if c.name != DELETED_AT or keep_deleted_at
        ]
        return cls(
            stream=stream,
            schema=schema,
            key_properties=keys,
            parent_key=parent_key,
            columns=columns,
            validate=validate,
            struct=struct,
            decoder=msgspec.json.Decoder(struct, float_hook=decimal.Decimal),
            field_of=field_of,
            full_validator=full,
            loose_text=loose,
            arrow_line_schema=arrow_line_schema,
            line_decoder=_line_decoder(struct),
        )

    # --- decoding --------------------------------------------------------------------
    def decode(self, raw: bytes | str, line: int | None) -> t.Any:
        """Validate + decode a record's raw JSON (fast path)."""
        try:
            if self.full_validator is not None:
                return self.convert(_DICT_DECODER.decode(raw), line)
            return self.decoder.decode(raw)
        except msgspec.ValidationError as exc:
            raise self._error(exc, line) from None
        except msgspec.DecodeError as exc:
            raise InputError(f"malformed record JSON: {exc}", stream=self.stream, line=line)

    def convert(self, record: dict, line: int | None) -> t.Any:
        """Validate + convert an already-parsed record dict (stream maps / flattening)."""
        if self.full_validator is not None:
            try:
                self.full_validator(record)
            except fastjsonschema.JsonSchemaValueException as exc:
                name = (exc.path or ["?"])[-1] if len(exc.path or []) > 1 else exc.name
                raise InputError(
                    f"record violates its schema: {exc.message}",
                    stream=self.stream,
                    line=line,
                    field=str(name).replace("data.", ""),
                ) from None
        try:
            return msgspec.convert(record, self.struct, strict=False)
        except msgspec.ValidationError as exc:
            raise self._error(exc, line) from None

    def _error(self, exc: msgspec.ValidationError, line: int | None) -> InputError:
        text = str(exc)
        fieldname = None
        if " - at `$." in text:
            text, _, where = text.rpartition(" - at `$.")
            fieldname = where.rstrip("`")
        elif "missing required field `" in text:
            fieldname = text.split("`")[1]
        return InputError(
            f"record violates its schema: {text}", stream=self.stream, line=line, field=fieldname
        )

    def getter(self, names: t.Sequence[str]) -> t.Callable[[t.Any], tuple]:
        """attrgetter returning a tuple of the named properties' values."""
        attrs = [self.field_of[n] for n in names]
        if len(attrs) == 1:
            one = attrgetter(attrs[0])
            return lambda r: (one(r),)
        return attrgetter(*attrs)

    def attr(self, name: str) -> str | None:
        return self.field_of.get(name)
