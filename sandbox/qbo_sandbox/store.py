"""The data of every realm: generated base data plus an overlay of changes.

Interface used by ``reports.py`` / ``ledger.py`` (and by the API layer):

``store.realms()``
    list of realm ids (strings), in creation order.
``store.iter_entities(realm_id, entity)``
    yields the current (not deleted) objects of one entity type — dicts exactly as the API
    serves them (money as ``Decimal``; treat them as read-only). Base transactions come in Id
    order, then objects created through the API. For ``--size large`` this streams lazily.
    Unknown entity names raise ``KeyError``. ``CompanyInfo`` and ``Preferences`` yield one object.
``store.get(realm_id, entity, id)``
    the current object or ``None`` (deleted or unknown).

Base transactions are pure functions of their index (``generator.TxnGenerator``); a change
(create/update/delete/void through the API or the control API) writes the new object into the
realm's overlay, which wins over the base. Name lists are small and held as dicts.
Serialized bytes are cached per object and dropped on change, so 1000-row pages are joins
of cached bytes.
"""
from __future__ import annotations

import gc
import hashlib
import threading
from array import array
from collections import defaultdict
from functools import lru_cache, partial
from itertools import repeat
from operator import itemgetter
from typing import Callable, Iterator

from . import company as co
from .render import Renderer
from .generator import BLOCK_CYCLES, SLOTS, TxnGenerator, TXN_ENTITIES, CYCLES, ID_BASE, SLOT_POS, CYCLE
from .wire import encode

DAY = 86400
NAME_ENTITIES = ("Account", "Class", "Department", "Term", "PaymentMethod", "TaxAgency", "TaxRate", "TaxCode",
                 "Item", "Customer", "Vendor", "Employee", "Budget", "CompanyCurrency", "CustomerType",
                 "Attachable", "ExchangeRate", "CompanyInfo", "Preferences")
#: Name-list entities whose queries return only active records unless the query filters on Active.
ACTIVE_FILTERED = ("Account", "Class", "Department", "Term", "PaymentMethod", "Item", "Customer", "Vendor",
                   "Employee", "TaxCode", "TaxRate", "Budget", "CompanyCurrency", "CustomerType")
ALL_ENTITIES = NAME_ENTITIES + TXN_ENTITIES
#: URL path segment (lower case, as QBO uses: /invoice, /journalentry) → entity name.
PATH_ENTITY = {e.lower(): e for e in ALL_ENTITIES}


class Rec:
    """A current object plus its cached JSON bytes."""
    __slots__ = ("obj", "_bytes")

    def __init__(self, obj: dict):
        self.obj = obj
        self._bytes = None

    @property
    def data(self) -> bytes:
        b = self._bytes
        if b is None:
            b = self._bytes = encode(self.obj)
        return b

    def touch(self) -> None:
        self._bytes = None


def realm_id_for(seed: int, index: int) -> str:
    """A 16-digit realm id (QBO style), a pure function of (seed, index)."""
    h = int(hashlib.sha256(f"qbo-realm:{seed}:{index}".encode()).hexdigest(), 16)
    return "9130" + str(h % 10**12).zfill(12)


