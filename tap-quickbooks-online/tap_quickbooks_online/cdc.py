"""Per-realm Change Data Capture cache: one `/cdc` call serves every CDC entity stream.

On the first incremental CDC-capable stream of a realm, the cache looks at the bookmarks of
*all* selected CDC-capable entity streams of that realm, and asks `/cdc` once for all of
them, with `changedSince` = the oldest of those bookmarks (minus `lookback_seconds`). Each
stream then takes its own entity's changes (filtered to its own bookmark, sorted by
`LastUpdatedTime`) from the cache, which drops them once taken. A day's changes across
every entity of a realm cost one request.

QBO returns at most 1000 objects per entity per call. When an entity hits that cap, the
window is split: the cache asks again for that entity alone from the last timestamp it got,
and so on until a call returns fewer than 1000 (dedupe on Id, newest SyncToken wins). If a
single second holds more than 1000 changes of one entity, CDC cannot page past it; that entity
falls back to the query endpoint (changes are still read; a delete in that second is not).

Memory stays bounded: once an entity has more than `MAX_OBJECTS_KEPT` changes in the window,
only its deletion stubs are kept from further CDC pages, and the stream reads the changed
records through the (streamed, keyset-paged) query endpoint, then emits the deletions.

CDC only reaches 30 days back. Bookmarks older than that (judged against the server's own
clock, the `time` field of its responses) make the stream do a full resync instead. Before any
response of the realm has been seen the local clock stands in; if QBO then rejects the window
(code 4001) the cache re-plans with the server time that rejection carried.
"""

from __future__ import annotations

import datetime
import threading
import typing as t

from tap_quickbooks_online import timeutil
from tap_quickbooks_online.errors import QBOAPIError

if t.TYPE_CHECKING:
    from tap_quickbooks_online.streams.entities import EntityStream

CDC_MAX_OBJECTS = 1000
#: changed objects kept in memory per entity; beyond this the entity's changes are read through
#: the query endpoint (streamed page by page) and CDC is paged on for its deletions only
MAX_OBJECTS_KEPT = 3000
CDC_WINDOW = datetime.timedelta(days=30)
CDC_WINDOW_MARGIN = datetime.timedelta(hours=1)


class _RealmChanges:
    def __init__(self) -> None:
        self.loaded = False
        self.since: datetime.datetime | None = None
        self.server_time: datetime.datetime | None = None
        self.objects: dict[str, list[dict]] = {}
        self.overflow: set[str] = set()
        self.deletes_only: set[str] = set()


def _timestamp(obj: dict) -> str:
    meta = obj.get("MetaData") or {}
    value = meta.get("LastUpdatedTime")
    return timeutil.to_utc_iso(value) if value else ""


