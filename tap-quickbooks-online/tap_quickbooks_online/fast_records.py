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
import datetime
import decimal
import sys
import time
import typing as t

import msgspec
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib.encoding.base import GenericSingerWriter, SingerMessageType

from tap_quickbooks_online.timeutil import to_utc_iso

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
class SingerOutput:
    """The process's pending Singer bytes, written to stdout in large chunks (order kept)."""

    limit = 1 << 18  # 256 KiB

    def __init__(self) -> None:
        self.pending = bytearray()
        #: the stdout the pending bytes are for
        self.destination: t.Any = None

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
                buffer.write(data)
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
                buffer.write(self.pending)
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


class SingerBytesWriter(GenericSingerWriter[bytes, "Message"]):
    """Writes every Singer message as one JSON line into the shared output buffer."""

    def serialize_message(self, message: Message) -> bytes:  # noqa: PLR6301
        return ENCODER.encode(message.to_dict())

    def write_message(self, message: Message) -> None:
        line = bytearray(self.format_message(message))
        line += b"\n"
        OUTPUT.append(line)
        if message.type == SingerMessageType.STATE:
            OUTPUT.flush()


# ---- timestamps ---------------------------------------------------------------------------------
_utc_hours: dict[str, str] = {}
_DIGITS = "0123456789"


def utc_text(text: str) -> str:
    """`timeutil.to_utc_iso(text)`, fast for QBO's usual `YYYY-MM-DDTHH:MM:SS±HH:00` (or `Z`).

    With a whole-hour offset only the date and hour change, so that conversion is cached per
    (date, hour, offset) and minutes and seconds are copied: one conversion per hour of data
    instead of one per record. Any other shape goes through `to_utc_iso`."""
    size = len(text)
    if (size == 25 and text[19] in "+-" and text[22:] == ":00" or size == 20 and text[19] == "Z") \
            and text[13] == ":" and text[16] == ":" and text[14] in "012345" \
            and text[15] in _DIGITS and text[17] in "012345" and text[18] in _DIGITS:
        key = text[:13] + text[19:]
        hour = _utc_hours.get(key)
        if hour is None:
            if len(_utc_hours) >= 100_000:
                _utc_hours.clear()
            hour = _utc_hours[key] = to_utc_iso(text[:13] + ":00:00" + text[19:])[:13]
        return hour + text[13:19] + "+00:00"
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


def row_type(schema: dict, name: str = "Row") -> type[QboRow]:
    """The compiled row Struct of a schema (one per distinct set of top-level properties)."""
    properties = schema.get("properties") or {}
    key = tuple((prop, repr(_field_type(prop, sub))) for prop, sub in properties.items())
    found = _row_types.get(key)
    if found is None:
        fields = [(prop, _field_type(prop, sub), UNSET) for prop, sub in properties.items()]
        found = msgspec.defstruct(
            name, fields, bases=(QboRow,), kw_only=True, omit_defaults=True, gc=False,
            forbid_unknown_fields=True, module=__name__,
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
        self._page_decoders: dict[str, msgspec.json.Decoder] = {}
        self._schema: dict = {}

    def page_decoder(self, entity: str) -> msgspec.json.Decoder | None:
        """Decoder of `entity` query pages into this stream's compiled rows (None: dicts)."""
        if not self.rows_usable:
            return None
        found = self._page_decoders.get(entity)
        if found is None:
            rows = row_type(self._schema, f"{entity}Row")
            found = self._page_decoders[entity] = page_decoder(entity, rows)
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
            return record  # a line row Struct: its fields are the line schema's properties
        allowed = self.allowed
        if record.keys() <= allowed:
            return record
        extra = record.keys() - allowed
        self.unknown_keys.update(extra)
        return {k: v for k, v in record.items() if k in allowed}

    def write_page(self, records: t.Sequence[t.Any]) -> None:
        """`write` for every record of a page: one time stamp, one encoder call."""
        if int(time.time()) != self._suffix_second:
            self._time_suffix()
        name, version, stamp, rows_usable = (self._stream_name, self._version, self._stamp,
                                             self.rows_usable)
        project = self.project
        envelopes = [
            RecordEnvelope("RECORD", name, project(record) if isinstance(record, dict) or
                           not rows_usable and isinstance(record, QboRow) else record,
                           version, stamp)
            for record in records
        ]
        OUTPUT.append(ENCODER.encode_lines(envelopes))

    def encode(self, record: t.Any) -> bytearray:
        line = bytearray(self._prefix)
        ENCODER.encode_into(self.project(record), line, -1)
        line += self._time_suffix()
        return line

    def write(self, record: t.Any) -> None:
        if isinstance(record, dict) or not self.rows_usable and isinstance(record, QboRow):
            record = self.project(record)
        second = int(time.time())
        suffix = self._suffix if second == self._suffix_second else self._time_suffix()
        output = OUTPUT
        pending = output.pending if sys.stdout is output.destination else output.buffer()
        pending += self._prefix
        ENCODER.encode_into(record, pending, -1)
        pending += suffix
        if len(pending) >= output.limit:
            output.flush()