class Realm:
    def __init__(self, seed: int, index: int, size: str, as_of: float):
        self.index = index
        self.id = realm_id_for(seed, index)
        end = as_of - 3600
        start = end - 400 * DAY
        self.company = co.Company(seed, index, self.id, start, end, size)
        self.company_name = self.company.name
        cache = 200_000 if size == "demo" else 30_000
        self.gen = TxnGenerator(self.company, seed, index, CYCLES[size], cache)
        # Demo: every document fits the dict cache and the start-up balances pass builds them all,
        # so encoding the cached dict is cheaper than rendering; large: render (no dict at all).
        self.renderer = Renderer(self.gen) if self.gen.N > cache else None
        self.lock = threading.RLock()
        self.company.lists["ExchangeRate"] = _exchange_rates(self.gen)
        self.names: dict[str, dict[str, Rec]] = {
            e: {_key(o): Rec(o) for o in self.company.lists[e]} for e in NAME_ENTITIES}
        self.overlay: dict[tuple[str, str], Rec] = {}   # current version of changed/created txns
        self.deleted: dict[tuple[str, str], float] = {}  # (entity, id) → deletion time (API deletes)
        self.created_order: dict[str, list[str]] = defaultdict(list)  # txn ids created via the API
        self.next_txn_id = ID_BASE + self.gen.N
        self._base_live: dict[str, array] = {}
        # bytes of base documents by index (large: rendered straight from the draws, no dict)
        self._page_run = _PageRun()
        self._ahead = _Ahead()  # bytes rendered in runs, handed to the cache in C (``base_bytes_many``)
        self._ahead.realm, self._ahead.run = self, self._page_run
        self._ahead.data = self.renderer.data if self.renderer is not None else None
        self._base_bytes = lru_cache(maxsize=cache)(self._ahead.__getitem__ if self.renderer is not None
                                                    else self._encode_base)
        self.balances_ready = threading.Event()
        self.persist_balances = size == "large"  # the pass takes minutes: saved for the next start
        self._link_sums_loaded = False
        if self.persist_balances:
            self.load_saved_link_sums()
        self._balances_lock = threading.Lock()
        self.version = 0  # bumps on every change (query caches key on it)

    # -- base index arrays ---------------------------------------------------------------------
    def base_live(self, entity: str) -> array:
        """Indices i of live (not base-deleted) base transactions of one type, ascending."""
        arr = self._base_live.get(entity)
        if arr is None:
            g = self.gen
            arr = array("q")
            positions = SLOT_POS[entity]
            for c in range(g.n_cycles):
                base = c * CYCLE
                for p in positions:
                    i = base + p
                    if not g.is_deleted(i):
                        arr.append(i)
            self._base_live[entity] = arr
        return arr

    def base_deleted(self, entity: str) -> list[int]:
        g = self.gen
        return [c * CYCLE + p for c in range(g.n_cycles) for p in SLOT_POS[entity] if g.is_deleted(c * CYCLE + p)]

    def base_bytes_many(self, indices) -> list[bytes]:
        """``[self._base_bytes(i) for i in indices]`` (a page's documents, through the byte cache in the
        same order: the cache's contents and recency are the same), where a miss also renders the rest of
        its block's documents in ``indices`` in one run (``Renderer.data_many``), handed to the cache as
        it asks for them (``_Ahead``: a dict lookup in C): no Python step a cached document, one a run."""
        if self.renderer is None or not len(indices) or SLOTS[indices[0] % CYCLE] not in self.renderer._run_builders:
            return list(map(self._base_bytes, indices))  # (no run renderer: one at a time, no page state)
        run = self._page_run
        run.page, run.at, run.chunks = indices, None, []
        try:
            return list(map(self._base_bytes, indices))
        finally:
            ahead = self._ahead
            for chunk in run.chunks:  # (another thread's page may have taken some: pop, not del)
                list(map(ahead.pop, chunk, repeat(None, len(chunk))))
            run.page = run.at = run.chunks = None

    def _render_run(self, i: int) -> bytes:
        """The byte cache's miss inside ``base_bytes_many`` (``_Ahead.__missing__``): the page's documents
        from ``i`` to the end of its block of ``BLOCK_CYCLES``
        cycles rendered at once, kept in ``_ahead`` for the cache's next misses until the page is read
        (a document of them that the cache still holds was rendered for nothing). Base documents never
        change, so a run another thread rendered serves as well."""
        run = self._page_run
        page = run.page
        if run.at is None:
            run.at = dict(zip(page, range(len(page))))
        a = run.at.get(i)
        if a is None:
            return self.renderer.data(i)
        span, n = CYCLE * BLOCK_CYCLES, len(page)
        b, z = i // span, a + 1
        while z < n and page[z] // span == b:
            z += 1
        chunk = page[a:z]
        datas = self.renderer.data_many(chunk)
        self._ahead.update(zip(chunk, datas))
        run.chunks.append(chunk)
        return datas[0]

    def _encode_base(self, i: int) -> bytes:
        # Rendered straight to bytes when the entity has a renderer (same bytes, no dict).
        data = self.renderer.bytes(i) if self.renderer is not None else None
        return data if data is not None else encode(self.gen.doc(i))

    def txn_index(self, id_: str) -> int | None:
        """Base index of a transaction id, or None when the id is not a base id."""
        try:
            i = int(id_) - ID_BASE
        except ValueError:
            return None
        return i if 0 <= i < self.gen.N else None

    # -- current objects -----------------------------------------------------------------------
    def get_rec(self, entity: str, id_: str) -> Rec | None:
        if entity in self.names:
            return self.names[entity].get(id_)
        if entity not in SLOT_POS:
            raise KeyError(entity)
        key = (entity, id_)
        if key in self.deleted:
            return None
        rec = self.overlay.get(key)
        if rec is not None:
            return rec
        i = self.txn_index(id_)
        if i is None or self.gen.entity_of(i) != entity or self.gen.is_deleted(i):
            return None
        return BaseRec(self, i)

    def iter_recs(self, entity: str) -> Iterator:
        if entity in self.names:
            yield from sorted(self.names[entity].values(), key=lambda r: _id_key(_key(r.obj)))
            return
        if entity not in SLOT_POS:
            raise KeyError(entity)
        overlay, deleted = self.overlay, self.deleted
        for i in self.base_live(entity):
            key = (entity, str(ID_BASE + i))
            if key in deleted:
                continue
            rec = overlay.get(key)
            yield rec if rec is not None else BaseRec(self, i)
        for id_ in list(self.created_order.get(entity, ())):
            if (entity, id_) not in deleted and (entity, id_) in overlay:
                yield overlay[(entity, id_)]

    # -- balances ------------------------------------------------------------------------------
    def load_saved_link_sums(self) -> bool:
        """Load the sums payments and deposits copy (``linksums.py``) that an earlier start's balances
        pass saved (``balances_cache``, kind ``linksums``, ~3 MB for large, milliseconds): a fresh
        server then renders payments and deposits without re-drawing the invoices, payments and
        receipts they copy. Only into a realm nobody has changed; True when loaded."""
        if self.renderer is None or self._link_sums_loaded or not self.persist_balances:
            return False
        if self.overlay or self.deleted or any(self.created_order.values()):
            return False
        from . import balances_cache  # (imports nothing from here; kept local like the pass)
        state = balances_cache.load(self, "linksums")
        if state is None:
            return False
        try:
            self.renderer.load_link_sums(state)
        except (KeyError, ValueError, TypeError, IndexError):  # not this realm's: computed as they come
            return False
        self._link_sums_loaded = True
        return True

    def ensure_balances(self) -> None:
        """Account CurrentBalance, Customer/Vendor Balance: one pass over all postings, then deltas."""
        if self.balances_ready.is_set():
            return
        with self._balances_lock:
            if self.balances_ready.is_set():
                return
            from . import balances
            try:
                balances.compute(self)
                # The pass leaves long-lived running totals (and, large, ~10^5 slim aging records):
                # out of the cyclic GC's sight, later requests do not re-scan them on every collection.
                gc.freeze()
            finally:  # never leave writers waiting on a pass that failed
                self.balances_ready.set()


