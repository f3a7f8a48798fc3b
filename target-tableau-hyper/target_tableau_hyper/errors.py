"""Errors about bad input: they name the stream, the input line and the field."""

from __future__ import annotations


import typing as t

#: what an input line number stands for when it is not a line of the input itself: the records
#: of a BATCH message's files are numbered as lines after it (batch_files.py sets this while a
#: run reads such files): line number → e.g. "line 7 of batch file /x/y.jsonl", or None
line_source: t.Callable[[int], str | None] | None = None


class InputError(Exception):
    """Bad Singer input (malformed line, record violating its schema, missing key…).

    The run stops with a non-zero exit; batches committed before stay committed, and no
    state covering the bad line is emitted.
    """

    def __init__(
        self,
        message: str,
        *,
        stream: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = message
        self.stream = stream
        self.line = line
        self.field = field
        where = []
        if line is not None:
            source = line_source(line) if line_source is not None else None
            where.append(f"line {line} ({source})" if source else f"line {line}")
        if stream is not None:
            where.append(f"stream '{stream}'")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(f"{prefix}{message}")

    def at_line(self, line: int | None) -> InputError:
        """The same error, with the input line filled in when it was not known."""
        if self.line is not None or line is None:
            return self
        return type(self)(self.reason, stream=self.stream, line=line, field=self.field)


# Subclasses that are also the SDK's exception types, so callers catching those still work.
from singer_sdk.exceptions import (  # noqa: E402
    MissingKeyPropertiesError,
    RecordsWithoutSchemaException,
)


class RecordBeforeSchemaError(InputError, RecordsWithoutSchemaException):
    """A RECORD for a stream whose SCHEMA has not been seen."""


class MissingKeyError(InputError, MissingKeyPropertiesError):
    """A RECORD without one of its stream's key properties."""
