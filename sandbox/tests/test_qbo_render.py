"""The fast serving path writes exactly the bytes of the dict path (``wire.encode(gen.doc(i))``)."""
from __future__ import annotations

import datetime as dt
import random

from qbo_sandbox import timefmt
from qbo_sandbox.generator import CYCLE, SLOTS
from qbo_sandbox.render import Renderer
from qbo_sandbox.store import Store
from qbo_sandbox.wire import PACIFIC, encode

AS_OF = 1_780_000_000.0


def _check(gen, indices) -> dict[str, int]:
    renderer = Renderer(gen)
    rendered: dict[str, int] = {}
    for i in indices:
        data = renderer.bytes(i)
        if data is None:  # no fast renderer for this one: the dict path serves it
            continue
        assert data == encode(gen._build(i)), (SLOTS[i % CYCLE], i)
        rendered[SLOTS[i % CYCLE]] = rendered.get(SLOTS[i % CYCLE], 0) + 1
    return rendered


def test_rendered_bytes_equal_encoded_documents_demo_every_document():
    store = Store(2, "demo", 42, as_of=AS_OF)
    for rid in store.realms():
        gen = store.realm(rid).gen
        rendered = _check(gen, range(gen.N))
        assert set(rendered) == set(Renderer(gen).builders)  # every entity with a renderer was compared
        assert rendered["Invoice"] > 700 and rendered["Payment"] > 500  # all but the voided ones


def test_rendered_bytes_equal_encoded_documents_large_sample():
    store = Store(1, "large", 7, as_of=AS_OF)
    gen = store.realm(store.realms()[0]).gen
    rng = random.Random(3)
    sample = list(range(3 * CYCLE)) + rng.sample(range(gen.N), 4000) + list(range(gen.N - 2 * CYCLE, gen.N))
    assert _check(gen, sample).get("Invoice", 0) > 500


def test_served_bytes_come_from_the_renderer_and_match():
    store = Store(1, "large", 42, as_of=AS_OF)
    realm = store.realm(store.realms()[0])
    arr = realm.base_live("Invoice")
    for i in arr[1000:1100]:
        assert realm._base_bytes(i) == encode(realm.gen.doc(i))
    assert realm.gen.doc.cache_info().currsize <= 100  # served invoices built no dicts (only these)


def test_fast_timestamps_equal_zoneinfo_isoformat():
    rng = random.Random(5)
    stamps = [rng.randint(1_500_000_000, 1_900_000_000) for _ in range(20_000)]
    for year in (2024, 2025, 2026):  # around both DST switches, every 30 minutes
        for month in (3, 11):
            base = int(dt.datetime(year, month, 1, tzinfo=dt.timezone.utc).timestamp())
            stamps += range(base, base + 14 * 86400, 1800)
    for t in stamps:
        local = dt.datetime.fromtimestamp(t, PACIFIC)
        assert timefmt.timestamp(t) == local.isoformat()
        assert timefmt.local_date(t) == local.date().isoformat()
    assert timefmt.add_days("2024-02-28", 2) == "2024-03-01"


def test_linked_sums_kept_after_rendering_give_the_same_bytes_as_recomputing_them():
    """Payments and deposits read their linked documents' sums from ``Renderer.sums`` when those were
    rendered before, else re-draw them: both ways give the dict path's bytes."""
    store = Store(1, "large", 42, as_of=AS_OF)
    gen = store.realm(store.realms()[0]).gen
    cycles = range(500, 540)
    linking = [c * CYCLE + p for c in cycles for p, e in enumerate(SLOTS) if e in ("Payment", "Deposit")]
    cold_payments, cold_deposits = Renderer(gen), Renderer(gen)  # nothing they link to was rendered before
    cold_bytes = {i: (cold_deposits if SLOTS[i % CYCLE] == "Deposit" else cold_payments).bytes(i) for i in linking}
    assert cold_deposits.sums.deposit_input(cycles[0], 0) is not None  # kept from the summaries it drew
    warm = Renderer(gen)
    for c in cycles:  # the linked documents first: their sums are kept
        for p, e in enumerate(SLOTS):
            if e in ("Invoice", "Payment", "SalesReceipt"):
                warm.bytes(c * CYCLE + p)
    assert warm.sums.invoice(cycles[0], 0) is not None and warm.sums.deposit_input(cycles[0], 2) is not None
    for i in linking:
        expected = encode(gen._build(i)) if not gen.is_voided(i) else None
        if cold_bytes[i] is None:
            continue
        assert cold_bytes[i] == expected, i
        assert warm.bytes(i) == expected, i


