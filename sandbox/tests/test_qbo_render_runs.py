"""Pages rendered in runs (``Renderer.data_many``, ``Realm.base_bytes_many``) give the same bytes as
documents rendered one at a time, and leave the store's byte cache exactly as one-at-a-time reads do."""
from __future__ import annotations

from functools import lru_cache

from qbo_sandbox.generator import BLOCK_CYCLES, CYCLE, SLOT_POS, TXN_ENTITIES
from qbo_sandbox.render import Renderer
from qbo_sandbox.store import Store
from qbo_sandbox.wire import encode

AS_OF = 1_780_000_000.0


def _large_realm():
    store = Store(1, "large", 42, as_of=AS_OF)
    return store.realm(store.realms()[0])


def _indices(entity: str, cycles) -> list[int]:
    """Every base index of ``entity`` in ``cycles`` (deleted and voided documents included)."""
    return [c * CYCLE + p for c in cycles for p in SLOT_POS[entity]]


def test_data_many_equals_per_document_rendering_for_every_entity_across_blocks():
    realm = _large_realm()
    gen = realm.gen
    # cycles across two block boundaries (a block is BLOCK_CYCLES cycles), starting mid-block
    cycles = range(BLOCK_CYCLES - 9, 2 * BLOCK_CYCLES + 7)
    special = {"voided": 0, "deleted": 0}
    for entity in TXN_ENTITIES:
        idx = _indices(entity, cycles)
        # voided documents of the voidable entities (a few in these cycles at most): add some from further on
        idx += [i for i in _indices(entity, range(3000, 3400)) if gen.is_voided(i)][:4]
        special["voided"] += sum(map(gen.is_voided, idx))
        special["deleted"] += sum(map(gen.is_deleted, idx))
        many = Renderer(gen).data_many(idx)
        one = Renderer(gen)
        assert many == [one.data(i) for i in idx], entity
        for i, data in zip(idx, many):  # and the contract: the dict path's bytes
            if not gen.is_deleted(i):
                assert data == encode(gen._build(i)), (entity, i)
        # a page read backwards, and single documents, go through the same runs
        assert Renderer(gen).data_many(idx[::-1]) == many[::-1], entity
        assert Renderer(gen).data_many(idx[5:6]) == many[5:6], entity
    assert special["voided"] >= 12 and special["deleted"] >= 3  # both kinds were compared


def test_data_many_of_mixed_entities_equals_per_document_rendering():
    realm = _large_realm()
    gen = realm.gen
    idx = list(range(60 * CYCLE, 70 * CYCLE))  # every slot of cycles 60-69: runs of one document
    idx += _indices("SalesReceipt", range(100, 140)) + _indices("Invoice", range(100, 140))
    one = Renderer(gen)
    assert Renderer(gen).data_many(idx) == [one.data(i) for i in idx]


def _small_cache(realm, maxsize: int):
    """The realm's byte cache with room for ``maxsize`` documents (to see evictions)."""
    realm._base_bytes = lru_cache(maxsize=maxsize)(realm._ahead.__getitem__)


def test_page_reads_in_runs_keep_the_byte_cache_as_reads_one_at_a_time():
    """``base_bytes_many`` asks the cache for the page's documents in order, so hits, misses, contents
    and recency are those of one-at-a-time reads; documents already cached in the middle of a run
    are served from the cache."""
    in_runs, one_by_one = _large_realm(), _large_realm()
    for realm in (in_runs, one_by_one):
        _small_cache(realm, 700)
    for entity in ("SalesReceipt", "Invoice", "Estimate", "Payment", "Deposit", "Bill", "Purchase"):
        arr = in_runs.base_live(entity)
        warm = list(arr[1000:1400:3]) + list(arr[1450:1460])  # cached before the page
        page = list(arr[1000:1500])
        later = list(arr[900:1600:7])  # what is still cached afterwards, probed the same way
        for realm in (in_runs, one_by_one):
            for i in warm:
                realm._base_bytes(i)
        got = in_runs.base_bytes_many(page)
        want = [one_by_one._base_bytes(i) for i in page]
        assert got == want, entity
        assert in_runs._base_bytes.cache_info() == one_by_one._base_bytes.cache_info(), entity
        assert [in_runs._base_bytes(i) for i in later] == [one_by_one._base_bytes(i) for i in later]
        assert in_runs._base_bytes.cache_info() == one_by_one._base_bytes.cache_info(), entity
    assert in_runs._page_run.page is None and not in_runs._ahead  # nothing of a page is kept once it is read


def test_page_of_a_demo_realm_without_renderer_reads_the_cache():
    store = Store(1, "demo", 42, as_of=AS_OF)
    realm = store.realm(store.realms()[0])
    assert realm.renderer is None
    idx = list(realm.base_live("SalesReceipt")[:50])
    assert realm.base_bytes_many(idx) == [encode(realm.gen.doc(i)) for i in idx]


def test_served_query_pages_of_a_large_realm_are_the_documents_bytes(qbo_sandbox_factory):
    """Pages served over HTTP (``_query_response`` -> ``base_bytes_many``, the next-page prefetch on, so a
    prefetch thread reads runs beside the request's) hold exactly the dict path's bytes, in order."""
    sb = qbo_sandbox_factory(realms=1, size="large", seed=42)
    realm_id = sb.realm_ids()[0]
    realm = sb.sandbox.store.realm(realm_id)
    api = sb.api(realm_id)
    for entity in ("SalesReceipt", "Invoice", "Payment", "Deposit"):
        arr = realm.base_live(entity)
        for page in (3, 4, 3):  # the second read of page 3 comes from the byte cache
            r = api.query(f"SELECT * FROM {entity} ORDERBY Metadata.LastUpdatedTime "
                          f"STARTPOSITION {page * 1000 + 1} MAXRESULTS 1000")
            assert r.status_code == 200, r.text
            want = b",".join(encode(realm.gen._build(i)) for i in arr[page * 1000:(page + 1) * 1000])
            assert want in r.content, (entity, page)
    assert any(realm.gen.is_voided(i) for i in realm.base_live("SalesReceipt")[3000:5000])
