"""The production `ChangeSource`: keys from the target's stream schemas, touched keys from the target
core's audit trail (`target_tableau_hyper/audit.py`)."""

from __future__ import annotations

import logging
from typing import Any, Sequence

import sqlalchemy as sa

from target_tableau_hyper.publishing.changes import ChangeSource, StreamKeys

logger = logging.getLogger(__name__)


def stream_keys_from_target(target: Any, stream: str) -> StreamKeys | None:
    """Key properties (and `x-parent-key` of line streams) as the target saw them this run."""
    sink = None
    for attr in ("_sinks_active", "_sinks_to_clear"):
        sinks = getattr(target, attr, None)
        if isinstance(sinks, dict) and stream in sinks:
            sink = sinks[stream]
        elif isinstance(sinks, list):
            sink = next((s for s in sinks if getattr(s, "stream_name", None) == stream), sink)
        if sink is not None:
            break
    if sink is None:
        return None
    keys = list(getattr(sink, "key_properties", None) or [])
    if not keys:
        return None
    parent = list((getattr(sink, "schema", None) or {}).get("x-parent-key") or [])
    if parent:
        return StreamKeys(keys, parent, replace_scope=True)
    return StreamKeys(keys, keys, replace_scope=False)


class AuditChangeSource(ChangeSource):
    def __init__(self, target: Any, engine: sa.Engine):
        self.target = target
        self.engine = engine
        self._keys: dict[str, StreamKeys | None] = {}

    def stream_keys(self, stream: str) -> StreamKeys | None:
        if stream not in self._keys:
            self._keys[stream] = stream_keys_from_target(self.target, stream)
        return self._keys[stream]

    def touched_scopes(self, stream: str, run_ids: Sequence[str]) -> list[tuple[Any, ...]] | None:
        return None  # filled in once the core's audit trail lands: until then, overwrite


def change_source_for(target: Any, engine: sa.Engine) -> ChangeSource:
    return AuditChangeSource(target, engine)