class _PageRun(threading.local):
    """The page a thread is reading through ``Realm.base_bytes_many`` (None outside one)."""
    page = None  # its base indices
    at = None  # index -> position in ``page``, made on the page's first miss
    chunks = None  # the runs of it rendered into ``Realm._ahead`` (dropped from there once it is read)


class _Ahead(dict):
    """index -> bytes of base documents rendered in a run by a page's miss, not yet asked for by the
    byte cache, whose miss function is this dict's ``__getitem__`` (a lookup in C); a missing index is
    rendered: alone (``Renderer.data``) outside a page, else with its run (``Realm._render_run``)."""
    __slots__ = ("realm", "run", "data")

    def __missing__(self, i: int) -> bytes:
        if self.run.page is None:
            return self.data(i)
        return self.realm._render_run(i)


class BaseRec(tuple):
    """A base transaction served straight from the generator (bytes from an LRU cache): the pair
    ``(realm, i)``. A tuple so that a page's rows are made (``base_recs``) and read (``.i``) without
    a Python call each."""
    __slots__ = ()

    def __new__(cls, realm: Realm, i: int):
        return tuple.__new__(cls, (realm, i))

    realm = property(itemgetter(0))
    i = property(itemgetter(1))

    @property
    def obj(self) -> dict:
        return self.realm.gen.doc(self.i)

    @property
    def data(self) -> bytes:
        return self.realm._base_bytes(self.i)


