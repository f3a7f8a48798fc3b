"""Fast Singer output: QBO rows decoded once into compiled Structs, RECORDs spliced in bulk.

The SDK's default record path (deselection walk, recursive type conformance, a RecordMessage
dataclass, `asdict`, simplejson, a flush per message) costs ~50 µs per invoice. Here the
per-schema work is done once:

* `row_type(schema)` compiles a stream's schema into a msgspec Struct (`QboRow`) with one
  field per top-level property. A query page is decoded straight into a list of those
  (`page_decoder`), in one pass over the response: properties outside the schema make the
  decode fail (`forbid_unknown_fields`), and that page is decoded the generic way instead
  (dicts of raw JSON, projected on the schema by `FastRecordWriter.project`, the dropped names
  logged), so a record never carries a property its schema does not declare. Values stay raw
  JSON (`msgspec.Raw`): money keeps its exact source text and nothing is converted twice.
  Booleans are typed (`0`/`1` where a boolean is declared takes the generic path). Nested
  objects are kept as QBO sent them (the schema declares the nesting QBO documents).
* `FastRecordWriter` writes a RECORD as prefix + the row's JSON + a suffix cached per second
  (`time_extracted`), appended to one process-wide output buffer (`SingerOutput`).

The fast path is used only when it is equivalent to the SDK's: no stream maps, no flattening,
no nested deselection. Otherwise the stream falls back to the SDK's own `_write_record_message`
(see `QuickBooksStream._write_record_message`). Compiled rows are used only when every
top-level property is selected (else records are dicts, projected on the selection).

`SingerBytesWriter` is the tap's message writer for every other message (SCHEMA, STATE, ...):
it appends to the same buffer, so message order is kept. The buffer goes to stdout's byte
buffer when it passes `SingerOutput.limit`, and always on a STATE message (the point at which
a target may commit), at the end of a stream's sync (also when it fails) and at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import datetime
import decimal
import io
import logging
import re
import select
import sys
import time
import typing as t

import msgspec
from singer_sdk.helpers._typing import _conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib.encoding import simple as simple_messages
from singer_sdk.singerlib.encoding.base import GenericSingerWriter, SingerMessageType

from tap_quickbooks_online.timeutil import to_utc_iso

logger = logging.getLogger(__name__)

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.simple import Message
    from singer_sdk.streams import Stream

UNSET = msgspec.UNSET


def _enc_hook(obj: t.Any) -> t.Any:
    if isinstance(obj, datetime.datetime):
        return obj.isoformat(sep="T")
    return str(obj)


ENCODER = msgspec.json.Encoder(enc_hook=_enc_hook, decimal_format="number")
_raw_value_decoder = msgspec.json.Decoder(float_hook=decimal.Decimal)


# ---- output buffer ----------------------------------------------------------------------------
def write_all(stream: t.Any, data: bytes | bytearray) -> None:
    """Write every byte of `data` to a binary stream, in order.

    With PYTHONUNBUFFERED=1 (common in containers) `sys.stdout.buffer` is the raw `FileIO`,
    whose `write` is one write(2) call and may write only part of the data (a pipe write
    interrupted by a signal, a non-blocking descriptor): the rest must be written too, or
    the target receives a truncated message followed by the next one (seen in a
    `meltano run`: '{"type":"RECORD","stream":"invoice_lines","rec{"type":"RECORD",…').
    A buffered writer writes everything and returns the full length: one call, as before."""
    written = stream.write(data)
    if written is None and not isinstance(stream, io.RawIOBase):
        return  # a writer that returns nothing took it all
    done, total = written or 0, len(data)
    if done >= total:
        return
    logger.info("stdout took %d of %d bytes in one write; writing the rest", done, total)
    with memoryview(data) as view:  # released before the caller clears a bytearray `data`
        while done < total:
            with view[done:] as rest:
                written = stream.write(rest)
            if written is None:  # non-blocking descriptor, pipe full: wait until it takes more
                select.select([], [stream.fileno()], [])
                continue
            done += written


class SingerOutput:
    """The process's pending Singer bytes, written to stdout in large chunks (order kept)."""

    limit = 1 << 18  # 256 KiB

    def __init__(self) -> None:
        self.pending = bytearray()
        #: the stdout the pending bytes are for
        self.destination: t.Any = None
        #: called before every STATE message (batch mode: the open batch files are closed and
        #: announced first, so a state never covers records still in an unannounced file)
        self.before_state: t.Callable[[], None] | None = None
        #: a context around `before_state` and the STATE's write (batch mode: a termination
        #: signal arriving in it is handled after the STATE, `BatchOutput.guard`)
        self.state_guard: t.Callable[[], t.ContextManager[t.Any]] | None = None

    def buffer(self) -> bytearray:
        """The pending bytes, to append to (then call `maybe_flush`)."""
        if sys.stdout is not self.destination:
            self.flush()  # stdout was swapped (tests): what is pending belongs to the old one
            self.destination = sys.stdout
        return self.pending

    def maybe_flush(self) -> None:
        if len(self.pending) >= self.limit:
            self.flush()

    def append(self, data: bytes | bytearray) -> None:
        pending = self.buffer()
        if len(data) >= self.limit:  # a large chunk (a page): written as is, not copied
            self.flush()
            buffer = getattr(self.destination, "buffer", None)
            if buffer is not None:
                write_all(buffer, data)
            else:
                self.destination.write(bytes(data).decode("utf-8"))
            return
        pending.extend(data)
        self.maybe_flush()

    def flush(self) -> None:
        out = self.destination
        if out is None:
            out = self.destination = sys.stdout
        if self.pending:
            buffer = getattr(out, "buffer", None)
            if buffer is not None:
                write_all(buffer, self.pending)
            else:  # a text-only stdout (some test harnesses)
                out.write(self.pending.decode("utf-8"))
            self.pending.clear()
        try:
            out.flush()
        except ValueError:  # closed at interpreter exit
            pass


