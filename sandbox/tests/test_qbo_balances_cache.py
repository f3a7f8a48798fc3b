"""The balances pass saved under the cache directory and loaded on the next start (large company;
exercised here on the demo company with persistence switched on)."""
from __future__ import annotations

from decimal import Decimal

from qbo_sandbox import balances_cache
from qbo_sandbox.store import Store

AS_OF = 1_780_000_000.0


def _realm(seed: int = 42, persist: bool = True):
    store = Store(1, "demo", seed, as_of=AS_OF)
    realm = store.realm(store.realms()[0])
    realm.persist_balances = persist
    return store, realm


def _shown(store, realm) -> dict:
    """What the API shows of the pass: account, customer and vendor balances."""
    out = {}
    for entity in ("Account", "Customer", "Vendor"):
        for o in store.iter_entities(realm.id, entity):
            out[(entity, o["Id"])] = (o.get("CurrentBalance"), o.get("CurrentBalanceWithSubAccounts"),
                                      o.get("Balance"), o.get("BalanceWithJobs"))
    return out


def test_second_start_loads_the_saved_pass_with_identical_results(tmp_path, monkeypatch):
    monkeypatch.setenv("QBO_SANDBOX_CACHE_DIR", str(tmp_path))
    reference_store, reference = _realm(persist=False)
    reference.ensure_balances()
    assert not list(tmp_path.iterdir())  # persistence off: nothing written

    first_store, first = _realm()
    first.ensure_balances()
    files = list(tmp_path.glob("balances-*.pickle"))
    assert len(files) == 1 and not list(tmp_path.glob(".balances-*"))  # renamed into place, no temp left

    second_store, second = _realm()
    calls = []
    monkeypatch.setattr("qbo_sandbox.balances._contrib", lambda *a: calls.append(a))  # would recompute
    second.ensure_balances()
    assert calls == []  # loaded, not recomputed
    assert second._balances.state() == reference._balances.state()
    shown = _shown(second_store, second)
    assert shown == _shown(reference_store, reference)
    assert any(v[0] not in (None, 0, Decimal(0)) for (e, _), v in shown.items() if e == "Account")


def test_changed_realms_and_other_seeds_do_not_use_the_saved_pass(tmp_path, monkeypatch):
    monkeypatch.setenv("QBO_SANDBOX_CACHE_DIR", str(tmp_path))
    _store, first = _realm()
    first.ensure_balances()
    other_store, other = _realm(seed=43)
    assert balances_cache.load(other) is None  # another seed: another key
    _s, changed = _realm()
    changed.deleted[("Invoice", "100")] = 0.0  # a change made before the pass: part of its result
    loads = []
    monkeypatch.setattr(balances_cache, "load", lambda realm: loads.append(realm))
    changed.ensure_balances()
    assert loads == [] and len(list(tmp_path.glob("balances-*.pickle"))) == 1


def test_a_damaged_file_is_recomputed_and_rewritten(tmp_path, monkeypatch):
    monkeypatch.setenv("QBO_SANDBOX_CACHE_DIR", str(tmp_path))
    ref_store, ref = _realm(persist=False)
    ref.ensure_balances()
    _s, first = _realm()
    path = balances_cache._path(first)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a pickle")
    first.ensure_balances()
    assert first._balances.state() == ref._balances.state()
    assert balances_cache.load(first) is not None  # rewritten


def test_empty_cache_dir_setting_turns_persistence_off(tmp_path, monkeypatch):
    monkeypatch.setenv("QBO_SANDBOX_CACHE_DIR", "")
    assert balances_cache.cache_dir() is None
    _s, realm = _realm()
    realm.ensure_balances()
    assert balances_cache.load(realm) is None


def test_the_saved_pass_carries_the_sums_payments_and_deposits_copy(tmp_path, monkeypatch):
    from qbo_sandbox.generator import CYCLE, SLOTS
    from qbo_sandbox.render import Renderer
    from qbo_sandbox.wire import encode
    monkeypatch.setenv("QBO_SANDBOX_CACHE_DIR", str(tmp_path))
    _s1, first = _realm()
    first.renderer = Renderer(first.gen)  # demo serves dicts; large has a renderer: give it one here
    first.ensure_balances()
    assert first.renderer.sums.deposit_input(3, 2) is not None  # filled by the pass
    _s2, second = _realm()
    second.renderer = Renderer(second.gen)
    second.ensure_balances()
    assert second.renderer.sums.arrays() == first.renderer.sums.arrays()
    for i in range(40 * CYCLE, 60 * CYCLE):
        if SLOTS[i % CYCLE] in ("Payment", "Deposit") and not second.gen.is_voided(i):
            assert second.renderer.bytes(i) == encode(second.gen._build(i)), i


def test_a_fresh_realm_loads_the_saved_sums_before_any_pass(tmp_path, monkeypatch):
    """The sums payments and deposits copy are their own small file, loaded at start (large) without
    the pass: a fresh server's first deposit page then re-draws nothing it copies — same bytes."""
    from qbo_sandbox.generator import CYCLE, SLOTS
    from qbo_sandbox.render import Renderer
    from qbo_sandbox.wire import encode
    monkeypatch.setenv("QBO_SANDBOX_CACHE_DIR", str(tmp_path))
    _s1, first = _realm()
    first.renderer = Renderer(first.gen)
    first.ensure_balances()
    assert len(list(tmp_path.glob("linksums-*.pickle"))) == 1
    assert balances_cache.load(first, "linksums")["key"] == balances_cache.key(first)

    _s2, second = _realm()
    second.renderer = Renderer(second.gen)
    assert second.load_saved_link_sums() is True and second.load_saved_link_sums() is False  # once
    assert second.renderer.sums.arrays() == first.renderer.sums.arrays()
    drawn = []
    for name in ("_invoice_parts", "_payment_parts", "_receipt_parts", "_keep_deposit_inputs"):  # re-draws
        monkeypatch.setattr(second.renderer, name, lambda *a, _n=name: drawn.append(_n))
    for i in range(40 * CYCLE, 60 * CYCLE):
        if SLOTS[i % CYCLE] == "Deposit":
            assert second.renderer.bytes(i) == encode(second.gen._build(i)), i
    assert drawn == []

    _s3, changed = _realm()
    changed.renderer = Renderer(changed.gen)
    changed.deleted[("Invoice", "100")] = 0.0  # a changed realm loads nothing saved
    assert changed.load_saved_link_sums() is False
    _s4, other = _realm(seed=43)
    other.renderer = Renderer(other.gen)
    assert other.load_saved_link_sums() is False  # another seed: another key, no file
    balances_cache._path(first, "linksums").write_bytes(b"damaged")
    _s5, damaged = _realm()
    damaged.renderer = Renderer(damaged.gen)
    assert damaged.load_saved_link_sums() is False  # unreadable: the sums are computed as they come
