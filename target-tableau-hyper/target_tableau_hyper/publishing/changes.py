"""What the publishing step needs to know about local changes, independent of where it comes from.

`ChangeSource` answers, per stream: its key columns (and for line streams the parent key whose rows
are replaced as a whole), and which key scopes a set of runs touched. The production implementation
reads the target core's audit trail (`AuditChangeSource`); tests may supply their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence


@dataclass(frozen=True)
class StreamKeys:
    key_columns: list[str]
    scope_columns: list[str]  # = key_columns, or the parent key of a line stream
    replace_scope: bool  # line streams: a touched parent's rows are deleted then re-inserted


class ChangeSource(Protocol):
    def stream_keys(self, stream: str) -> StreamKeys | None:
        """Keys of the stream, or None when it has none (then only overwrite is possible)."""

    def touched_scopes(self, stream: str, run_ids: Sequence[str]) -> list[tuple[Any, ...]] | None:
        """Scope key values upserted or deleted by these runs (values as text is fine), or None
        when the runs' changes are not known (then the datasource is overwritten)."""
