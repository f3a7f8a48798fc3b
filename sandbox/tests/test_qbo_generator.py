"""The generated company: determinism, balanced double entry, linked balances, lazy large size."""
from __future__ import annotations

from decimal import Decimal

import pytest

from qbo_sandbox import ledger
from qbo_sandbox.generator import CYCLE
from qbo_sandbox.store import Store
from qbo_sandbox import query

AS_OF = 1_780_000_000.0


def test_same_seed_same_bytes_other_seed_other_data():
    a, b, c = (Store(1, "demo", s, as_of=AS_OF) for s in (11, 11, 12))
    ra, rb, rc = (s.realm(s.realms()[0]) for s in (a, b, c))
    assert ra.id == rb.id != rc.id
    for i in range(0, ra.gen.N, 97):
        assert ra._base_bytes(i) == rb._base_bytes(i)
    assert any(ra._base_bytes(i) != rc._base_bytes(i) for i in range(50))
    assert [x.data for x in ra.iter_recs("Customer")] == [x.data for x in rb.iter_recs("Customer")]


def test_every_transaction_balances_and_links_are_consistent():
    store = Store(1, "demo", 21, as_of=AS_OF)
    rid = store.realms()[0]
    realm = store.realm(rid)
    docs = {e: list(store.iter_entities(rid, e)) for e in ledger.POSTING_ENTITIES}
    chart = ledger.Chart(store.iter_entities(rid, "Account"), store.iter_entities(rid, "Item"),
                         store.iter_entities(rid, "TaxRate"), store.iter_entities(rid, "TaxAgency"))
    chart.payment_accounts = {(e, t["Id"]): t["DepositToAccountRef"]["value"]
                              for e in ("Payment", "SalesReceipt") for t in docs[e]}
    n_posted = 0
    for entity, objs in docs.items():
        for t in objs:
            posts = ledger.derive_postings(chart, entity, t)  # raises LedgerImbalance if unbalanced
            n_posted += bool(posts)
            lines = [ln for ln in t.get("Line", []) if ln.get("DetailType") != "SubTotalLineDetail"]
            if entity in ("Invoice", "Bill", "Purchase", "VendorCredit", "CreditMemo", "RefundReceipt",
                          "SalesReceipt", "Deposit"):
                total = sum((Decimal(str(ln["Amount"])) * (-1 if ln.get("DetailType") == "DiscountLineDetail"
                                                          else 1) for ln in lines), Decimal(0))
                total += Decimal(str((t.get("TxnTaxDetail") or {}).get("TotalTax", 0)))
                assert total == Decimal(str(t["TotalAmt"])), (entity, t["Id"])
            if "HomeTotalAmt" in t:
                assert Decimal(str(t["HomeTotalAmt"])) == (Decimal(str(t["TotalAmt"])) *
                                                           Decimal(str(t["ExchangeRate"]))).quantize(Decimal("0.01"))
    assert n_posted > 3000
    # Invoice Balance = TotalAmt − payments linked to it.
    paid = {}
    for p in docs["Payment"]:
        for ln in p["Line"]:
            for link in ln["LinkedTxn"]:
                paid[link["TxnId"]] = paid.get(link["TxnId"], Decimal(0)) + Decimal(str(ln["Amount"]))
    for inv in docs["Invoice"]:
        assert Decimal(str(inv["Balance"])) == Decimal(str(inv["TotalAmt"])) - paid.get(inv["Id"], Decimal(0))
    # Variety the tap and reports rely on.
    kinds = {p["PaymentType"] for p in docs["Purchase"]}
    assert kinds == {"Cash", "Check", "CreditCard"}
    assert any("ExchangeRate" in i for i in docs["Invoice"])
    assert any(i.get("PrivateNote") == "Voided" for i in docs["Invoice"] + docs["SalesReceipt"])
    assert any(c.get("ParentRef") for c in store.iter_entities(rid, "Customer"))
    assert any(a.get("SubAccount") for a in store.iter_entities(rid, "Account"))
    assert any(ln.get("SalesItemLineDetail", {}).get("ClassRef") for i in docs["Invoice"] for ln in i["Line"])
    assert all("DepartmentRef" in i for i in docs["Invoice"])
    assert any(i.get("CustomField", [{}])[0].get("StringValue") for i in docs["Invoice"])
    # Account balances are the ledger's: the trial balance nets to zero.
    total = Decimal(0)
    for a in store.iter_entities(rid, "Account"):
        sign = 1 if a["Classification"] in ("Asset", "Expense") else -1
        total += sign * Decimal(str(a["CurrentBalance"]))
    assert total == 0
    assert realm.gen.N == 150 * CYCLE


def test_large_size_is_lazy_and_over_a_million_lines():
    store = Store(1, "large", 8, as_of=AS_OF)
    realm = store.realm(store.realms()[0])
    g = realm.gen
    # Count lines through the generator's line-count function: nothing is materialized.
    lines = sum(g.line_count(i) for i in range(g.N) if not g.is_deleted(i))
    assert lines >= 1_000_000
    for i in range(0, g.N, 50_021):
        assert len(g.doc(i).get("Line", [])) == g.line_count(i)
    # COUNT(*) and the last page come from index arithmetic.
    n = query.execute(realm, query.parse("select count(*) from Invoice")).count
    assert n == len(realm.base_live("Invoice")) > 80_000
    last = query.execute(realm, query.parse(
        f"select * from Invoice orderby Metadata.LastUpdatedTime startposition {n - 9} maxresults 1000"))
    assert len(last.rows) == 10
    # Only the bounded LRU cache holds documents (a few, here): memory does not grow with the size.
    assert g.doc.cache_info().currsize <= 30_000 and g.doc.cache_info().currsize < g.N / 10


def test_document_streams_are_pure_disjoint_and_bounded():
    """A document's random words (``generator.stream_words``) are its own slice of a block: the same
    whatever was drawn or cached before, distinct from its neighbours', never longer than its width;
    ``Rng`` draws from them with the formulas ``render.py`` inlines."""
    from qbo_sandbox import generator as g
    rseed = 42 * 10_000_019
    docs = [(kind, i) for kind in (g.DOC, g.LINES) for i in (0, 1, 2, CYCLE, CYCLE + 1, 63 * CYCLE, 64 * CYCLE,
                                                                  5000 * CYCLE + 3)]
    first = {d: list(g.stream_words(rseed, *d)) for d in docs}
    g._blocks.clear()
    again = {d: list(g.stream_words(rseed, *d)) for d in reversed(docs)}
    assert again == first  # no dependence on the block cache or on the order of reads
    for (kind, i), words in first.items():
        assert len(words) == g._WIDTHS[kind][i % CYCLE]
        assert all(0 <= w < 2**32 for w in words)
    assert first[(g.DOC, 0)] != first[(g.DOC, CYCLE)] != first[(g.DOC, 64 * CYCLE)]  # next cycle, next block
    assert first[(g.DOC, 0)][:3] != first[(g.LINES, 0)][:3]
    words = [0, 2**31, 2**32 - 1, 123456789]
    rng = g.Rng(iter(words * 2))
    assert [rng.randrange(10) for _ in words] == [w * 10 >> 32 for w in words]
    assert [rng.random() for _ in words] == [w * 2.0**-32 for w in words]
    with pytest.raises(StopIteration):  # reading past a document's words fails loudly
        rng.random()