OUTPUT = SingerOutput()


def _flush_at_exit() -> None:
    try:
        OUTPUT.flush()
    except BrokenPipeError:  # the target is gone: the run has failed already, and says why
        pass


atexit.register(_flush_at_exit)


def flush_stdout() -> None:
    """Write out every pending message and flush stdout."""
    OUTPUT.flush()
    if sys.stdout is not OUTPUT.destination:
        sys.stdout.flush()


#: messages made of plain JSON values only (no nested dataclass) → their fields, in order
_SHALLOW_MESSAGES = {
    cls: tuple(field.name for field in dataclasses.fields(cls))
    for cls in (simple_messages.SchemaMessage, simple_messages.StateMessage,
                simple_messages.RecordMessage, simple_messages.ActivateVersionMessage)
}


class SingerBytesWriter(GenericSingerWriter[bytes, "Message"]):
    """Writes every Singer message as one JSON line into the shared output buffer."""

    def serialize_message(self, message: Message) -> bytes:  # noqa: PLR6301
        names = _SHALLOW_MESSAGES.get(type(message))
        if names is not None:
            # `to_dict` (dataclasses.asdict) deep-copies the message first, the stream's whole
            # schema for a SCHEMA message; the encoded JSON is the same without the copy
            return ENCODER.encode({name: found for name in names
                                   if (found := getattr(message, name)) is not None})
        return ENCODER.encode(message.to_dict())

    def write_message(self, message: Message) -> None:
        if message.type == SingerMessageType.STATE and OUTPUT.before_state is not None:
            with (OUTPUT.state_guard or contextlib.nullcontext)():
                OUTPUT.before_state()
                self._write_line(message)
            return
        self._write_line(message)

    def _write_line(self, message: Message) -> None:
        line = bytearray(self.format_message(message))
        line += b"\n"
        OUTPUT.append(line)
        if message.type == SingerMessageType.STATE:
            OUTPUT.flush()


# ---- timestamps ---------------------------------------------------------------------------------
_utc_hours: dict[str, str] = {}
#: QBO's usual date-time shape: `YYYY-MM-DDTHH:MM:SS` then `±HH:00` or `Z` (minutes and seconds
#: checked here; date, hour and offset are checked by `to_utc_iso` when their hour is converted)
_WHOLE_HOUR_SHAPE = re.compile(r"(?s).{13}:[0-5][0-9]:[0-5][0-9](?:[+-]..:00|Z)\Z")


