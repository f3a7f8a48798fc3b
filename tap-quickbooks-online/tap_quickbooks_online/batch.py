"""Per-realm batch of first-page queries for the streams CDC does not cover.

After the realm's single CDC call, each remaining entity stream would cost one query request
per realm (budgets, tax codes/rates/agencies, time activities, company info, preferences,
...). QBO's `/batch` endpoint takes up to 30 queries in one request, so on the first of those
streams the cache asks, in one batch, for the *first page* of every selected stream that is
read through the query endpoint and does not use CDC; each stream then takes its answer
instead of sending its own first query. Further pages (rare for these small lists) and
COUNT(*) queries go through the normal query endpoint. A per-item Fault becomes the same
`QBOAPIError` the query endpoint would have raised.
"""

from __future__ import annotations

import threading
import typing as t

import msgspec

from tap_quickbooks_online.client import QueryResult, compact_json
from tap_quickbooks_online.errors import Fault, FaultError, QBOAPIError, describe_fault

if t.TYPE_CHECKING:
    from tap_quickbooks_online.streams.entities import EntityStream

MAX_BATCH_ITEMS = 30


class _Item(msgspec.Struct):
    bId: str = ""
    QueryResponse: dict[str, msgspec.Raw] | None = None
    Fault: t.Any = None


class _Envelope(msgspec.Struct):
    BatchItemResponse: list[_Item] = []
    time: t.Any = None


_decoder = msgspec.json.Decoder(_Envelope)


class BatchQueryCache:
    def __init__(self, tap: t.Any) -> None:
        self.tap = tap
        self._answers: dict[str, dict[str, QueryResult | QBOAPIError]] = {}
        self._lock = threading.Lock()
        self.calls = 0

    def take(self, stream: EntityStream, realm_id: str, statement: str
             ) -> QueryResult | None:
        """The batched answer to `statement` (once), or None to send the query itself."""
        with self._lock:
            if realm_id not in self._answers:
                self._answers[realm_id] = {}
                self._load(stream, realm_id)
            answer = self._answers[realm_id].pop(statement, None)
        if isinstance(answer, QBOAPIError):
            raise answer
        return answer

    def _load(self, stream: EntityStream, realm_id: str) -> None:
        from tap_quickbooks_online.streams.entities import EntityStream  # noqa: PLC0415

        statements: list[str] = []
        for other in self.tap.streams.values():
            if not isinstance(other, EntityStream) or other.cdc_capable:
                continue
            if not (other.selected or other.has_selected_descendents):
                continue
            statement = other.first_statement(realm_id)
            if statement and statement not in statements:
                statements.append(statement)
        if len(statements) < 2:
            return  # nothing to save
        for start in range(0, len(statements), MAX_BATCH_ITEMS):
            chunk = statements[start:start + MAX_BATCH_ITEMS]
            body = {"BatchItemRequest": [{"bId": str(i), "Query": q} for i, q in enumerate(chunk)]}
            self.calls += 1
            raw = stream.api_post(realm_id, "batch", body)
            envelope = _decoder.decode(compact_json(raw))
            self.tap.note_server_time(realm_id, envelope.time)
            for item in envelope.BatchItemResponse:
                try:
                    statement = chunk[int(item.bId)]
                except (ValueError, IndexError):
                    continue
                if item.Fault:
                    self._answers[realm_id][statement] = _item_error(item.Fault, realm_id)
                elif item.QueryResponse is not None:
                    self._answers[realm_id][statement] = QueryResult(item.QueryResponse)


def _item_error(fault: t.Any, realm_id: str) -> QBOAPIError:
    errors = [FaultError(code=str(e.get("code")) if e.get("code") is not None else None,
                         message=e.get("Message"), detail=e.get("Detail"))
              for e in (fault.get("Error") or []) if isinstance(e, dict)]
    parsed = Fault(type=fault.get("type"), errors=errors)
    message = describe_fault(parsed, status=400, method="POST (batch item)",
                             path=f"/v3/company/{realm_id}/batch", intuit_tid=None)
    return QBOAPIError(message, fault=parsed, status=400)
