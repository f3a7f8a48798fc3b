"""Singer input reader: msgspec, line numbers, clear errors.

A RECORD line is decoded into an envelope whose `record` stays raw JSON bytes; the stream's
compiled model (records.py) then validates and decodes it in one pass. Every other message is
decoded to a dict with floats as `Decimal` (like the SDK's reader) and handed to the SDK's
handlers. Any failure is raised as `InputError` naming the input line (and stream/field when
known).
"""

from __future__ import annotations

import decimal
import sys
import typing as t
from collections import Counter, defaultdict

import msgspec
from singer_sdk.exceptions import RecordsWithoutSchemaException
from singer_sdk.singerlib.encoding.base import GenericSingerReader
from singer_sdk.singerlib.exceptions import InvalidInputLine

from target_tableau_hyper.errors import InputError, RecordBeforeSchemaError


class RecordEnvelope(msgspec.Struct):
    type: str
    stream: t.Any = None
    record: msgspec.Raw = msgspec.Raw(b"")
    time_extracted: t.Any = None
    version: t.Any = None


_ENVELOPE = msgspec.json.Decoder(RecordEnvelope)
_DICT = msgspec.json.Decoder(float_hook=decimal.Decimal)
_KNOWN_TYPES = ("RECORD", "SCHEMA", "STATE", "ACTIVATE_VERSION", "BATCH")


class SingerInputReader(GenericSingerReader[str]):
    """Reads Singer messages from stdin (bytes) or a given file, counting lines."""

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0
        # stream name (bytes) → (decoder, sink, drain callback), set by the target
        self.fast_streams: dict[bytes, tuple] = {}
        self.on_tick: t.Callable[[], None] = lambda: None

    @property
    def default_input(self) -> t.IO:
        return sys.stdin.buffer

    def deserialize_json(self, line: str | bytes) -> dict:
        try:
            return _DICT.decode(line)
        except msgspec.DecodeError as exc:
            raise InputError(f"malformed JSON: {exc}", line=self.line_number) from None

    def process_lines(
        self,
        file_input: t.IO | None,
        callbacks: dict[str, t.Callable[[t.Any], None]],
    ) -> t.Counter[str]:
        stats: dict[str, int] = defaultdict(int)
        filein = file_input if file_input is not None else self.default_input
        decode_envelope = _ENVELOPE.decode
        record_cb = callbacks["RECORD"]
        fast = self.fast_streams
        n = self.line_number
        n_fast = 0
        try:
            for line in filein:
                n += 1
                if isinstance(line, str):
                    line = line.encode()
                # Hot path: a RECORD of a stream without maps is decoded once, straight into
                # its compiled record type (the stream name is peeked, then verified).
                i = line.find(b'"stream"')
                if i >= 0 and fast:
                    j = line.find(b'"', i + 8)
                    k = line.find(b'"', j + 1)
                    entry = fast.get(line[j + 1 : k])
                    if entry is not None:
                        decoder, sink, on_full, prefixes = entry
                        if prefixes and line.startswith(prefixes):
                            # exact SDK-style RECORD line: parsed by Arrow at drain time
                            sink.add_raw(line, n)
                            n_fast += 1
                            if sink._batch_records_read >= sink.max_size:  # noqa: SLF001
                                self.line_number = n
                                on_full(sink)
                            if not n_fast & 4095:
                                self.line_number = n
                                self.on_tick()
                            continue
                        try:
                            msg = decoder.decode(line)
                        except msgspec.ValidationError as exc:
                            self.line_number = n
                            raise record_error(exc, sink.stream_name, n) from None
                        except msgspec.DecodeError:
                            msg = None  # reported by the general path below
                        if msg is not None and msg.type == "RECORD" and msg.record is not None:
                            sink.add_row(msg.record, n)
                            n_fast += 1
                            if sink._batch_records_read >= sink.max_size:  # noqa: SLF001
                                self.line_number = n
                                on_full(sink)
                            if not n_fast & 4095:
                                self.line_number = n
                                self.on_tick()
                            continue
                self.line_number = n
                try:
                    envelope = decode_envelope(line)
                except msgspec.ValidationError as exc:
                    if not line.strip():
                        continue  # blank line
                    raise InputError(f"invalid Singer message: {exc}", line=n) from None
                except msgspec.DecodeError as exc:
                    if not line.strip():
                        continue
                    snippet = line[:120].decode(errors="replace")
                    raise InputError(f"malformed JSON ({exc}): {snippet!r}", line=n) from None
                kind = envelope.type
                if kind == "RECORD":
                    if not isinstance(envelope.stream, str) or not envelope.record:
                        raise InputError("RECORD message needs 'stream' and 'record'", line=n)
                    record_cb(envelope)
                elif kind in _KNOWN_TYPES and kind in callbacks:
                    callbacks[kind](self.deserialize_json(line))
                else:
                    raise InputError(
                        f"unknown message type {kind!r}",
                        stream=envelope.stream if isinstance(envelope.stream, str) else None,
                        line=n,
                    )
                stats[kind] += 1
        except InputError as exc:
            raise exc.at_line(n) from None
        except RecordsWithoutSchemaException as exc:
            raise RecordBeforeSchemaError(str(exc), line=n) from None
        except InvalidInputLine as exc:
            raise InputError(str(exc), line=n) from None
        finally:
            self.line_number = n
        stats["RECORD"] += n_fast
        return Counter(**stats)


def record_error(exc: msgspec.ValidationError, stream: str, line: int) -> InputError:
    text = str(exc)
    field = None
    if " - at `$." in text:
        text, _, where = text.rpartition(" - at `$.")
        where = where.rstrip("`")
        field = where[len("record."):] if where.startswith("record.") else where
    elif "missing required field `" in text:
        field = text.split("`")[1]
    return InputError(f"record violates its schema: {text}", stream=stream, line=line, field=field)