def _utc_hour(key: str) -> str:
    """UTC `YYYY-MM-DDTHH` of `key` = local `YYYY-MM-DDTHH` + offset (cached)."""
    hour = _utc_hours.get(key)
    if hour is None:
        if len(_utc_hours) >= 100_000:
            _utc_hours.clear()
        hour = _utc_hours[key] = to_utc_iso(key[:13] + ":00:00" + key[13:])[:13]
    return hour


def utc_text(text: str) -> str:
    """`timeutil.to_utc_iso(text)`, fast for QBO's usual `YYYY-MM-DDTHH:MM:SS±HH:00` (or `Z`).

    With a whole-hour offset only the date and hour change, so that conversion is cached per
    (date, hour, offset) and minutes and seconds are copied: one conversion per hour of data
    instead of one per record. Any other shape goes through `to_utc_iso`."""
    if _WHOLE_HOUR_SHAPE.match(text):
        return _utc_hour(text[:13] + text[19:]) + text[13:19] + "+00:00"
    return to_utc_iso(text)


# ---- compiled rows ----------------------------------------------------------------------------
class QboRow(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """A query row decoded into a stream's compiled type; reads like the record dict it is."""

    def get(self, key: str, default: t.Any = None) -> t.Any:
        found = getattr(self, key, UNSET)
        return default if found is UNSET else found

    #: `row[name]`, at C speed (paging reads Id, SyncToken and updated_at of every row). A
    #: property of the schema that the row does not carry reads as `UNSET` (falsy), a name
    #: outside the schema raises AttributeError.
    __getitem__ = object.__getattribute__

    def __setitem__(self, key: str, value: t.Any) -> None:
        setattr(self, key, value)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and getattr(self, key, UNSET) is not UNSET

    def keys(self) -> list[str]:
        return [name for name in self.__struct_fields__ if getattr(self, name) is not UNSET]

    def to_record(self) -> dict[str, t.Any]:
        """The record as plain Python values (fractions as Decimal), for the SDK's path."""
        record = {}
        for name in self.__struct_fields__:
            found = getattr(self, name)
            if found is UNSET:
                continue
            if isinstance(found, msgspec.Raw):
                found = _raw_value_decoder.decode(found)
            elif isinstance(found, msgspec.Struct):
                found = msgspec.to_builtins(found)
                if "LastModifiedByRef" in found:  # raw JSON inside: decode it as well
                    found["LastModifiedByRef"] = _raw_value_decoder.decode(
                        found["LastModifiedByRef"])
            record[name] = found
        return record


class _DictLike(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    def get(self, key: str, default: t.Any = None) -> t.Any:
        found = getattr(self, key, UNSET)
        return default if found is UNSET else found


class RowMetaData(_DictLike, forbid_unknown_fields=True):
    """`MetaData` of a compiled row: its `LastUpdatedTime` is read for every record."""

    CreateTime: str | None | msgspec.UnsetType = UNSET
    LastUpdatedTime: str | None | msgspec.UnsetType = UNSET
    LastModifiedByRef: msgspec.Raw | msgspec.UnsetType = UNSET


#: properties whose values the tap reads itself (kept as text, not raw JSON)
_TEXT_PROPERTIES = ("realm_id", "Id", "SyncToken", "updated_at", "_sdc_deleted_at")
#: the MetaData schema `RowMetaData` stands for
_METADATA_PROPERTIES = {"CreateTime", "LastUpdatedTime", "LastModifiedByRef"}


def _types(schema: dict) -> set[str]:
    declared = schema.get("type")
    return {declared} if isinstance(declared, str) else set(declared or ())


def _field_type(name: str, schema: dict) -> t.Any:
    if name in _TEXT_PROPERTIES:
        return str | None | msgspec.UnsetType
    if name == "MetaData" and set(schema.get("properties") or ()) == _METADATA_PROPERTIES:
        return RowMetaData | None | msgspec.UnsetType
    if _types(schema) - {"null"} == {"boolean"}:
        return bool | None | msgspec.UnsetType
    return msgspec.Raw | msgspec.UnsetType


_row_types: dict[tuple, type[QboRow]] = {}


def row_type(schema: dict, name: str = "Row", order: t.Sequence[str] = (), *,
             strict: bool = True, null_id: bool = True) -> type[QboRow]:
    """The compiled row Struct of a schema (one per distinct set of top-level properties).

    Fields come in `order` first (the order QBO sends them in, see `RowPageDecoder`: msgspec
    finds each key at the position it expects instead of searching the fields for it), then
    the other properties in schema order. A `strict` row type rejects a row with a property
    outside the schema; the other one skips such properties. With `null_id` a row without
    `Id` gets a null one (what `EntityStream.normalize` makes of it)."""
    properties = schema.get("properties") or {}
    names = [prop for prop in dict.fromkeys(order) if prop in properties]
    names += [prop for prop in properties if prop not in set(names)]
    key = (strict, null_id,
           *((prop, repr(_field_type(prop, properties[prop]))) for prop in names))
    found = _row_types.get(key)
    if found is None:
        # `Id` defaults to null (what `normalize` makes of a missing one); the other fields
        # default to UNSET, which msgspec never encodes: absent stays absent
        fields = [(prop, _field_type(prop, properties[prop]),
                   None if prop == "Id" and null_id else UNSET) for prop in names]
        found = msgspec.defstruct(
            name, fields, bases=(QboRow,), kw_only=True, omit_defaults=False, gc=False,
            forbid_unknown_fields=strict, module=__name__,
        )
        _row_types[key] = found
    return found


_page_decoders: dict[tuple[str, type], msgspec.json.Decoder] = {}


def page_decoder(entity: str, rows: type[QboRow]) -> msgspec.json.Decoder:
    """Decoder of a whole query response whose `entity` rows are decoded as `rows`.

    Raises `msgspec.ValidationError` when a row does not fit (see module docstring)."""
    found = _page_decoders.get((entity, rows))
    if found is None:
        response = msgspec.defstruct(f"{entity}QueryResponse", [
            (entity, list[rows], []),  # type: ignore[valid-type]
            ("startPosition", t.Any, None), ("maxResults", t.Any, None),
            ("totalCount", t.Any, None),
        ], module=__name__)
        envelope = msgspec.defstruct(f"{entity}QueryEnvelope", [
            ("QueryResponse", response | None, None),  # type: ignore[operator]
            ("time", t.Any, None), ("Fault", t.Any, None), ("fault", t.Any, None),
        ], module=__name__)
        found = _page_decoders[(entity, rows)] = msgspec.json.Decoder(envelope)
    return found


_raw_page_decoders: dict[str, msgspec.json.Decoder] = {}
_raw_row_keys = msgspec.json.Decoder(dict[str, msgspec.Raw])


def raw_page_decoder(entity: str) -> msgspec.json.Decoder:
    """Decoder of a whole query response whose `entity` rows are left as raw JSON."""
    found = _raw_page_decoders.get(entity)
    if found is None:
        response = msgspec.defstruct(f"{entity}RawQueryResponse", [
            (entity, list[msgspec.Raw], []),  # type: ignore[valid-type]
            ("startPosition", t.Any, None), ("maxResults", t.Any, None),
            ("totalCount", t.Any, None),
        ], module=__name__)
        envelope = msgspec.defstruct(f"{entity}RawQueryEnvelope", [
            ("QueryResponse", response | None, None),  # type: ignore[operator]
            ("time", t.Any, None), ("Fault", t.Any, None), ("fault", t.Any, None),
        ], module=__name__)
        found = _raw_page_decoders[entity] = msgspec.json.Decoder(envelope)
    return found


def wire_order(content: bytes, entity: str, sample: int = 50) -> list[str] | None:
    """The property names of a query page's first `sample` `entity` rows, in the order QBO
    sent them (a name missing from a row goes after the one it follows in another row; None:
    the page has no rows, or is not a query page)."""
    try:
        parsed = raw_page_decoder(entity).decode(content)
        rows = getattr(parsed.QueryResponse, entity, None)
        if not rows:
            return None
        order: list[str] = []
        for row in rows[:sample]:
            after = -1
            for name in _raw_row_keys.decode(row):
                if name in order:
                    after = order.index(name)
                else:
                    after += 1
                    order.insert(after, name)
        return order
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


#: (entity, schema properties) → the order QBO sends that entity's properties in
_wire_orders: dict[tuple[str, tuple[str, ...]], list[str]] = {}


class RowPageDecoder:
    """`page_decoder` of one entity and schema, its row fields in QBO's own order.

    The order is read from the first page that has rows (one extra scan of that page, once
    per entity per process); pages before that are decoded in schema order.

    A page one row of which does not fit the compiled type is decoded row by row
    (`decode_rows_one_by_one`): the rows that fit are compiled rows as usual, the others take
    the exact path, so one odd row does not slow down its whole page."""

    def __init__(self, entity: str, schema: dict, name: str,
                 dropped: set[str] | None = None) -> None:
        self.entity = entity
        self.schema = schema
        self.name = name
        #: properties outside the schema dropped from rows (the writer logs them)
        self.dropped = dropped if dropped is not None else set()
        self._properties = frozenset(schema.get("properties") or ())
        self._key = (entity, tuple(schema.get("properties") or ()))
        self._order = _wire_orders.get(self._key)
        self._decoder = page_decoder(entity, self._rows()) if self._order is not None else None

    def _rows(self, *, strict: bool = True) -> type[QboRow]:
        return row_type(self.schema, self.name, self._order or (), strict=strict)

    def decode(self, content: bytes) -> t.Any:
        decoder = self._decoder
        if decoder is None:
            order = wire_order(content, self.entity)
            if order is not None:
                self._order = _wire_orders[self._key] = order
                decoder = self._decoder = page_decoder(self.entity, self._rows())
            else:
                decoder = page_decoder(self.entity, self._rows())
        try:
            return decoder.decode(content)
        except msgspec.ValidationError:
            return self.decode_rows_one_by_one(content)

    def decode_rows_one_by_one(self, content: bytes) -> t.Any:
        """The page with each row decoded on its own: a compiled row if it fits; without its
        properties outside the schema if that is all that does not fit (their names go to
        `dropped`), as the SDK drops them; else (a value of another type than the schema's,
        e.g. `0` for a boolean) a dict of raw JSON values, which `FastRecordWriter.project`
        conforms exactly as the SDK does. Raises `msgspec.ValidationError` when the page
        itself is not a query page (the caller then reads it the generic way)."""
        parsed = raw_page_decoder(self.entity).decode(content)
        response = parsed.QueryResponse
        raws = getattr(response, self.entity, None) if response is not None else None
        if not raws:
            return parsed
        strict = msgspec.json.Decoder(self._rows())
        lenient = msgspec.json.Decoder(self._rows(strict=False))
        rows: list[t.Any] = []
        for raw in raws:
            try:
                rows.append(strict.decode(raw))
                continue
            except msgspec.ValidationError:
                pass
            record = _raw_row_keys.decode(raw)
            extra = record.keys() - self._properties
            if extra:
                try:
                    rows.append(lenient.decode(raw))
                    self.dropped.update(extra)
                    continue
                except msgspec.ValidationError:
                    pass
            rows.append(record)
        setattr(response, self.entity, rows)
        return parsed


def normalize_rows(realm_id: str, rows: list[QboRow]) -> list[QboRow]:
    """`EntityStream.normalize` of every compiled row of a page, in one loop: `realm_id` set,
    `updated_at` = `MetaData.LastUpdatedTime` in UTC (`utc_text`,
    inlined: the hour of the previous row is reused while it does not change)."""
    shape = _WHOLE_HOUR_SHAPE.match
    last_key, last_hour = None, ""
    for row in rows:
        row.realm_id = realm_id  # (a missing `Id` is null already: see `row_type`)
        meta = row.MetaData
        if type(meta) is RowMetaData:
            text = meta.LastUpdatedTime
        elif isinstance(meta, msgspec.Raw):  # a MetaData schema other than RowMetaData's
            text = (_raw_value_decoder.decode(meta) or {}).get("LastUpdatedTime")
        else:
            text = None
        if not text:
            row.updated_at = None
        elif shape(text):
            key = text[:13] + text[19:]
            if key != last_key:
                last_key, last_hour = key, _utc_hour(key)
            row.updated_at = last_hour + text[13:19] + "+00:00"
        else:
            row.updated_at = to_utc_iso(text)
    return rows


# ---- RECORD writer ----------------------------------------------------------------------------
class RecordEnvelope(msgspec.Struct, omit_defaults=True, gc=False):
    """A RECORD message, fields in the SDK's order (`encode_lines` writes a page of them in one
    call, about twice as fast as one `encode_into` per record)."""

    type: str
    stream: str
    record: t.Any
    version: int | msgspec.UnsetType = UNSET
    time_extracted: str | msgspec.UnsetType = UNSET


class FastRecordWriter:
    """Per-stream compiled RECORD writer (see module docstring)."""

    def __init__(self, stream_name: str, allowed: frozenset[str] | None, version: int | None,
                 *, enabled: bool, all_selected: bool = False) -> None:
        self.enabled = enabled
        self.allowed = allowed or frozenset()
        #: compiled rows carry every schema property: usable only when all are selected
        self.rows_usable = enabled and all_selected
        head = {"type": "RECORD", "stream": stream_name}
        self._prefix = bytes(ENCODER.encode(head)[:-1]) + b',"record":'
        self._version_part = b',"version":%d' % version if version is not None else b""
        self._suffix = b""
        self._suffix_second = -1
        self._stream_name = stream_name
        self._version = version if version is not None else UNSET
        self._stamp = ""
        self.unknown_keys: set[str] = set()
        #: per record Struct type (line rows, tombstones): are all its fields selected?
        self._struct_fits: dict[type, bool] = {}
        #: dict records (the rows that do not fit the compiled type, CDC rows) are conformed
        #: the SDK's way (`conform`); the tap's own dicts (line tombstones) need not be
        self.conform_dicts = False
        self._dict_row_decoder: msgspec.json.Decoder | None = None
        self._page_decoders: dict[str, RowPageDecoder] = {}
        self._schema: dict = {}
        #: batch mode (`batch_output.BatchOutput.writer_for`): records go to a batch file as
        #: JSON lines (the `record` of the RECORD message, same bytes) instead of stdout
        self.batch: t.Callable[[bytes | bytearray, int], None] | None = None

    def page_decoder(self, entity: str) -> RowPageDecoder | None:
        """Decoder of `entity` query pages into this stream's compiled rows (None: dicts)."""
        if not self.rows_usable:
            return None
        found = self._page_decoders.get(entity)
        if found is None:
            found = self._page_decoders[entity] = RowPageDecoder(
                entity, self._schema, f"{entity}Row", self.unknown_keys)
        return found

    @classmethod
    def for_stream(cls, stream: Stream) -> FastRecordWriter:
        maps = stream.stream_maps
        plain = (
            len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and not maps[0].flattening_enabled
            and maps[0].stream_alias == stream.name
        )
        schema = stream.effective_schema
        properties = schema.get("properties") or {}
        mask = stream.mask
        allowed = frozenset(p for p in properties if mask.get(("properties", p), True))
        nested_deselected = any(
            len(crumb) > 2 and not selected for crumb, selected in mask.items()
        )
        writer = cls(stream.name, allowed, stream._stream_version,  # noqa: SLF001
                     enabled=plain and not nested_deselected,
                     all_selected=len(allowed) == len(properties))
        writer._schema = schema  # noqa: SLF001
        return writer

    def _time_suffix(self) -> bytes:
        second = int(time.time())
        if second != self._suffix_second:
            stamp = datetime.datetime.fromtimestamp(second, datetime.timezone.utc).isoformat()
            self._suffix = self._version_part + b',"time_extracted":"' + stamp.encode() + b'"}\n'
            self._suffix_second = second
            self._stamp = stamp
        return self._suffix

    def project(self, record: t.Any) -> t.Any:
        """The record restricted to the selected schema properties."""
        if isinstance(record, QboRow):
            if self.rows_usable:
                return record  # its fields are the schema's properties, all selected
            record = {name: getattr(record, name) for name in record.keys()}
        elif not isinstance(record, dict):
            # a line row or tombstone Struct: its fields are line schema properties, written
            # as they are unless some are deselected
            if self._fits(type(record)):
                return record
            allowed = self.allowed
            return {name: getattr(record, name) for name in record.__struct_fields__
                    if name in allowed}
        allowed = self.allowed
        if not record.keys() <= allowed:
            extra = record.keys() - allowed
            self.unknown_keys.update(extra - self._schema.get("properties", {}).keys())
            record = {k: v for k, v in record.items() if k in allowed}
        if self.conform_dicts:
            # Checked the way a query row is (`row_type`): it fits (the usual case, e.g. CDC
            # rows), or it is conformed exactly as the SDK does (`conform`, far slower)
            try:
                return self._dict_rows().decode(ENCODER.encode(record))
            except msgspec.ValidationError:
                return self.conform(record)
        return record

    def _dict_rows(self) -> msgspec.json.Decoder:
        """Decoder of a dict record's JSON into the compiled row of the selected properties."""
        found = self._dict_row_decoder
        if found is None:
            properties = self._schema.get("properties") or {}
            selected = {"properties": {name: properties[name] for name in properties
                                       if name in self.allowed}}
            found = self._dict_row_decoder = msgspec.json.Decoder(
                row_type(selected, f"{self._stream_name}DictRow", null_id=False))
        return found

    def conform(self, record: dict) -> dict:
        """A dict record as the SDK's record path writes it: raw JSON values decoded
        (fractions as Decimal), then the SDK's own type conformance (nested properties outside
        the schema dropped, booleans sent as numbers made booleans, ...)."""
        record = {k: _raw_value_decoder.decode(v) if isinstance(v, msgspec.Raw) else v
                  for k, v in record.items()}
        record, unmapped = _conform_record_data_types(
            record, self._schema, TypeConformanceLevel.RECURSIVE, None)
        self.unknown_keys.update(unmapped)
        return record

    def _fits(self, kind: type) -> bool:
        """Records of this non-dict, non-QboRow type (line Structs) hold selected
        properties only."""
        found = self._struct_fits.get(kind)
        if found is None:
            fields = getattr(kind, "__struct_fields__", None)
            found = self._struct_fits[kind] = fields is None or set(fields) <= self.allowed
        return found

    def _as_they_are(self, records: t.Sequence[t.Any]) -> bool:
        """`project` would return every one of these records unchanged: compiled rows of a
        stream whose properties are all selected, and line Structs whose fields are all
        selected."""
        rows_usable = self.rows_usable
        for kind in set(map(type, records)):
            if issubclass(kind, dict):
                return False
            if issubclass(kind, QboRow):
                if not rows_usable:
                    return False
            elif not self._fits(kind):
                return False
        return True

    def write_page(self, records: t.Sequence[t.Any]) -> None:
        """`write` for every record of a page: one time stamp, one encoder call."""
        if int(time.time()) != self._suffix_second:
            self._time_suffix()
        if self.batch is not None:
            self._write_page_to_batch(records)
            return
        if not records:
            return
        if not self._as_they_are(records):
            records = [self.project(record) for record in records]
        name, version, stamp = self._stream_name, self._version, self._stamp
        # (one envelope per record: framing encode_lines' output with the prefix and suffix
        # instead costs more, as `bytes.replace` scans and copies the whole page twice)
        OUTPUT.append(ENCODER.encode_lines(
            [RecordEnvelope("RECORD", name, record, version, stamp) for record in records]))

    def _write_page_to_batch(self, records: t.Sequence[t.Any]) -> None:
        """`write_page` in batch mode: the records (projected as for RECORD messages) as JSON
        lines, one encoder call."""
        if not records:
            return
        if not self._as_they_are(records):
            records = [self.project(record) for record in records]
        self.batch(ENCODER.encode_lines(records), len(records))

    def encode(self, record: t.Any) -> bytearray:
        line = bytearray(self._prefix)
        ENCODER.encode_into(self.project(record), line, -1)
        line += self._time_suffix()
        return line

    def write(self, record: t.Any) -> None:
        if not (self.rows_usable and isinstance(record, QboRow)):
            record = self.project(record)
        if self.batch is not None:
            line = bytearray()
            ENCODER.encode_into(record, line, -1)
            line += b"\n"
            self.batch(line, 1)
            return
        second = int(time.time())
        suffix = self._suffix if second == self._suffix_second else self._time_suffix()
        output = OUTPUT
        pending = output.pending if sys.stdout is output.destination else output.buffer()
        pending += self._prefix
        ENCODER.encode_into(record, pending, -1)
        pending += suffix
        if len(pending) >= output.limit:
            output.flush()