def test_sums_kept_from_the_balances_pass_dicts_give_the_same_bytes():
    """The balances pass hands every invoice, payment and sales receipt dict to the renderer: payments
    and deposits then render from those sums alone (no re-drawing) and still match the dict path."""
    store = Store(1, "demo", 42, as_of=AS_OF)
    gen = store.realm(store.realms()[0]).gen
    renderer = Renderer(gen)
    for i in range(gen.N):
        if SLOTS[i % CYCLE] in ("Invoice", "Payment", "SalesReceipt") and not gen.is_deleted(i):
            renderer.keep_sums_from_document(i, gen.doc(i))
    drawn = []
    for name in ("_sales_lines", "_sales_sums", "_keep_deposit_inputs", "_keep_invoice_sums"):  # every re-draw
        real = getattr(renderer, name)
        setattr(renderer, name, lambda *a, _real=real, **kw: drawn.append(a) or _real(*a, **kw))
    checked = 0
    for i in range(gen.N):
        if SLOTS[i % CYCLE] in ("Payment", "Deposit") and not gen.is_voided(i):
            data = renderer.bytes(i)
            if data is not None:
                assert data == encode(gen._build(i)), i
                checked += 1
    assert drawn == [] and checked > 700  # every linked sum came from the kept dicts


def test_deposit_inputs_kept_for_a_block_equal_the_per_document_summaries():
    """A cold deposit keeps the inputs of its block and the next ones (``_keep_deposit_inputs``: invoices
    0-1, payments 0-1, sales receipt 0 of up to ``_DEPOSIT_KEEP_BLOCKS`` blocks of 64 cycles, in numpy
    array operations over the word blocks): the same values as the per-document summaries
    (``_payment_parts`` / ``_receipt_parts`` with ``text=False``), also where some were kept before (they
    are left as they are) and for the last, partial block; nothing before the block or past its range."""
    from qbo_sandbox.generator import BLOCK_CYCLES, SLOT_POS
    from qbo_sandbox.render import _DEPOSIT_KEEP_BLOCKS
    store = Store(1, "large", 42, as_of=AS_OF)
    gen = store.realm(store.realms()[0]).gen
    last_block = (gen.n_cycles - 1) // BLOCK_CYCLES
    span = _DEPOSIT_KEEP_BLOCKS * BLOCK_CYCLES
    for block in (7, last_block - 1):
        first = block * BLOCK_CYCLES
        cycles = range(first, min(first + span, gen.n_cycles))
        reference, batch = Renderer(gen), Renderer(gen)
        for c in cycles[::5]:  # some invoices and deposit inputs kept before the block is filled
            batch.bytes(c * CYCLE + SLOT_POS["Invoice"][1])
            batch.bytes(c * CYCLE + SLOT_POS["SalesReceipt"][0])
        batch._keep_deposit_inputs(first + BLOCK_CYCLES // 2)
        for c in list(cycles[::3]) + [cycles[-1]]:
            for j, i in enumerate((c * CYCLE + SLOT_POS["Payment"][0], c * CYCLE + SLOT_POS["Payment"][1],
                                   c * CYCLE + SLOT_POS["SalesReceipt"][0])):
                want = (reference._payment_parts if j < 2 else reference._receipt_parts)(i, False)[1]
                assert batch.sums.deposit_input_cents(c, j) == want, (c, j)
                if j < 2:
                    got, want_inv = batch.sums.invoice_cents(c, j), reference.sums.invoice_cents(c, j)
                    assert got[:2] + (got[2].id, got[3]) == want_inv[:2] + (want_inv[2].id, want_inv[3]), (c, j)
        for c in (first - 1, first + span):  # the range: from the block's first cycle, 16 blocks
            if 0 <= c < gen.n_cycles:
                assert batch.sums.deposit_input_cents(c, 0) is None, c
        for i in (cycles[0] * CYCLE + SLOT_POS["Deposit"][0], cycles[-1] * CYCLE + SLOT_POS["Deposit"][0]):
            assert Renderer(gen).bytes(i) == batch.bytes(i) == encode(gen._build(i)), i


def test_deposit_inputs_of_a_whole_realm_equal_the_per_document_summaries():
    """Every block of a realm (both daylight-saving switches of its 400 days inside some block, the
    local date of a payment the later of its own and its invoice's), a sample of cycles each: the kept
    inputs equal the per-document summaries, and deposits rendered from them the dict path's bytes."""
    from qbo_sandbox.generator import BLOCK_CYCLES, DOC, SLOT_POS, stream_words
    store = Store(1, "large", 11, as_of=AS_OF)
    gen = store.realm(store.realms()[0]).gen
    batch, reference = Renderer(gen), Renderer(gen)
    for c in range(0, gen.n_cycles, BLOCK_CYCLES):
        if batch.sums.deposit_input_cents(c, 0) is None:
            batch._keep_deposit_inputs(c)
    later_invoice = 0
    for c in range(0, gen.n_cycles, 13):
        for j, i in enumerate((c * CYCLE + SLOT_POS["Payment"][0], c * CYCLE + SLOT_POS["Payment"][1],
                               c * CYCLE + SLOT_POS["SalesReceipt"][0])):
            want = (reference._payment_parts if j < 2 else reference._receipt_parts)(i, False)[1]
            assert batch.sums.deposit_input_cents(c, j) == want, (c, j)
            if j < 2:
                own_date = reference._txn_date(i, stream_words(gen.rseed, DOC, i).__next__)
                later_invoice += want[3] == reference.sums.invoice_cents(c, j)[3] != own_date
        if c % 91 == 0:
            i = c * CYCLE + SLOT_POS["Deposit"][0]
            if not gen.is_deleted(i):
                assert batch.bytes(i) == encode(gen._build(i)), i
    assert later_invoice > 0  # some payments took their invoice's (later) date


def test_invoice_sums_kept_for_a_block_equal_the_per_document_summaries():
    """A cold payment keeps the sums of its block's invoices from its cycle on at once
    (``_keep_invoice_sums``: invoices 0-3, converted estimates and foreign customers included, read by
    index from the word blocks): the same values as ``_invoice_parts(i, text=False)``, also where
    some were kept before, for the last partial block; cycles before the first one stay unknown."""
    from qbo_sandbox.generator import BLOCK_CYCLES, SLOT_POS
    store = Store(1, "large", 42, as_of=AS_OF)
    gen = store.realm(store.realms()[0]).gen
    last_block = (gen.n_cycles - 1) // BLOCK_CYCLES
    kinds = set()
    for block in (7, last_block):
        cycles = range(block * BLOCK_CYCLES, min((block + 1) * BLOCK_CYCLES, gen.n_cycles))
        first = cycles[len(cycles) // 3]
        reference, batch = Renderer(gen), Renderer(gen)
        for c in cycles[::5]:  # some invoices kept before the block is filled
            batch.bytes(c * CYCLE + SLOT_POS["Invoice"][2])
        batch._keep_invoice_sums(first)
        for c in cycles:
            for k, pos in enumerate(SLOT_POS["Invoice"][:batch.sums.inv_per]):  # the paid ones: 0-3
                i = c * CYCLE + pos
                got = batch.sums.invoice_cents(c, k)
                if c < first and not (k == 2 and (c - cycles[0]) % 5 == 0):
                    assert got is None, (c, k)
                    continue
                want = reference._invoice_parts(i, False)[1][:4]
                assert got[:2] + (got[2].id, got[3]) == want[:2] + (want[2].id, want[3]), (c, k)
                kinds.add((k == 2 and gen.estimate_converted(c), got[2].currency != "USD", got[1] > 0))
        for c in (first, cycles[-1]):
            for pos in SLOT_POS["Payment"]:
                i = c * CYCLE + pos
                assert Renderer(gen).bytes(i) == batch.bytes(i) == encode(gen._build(i)), i
    assert len(kinds) >= 6  # converted or not, home or foreign currency, paid in full or not


def test_bill_sums_in_cents_equal_the_bill_summaries():
    """What a bill payment copies (``_bill_sums``: int cents, no Decimal) equals ``_bill_parts(i,
    text=False)`` for bills paid in full or in part, home and foreign currency, item and account lines."""
    from decimal import Decimal
    from qbo_sandbox.generator import SLOT_POS
    store = Store(1, "large", 42, as_of=AS_OF)
    gen = store.realm(store.realms()[0]).gen
    renderer = Renderer(gen)
    kinds = set()
    for c in list(range(0, 300)) + list(range(gen.n_cycles - 50, gen.n_cycles)):
        for pos in SLOT_POS["Bill"]:
            i = c * CYCLE + pos
            total, balance, vend, date = renderer._bill_sums(i)
            want = renderer._bill_parts(i, False)[1]
            assert (Decimal(total) / 100, Decimal(balance) / 100, vend, date) == want, i
            kinds.add((vend.currency != "USD", 0 < balance < total))
    assert len(kinds) == 4