_new_base_rec = partial(tuple.__new__, BaseRec)


def base_recs(realm: Realm, indices) -> list[BaseRec]:
    """``[BaseRec(realm, i) for i in indices]`` made in C (a 1000-row page of them)."""
    return list(map(_new_base_rec, zip(repeat(realm), indices)))


def _key(obj: dict) -> str:
    """Id, or for ExchangeRate (which has none in QBO) ``<source>-<target>-<AsOfDate>``."""
    if "Id" in obj:
        return obj["Id"]
    return f"{obj.get('SourceCurrencyCode')}-{obj.get('TargetCurrencyCode')}-{obj.get('AsOfDate')}"


def _exchange_rates(gen) -> list[dict]:
    """Monthly CAD/EUR → USD rates over the data period: the rates the documents use."""
    import datetime as dt
    from .wire import PACIFIC, qbo_timestamp
    out = []
    d = dt.datetime.fromtimestamp(gen.start, PACIFIC).date().replace(day=1)
    end = dt.datetime.fromtimestamp(gen.end, PACIFIC).date()
    while d <= end:
        t = dt.datetime(d.year, d.month, d.day, 2, tzinfo=PACIFIC).timestamp()
        for cur in ("CAD", "EUR"):
            rate = gen.rate(cur, d.isoformat())
            out.append({"SourceCurrencyCode": cur, "TargetCurrencyCode": "USD", "Rate": rate.normalize(),
                        "AsOfDate": d.isoformat(), "domain": "QBO", "sparse": False, "SyncToken": "0",
                        "MetaData": {"LastUpdatedTime": qbo_timestamp(t)}})
        d = (d + dt.timedelta(days=32)).replace(day=1)
    return out


def _id_key(id_: str):
    return (0, int(id_)) if id_.isdigit() else (1, id_)


class Store:
    def __init__(self, realms: int = 2, size: str = "demo", seed: int = 42, as_of: float | None = None,
                 clock=None):
        if size not in CYCLES:
            raise ValueError(f"size must be one of {sorted(CYCLES)}")
        self.size, self.seed = size, seed
        self.clock = clock
        now = clock.now() if clock else __import__("time").time()
        if as_of is None:  # the start of the clock's UTC day: servers started the same day share data
            as_of = float(int(now // DAY) * DAY)
        self.as_of = as_of
        self._realms: dict[str, Realm] = {}
        for k in range(realms):
            r = Realm(seed, k, size, as_of)
            self._realms[r.id] = r
        self.listeners: list[Callable[[str, str, str, str, float], None]] = []

    # -- the reports interface -----------------------------------------------------------------
    def realms(self) -> list[str]:
        return list(self._realms)

    def realm(self, realm_id: str) -> Realm:
        return self._realms[realm_id]

    def has_realm(self, realm_id: str) -> bool:
        return realm_id in self._realms

    def iter_entities(self, realm_id: str, entity: str) -> Iterator[dict]:
        realm = self._realms[realm_id]
        if entity in ("Account", "Customer", "Vendor"):
            realm.ensure_balances()
        for rec in realm.iter_recs(entity):
            yield rec.obj

    def get(self, realm_id: str, entity: str, id_: str) -> dict | None:
        realm = self._realms[realm_id]
        if entity in ("Account", "Customer", "Vendor"):
            realm.ensure_balances()
        rec = realm.get_rec(entity, str(id_))
        return rec.obj if rec is not None else None

    # -- change notification -------------------------------------------------------------------
    def notify(self, realm_id: str, entity: str, id_: str, operation: str, when: float) -> None:
        for fn in list(self.listeners):
            try:
                fn(realm_id, entity, id_, operation, when)
            except Exception:  # noqa: BLE001 - a listener must never break a write
                pass
