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
        n = self.line_number
        try:
            for line in filein:
                n += 1
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
                    snippet = line[:120] if isinstance(line, str) else line[:120].decode(errors="replace")
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
        return Counter(**stats)