class CdcCache:
    def __init__(self, tap: t.Any) -> None:
        self.tap = tap
        self._realms: dict[str, _RealmChanges] = {}
        self._lock = threading.Lock()
        self.calls = 0

    # ---- window --------------------------------------------------------------------------
    def window_start(self, stream: EntityStream, realm_id: str) -> datetime.datetime:
        now, _ = self.tap.server_now_estimate(realm_id)
        return now - CDC_WINDOW + CDC_WINDOW_MARGIN

    def server_time(self, realm_id: str) -> datetime.datetime | None:
        """Server time of the realm's CDC response: every change before it was returned."""
        realm = self._realms.get(realm_id)
        return realm.server_time if realm else None

    def outside_window(self, stream: EntityStream, realm_id: str,
                       since: datetime.datetime) -> bool:
        return since < self.window_start(stream, realm_id)

    # ---- reading -------------------------------------------------------------------------
    def deletes_only(self, stream: EntityStream, realm_id: str) -> bool:
        """True when `changes()` returned only deletions: read the changes by query."""
        realm = self._realms.get(realm_id)
        return bool(realm and stream.entity in realm.deletes_only)

    def changes(self, stream: EntityStream, realm_id: str,
                since: datetime.datetime) -> list[dict] | None:
        """The stream's changes since `since`, sorted; None when CDC cannot serve it."""
        with self._lock:
            realm = self._realms.setdefault(realm_id, _RealmChanges())
            if not realm.loaded:
                self._load(stream, realm_id, realm)
        if stream.entity not in realm.objects or stream.entity in realm.overflow:
            return None
        if realm.since is None or since < realm.since:
            return None
        objects = realm.objects.pop(stream.entity)
        floor = timeutil.iso(since)
        keep = [obj for obj in objects if _timestamp(obj) >= floor]
        keep.sort(key=_timestamp)
        return keep

    def release(self, stream: EntityStream) -> None:
        """Free whatever a stream did not take (e.g. an aborted sync)."""
        for realm in self._realms.values():
            realm.objects.pop(stream.entity, None)

    def _participants(self, realm_id: str, window_start: datetime.datetime
                      ) -> dict[str, datetime.datetime]:
        """Entity → since, for selected CDC streams of this realm with a bookmark in window."""
        from tap_quickbooks_online.streams.entities import EntityStream  # noqa: PLC0415

        lookback = datetime.timedelta(seconds=int(self.tap.config.get("lookback_seconds", 0) or 0))
        result: dict[str, datetime.datetime] = {}
        for other in self.tap.streams.values():
            if not isinstance(other, EntityStream) or not other.cdc_capable:
                continue
            if not (other.selected or other.has_selected_descendents):
                continue
            bookmark = other.get_context_state({"realm_id": realm_id}).get(
                "replication_key_value")
            if not bookmark:
                continue
            since = timeutil.parse(bookmark) - lookback
            if since >= window_start:
                result[other.entity] = min(since, result.get(other.entity, since))
        return result

    def _load(self, stream: EntityStream, realm_id: str, realm: _RealmChanges) -> None:
        realm.loaded = True
        participants = self._participants(realm_id, self.window_start(stream, realm_id))
        if not participants:
            return
        try:
            body = self._call(stream, realm_id, sorted(participants), min(participants.values()))
        except QBOAPIError as exc:
            if not (exc.fault and "4001" in exc.fault.codes):
                raise
            # The server's clock says the window is older than 30 days: re-plan with it.
            participants = self._participants(realm_id, self.window_start(stream, realm_id))
            if not participants:
                return
            body = self._call(stream, realm_id, sorted(participants), min(participants.values()))
        since = min(participants.values())
        realm.since = since
        entities = sorted(participants)
        realm.server_time = self._server_time(body)
        for entity in entities:
            realm.objects[entity] = []
        got = self._by_entity(body)
        for entity in entities:
            objects = got.get(entity, [])
            realm.objects[entity] = self._merge([], objects)
            entity_since = since
            while len(objects) >= CDC_MAX_OBJECTS:
                last = max(_timestamp(obj) for obj in objects)
                next_since = timeutil.parse(last)
                if next_since <= entity_since:
                    stream.logger.warning(
                        "CDC realm %s: more than %d %s changes share one second (%s); reading "
                        "%s through the query endpoint instead (a hard delete in that second "
                        "cannot be seen)", realm_id, CDC_MAX_OBJECTS, entity, last, entity)
                    realm.overflow.add(entity)
                    break
                stream.logger.info("CDC realm %s: %s hit the %d-object cap; splitting the "
                                   "window at %s", realm_id, entity, CDC_MAX_OBJECTS, last)
                entity_since = next_since
                if entity not in realm.deletes_only and \
                        len(realm.objects[entity]) >= MAX_OBJECTS_KEPT:
                    stream.logger.info(
                        "CDC realm %s: more than %d %s changes; they are read through the "
                        "query endpoint, CDC is kept for deletions", realm_id, MAX_OBJECTS_KEPT,
                        entity)
                    realm.deletes_only.add(entity)
                    realm.objects[entity] = [o for o in realm.objects[entity]
                                             if o.get("status") == "Deleted"]
                body = self._call(stream, realm_id, [entity], entity_since)
                objects = self._by_entity(body).get(entity, [])
                kept = objects if entity not in realm.deletes_only else \
                    [o for o in objects if o.get("status") == "Deleted"]
                realm.objects[entity] = self._merge(realm.objects[entity], kept)

    def _call(self, stream: EntityStream, realm_id: str, entities: list[str],
              since: datetime.datetime) -> dict:
        self.calls += 1
        return stream.api_get(realm_id, "cdc", {
            "entities": ",".join(entities),
            "changedSince": timeutil.qbo_literal(since),
        })

    @staticmethod
    def _server_time(body: dict) -> datetime.datetime | None:
        value = body.get("time")
        if isinstance(value, str):
            try:
                return timeutil.parse(value)
            except ValueError:
                return None
        return None

    @staticmethod
    def _by_entity(body: dict) -> dict[str, list[dict]]:
        result: dict[str, list[dict]] = {}
        for block in body.get("CDCResponse") or []:
            for response in block.get("QueryResponse") or []:
                for key, value in response.items():
                    if isinstance(value, list):
                        result.setdefault(key, []).extend(value)
        return result

    @staticmethod
    def _merge(existing: list[dict], new: list[dict]) -> list[dict]:
        by_id: dict[str, dict] = {str(obj["Id"]): obj for obj in existing}
        for obj in new:
            key = str(obj["Id"])
            old = by_id.get(key)
            if old is None or _timestamp(obj) >= _timestamp(old):
                by_id[key] = obj
        return list(by_id.values())
