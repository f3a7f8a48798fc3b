"""Serialized base documents rendered straight from the generator's random draws.

``TxnGenerator.doc(i)`` builds a dict and ``wire.encode`` serializes it: ~200 µs an invoice, so an
uncached 1000-row page cost ~0.2 s of CPU. Serving only needs the bytes, so for every transaction
entity this module makes the *same* random draws in the *same* order as the dict builders in
``generator.py`` and writes the JSON text directly from pre-serialized pieces (customer refs and
addresses, item refs, class refs, ...) and per-(item, quantity) amounts.

Documents that copy from others (a payment from its invoice, a bill payment from its bill, a deposit
from the cycle's undeposited payments and first sales receipt) need only a few sums of those: the
``*_parts(i, text=False)`` variants make the linked document's draws up to what the sums need and
write no text, and what they (or the full renderers, or the balances pass) computed is kept in
fixed-size arrays (``linksums.py``) for the next document that copies it. A document's draws are
the words of its streams (``generator.stream_words``: slices of Mersenne Twister blocks seeded once
per 64 consecutive cycles of a slot, so a page of one entity seeds ~16 generators per kind, not
one or two per document).

Amounts that are sums of cent amounts (lines, tax lines, totals, balances, what payments and deposits
copy) are kept as int cents and written from a table (``_ct``): no Decimal arithmetic or formatting on
the hot path. A cold deposit keeps the inputs of its block and the next ones at once, ~1,000 cycles
(``_keep_deposit_inputs``: numpy array operations over the word blocks, exact ints and the same float64
steps as the per-document code; one at a time in Python this was ~2/3 of a cold deposit page).

Contract: ``Renderer(gen).bytes(i) == wire.encode(gen.doc(i))`` for every base index, or ``None``
when the document has no fast renderer (voided purchases): the caller then encodes the dict;
``Renderer.data(i)`` is what the API serves (``bytes(i)`` or that encoding): the store's byte cache.
``Renderer.data_many(indices)`` is ``[data(i) for i in indices]`` with consecutive documents of one entity
in one block rendered by one call (``_run_builders``: invoices, estimates, sales receipts, credit memos,
refund receipts, deposits, bills, purchases, payments, purchase orders; ``tests/test_qbo_render_runs.py``);
the store's page path reads through it. (Not in runs: bill payments, vendor credits, journal entries,
transfers, time activities: one call a document.)
``tests/test_qbo_render.py`` checks the equality for every demo document and a large sample (with
and without kept sums), ``tests/test_qbo_golden_bytes.py`` pins digests of both; any change to a
builder in ``generator.py`` must be mirrored here (the tests fail otherwise).

Draws are inlined on a stream's ``nx`` (its words' ``__next__``) with ``generator.Rng``'s formulas:
``below(n)`` (``randrange(n)``, ``choice``'s index, ``randint(a, b) - a`` with n = b - a + 1) is
``nx() * n >> 32`` and ``random()`` is ``nx() * WORD``; ``uniform(a, b)`` is ``a + (b - a) * random()``.
"""
from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

from . import company as co
from .generator import (BLOCK_CYCLES, CYCLE, DOC, LINES, SLOT_ORD, SLOT_POS, SLOTS, WORD, _norm, _nv, stream_block,
                        stream_slice, stream_words)
from .linksums import UNKNOWN, LinkSums, cents, from_cents
from .timefmt import _HOURS, _MMSS, _hour, add_days
from .wire import CENT, encode, money

ONE = Decimal(1)
ZERO = Decimal(0)


#: ``int(t)`` of a non-negative float: the same int, without ``int``'s type call (~600 instructions,
#: several a document); ``int(h * n)`` of a hash ``h = x / 2**32`` is ``x * n >> 32`` (the product is exact)
_floor = math.floor


def _p(x: float) -> int:
    """The word bound of ``random() < x``: ``word * 2**-32 < x`` exactly when ``word < ceil(x * 2**32)``
    (scaling by a power of two is exact), so a draw compares ints and makes no float."""
    return math.ceil(x * 4294967296.0)


_P2, _P3, _P4, _P5, _P6 = (_p(x) for x in (0.2, 0.3, 0.4, 0.5, 0.6))
_P_003, _P_08, _P_025, _P_005 = _p(0.03), _p(0.8), _p(0.25), _p(0.05)
_P_085, _P_07, _P_008 = _p(0.85), _p(0.7), _p(0.08)  # a bill paid in full; its bill payment a check; a credit  # _hash01(...) < 0.03 / 0.8 as int comparisons of the hash


def _hash01(i: int, salted: int) -> float:
    """``TxnGenerator._h(i, salt)`` with ``salted = gen.salt + salt * 40503`` (a method call less)."""
    x = (i * 2654435761 + salted) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 73244475) & 0xFFFFFFFF
    x ^= x >> 16
    return x / 4294967296.0


def _j(obj) -> str:
    """JSON text of a small constant object, exactly as ``wire.encode`` writes it."""
    return encode(obj).decode()


def _m(d: Decimal) -> str:
    """``generator._m`` as JSON text: cents, a bare 0 for zero (``wire.money``'s rounding)."""
    d = d.quantize(CENT, ROUND_HALF_UP)
    return str(d) if d else "0"


def _n_cents(d: Decimal) -> str:
    """``_n`` of a non-negative value already rounded to cents: ``12.30`` → ``12.3``, ``12.00`` → ``12``."""
    t = str(d)
    if "." not in t:  # an exact int (a sum of no amounts): nothing to strip
        return t
    if t.endswith(".00"):
        return t[:-3]
    return t[:-1] if t.endswith("0") else t


def _text(d: Decimal) -> str:
    """``_m`` of a value already rounded to cents."""
    return str(d) if d else "0"


#: ".00" … ".99": the cents part of a Decimal of exponent -2 as ``str`` writes it
_CENTS = [f".{c:02d}" for c in range(100)]
#: the cents part as ``_norm`` writes it: "" (whole), ".3" (30 cents), ".35"
_CENTS_NORM = ["" if not c else f".{c // 10}" if not c % 10 else f".{c:02d}" for c in range(100)]


def _ct(c: int) -> str:
    """``_m``/``_text`` of a non-negative amount given in int cents: 1234 → ``12.34``, 1200 → ``12.00``,
    0 → ``0`` (sums of cent amounts are kept as ints: no Decimal arithmetic or formatting)."""
    return str(c // 100) + _CENTS[c % 100] if c else "0"


def _c2(c: int) -> str:
    """``f"{money(x):.2f}"`` of a non-negative amount in int cents (0 → ``0.00``)."""
    return str(c // 100) + _CENTS[c % 100]


def _n(d) -> str:
    """``generator._norm`` as JSON text."""
    return str(_norm(d))


_NV_A, _rest = _j(_nv("name@@", "value@@")).split('"name@@"')
_NV_B, _NV_C = _rest.split('"value@@"')


def _nv_text(name: str, value: str) -> str:
    """``generator._nv(name, value)`` as JSON text (the constant parts encoded once)."""
    return _NV_A + encode(name).decode() + _NV_B + encode(value).decode() + _NV_C


_NV_TXN_ID = _NV_A + '"txnId"' + _NV_B + '"'
_NV_OPEN_BALANCE = '"' + _NV_C + "," + _NV_A + '"txnOpenBalance"' + _NV_B + '"'
_NV_REF_NUMBER = '"' + _NV_C + "," + _NV_A + '"txnReferenceNumber"' + _NV_B + '"'
_TXN_TYPE_1, _TXN_TYPE_3, _TXN_TYPE_11 = (_nv_text("TxnType", t) for t in ("1", "3", "11"))  # a purchase's
_PURCHASE_TYPES = ("Cash", "Check", "CreditCard")  # a purchase's PaymentType by its ordinal
_PURCHASE_NOTES = ("Shop supplies", "Emergency repair", "Crew lunch", "Fuel")
_DOC_NUMBER = '"DocNumber":"'

_CF_WORK_ORDER = '[{"DefinitionId":"1","Name":"Work Order #","Type":"StringType"'
_CF_SALES_REP = tuple(f',{{"DefinitionId":"2","Name":"Sales Rep","Type":"StringType","StringValue":"{rep}"}}'
                      for rep in ("North", "South", "Key Accounts", "Export"))
_INVOICE_START = ('{"AllowIPNPayment":false,"AllowOnlinePayment":false,"AllowOnlineCreditCardPayment":false,'
                  '"AllowOnlineACHPayment":false,')
_PM_VALUE = {m: '{"value":"' + m + '"}' for m in ("2", "3", "4", "6")}  # a payment's PaymentMethodRef text
_LINE_START = [f'{{"Id":"{n}","LineNum":{n},"Description":' for n in range(1, 64)]
_SERVICE_DATE = ',"ServiceDate":"%s"'
_BLOCK_SPAN = CYCLE * BLOCK_CYCLES  # base indices of one block of BLOCK_CYCLES cycles: i // _BLOCK_SPAN
_PAY_METHODS = ("2", "2", "3", "4", "6")  # a payment's PaymentMethodRef value by its draw (below(5))
_PAY_METHOD_TEXTS = [_PM_VALUE[m] for m in _PAY_METHODS]  # a payment's method by its draw (below(5))
_CHECK_NUM, _Q = ',"CheckNum":"', '"'  # a deposit line's CheckNum (a payment's PaymentRefNum)
_UNIFORM_01_1 = 1.0 - 0.1  # uniform(0.1, 1.0)'s b - a, the float Python folds it to (``_txn_date``)
#: blocks of deposit inputs a cold deposit keeps at once (``Renderer._keep_deposit_inputs``): 1,024 cycles,
#: about a page of deposits (one a cycle), so a page's numpy operations run on ~1,000 rows at a time
_DEPOSIT_KEEP_BLOCKS = 16


def _numpy():
    """numpy, imported on first use (the block-wide deposit inputs: ``Renderer._keep_deposit_inputs``)."""
    import numpy
    return numpy
_VOIDED_NOTE = ',"PrivateNote":"Voided"}'  # generator._void adds it last (no voidable document has one)
_HOME_TOTAL_0, _HOME_BALANCE_0 = ',"HomeTotalAmt":0', ',"HomeBalance":0'  # a voided foreign invoice's


class _Customer:
    __slots__ = ("id", "ref", "bill", "ship", "email", "taxable", "tax_code", "currency", "currency_ref", "term_ref",
                 "term_days", "invoice_tail", "bill_email", "tax_rates", "sales_tail", "receipt_after",
                 "refund_after")

    def __init__(self, gen, c: dict):
        self.id = c["Id"]
        self.ref = _j(co.ref(c["Id"], c["DisplayName"]))
        self.bill = _j(c["BillAddr"])
        self.ship = _j(c["ShipAddr"]) if "ShipAddr" in c else None
        self.email = _j(c["PrimaryEmailAddr"]) if "PrimaryEmailAddr" in c else None
        self.bill_email = "" if self.email is None else ',"BillEmail":' + self.email
        self.taxable = c["Taxable"]
        self.tax_code = (c.get("DefaultTaxCodeRef") or {}).get("value")
        self.currency = c["CurrencyRef"]["value"]
        self.currency_ref = _j(co.CURRENCIES[self.currency])
        term = (c.get("SalesTermRef") or {}).get("value", "3")
        tname, self.term_days = gen.term_days[term]
        self.term_ref = _j(co.ref(term, tname))
        # an invoice's text from CustomerRef up to DueDate's value: the same for all of its invoices
        ar = "" if self.currency == "USD" else ',"ARAccountRef":' + _j(gen.acct[co.A_AR[self.currency]])
        self.invoice_tail = (',"CustomerRef":' + self.ref + ',"CustomerMemo":{"value":"Thank you for your business!"},'
                             '"BillAddr":' + self.bill + ("" if self.ship is None else ',"ShipAddr":' + self.ship)
                             + ar + ',"SalesTermRef":' + self.term_ref + ',"DueDate":"')
        # a receipt's or estimate's text from CustomerRef up to TotalAmt's value; a receipt's from after
        # TotalAmt's value up to Balance (a refund receipt has no EmailStatus)
        self.sales_tail = (',"CustomerRef":' + self.ref + ',"CustomerMemo":{"value":"Thank you for your business!"},'
                           '"BillAddr":' + self.bill + ("" if self.ship is None else ',"ShipAddr":' + self.ship)
                           + ',"TotalAmt":')
        self.refund_after = ',"ApplyTaxAfterDiscount":false,"PrintStatus":"NotSet"' + self.bill_email
        self.receipt_after = (',"ApplyTaxAfterDiscount":false,"PrintStatus":"NotSet","EmailStatus":"NotSet"'
                              + self.bill_email)


class _Item:
    __slots__ = ("id", "service", "price", "taxable", "desc", "ref", "lines")

    def __init__(self, gen, item: dict):
        self.id = item["Id"]
        self.service = item["Type"] == "Service"
        self.price = item["UnitPrice"]
        self.taxable = item["Taxable"]
        self.desc = _j(item["Description"])
        self.ref = _j(gen.item_refs[item["Id"]])
        # quantity draw → (amount, text from Description up to ClassRef's value, text from UnitPrice
        # to TaxCodeRef taxable, the same not taxable): [home currency, whole-unit foreign prices]
        self.lines = ([None] * 41, [None] * 13)

    def line(self, foreign: bool, draw: int) -> tuple:
        """The pieces of a sales line of this item and quantity draw (``generator._sales_lines``):
        (amount, head, tail taxable, tail not taxable, amount in cents, and the three texts of the line
        in ``generator._void``'s form: Amount and Qty 0)."""
        hit = self.lines[foreign][draw]
        if hit is not None:
            return hit
        price = self.price
        if foreign:
            price = price.to_integral_value() or ONE
            qty = Decimal(draw)
        else:
            qty = Decimal(draw) if not self.service else Decimal(draw) / 2
        amount = money(price * qty)
        rest = f',"DetailType":"SalesItemLineDetail","SalesItemLineDetail":{{"ItemRef":{self.ref},"ClassRef":'
        tail = f',"UnitPrice":{_n(price)},"Qty":{_n(qty)},"TaxCodeRef":{{"value":'
        void_tail = f',"UnitPrice":{_n(price)},"Qty":0,"TaxCodeRef":{{"value":'
        hit = self.lines[foreign][draw] = (
            amount, f'{self.desc},"Amount":{_m(amount)}{rest}', tail + '"TAX"}', tail + '"NON"}', cents(amount),
            f'{self.desc},"Amount":0{rest}', void_tail + '"TAX"}', void_tail + '"NON"}')
        return hit


class _Vendor:
    __slots__ = ("ref", "entity_ref", "currency", "currency_ref", "term", "term_days", "bill")

    def __init__(self, gen, v: dict):
        self.ref = _j(co.ref(v["Id"], v["DisplayName"]))
        self.bill = _j(v["BillAddr"])
        self.entity_ref = _j({"value": v["Id"], "name": v["DisplayName"], "type": "Vendor"})
        self.currency = v["CurrencyRef"]["value"]
        self.currency_ref = _j(co.CURRENCIES[self.currency])
        self.term = (v.get("TermRef") or {}).get("value", "3")
        self.term_days = gen.term_days[self.term][1]


class _PurchaseItem:
    __slots__ = ("id", "cost", "desc", "ref")

    def __init__(self, gen, item: dict):
        self.id = item["Id"]
        self.cost = item["PurchaseCost"]
        self.desc = _j(item["PurchaseDesc"])
        self.ref = _j(gen.item_refs[item["Id"]])


def _line_sums(tab, n: int, w, p: int) -> tuple[int, int]:
    """(subtotal, taxable) in cents of ``n`` sales lines drawn from words ``w`` from ``p``: only the
    item and quantity words are read (``tab``: a ``Renderer._sum_tabs`` entry)."""
    n_items = len(tab)
    subtotal = taxable = 0
    for _ in range(n):
        step, taxed, mult, off, amounts = tab[w[p] * n_items >> 32]
        amount_c = amounts[(w[p + 1] * mult >> 32) + off]
        p += step
        subtotal += amount_c
        if taxed:
            taxable += amount_c
    return subtotal, taxable


class Renderer:
    """Fast serializers for one generator (one realm); see the module docstring."""

    def __init__(self, gen):
        self.g = gen
        _numpy()  # imported at start (~0.2 s), not inside a first cold deposit page
        c = gen.co
        self.rseed = gen.rseed
        self.all_customers = c.active_customers
        self.usd_customers = c.usd_customers
        self.class_refs = [_j(r) for r in c.class_refs]
        self.dept_refs = [_j(r) for r in c.dept_refs]
        self.sales_items = [_Item(gen, gen.items[iid]) for iid in co.SALES_ITEMS]
        # per sales item, home-currency and foreign: (service, taxable, line pieces by quantity draw),
        # every draw's pieces made up front (~550 lines)
        # [foreign][customer taxable] → per item (service, line taxed, draw multiplier, draw offset, per
        # quantity draw (amount in cents, text from Description to ClassRef's value, text from UnitPrice
        # to the end of TaxCodeRef)); the draw is ``word * mult >> 32`` + offset: randint(1, 12) foreign,
        # randint(2, 24) a service, randint(1, 40) goods
        both = [[self._line_tabs(foreign, cust_taxable) for cust_taxable in (False, True)] for foreign in (False, True)]
        self._sale_tabs = tuple(tuple(t[0] for t in by_taxable) for by_taxable in both)
        self._void_tabs = tuple(tuple(t[1] for t in by_taxable) for by_taxable in both)  # voided documents'
        # the same for summaries: (words a line reads: 4 a service (its ServiceDate draw) else 3, line
        # taxed, multiplier, offset, amount in cents by quantity draw)
        self._sum_tabs = tuple(tuple(
            [(4 if service else 3, taxed, mult, off, [None if p is None else p[0] for p in by_draw])
             for service, taxed, mult, off, by_draw in tab] for tab in tabs) for tabs in self._sale_tabs)
        self._customers: dict[int, _Customer] = {}
        self._amounts: dict[tuple, tuple] = {}  # (item, foreign, draw) → (amount, amount, price, qty texts)
        self._tax: dict[str, dict[int, tuple[str, int]]] = {}  # code → taxable cents → (text, TotalTax)
        self._tax_kept = 0
        self._tax_codes: dict[str, tuple] = {}
        self._rates: dict[tuple, tuple] = {}  # (currency, "YYYY-MM") -> _rate(...)
        self.n_invoice_slots = len(SLOT_POS["Invoice"])
        self.payment_pos = SLOT_POS["Payment"]
        self._invoice_pos = SLOT_POS["Invoice"]
        self._est_pos = SLOT_POS["Estimate"][0]
        self._deposit_pos = SLOT_POS["Deposit"][0]
        # invoices 0-4 of a cycle are paid by its payments 0-4; deposit inputs: payments 0-1, receipt 0
        self.sums = LinkSums(gen.n_cycles, len(SLOT_POS["Payment"]), 3)
        self.ar_refs = {cur: _j(gen.acct[co.A_AR[cur]]) for cur in co.A_AR}
        self.purchase_items = [_PurchaseItem(gen, gen.items[iid]) for iid in co.PURCHASE_ITEMS]
        self._purchase_cents = ([None] * len(self.purchase_items), [None] * len(self.purchase_items))
        self.expense_accounts = [(_j(gen.acct[a]), _j(c.account_names[a].split(":")[-1]))
                                 for a in co.EXPENSE_ACCOUNTS]
        self.all_vendors = c.active_vendors
        self.usd_vendors = c.usd_vendors
        self._vendors: dict[int, _Vendor] = {}
        self.ap_refs = {cur: _j(gen.acct[co.A_AP[cur]]) for cur in co.A_AP}
        self.bank_refs = {"CreditCard": _j(gen.acct[co.A_VISA]), "Cash": _j(gen.acct[co.A_CHECKING]),
                          "Check": _j(gen.acct[co.A_CHECKING])}
        self.pm_refs = {pid: _j(r) for pid, r in gen.pm_refs.items()}
        self.bank_ref_undeposited = _j(gen.acct[co.A_UNDEPOSITED])
        self.discount_ref = _j(gen.acct[co.A_DISCOUNTS])
        # a sales receipt's discount line after its Amount; the end of a receipt's DepositToAccountRef
        self._discount_rest = ('"DetailType":"DiscountLineDetail","DiscountLineDetail":{"PercentBased":true,'
                               '"DiscountPercent":10,"DiscountAccountRef":' + self.discount_ref + '}}')
        self._to_undeposited = ',"DepositToAccountRef":' + self.bank_ref_undeposited + ',"LinkedTxn":'
        self._to_checking = ',"DepositToAccountRef":' + _j(gen.acct[co.A_CHECKING])
        self.n_slots = {e: len(p) for e, p in SLOT_POS.items()}
        self.builders = {"Invoice": self._invoice, "Payment": self._payment, "Bill": self._bill,
                         "Purchase": self._purchase, "SalesReceipt": self._receipt_like,
                         "CreditMemo": self._receipt_like, "RefundReceipt": self._receipt_like,
                         "Estimate": self._estimate, "VendorCredit": self._vendor_credit,
                         "JournalEntry": self._journal_entry, "Transfer": self._transfer,
                         "TimeActivity": self._time_activity, "PurchaseOrder": self._purchase_order,
                         "BillPayment": self._bill_payment, "Deposit": self._deposit}
        self.interest_ref = _j(gen.acct[co.A_INTEREST])
        self.employees = [(_j(co.ref(e["Id"], e["DisplayName"])), _j(e.get("BillRate", 0)))
                          for e in c.active_employees]
        self.hours_item_ref = _j(gen.item_refs["1"])
        self.je_accounts = [(_j(gen.acct[d]), _j(gen.acct[c_]), m) for d, c_, m in (
            (co.A_DEPRECIATION, co.A_ACCUM_DEPR, "Depreciation"), (co.A_WAGES, co.A_PAYROLL_LIAB, "Payroll accrual"),
            (co.A_SAVINGS, co.A_CHECKING, "Cash sweep"))]
        self.checking_ref, self.savings_ref = _j(gen.acct[co.A_CHECKING]), _j(gen.acct[co.A_SAVINGS])
        self._slot_builders = [self.builders.get(e) for e in SLOTS]
        # the slots ``generator.is_voided`` can say yes for (Invoice 4, SalesReceipt 1, Purchase 1)
        self._voidable = frozenset(SLOT_POS[e][k] for e, k in (("Invoice", 4), ("SalesReceipt", 1), ("Purchase", 1)))
        # voidable slots with a renderer of the voided form: ``fn(i, True)`` (the others encode the dict)
        self._void_builders = {SLOT_POS["SalesReceipt"][1]: self._receipt_like, SLOT_POS["Invoice"][4]: self._invoice}
        # entity -> renderer of a run of its documents in one block (``data_many``): a list of texts, None
        # for a document it has no fast renderer for
        self._run_builders = {"SalesReceipt": self._receipts_run, "CreditMemo": self._receipts_run,
                              "RefundReceipt": self._receipts_run, "Estimate": self._estimates_run,
                              "Invoice": self._invoices_run, "Deposit": self._deposits_run, "Bill": self._bills_run,
                              "Purchase": self._purchases_run, "Payment": self._payments_run,
                              "PurchaseOrder": self._purchase_orders_run}
        self._start, self._step, self._salt = gen.start, gen.step, gen.salt
        # generator.n_lines per slot: (base, multiplier of the line-count hash)
        self._n_lines_rule = [(1, 5) if e in ("Invoice", "Estimate", "SalesReceipt") else
                              (1, 3) if e in ("Bill", "PurchaseOrder", "Purchase", "CreditMemo", "RefundReceipt",
                                              "VendorCredit") else
                              (2, 3) if e == "JournalEntry" else (1, 0) for e in SLOTS]
        # customer and vendor pieces by pool index, made up front (~5 ms for large's ~500 customers):
        # one object per customer or vendor (``_customer``/``_vendor`` keep them by dict identity)
        self._usd_pieces = [self._customer(c) for c in self.usd_customers]
        self._all_pieces = [self._customer(c) for c in self.all_customers]
        self._usd_vendor_pieces = [self._vendor(v) for v in self.usd_vendors]
        self._all_vendor_pieces = [self._vendor(v) for v in self.all_vendors]

    def _line_tabs(self, foreign: bool, cust_taxable: bool) -> tuple[list, list]:
        """Per sales item: (service, line taxed, draw multiplier, draw offset, per quantity draw (amount
        in cents, text from Description to ClassRef's value, text from UnitPrice to the end of
        TaxCodeRef)); the draw is ``word * mult >> 32`` + offset: randint(1, 12) foreign, randint(2, 24)
        a service, randint(1, 40) goods. The same for voided documents (``generator._void``: Amount and
        Qty 0; the amount in cents is the drawn one). (Pieces joined per class up front measured no
        fewer instructions: a line is one f-string either way.)"""
        tab, void_tab = [], []
        for it in self.sales_items:
            taxed = it.taxable and cust_taxable
            mult, off = (12, 1) if foreign else ((23, 2) if it.service else (40, 1))
            by_draw, void_by_draw = [None] * (off + mult), [None] * (off + mult)
            for d in range(off, off + mult):
                _amount, head, tail_tax, tail_non, amount_c, void_head, void_tax, void_non = it.line(foreign, d)
                by_draw[d] = (amount_c, head, tail_tax if taxed else tail_non)
                void_by_draw[d] = (amount_c, void_head, void_tax if taxed else void_non)
            tab.append((it.service, taxed, mult, off, by_draw))
            void_tab.append((it.service, taxed, mult, off, void_by_draw))
        return tab, void_tab

    def _void_tab(self, foreign: bool, cust_taxable: bool) -> list:
        """``_sale_tabs``'s table for voided documents."""
        return self._void_tabs[foreign][cust_taxable]

    # -- the kept sums of linked documents (``linksums.py``) ------------------------------------------
    def keep_sums_from_document(self, i: int, doc: dict) -> None:
        """Keep what payments and deposits copy from base document ``i`` given as its dict (the
        balances pass builds every dict anyway): the same values the renderer computes."""
        cycle, pos = divmod(i, CYCLE)
        entity, k = SLOTS[pos], SLOT_ORD[pos]
        if entity == "Invoice":
            if k < self.sums.inv_per and not self.g.is_voided(i):
                cust = self._customer(self._customers_by_id()[doc["CustomerRef"]["value"]])
                self.sums.put_invoice(cycle, k, money(doc["TotalAmt"]), money(doc["Balance"]), cust, doc["TxnDate"])
        elif (entity == "Payment" and k < 2) or (entity == "SalesReceipt" and k == 0):
            method = doc["PaymentMethodRef"]["value"]
            pm_text = '{"value":"' + method + '"}' if entity == "Payment" else self.pm_refs[method]
            self.sums.put_deposit_input(cycle, k if entity == "Payment" else 2, money(doc["TotalAmt"]), pm_text,
                                        doc.get("PaymentRefNum"), doc["TxnDate"])

    def _customers_by_id(self) -> dict[str, dict]:
        by_id = getattr(self, "_by_id", None)
        if by_id is None:
            by_id = self._by_id = {c["Id"]: c for c in self.all_customers}
        return by_id

    def link_sums_state(self) -> dict:
        """The kept sums as plain picklable values (customers by Id)."""
        s = self.sums
        return {"arrays": s.arrays(), "dates": list(s.dates.values),
                "objects": [("customer", v.id) if isinstance(v, _Customer) else v for v in s.objects.values]}

    def load_link_sums(self, state: dict) -> None:
        by_id = self._customers_by_id()
        objects = [self._customer(by_id[v[1]]) if isinstance(v, tuple) else v for v in state["objects"]]
        self.sums.restore(state["arrays"], objects, state["dates"])

    def bytes(self, i: int) -> bytes | None:
        pos = i % CYCLE
        fn = self._slot_builders[pos]
        if fn is None:
            return None
        if pos in self._voidable and self.g.is_voided(i):
            fn = self._void_builders.get(pos)
            return None if fn is None else fn(i, True).encode()
        text = fn(i)
        return None if text is None else text.encode()

    def data(self, i: int) -> bytes:
        """What the API serves for base document ``i``: ``bytes(i)``, else (no fast renderer: voided
        documents) ``wire.encode`` of the generator's dict. The store's byte cache calls this directly
        (one call a document less than through ``bytes``)."""
        pos = i % CYCLE
        fn = self._slot_builders[pos]
        if fn is not None:
            if pos not in self._voidable or not self.g.is_voided(i):
                text = fn(i)
                if text is not None:
                    return text.encode()
            else:
                fn = self._void_builders.get(pos)
                if fn is not None:
                    return fn(i, True).encode()
        return encode(self.g.doc(i))

    def data_many(self, indices) -> list[bytes]:
        """``[self.data(i) for i in indices]``, the same bytes: consecutive documents of one entity in one
        block of ``BLOCK_CYCLES`` cycles (a page's rows) go to the entity's run renderer
        (``_run_builders``: the word blocks, tables and attributes loaded once a run, no call per
        document), the others one at a time. Every document is rendered (no cache here: the store's
        byte cache decides what to render)."""
        out = []
        n = len(indices)
        span = _BLOCK_SPAN
        run_builders, data = self._run_builders, self.data
        a = 0
        while a < n:
            i = indices[a]
            entity = SLOTS[i % CYCLE]
            fn = run_builders.get(entity)
            if fn is None:
                out.append(data(i))
                a += 1
                continue
            b = i // span
            z = a + 1
            while z < n and indices[z] // span == b and SLOTS[indices[z] % CYCLE] == entity:
                z += 1
            run = indices[a:z]
            texts = fn(run)
            if None in texts:  # a document without a fast renderer: its dict encoded
                at = len(out)
                missing = []
                while None in texts:
                    m = texts.index(None)
                    texts[m] = ""
                    missing.append(m)
                out += map(str.encode, texts)
                for m in missing:
                    out[at + m] = encode(self.g.doc(run[m]))
            else:
                out += map(str.encode, texts)
            a = z
        return out

    # -- shared pieces -------------------------------------------------------------------------
    def _customer(self, c: dict) -> _Customer:
        p = self._customers.get(id(c))
        if p is None:
            p = self._customers[id(c)] = _Customer(self.g, c)
            # the rates of its documents' tax lines (``_tax_rates``), none when they carry no tax
            p.tax_rates = self._tax_rates(p.tax_code) if p.tax_code and p.taxable else ()
        return p

    def _pick_customer(self, nx, usd_only: bool) -> _Customer:
        """The pieces of ``pool[below(len(pool))]`` (``usd_customers`` or ``all_customers``); ``nx``: the
        next word of the document's stream."""
        pieces = self._usd_pieces if usd_only else self._all_pieces
        return pieces[nx() * len(pieces) >> 32]

    def _n_lines(self, i: int) -> int:
        """``gen.n_lines(i)`` for any base document but an invoice (``_invoice_parts`` has its own)."""
        base, mult = self._n_lines_rule[i % CYCLE]
        return base + _floor(_hash01(i, self._salt + 81006) * mult) if mult else base

    def _pick_dept(self, nx) -> str:
        """``dept_refs[below(len(dept_refs))]``."""
        return self.dept_refs[nx() * len(self.dept_refs) >> 32]

    def _pick_vendor(self, nx, usd_only: bool) -> _Vendor:
        """The pieces of ``pool[below(len(pool))]`` (``usd_vendors`` or ``all_vendors``)."""
        pieces = self._usd_vendor_pieces if usd_only else self._all_vendor_pieces
        return pieces[nx() * len(pieces) >> 32]

    def _head(self, i: int, nx) -> tuple[str, str]:
        """(``"domain":…,"MetaData":{…}`` text, TxnDate) — ``generator._head`` (``time_of``,
        the draws and ``timefmt`` inlined: same values)."""
        step = self._step
        upd = _floor(self._start + (i + 1) * step)
        if nx() < _P2:
            create = _floor(upd - (0.1 + (1.0 - 0.1) * (nx() * WORD)) * step)  # uniform(0.1, 1.0)
            sync = "1"
        else:
            create, sync = upd, "0"
        back = nx() * 3 >> 32  # randint(0, 2)
        h, r = divmod(create - back * 86400, 3600)
        v = _HOURS.get(h) or _hour(h)
        txn_date = v[2]
        h, r = divmod(upd, 3600)
        v = _HOURS.get(h) or _hour(h)
        updated = v[0] + _MMSS[r] + v[1]
        if create == upd:  # 4 in 5 were never edited
            created = updated
        else:
            h, r = divmod(create, 3600)
            v = _HOURS.get(h) or _hour(h)
            created = v[0] + _MMSS[r] + v[1]
        return (f'"domain":"QBO","sparse":false,"Id":"{100 + i}","SyncToken":"{sync}","MetaData":'
                f'{{"CreateTime":"{created}","LastUpdatedTime":"{updated}"}}'), txn_date

    def _custom_fields(self, nx, i: int) -> str:
        """``generator._custom_fields`` as text: Work Order # (a number 3 in 5), Sales Rep (1 in 2)."""
        wo = f',"StringValue":"WO-{10000 + i // 7}"}}' if nx() < _P6 else "}"
        if nx() < _P5:
            return f'{_CF_WORK_ORDER}{wo}{_CF_SALES_REP[nx() * 4 >> 32]}]'
        return f'{_CF_WORK_ORDER}{wo}]'


    @staticmethod
    def _skip_custom_fields(nx) -> None:
        """The draws of ``_custom_fields`` without the text (summaries of linked documents)."""
        nx()
        if nx() < _P5:
            nx()

    def _txn_date(self, i: int, nx) -> str:
        """The TxnDate ``_head`` draws, without the header text (summaries of linked documents)."""
        step = self._step
        upd = _floor(self._start + (i + 1) * step)  # g.time_of(i)
        create = _floor(upd - (0.1 + (1.0 - 0.1) * (nx() * WORD)) * step) if nx() < _P2 else upd
        back = nx() * 3 >> 32  # randint(0, 2)
        h = (create - back * 86400) // 3600  # local_date
        return (_HOURS.get(h) or _hour(h))[2]

    def _amount(self, item: _Item, foreign: bool, draw: int) -> tuple:
        key = (item.id, foreign, draw)
        hit = self._amounts.get(key)
        if hit is None:
            price = item.price
            if foreign:
                price = price.to_integral_value() or ONE
                qty = Decimal(draw)
            else:
                qty = Decimal(draw) if not item.service else Decimal(draw) / 2
            amount = money(price * qty)
            hit = self._amounts[key] = (amount, _m(amount), _n(price), _n(qty))
        return hit

    def _sales_lines(self, key: int, cust: _Customer, n: int, txn_date: str, link: str,
                     tab: list | None = None) -> tuple[list, int, int]:
        """``generator._sales_lines`` (+ the caller's ServiceDate fill and per-line LinkedTxn) →
        (line texts, subtotal in cents, taxable amount in cents). A line reads words item, quantity,
        class and, a service, ServiceDate-or-not (indexed: ``below(n)`` = ``word * n >> 32``).
        ``tab``: another line table (``_void_tab``) than the customer's."""
        w = stream_slice(self.rseed, LINES, key)
        if tab is None:
            tab = self._sale_tabs[cust.currency != "USD"][cust.taxable]
        classes = self.class_refs
        n_items, n_classes = len(tab), len(classes)
        parts, subtotal, taxable, p = [], 0, 0, 0
        service_date = None
        for n_ in range(n):
            service, taxed, mult, off, by_draw = tab[w[p] * n_items >> 32]
            amount_c, head, tail = by_draw[(w[p + 1] * mult >> 32) + off]
            cls = classes[w[p + 2] * n_classes >> 32]
            if service:
                if w[p + 3] < _P3:
                    if service_date is None:
                        service_date = _SERVICE_DATE % txn_date
                    parts.append(f'{_LINE_START[n_]}{head}{cls}{tail}{service_date}}}{link}}}')
                else:
                    parts.append(f'{_LINE_START[n_]}{head}{cls}{tail}}}{link}}}')
                p += 4
            else:
                parts.append(f'{_LINE_START[n_]}{head}{cls}{tail}}}{link}}}')
                p += 3
            subtotal += amount_c
            if taxed:
                taxable += amount_c
        return parts, subtotal, taxable

    def _sales_sums(self, key: int, cust: _Customer, n: int) -> tuple[int, int]:
        """``_sales_lines``'s (subtotal, taxable) in cents from the same words, without texts (the
        summaries a payment or deposit copies): only the item and quantity words are read."""
        return _line_sums(self._sum_tabs[cust.currency != "USD"][cust.taxable], n,
                          stream_slice(self.rseed, LINES, key), 0)

    def _rate(self, currency: str, txn_date: str) -> tuple:
        """(100 x ``g.rate`` as an int, or None if it has more than 2 decimals; the ExchangeRate text;
        the rate) of a foreign currency at a date, kept by (currency, month): ``generator.rate`` depends
        on the year and month only."""
        rate = self.g.rate(currency, txn_date)
        r100 = rate * 100
        hit = self._rates[(currency, txn_date[:7])] = (
            int(r100) if r100 == r100.to_integral_value() else None, f',"ExchangeRate":{_n(rate)}', rate)
        return hit

    def _tax_rates(self, code: str) -> tuple:
        """((n, 100 * d) with TaxPercent = n / d exactly, text of a tax line between its Amount and
        NetAmountTaxable), …) of a code."""
        hit = self._tax_codes.get(code)
        if hit is None:
            co_ = self.g.co
            hit = self._tax_codes[code] = tuple(
                (co_.tax_rates[rid][1].as_integer_ratio()[0], 100 * co_.tax_rates[rid][1].as_integer_ratio()[1],
                 f',"DetailType":"TaxLineDetail","TaxLineDetail":{{"TaxRateRef":{{"value":"{rid}"}},'
                 f'"PercentBased":true,"TaxPercent":{_n(co_.tax_rates[rid][1])},"NetAmountTaxable":')
                for rid in co_.tax_codes[code])
        return hit

    def _tax_total(self, cust: _Customer, taxable: int) -> int:
        """``TotalTax`` of ``_tax_detail`` in cents, without its text (summaries of linked documents)."""
        code = cust.tax_code
        if not code or not cust.taxable:
            return 0
        total = 0
        for n, d, _t in self._tax_codes.get(code) or self._tax_rates(code):
            total += (2 * taxable * n + d) // (2 * d)
        return total

    def _tax_detail(self, cust: _Customer, taxable: int) -> tuple[str, int]:
        """``generator._tax_detail`` as text and TotalTax in cents, from the taxable amount in cents:
        each tax line is ``money(taxable * pct / 100)`` (ROUND_HALF_UP of a non-negative exact product:
        in cents ``floor((2 * taxable * n + 100 d) / (200 d))`` for pct = n / d), in int arithmetic."""
        code = cust.tax_code
        if not code or not cust.taxable:
            return '{"TotalTax":0}', 0
        by_taxable = self._tax.get(code)
        if by_taxable is None:
            by_taxable = self._tax[code] = {}
        hit = by_taxable.get(taxable)
        if hit is None:
            # (cents texts inlined; amounts >= 0; the usual two-rate code written without a loop)
            tail = f"{taxable // 100}{_CENTS[taxable % 100]}}}}}" if taxable else "0}}"
            rates = cust.tax_rates
            if len(rates) == 2:
                (n1, d1, mid1), (n2, d2, mid2) = rates
                a1 = (2 * taxable * n1 + d1) // (2 * d1)
                a2 = (2 * taxable * n2 + d2) // (2 * d2)
                total = a1 + a2
                lines = (f'{{"Amount":{f"{a1 // 100}{_CENTS[a1 % 100]}" if a1 else "0"}{mid1}{tail},'
                         f'{{"Amount":{f"{a2 // 100}{_CENTS[a2 % 100]}" if a2 else "0"}{mid2}{tail}')
            else:
                total = 0
                parts = []
                for n, d, mid in rates:
                    amt = (2 * taxable * n + d) // (2 * d)
                    total += amt
                    parts.append(f'{{"Amount":{_ct(amt)}{mid}{tail}')
                lines = ",".join(parts)
            # TotalTax as _norm writes it: 12.30 -> 12.3, 12.00 -> 12
            hit = (f'{{"TxnTaxCodeRef":{{"value":"{code}"}},"TotalTax":{total // 100}{_CENTS_NORM[total % 100]},'
                   f'"TaxLine":[{lines}]}}', total)
            if self._tax_kept < 20_000:  # ~1/3 of large's invoices hit (one-line ones repeat); ~15 MB at most
                self._tax_kept += 1
                by_taxable[taxable] = hit
        return hit

    def _vendor(self, v: dict) -> _Vendor:
        p = self._vendors.get(id(v))
        if p is None:
            p = self._vendors[id(v)] = _Vendor(self.g, v)
        return p

    def _expense_lines(self, nx, n: int, foreign: bool, item_based_ok: bool = True, with_customer: bool = True,
                       text: bool = True):
        """``generator._expense_lines`` as text → (line texts, total in int cents: every line amount is a
        cent amount); ``text=False``: the same draws and total, no texts."""
        classes, n_classes = self.class_refs, len(self.class_refs)
        parts, total = [], 0
        for n_ in range(n):
            if item_based_ok and nx() < _P4:
                item = self.purchase_items[nx() * len(self.purchase_items) >> 32]
                draw = 5 + (nx() * 196 >> 32)
                key = ("p", item.id, foreign, draw)
                hit = self._amounts.get(key)
                if hit is None:
                    cost = item.cost
                    if foreign:
                        cost = cost.to_integral_value() or ONE
                    qty = Decimal(draw)
                    amount = money(cost * qty)
                    hit = self._amounts[key] = (cents(amount), _m(amount), _n(cost), _n(qty))
                amount, amount_t, cost_t, qty_t = hit
                cls = classes[nx() * n_classes >> 32]
                if text:
                    parts.append(
                        f'{{"Id":"{n_ + 1}","LineNum":{n_ + 1},"Description":{item.desc},"Amount":{amount_t},'
                        f'"DetailType":"ItemBasedExpenseLineDetail","ItemBasedExpenseLineDetail":{{"BillableStatus":'
                        f'"NotBillable","ItemRef":{item.ref},"ClassRef":{cls},"UnitPrice":{cost_t},"Qty":{qty_t},'
                        f'"TaxCodeRef":{{"value":"NON"}}}}}}')
            else:
                acct_ref, acct_desc = self.expense_accounts[nx() * len(self.expense_accounts) >> 32]
                # whole units foreign (Decimal(20 + d)), else money(Decimal(2000 + d) / 100): in cents
                amount = (20 + (nx() * 3981 >> 32)) * 100 if foreign else 2000 + (nx() * 398001 >> 32)
                if with_customer and nx() < _P2:
                    c = self._pick_customer(nx, True)
                    cls = classes[nx() * n_classes >> 32]
                    det = (f'{{"CustomerRef":{c.ref},"BillableStatus":"Billable","ClassRef":'
                           f'{cls},"AccountRef":{acct_ref},"TaxCodeRef":{{"value":"NON"}}}}') if text else ""
                else:
                    cls = classes[nx() * n_classes >> 32]
                    det = (f'{{"ClassRef":{cls},"AccountRef":{acct_ref},'
                           f'"BillableStatus":"NotBillable","TaxCodeRef":{{"value":"NON"}}}}') if text else ""
                if text:
                    parts.append(f'{{"Id":"{n_ + 1}","LineNum":{n_ + 1},"Description":{acct_desc},"Amount":'
                                 f'{_ct(amount)},"DetailType":"AccountBasedExpenseLineDetail",'
                                 f'"AccountBasedExpenseLineDetail":{det}}}')
            total += amount
        return parts, total

    # -- entities ------------------------------------------------------------------------------
    def _receipt_like(self, i: int, voided: bool = False) -> str:
        """``generator._receipt_like`` of one document as JSON text (``_receipts_run``; whether it is
        voided is decided there, from its hash)."""
        return self._receipts_run((i,))[0]

    def _receipts_run(self, run) -> list[str]:
        """``generator._receipt_like`` as JSON text: SalesReceipt, CreditMemo, RefundReceipt, for a run of
        documents of one entity in one block of ``BLOCK_CYCLES`` cycles (a page's consecutive documents:
        the word blocks, tables and attributes are loaded once a run; ``_head``, ``_sales_lines`` and the
        cached ``_tax_detail`` inlined). A voided document (a sales receipt of ordinal 1: no LinkedTxn,
        no RemainingCredit) in ``generator._void``'s form: amounts 0, no tax lines, ``PrivateNote`` last.
        One f-string a document; the customer's constant pieces (``_Customer.sales_tail``…) made once."""
        i0 = run[0]
        b = i0 // CYCLE // BLOCK_CYCLES
        c0 = b * BLOCK_CYCLES
        entity = SLOTS[i0 % CYCLE]
        is_sr, is_cm = entity == "SalesReceipt", entity == "CreditMemo"
        rseed = self.rseed
        words = {}  # slot -> (doc words, width, line words, width)
        start, step, salt = self._start, self._step, self._salt
        s_void, s_lines, s_discount = salt + 40503, salt + 81006, salt + 162012
        usd = self._usd_pieces
        n_usd = len(usd)
        tabs, void_tab = self._sale_tabs[False], self._void_tab
        classes, depts = self.class_refs, self.dept_refs
        n_classes, n_depts = len(classes), len(depts)
        n_slots = self.n_slots[entity]
        hours, mmss = _HOURS, _MMSS
        tax_by_code, tax_detail = self._tax, self._tax_detail
        pm_refs, discount_rest = self.pm_refs, self._discount_rest
        to_checking, deposit_pos = self._to_checking, self._deposit_pos
        sums = self.sums
        out = []
        for i in run:
            cycle, pos = divmod(i, CYCLE)
            k = SLOT_ORD[pos]
            ws = words.get(pos)
            if ws is None:
                ws = words[pos] = stream_block(rseed, DOC, pos, b) + stream_block(rseed, LINES, pos, b)
            w, width, lw, lwidth = ws
            j = cycle - c0
            p = j * width
            voided = False
            if is_sr and k == 1:  # g.is_voided(i): _h(i, 1) < 0.05
                x = (i * 2654435761 + s_void) & 0xFFFFFFFF
                x ^= x >> 16
                x = (x * 73244475) & 0xFFFFFFFF
                voided = x ^ (x >> 16) < _P_005
            # _head: g.time_of(i), edited 1 in 5 (the edit time uniform(0.1, 1.0) steps before), days back
            upd = _floor(start + (i + 1) * step)
            if w[p] < _P2:
                create = _floor(upd - (0.1 + (1.0 - 0.1) * (w[p + 1] * WORD)) * step)
                sync = "1"
                p += 2
            else:
                create, sync = upd, "0"
                p += 1
            h = (create - (w[p] * 3 >> 32) * 86400) // 3600
            txn_date = (hours.get(h) or _hour(h))[2]
            h, r = divmod(upd, 3600)
            v = hours.get(h) or _hour(h)
            updated = v[0] + mmss[r] + v[1]
            if create == upd:
                created = updated
            else:
                h, r = divmod(create, 3600)
                v = hours.get(h) or _hour(h)
                created = v[0] + mmss[r] + v[1]
            cust = usd[w[p + 1] * n_usd >> 32]
            p += 2
            # _sales_lines: n_lines(i) = base + int(_h(i, 2) * mult); words item, quantity, class, a
            # service's ServiceDate-or-not
            x = (i * 2654435761 + s_lines) & 0xFFFFFFFF
            x ^= x >> 16
            x = (x * 73244475) & 0xFFFFFFFF
            x ^= x >> 16
            base_n, mult = (1, 5) if is_sr else (1, 3)
            tab = void_tab(False, cust.taxable) if voided else tabs[cust.taxable]
            n_items = len(tab)
            q = j * lwidth
            lines, subtotal, taxable = [], 0, 0
            service_date = None
            for n_ in range(base_n + (x * mult >> 32)):
                service, taxed, mult_q, off, by_draw = tab[lw[q] * n_items >> 32]
                amount_c, head, tail = by_draw[(lw[q + 1] * mult_q >> 32) + off]
                cls = classes[lw[q + 2] * n_classes >> 32]
                if service:
                    if lw[q + 3] < _P3:
                        if service_date is None:
                            service_date = _SERVICE_DATE % txn_date
                        lines.append(f'{_LINE_START[n_]}{head}{cls}{tail}{service_date}}}}}')
                    else:
                        lines.append(f'{_LINE_START[n_]}{head}{cls}{tail}}}}}')
                    q += 4
                else:
                    lines.append(f'{_LINE_START[n_]}{head}{cls}{tail}}}}}')
                    q += 3
                subtotal += amount_c
                if taxed:
                    taxable += amount_c
            # _custom_fields: Work Order # (a number 3 in 5), Sales Rep (1 in 2)
            wo = f',"StringValue":"WO-{10000 + i // 7}"}}' if w[p] < _P6 else "}"
            if w[p + 1] < _P5:
                custom = f'{_CF_WORK_ORDER}{wo}{_CF_SALES_REP[w[p + 2] * 4 >> 32]}]'
                p += 3
            else:
                custom = f'{_CF_WORK_ORDER}{wo}]'
                p += 2
            dept = depts[w[p] * n_depts >> 32]
            p += 1
            # subtotal, discount, total in int cents (the discount: money(subtotal * 0.1), half up); subtotal > 0
            discount = 0
            if is_sr:
                x = (i * 2654435761 + s_discount) & 0xFFFFFFFF  # g._has_discount(i): _h(i, 4) < 0.25
                x ^= x >> 16
                x = (x * 73244475) & 0xFFFFFFFF
                if x ^ (x >> 16) < _P_025:
                    discount = (subtotal + 5) // 10
            if voided:
                tax, total = '{"TotalTax":0}', subtotal - discount
                sub_t = total_t = "0"
                disc_line = f',{{"Amount":0,{discount_rest}' if discount else ""
            else:
                if not cust.tax_code or not cust.taxable:
                    tax, total = '{"TotalTax":0}', subtotal - discount
                else:
                    hit = tax_by_code.get(cust.tax_code)
                    hit = hit.get(taxable) if hit is not None else None
                    tax, total_tax = hit if hit is not None else tax_detail(cust, taxable)
                    total = subtotal - discount + total_tax
                sub_t = f"{subtotal // 100}{_CENTS[subtotal % 100]}"
                total_t = f"{total // 100}{_CENTS[total % 100]}" if total else "0"  # _ct(total)
                disc_line = (f',{{"Amount":{discount // 100}{_CENTS[discount % 100]},{discount_rest}'
                             if discount else "")
            if is_cm:  # (never voided)
                end = f'{cust.receipt_after},"Balance":{total_t},"RemainingCredit":{total_t}'
            else:
                method = ("1", "2", "3", "4")[w[p] * 4 >> 32]
                pm_text = pm_refs[method]
                if method == "2":
                    ref_num = str(1000 + (w[p + 1] * 99000 >> 32))
                    ref_t = f',"PaymentRefNum":"{ref_num}"'
                else:
                    ref_num, ref_t = None, ""
                if is_sr and k == 0:  # never voided (only ordinal 1 is voidable)
                    to = (f'{self._to_undeposited}[{{"TxnId":"{100 + cycle * CYCLE + deposit_pos}",'
                          f'"TxnType":"Deposit"}}]')
                    sums.put_deposit_input_cents(cycle, 2, total, pm_text, ref_num, txn_date)
                else:
                    to = to_checking
                end = (f'{cust.receipt_after if is_sr else cust.refund_after},"Balance":0,'
                       f'"PaymentMethodRef":{pm_text}{ref_t}{to}')
            out.append(
                f'{{"domain":"QBO","sparse":false,"Id":"{100 + i}","SyncToken":"{sync}","MetaData":{{"CreateTime":'
                f'"{created}","LastUpdatedTime":"{updated}"}},"CustomField":{custom},"DocNumber":"'
                f'{1001 + cycle * n_slots + k}","TxnDate":"{txn_date}","DepartmentRef":{dept},"CurrencyRef":'
                f'{{"value":"USD","name":"United States Dollar"}},"Line":[{",".join(lines)},{{"Amount":{sub_t},'
                f'"DetailType":"SubTotalLineDetail","SubTotalLineDetail":{{}}}}{disc_line}],"TxnTaxDetail":{tax}'
                f'{cust.sales_tail}{total_t}{end}{_VOIDED_NOTE if voided else "}"}')
        return out

    def _receipt_parts(self, i: int, text: bool = True) -> tuple[str | None, tuple]:
        """``generator._receipt_like``: SalesReceipt, CreditMemo, RefundReceipt (not voided) →
        (JSON text, (TotalAmt, PaymentMethodRef text, PaymentRefNum or None, TxnDate)); ``text=False``:
        (None, those fields) from the draws only (what a deposit copies)."""
        cycle, pos = divmod(i, CYCLE)
        entity, k = SLOTS[pos], SLOT_ORD[pos]
        nx = stream_words(self.rseed, DOC, i).__next__
        summary = self._receipt_summary(i, entity, nx)
        if entity == "SalesReceipt" and k == 0:
            self.sums.put_deposit_input_cents(cycle, 2, *summary)
        return (self._receipt_like(i) if text else None), summary

    def _receipt_summary(self, i: int, entity: str, nx) -> tuple:
        """``_receipt_parts``'s summary (TotalAmt in cents, ...): the same draws in the same order, no text."""
        txn_date = self._txn_date(i, nx)
        cust = self._pick_customer(nx, True)
        subtotal, taxable = self._sales_sums(i, cust, self._n_lines(i))
        self._skip_custom_fields(nx)
        nx()  # the DepartmentRef draw
        discount = 0
        if entity == "SalesReceipt" and _hash01(i, self._salt + 162012) < 0.25:  # g._has_discount(i)
            discount = (subtotal + 5) // 10
        total = subtotal - discount + self._tax_total(cust, taxable)
        if entity == "CreditMemo":
            return total, None, None, txn_date
        method = ("1", "2", "3", "4")[(nx() * 4 >> 32)]
        ref_num = str(1000 + (nx() * 99000 >> 32)) if method == "2" else None
        return total, self.pm_refs[method], ref_num, txn_date

    def _estimate(self, i: int) -> str:
        """``generator._b_Estimate`` of one document (``_estimates_run``)."""
        return self._estimates_run((i,))[0]

    def _estimates_run(self, run) -> list[str]:
        """``generator._b_Estimate`` as JSON text for a run of estimates in one block of ``BLOCK_CYCLES``
        cycles (``data_many``): ``_head``, ``_sales_lines``, ``_custom_fields`` and the cached
        ``_tax_detail`` inlined, the words read by index from the blocks; one f-string a document."""
        pos = self._est_pos
        b = run[0] // CYCLE // BLOCK_CYCLES
        c0 = b * BLOCK_CYCLES
        w, width = stream_block(self.rseed, DOC, pos, b)
        lw, lwidth = stream_block(self.rseed, LINES, pos, b)
        start, step, salt = self._start, self._step, self._salt
        s_deleted, s_converted, s_lines = salt + 40503, salt + 121509, salt + 81006
        every = self._all_pieces
        n_all = len(every)
        tabs = self._sale_tabs
        classes = self.class_refs
        n_classes = len(classes)
        n_slots, inv2 = self.n_slots["Estimate"], self._invoice_pos[2]
        hours, mmss = _HOURS, _MMSS
        tax_by_code, tax_detail = self._tax, self._tax_detail
        rates = self._rates
        out = []
        for i in run:
            cycle = i // CYCLE
            j = cycle - c0
            p = j * width
            # _head: g.time_of(i), edited 1 in 5 (the edit time uniform(0.1, 1.0) steps before), days back
            upd = _floor(start + (i + 1) * step)
            if w[p] < _P2:
                create = _floor(upd - (0.1 + (1.0 - 0.1) * (w[p + 1] * WORD)) * step)
                sync = "1"
                p += 2
            else:
                create, sync = upd, "0"
                p += 1
            h = (create - (w[p] * 3 >> 32) * 86400) // 3600
            txn_date = (hours.get(h) or _hour(h))[2]
            h, r = divmod(upd, 3600)
            v = hours.get(h) or _hour(h)
            updated = v[0] + mmss[r] + v[1]
            if create == upd:
                created = updated
            else:
                h, r = divmod(create, 3600)
                v = hours.get(h) or _hour(h)
                created = v[0] + mmss[r] + v[1]
            cust = every[w[p + 1] * n_all >> 32]
            p += 2
            foreign = cust.currency != "USD"
            # _sales_lines: n_lines(i) = 1 + int(_h(i, 2) * 5)
            x = (i * 2654435761 + s_lines) & 0xFFFFFFFF
            x ^= x >> 16
            x = (x * 73244475) & 0xFFFFFFFF
            x ^= x >> 16
            tab = tabs[foreign][cust.taxable]
            n_items = len(tab)
            q = j * lwidth
            lines, subtotal, taxable = [], 0, 0
            service_date = None
            for n_ in range(1 + (x * 5 >> 32)):
                service, taxed, mult_q, off, by_draw = tab[lw[q] * n_items >> 32]
                amount_c, head, tail = by_draw[(lw[q + 1] * mult_q >> 32) + off]
                cls = classes[lw[q + 2] * n_classes >> 32]
                if service:
                    if lw[q + 3] < _P3:
                        if service_date is None:
                            service_date = _SERVICE_DATE % txn_date
                        lines.append(f'{_LINE_START[n_]}{head}{cls}{tail}{service_date}}}}}')
                    else:
                        lines.append(f'{_LINE_START[n_]}{head}{cls}{tail}}}}}')
                    q += 4
                else:
                    lines.append(f'{_LINE_START[n_]}{head}{cls}{tail}}}}}')
                    q += 3
                subtotal += amount_c
                if taxed:
                    taxable += amount_c
            # _custom_fields: Work Order # (a number 3 in 5), Sales Rep (1 in 2)
            wo = f',"StringValue":"WO-{10000 + i // 7}"}}' if w[p] < _P6 else "}"
            if w[p + 1] < _P5:
                custom = f'{_CF_WORK_ORDER}{wo}{_CF_SALES_REP[w[p + 2] * 4 >> 32]}]'
                p += 3
            else:
                custom = f'{_CF_WORK_ORDER}{wo}]'
                p += 2
            if foreign:
                r100, xrate, rate = rates.get((cust.currency, txn_date[:7])) or self._rate(cust.currency, txn_date)
            else:
                xrate = ""
            # g.estimate_converted(cycle) of this estimate: not deleted (_h(i, 1) >= 0.03) and _h(i, 3) < 0.5
            x = (i * 2654435761 + s_deleted) & 0xFFFFFFFF
            x ^= x >> 16
            x = (x * 73244475) & 0xFFFFFFFF
            converted = False
            if x ^ (x >> 16) >= _P_003:
                x = (i * 2654435761 + s_converted) & 0xFFFFFFFF
                x ^= x >> 16
                x = (x * 73244475) & 0xFFFFFFFF
                converted = x ^ (x >> 16) < _P5
            if converted:
                status = f'"Closed","LinkedTxn":[{{"TxnId":"{100 + cycle * CYCLE + inv2}","TxnType":"Invoice"}}]'
            else:
                status = ('"Pending"', '"Pending"', '"Accepted"', '"Rejected"')[w[p] * 4 >> 32]
                p += 1
            if not cust.tax_code or not cust.taxable:
                tax, total = '{"TotalTax":0}', subtotal
            else:
                hit = tax_by_code.get(cust.tax_code)
                hit = hit.get(taxable) if hit is not None else None
                tax, total_tax = hit if hit is not None else tax_detail(cust, taxable)
                total = subtotal + total_tax
            if not foreign:
                home = ""
            elif r100 is not None:  # money(total * rate) in int cents (half up, >= 0)
                home = f',"HomeTotalAmt":{_ct((total * r100 + 50) // 100)}'
            else:
                home = f',"HomeTotalAmt":{_m(from_cents(total) * rate)}'

            if w[p] < _P5:
                email = f'"EmailSent"{cust.bill_email},"DeliveryInfo":{{"DeliveryType":"Email"}}'
            else:
                email = f'"NotSet"{cust.bill_email}'
            # subtotal and total are > 0 (every line amount is)
            out.append(
                f'{{"domain":"QBO","sparse":false,"Id":"{100 + i}","SyncToken":"{sync}","MetaData":{{"CreateTime":'
                f'"{created}","LastUpdatedTime":"{updated}"}},"CustomField":{custom},"DocNumber":"'
                f'{1001 + cycle * n_slots}","TxnDate":"{txn_date}","CurrencyRef":{cust.currency_ref}{xrate},'
                f'"TxnStatus":{status},"Line":[{",".join(lines)},{{"Amount":{subtotal // 100}{_CENTS[subtotal % 100]},'
                f'"DetailType":"SubTotalLineDetail","SubTotalLineDetail":{{}}}}],"TxnTaxDetail":{tax}'
                f'{cust.sales_tail}{total // 100}{_CENTS[total % 100]}{home},"ApplyTaxAfterDiscount":false,'
                f'"PrintStatus":"NotSet","EmailStatus":{email},"ExpirationDate":"{add_days(txn_date, 30)}"}}')
        return out

    def _vendor_credit(self, i: int) -> str:
        """``generator._b_VendorCredit``."""
        nx = stream_words(self.rseed, DOC, i).__next__
        head, txn_date = self._head(i, nx)
        vend = self._pick_vendor(nx, True)
        lines, total = self._expense_lines(nx, self._n_lines(i), False, item_based_ok=False, with_customer=False)
        total_t = _ct(total)  # int cents
        return (f'{{"VendorRef":{vend.ref},"APAccountRef":{self.ap_refs["USD"]},"TotalAmt":{total_t},'
                f'"Balance":{total_t},{head},"DocNumber":"CR-{1000 + (nx() * 9000 >> 32)}","TxnDate":"{txn_date}",'
                f'"CurrencyRef":{{"value":"USD","name":"United States Dollar"}},"Line":[{",".join(lines)}]}}')

    def _journal_entry(self, i: int) -> str:
        """``generator._b_JournalEntry``."""
        cycle = i // CYCLE
        nx = stream_words(self.rseed, DOC, i).__next__
        head, txn_date = self._head(i, nx)
        n = self._n_lines(i)
        debit, credit, memo = self.je_accounts[cycle % 3]
        parts = [money(Decimal(10000 + (nx() * 890001 >> 32)) / 100) for _ in range(n - 1)]
        classes, depts = self.class_refs, self.dept_refs
        lines = []
        for n_, amt in enumerate(parts):
            cls = classes[(nx() * len(classes) >> 32)]
            dept = depts[(nx() * len(depts) >> 32)]
            lines.append(f'{{"Id":"{n_}","Description":"{memo}","Amount":{_m(amt)},"DetailType":'
                         f'"JournalEntryLineDetail","JournalEntryLineDetail":{{"PostingType":"Debit","AccountRef":'
                         f'{debit},"ClassRef":{cls},"DepartmentRef":{dept}}}}}')
        total = sum(parts, ZERO)
        lines.append(f'{{"Id":"{n - 1}","Description":"{memo}","Amount":{_m(total)},"DetailType":'
                     f'"JournalEntryLineDetail","JournalEntryLineDetail":{{"PostingType":"Credit","AccountRef":'
                     f'{credit}}}}}')
        return (f'{{"Adjustment":false,{head},"DocNumber":"JE-{cycle + 1}","TxnDate":"{txn_date}",'
                f'"CurrencyRef":{{"value":"USD","name":"United States Dollar"}},"PrivateNote":"{memo}",'
                f'"Line":[{",".join(lines)}],"TxnTaxDetail":{{}}}}')

    def _transfer(self, i: int) -> str:
        """``generator._b_Transfer``."""
        nx = stream_words(self.rseed, DOC, i).__next__
        head, txn_date = self._head(i, nx)
        out_ = nx() < _P5
        amount = money(Decimal(500 + (nx() * 19501 >> 32)))
        src, dst = (self.checking_ref, self.savings_ref) if out_ else (self.savings_ref, self.checking_ref)
        note = "Transfer to savings" if out_ else "Transfer to checking"
        return (f'{{"FromAccountRef":{src},"ToAccountRef":{dst},"Amount":{_m(amount)},{head},"TxnDate":"{txn_date}",'
                f'"CurrencyRef":{{"value":"USD","name":"United States Dollar"}},"PrivateNote":"{note}"}}')

    def _time_activity(self, i: int) -> str:
        """``generator._b_TimeActivity``."""
        nx = stream_words(self.rseed, DOC, i).__next__
        head, txn_date = self._head(i, nx)
        emp_ref, rate = self.employees[(nx() * len(self.employees) >> 32)]
        cust = self._pick_customer(nx, True)
        billable = nx() < _P6
        cls = self.class_refs[(nx() * len(self.class_refs) >> 32)]
        status = ("HasBeenBilled" if nx() < _P3 else "Billable") if billable else "NotBillable"
        hours = (nx() * 10 >> 32)
        minutes = (0, 15, 30, 45)[(nx() * 4 >> 32)]
        desc = ("Machine setup", "Assembly", "On-site service", "Quality inspection")[(nx() * 4 >> 32)]
        return (f'{{"TxnDate":"{txn_date}","NameOf":"Employee","EmployeeRef":{emp_ref},"CustomerRef":{cust.ref},'
                f'"ItemRef":{self.hours_item_ref},"ClassRef":{cls},"BillableStatus":"{status}","Taxable":false,'
                f'"HourlyRate":{rate if billable else "0"},"Hours":{hours},"Minutes":{minutes},'
                f'"Description":"{desc}",{head}}}')

    def _purchase_order(self, i: int) -> str:
        """``generator._b_PurchaseOrder`` as JSON text (a run of one: ``_purchase_orders_run``)."""
        return self._purchase_orders_run((i,))[0]

    def _purchase_orders_run(self, run) -> list[str]:
        """``_purchase_order`` for a run of purchase orders in one block of ``BLOCK_CYCLES`` cycles (a
        page's consecutive ones): the word blocks, tables and attributes loaded once a run; ``_head``,
        ``_pick_vendor``, ``_n_lines`` and ``_custom_fields`` inlined; amounts summed in int cents (the
        same texts: ``_ct`` of the cents is ``_m`` of the Decimal sum); one f-string a purchase order."""
        g = self.g
        b = run[0] // CYCLE // BLOCK_CYCLES
        c0 = b * BLOCK_CYCLES
        rseed = self.rseed
        words = {}  # slot -> (doc words, width)
        start, step, salt = self._start, self._step, self._salt
        s_lines = salt + 81006
        hours, mmss = _HOURS, _MMSS
        vendors = self._all_vendor_pieces
        n_vendors = len(vendors)
        classes = self.class_refs
        n_classes = len(classes)
        items, n_pitems = self.purchase_items, len(self.purchase_items)
        amounts = self._amounts
        ap_refs, cents_t = self.ap_refs, _CENTS
        n_po = self.n_slots["PurchaseOrder"]
        out = []
        for i in run:
            cycle, pos = divmod(i, CYCLE)
            ws = words.get(pos)
            if ws is None:
                ws = words[pos] = stream_block(rseed, DOC, pos, b)
            w, width = ws
            p = (cycle - c0) * width
            # _head: g.time_of(i), edited 1 in 5 (the edit time uniform(0.1, 1.0) steps before), days back
            upd = _floor(start + (i + 1) * step)
            if w[p] < _P2:
                create = _floor(upd - (0.1 + (1.0 - 0.1) * (w[p + 1] * WORD)) * step)
                sync = "1"
                p += 2
            else:
                create, sync = upd, "0"
                p += 1
            h = (create - (w[p] * 3 >> 32) * 86400) // 3600
            txn_date = (hours.get(h) or _hour(h))[2]
            h, r = divmod(upd, 3600)
            v = hours.get(h) or _hour(h)
            updated = v[0] + mmss[r] + v[1]
            if create == upd:
                created = updated
            else:
                h, r = divmod(create, 3600)
                v = hours.get(h) or _hour(h)
                created = v[0] + mmss[r] + v[1]
            vend = vendors[w[p + 1] * n_vendors >> 32]  # _pick_vendor(nx, False)
            p += 2
            cur = vend.currency
            foreign = cur != "USD"
            x = (i * 2654435761 + s_lines) & 0xFFFFFFFF  # _n_lines: 1 + int(_h(i, 2) * 3)
            x ^= x >> 16
            x = (x * 73244475) & 0xFFFFFFFF
            x ^= x >> 16
            lines, total = [], 0  # total in int cents
            for n_ in range(1, 2 + (x * 3 >> 32)):
                item = items[w[p] * n_pitems >> 32]
                draw = 10 + (w[p + 1] * 291 >> 32)
                key = ("po", item.id, foreign, draw)
                hit = amounts.get(key)
                if hit is None:
                    cost = item.cost if not foreign else (item.cost.to_integral_value() or ONE)
                    amount = money(cost * Decimal(draw))
                    hit = amounts[key] = (cents(amount), _m(amount), _n(cost), _n(Decimal(draw)))
                amount_c, amount_t, cost_t, qty_t = hit
                total += amount_c
                cls = classes[w[p + 2] * n_classes >> 32]
                p += 3
                lines.append(f'{{"Id":"{n_}","LineNum":{n_},"Description":{item.desc},"Amount":{amount_t},'
                             f'"DetailType":"ItemBasedExpenseLineDetail","ItemBasedExpenseLineDetail":{{'
                             f'"BillableStatus":"NotBillable","ItemRef":{item.ref},"ClassRef":{cls},"UnitPrice":'
                             f'{cost_t},"Qty":{qty_t},"TaxCodeRef":{{"value":"NON"}}}}}}')
            status = "Closed" if w[p] < _P6 else "Open"
            # _custom_fields: Work Order # (a number 3 in 5), Sales Rep (1 in 2)
            wo = f',"StringValue":"WO-{10000 + i // 7}"}}' if w[p + 1] < _P6 else "}"
            if w[p + 2] < _P5:
                custom = f'{_CF_WORK_ORDER}{wo}{_CF_SALES_REP[w[p + 3] * 4 >> 32]}]'
            else:
                custom = f'{_CF_WORK_ORDER}{wo}]'
            if foreign:
                rate = g.rate(cur, txn_date)
                fx = f',"ExchangeRate":{_n(rate)}'
                home = f',"HomeTotalAmt":{_m(from_cents(total) * rate)}'
            else:
                fx = home = ""
            out.append(
                f'{{"VendorAddr":{vend.bill},"POStatus":"{status}","domain":"QBO","sparse":false,"Id":"{100 + i}",'
                f'"SyncToken":"{sync}","MetaData":{{"CreateTime":"{created}","LastUpdatedTime":"{updated}"}},'
                f'"CustomField":{custom},"DocNumber":"{1001 + cycle * n_po}","TxnDate":"{txn_date}",'
                f'"CurrencyRef":{vend.currency_ref}{fx},"Line":[{",".join(lines)}],"VendorRef":{vend.ref},'
                f'"APAccountRef":{ap_refs[cur]},"TotalAmt":{total // 100 if total else 0}'
                f'{cents_t[total % 100] if total else ""}{home}}}')
        return out

    def _deposit(self, i: int) -> str:
        """``generator._b_Deposit``: banks the cycle's undeposited payments and first sales receipt (a run
        of one: ``_deposits_run``)."""
        return self._deposits_run((i,))[0]

    def _deposits_run(self, run) -> list[str]:
        """``_deposit`` for a run of deposits (one a cycle) in one block of ``BLOCK_CYCLES`` cycles: the
        word block and the kept inputs (``LinkSums`` arrays, read by index: ``deposit_input_cents``
        inlined) loaded once a run, ``_head`` inlined, one f-string a deposit. Inputs not kept yet are
        kept first for the run's cycles at once (``_keep_deposit_inputs``)."""
        i0 = run[0]
        b = i0 // CYCLE // BLOCK_CYCLES
        c0 = b * BLOCK_CYCLES
        pos = self._deposit_pos
        w, width = stream_block(self.rseed, DOC, pos, b)
        sums = self.sums
        amounts = sums.dep_amount
        for i in run:  # a cold deposit: its inputs (and the rest of the block's, the next blocks') kept at once
            c = i // CYCLE
            if UNKNOWN in (amounts[c * 3], amounts[c * 3 + 1], amounts[c * 3 + 2]):
                self._keep_deposit_inputs(c)
                break
        methods, refs, dates = sums.dep_method, sums.dep_ref, sums._dep_date
        objects, date_values = sums.objects.values, sums.dates.values
        start, step = self._start, self._step
        hours, mmss = _HOURS, _MMSS
        cents = _CENTS
        pay0, pay1, rec0 = self.payment_pos[0], self.payment_pos[1], SLOT_POS["SalesReceipt"][0]
        head_start = (f'{{"DepositToAccountRef":{self.checking_ref},"TotalAmt":')
        interest_ref = self.interest_ref
        out = []
        for i in run:
            cycle = i // CYCLE
            p = (cycle - c0) * width
            # _head: g.time_of(i), edited 1 in 5 (the edit time uniform(0.1, 1.0) steps before), days back
            upd = _floor(start + (i + 1) * step)
            if w[p] < _P2:
                create = _floor(upd - (0.1 + (1.0 - 0.1) * (w[p + 1] * WORD)) * step)
                sync = "1"
                p += 2
            else:
                create, sync = upd, "0"
                p += 1
            h = (create - (w[p] * 3 >> 32) * 86400) // 3600
            txn_date = (hours.get(h) or _hour(h))[2]
            h, r = divmod(upd, 3600)
            v = hours.get(h) or _hour(h)
            updated = v[0] + mmss[r] + v[1]
            if create == upd:
                created = updated
            else:
                h, r = divmod(create, 3600)
                v = hours.get(h) or _hour(h)
                created = v[0] + mmss[r] + v[1]
            # the lines of the cycle's payments 0-1 and sales receipt 0 (sums.deposit_input_cents inlined)
            s = cycle * 3
            base = 100 + cycle * CYCLE
            a0, a1, a2 = amounts[s], amounts[s + 1], amounts[s + 2]
            r0, r1, r2 = refs[s], refs[s + 1], refs[s + 2]
            d = date_values[dates[s]], date_values[dates[s + 1]], date_values[dates[s + 2]]
            for dd in d:  # txn_date = max(txn_date, the inputs' dates)
                if dd > txn_date:
                    txn_date = dd
            interest = 50 + (w[p + 1] * 3951 >> 32)  # money(randint(50, 4000) / 100) in cents
            total = a0 + a1 + a2 + interest
            note = ',"PrivateNote":"Weekly deposit"' if w[p + 2] < _P3 else ""
            out.append(
                f'{head_start}{total // 100}{cents[total % 100]},"domain":"QBO","sparse":false,"Id":"{100 + i}",'
                f'"SyncToken":"{sync}","MetaData":{{"CreateTime":"{created}","LastUpdatedTime":"{updated}"}},'
                f'"TxnDate":"{txn_date}","CurrencyRef":{{"value":"USD","name":"United States Dollar"}}{note},"Line":['
                f'{{"Amount":{a0 // 100 if a0 else 0}{cents[a0 % 100] if a0 else ""},'
                f'"LinkedTxn":[{{"TxnId":"{base + pay0}",'
                f'"TxnType":"Payment","TxnLineId":"0"}}],'
                f'"DepositLineDetail":{{"PaymentMethodRef":{objects[methods[s]]}'
                f'{"" if r0 < 0 else _CHECK_NUM + str(r0) + _Q}}}}},'
                f'{{"Amount":{a1 // 100 if a1 else 0}{cents[a1 % 100] if a1 else ""},'
                f'"LinkedTxn":[{{"TxnId":"{base + pay1}",'
                f'"TxnType":"Payment","TxnLineId":"0"}}],'
                f'"DepositLineDetail":{{"PaymentMethodRef":{objects[methods[s + 1]]}'
                f'{"" if r1 < 0 else _CHECK_NUM + str(r1) + _Q}}}}},'
                f'{{"Amount":{a2 // 100 if a2 else 0}{cents[a2 % 100] if a2 else ""},'
                f'"LinkedTxn":[{{"TxnId":"{base + rec0}",'
                f'"TxnType":"SalesReceipt","TxnLineId":"0"}}],"DepositLineDetail":{{"PaymentMethodRef":'
                f'{objects[methods[s + 2]]}{"" if r2 < 0 else _CHECK_NUM + str(r2) + _Q}}}}},'
                f'{{"Id":"1","LineNum":1,"Description":"Interest","Amount":{interest // 100}{cents[interest % 100]},'
                f'"DetailType":"DepositLineDetail","DepositLineDetail":{{"AccountRef":{interest_ref}}}}}]}}')
        return out

    def _keep_deposit_inputs(self, cycle: int) -> None:
        """Keep (``LinkSums``) the deposit inputs — payments 0-1 (from their invoices 0-1) and sales
        receipt 0 — of the cycles of ``cycle``'s block of ``BLOCK_CYCLES`` cycles and of the next blocks
        (``_DEPOSIT_KEEP_BLOCKS`` in all: ~a page of deposits) whose inputs are not kept yet: the draws
        and arithmetic of ``_invoice_parts`` / ``_payment_parts`` / ``_receipt_summary`` with
        ``text=False``, done for all those cycles at once on numpy arrays of the blocks' words (a cold
        deposit re-draws five documents: one at a time in Python that was ~2/3 of a cold deposit page,
        and 64 cycles a call left numpy's per-call cost on top). Exact: ints (< 2**63 throughout) and the
        same float64 operations in the same order as ``_txn_date`` (``time_of``, the edit time). Only
        entries not kept yet are written, the amount (the "known" marker) last (the values are the same
        whichever path computed them). These documents have USD customers (invoices 0-1 and receipts
        pick from ``usd_customers``) and are never voided or deleted."""
        np = _numpy()
        sums, rseed, g = self.sums, self.rseed, self.g
        assert sums.dep_per == 3
        dep_all = np.frombuffer(sums.dep_amount, np.int64).reshape(-1, 3)
        blocks = []  # (block, its cycles) of the blocks from cycle's on with inputs not kept yet
        for b in range(cycle // BLOCK_CYCLES, min(cycle // BLOCK_CYCLES + _DEPOSIT_KEEP_BLOCKS,
                                                  -(-g.n_cycles // BLOCK_CYCLES))):
            c0 = b * BLOCK_CYCLES
            c1 = min(c0 + BLOCK_CYCLES, g.n_cycles)
            if (dep_all[c0:c1] == UNKNOWN).any():
                blocks.append((b, c0, c1))
        if not blocks:
            return
        cycles = np.concatenate([np.arange(c0, c1, dtype=np.int64) for _b, c0, c1 in blocks])
        m = len(cycles)
        todo = dep_all[cycles] == UNKNOWN  # (m, 3): payment 0, payment 1, sales receipt 0
        usd = self._usd_pieces
        u_taxable, u_tax_n, u_tax_d = self._usd_arrays()
        t_step, t_taxed, t_mult, t_off, t_amount, n_items = self._sum_arrays()
        rows = np.arange(m)
        base = cycles * CYCLE
        start, step, salt = self._start, self._step, self._salt
        objects, dates = sums.objects, sums.dates

        def words(kind: int, pos: int):  # the blocks' words of one stream: row r = cycle cycles[r]
            parts = []
            for b, c0, c1 in blocks:
                w, width = stream_block(rseed, kind, pos, b)
                parts.append(np.frombuffer(w, np.uint32).reshape(BLOCK_CYCLES, width)[:c1 - c0])
            return np.concatenate(parts).astype(np.int64)

        def hash32(i, salted: int):  # _hash01(i, salted) * 2**32
            x = (i * 2654435761 + salted) & 0xFFFFFFFF
            x ^= x >> 16
            x = (x * 73244475) & 0xFFFFFFFF
            return x ^ (x >> 16)

        def txn_date(i, w):  # _txn_date -> (UTC hour of the local date, index of the next word)
            upd = np.floor(start + (i + 1) * step)  # g.time_of(i)
            edited = w[:, 0] < _P2
            create = np.where(edited, np.floor(upd - (0.1 + _UNIFORM_01_1 * (w[:, 1] * WORD)) * step), upd)
            p = np.where(edited, 2, 1)
            return (create.astype(np.int64) - ((w[rows, p] * 3) >> 32) * 86400) // 3600, p + 1

        def line_sums(key, cust, lw):  # n_lines(key) and _line_sums of a USD sales document -> (subtotal, taxable)
            n = 1 + ((hash32(key, salt + 81006) * 5) >> 32)
            taxable_cust = u_taxable[cust]
            q = np.zeros(m, np.int64)
            subtotal = np.zeros(m, np.int64)
            taxable = np.zeros(m, np.int64)
            for line in range(int(n.max())):
                item = (lw[rows, q] * n_items) >> 32
                amount = t_amount[taxable_cust, item, ((lw[rows, q + 1] * t_mult[taxable_cust, item]) >> 32)
                                  + t_off[taxable_cust, item]]
                amount[n <= line] = 0
                subtotal += amount
                taxable += amount * t_taxed[taxable_cust, item]
                q += t_step[taxable_cust, item]
            return subtotal, taxable

        def tax_total(cust, taxable):  # _tax_total: per rate (2 t n + d) // 2d (an absent rate: n 0, d 1)
            total = 0
            for r in range(u_tax_n.shape[1]):
                n, d = u_tax_n[cust, r], u_tax_d[cust, r]
                total = total + (2 * taxable * n + d) // (2 * d)
            return total

        def ids(table, values):  # interned ids of values (few distinct ones)
            got = table.ids
            return np.array([got.get(v) if v in got else table.id(v) for v in values], np.int32)

        def date_ids(hours):  # interned ids of the local dates of UTC hours (a few hundred apart at most)
            lo = int(hours.min())
            used = np.flatnonzero(np.bincount(hours - lo))  # (np.unique would import numpy.ma: ~40 ms)
            table = np.zeros(len(used) and int(used[-1]) + 1, np.int32)
            table[used] = ids(dates, [(_HOURS.get(h) or _hour(h))[2] for h in (used + lo).tolist()])
            return table[hours - lo]

        # invoices 0-1 (_invoice_parts, text=False: < 2, so never a converted estimate's)
        inv_pos, pay_pos, rec_pos = self._invoice_pos, self.payment_pos, SLOT_POS["SalesReceipt"][0]
        inv = []
        for k in (0, 1):
            i = base + inv_pos[k]
            w = words(DOC, inv_pos[k])
            hour, p = txn_date(i, w)
            cust = (w[rows, p] * len(usd)) >> 32
            subtotal, taxable = line_sums(i, cust, words(LINES, inv_pos[k]))
            total = subtotal + tax_total(cust, taxable)
            paid_fully = hash32(i, salt + 202515) < _P_08  # g._paid_fully(i); else USD: money(total / 2)
            balance = np.where(paid_fully, 0, total - (total + 1) // 2)
            inv.append((hour, cust, total, balance))
        # payments 0-1 (_payment_parts, text=False): the invoice's paid amount, the later of both dates
        pay = []
        for k in (0, 1):
            w = words(DOC, pay_pos[k])
            hour, p = txn_date(base + pay_pos[k], w)
            method = (w[rows, p] * 5) >> 32  # ("2", "2", "3", "4", "6")
            ref = np.where(method < 2, 1000 + ((w[rows, p + 1] * 99000) >> 32), -1)
            inv_hour, _c, total, balance = inv[k]
            # max(TxnDate, the invoice's): a local date never goes back as the UTC hour grows
            pay.append((total - balance, ids(objects, _PAY_METHOD_TEXTS)[method], ref,
                        np.maximum(hour, inv_hour)))
        # sales receipt 0 (_receipt_summary)
        i = base + rec_pos
        w = words(DOC, rec_pos)
        hour, p = txn_date(i, w)
        cust = (w[rows, p] * len(usd)) >> 32
        p = p + 1
        subtotal, taxable = line_sums(i, cust, words(LINES, rec_pos))
        p = p + np.where(w[rows, p + 1] < _P5, 3, 2) + 1  # _skip_custom_fields (Work Order?, Sales Rep?), DepartmentRef
        discount = np.where(hash32(i, salt + 162012) < _P_025, (subtotal + 5) // 10, 0)  # g._has_discount(i)
        total = subtotal - discount + tax_total(cust, taxable)
        method = (w[rows, p] * 4) >> 32  # ("1", "2", "3", "4")
        ref = np.where(method == 1, 1000 + ((w[rows, p + 1] * 99000) >> 32), -1)
        methods = ids(objects, [self.pm_refs[v] for v in ("1", "2", "3", "4")])
        rec = (total, methods[method], ref, hour)

        # write what is not kept yet, the amount (the "known" marker) last: the invoices' sums too
        inv_per = sums.inv_per
        inv_total = np.frombuffer(sums.inv_total, np.int64).reshape(-1, inv_per)
        inv_balance = np.frombuffer(sums.inv_balance, np.int64).reshape(-1, inv_per)
        inv_cust = np.frombuffer(sums.inv_cust, np.int32).reshape(-1, inv_per)
        inv_date = np.frombuffer(sums.inv_date, np.int32).reshape(-1, inv_per)
        for k in (0, 1):
            new = inv_total[cycles, k] == UNKNOWN
            if new.any():
                hour, cust, total, balance = inv[k]
                at = cycles[new]
                used = np.flatnonzero(np.bincount(cust[new], minlength=len(usd)))
                cust_ids = np.zeros(len(usd), np.int32)
                cust_ids[used] = ids(objects, [usd[u] for u in used.tolist()])
                inv_balance[at, k] = balance[new]
                inv_cust[at, k] = cust_ids[cust[new]]
                inv_date[at, k] = date_ids(hour[new])
                inv_total[at, k] = total[new]
        dep_method = np.frombuffer(sums.dep_method, np.int32).reshape(-1, 3)
        dep_ref = np.frombuffer(sums.dep_ref, np.int32).reshape(-1, 3)
        dep_date = np.frombuffer(sums._dep_date, np.int32).reshape(-1, 3)
        for j, (amount, method_id, ref, hour) in enumerate((pay[0], pay[1], rec)):
            new = todo[:, j]
            if new.any():
                at = cycles[new]
                dep_method[at, j] = method_id[new]
                dep_ref[at, j] = ref[new]
                dep_date[at, j] = date_ids(hour[new])
                dep_all[at, j] = amount[new]

    def _usd_arrays(self):
        """Per ``usd_customers`` pool index: taxable (0/1), and the (n, d) of its tax rates padded to
        one width with (0, 1) (a zero tax), as numpy arrays (``_keep_deposit_inputs``)."""
        hit = getattr(self, "_usd_np", None)
        if hit is None:
            np = _numpy()
            width = max(1, max(len(c.tax_rates) for c in self._usd_pieces))
            rates = [list(c.tax_rates) + [(0, 1, None)] * (width - len(c.tax_rates)) for c in self._usd_pieces]
            hit = self._usd_np = (np.array([int(c.taxable) for c in self._usd_pieces], np.int64),
                                  np.array([[r[0] for r in rs] for rs in rates], np.int64),
                                  np.array([[r[1] for r in rs] for rs in rates], np.int64))
        return hit

    def _sum_arrays(self):
        """The home-currency ``_sum_tabs`` as numpy arrays indexed [customer taxable][item]: words a line
        reads, line taxed, draw multiplier, offset, amount in cents by draw (0 where no draw lands);
        and the number of items (``_keep_deposit_inputs``)."""
        hit = getattr(self, "_sum_np", None)
        if hit is None:
            np = _numpy()
            tabs = self._sum_tabs[False]
            width = max(len(t[4]) for tab in tabs for t in tab)
            hit = self._sum_np = (
                np.array([[t[0] for t in tab] for tab in tabs], np.int64),
                np.array([[int(t[1]) for t in tab] for tab in tabs], np.int64),
                np.array([[t[2] for t in tab] for tab in tabs], np.int64),
                np.array([[t[3] for t in tab] for tab in tabs], np.int64),
                np.array([[[a or 0 for a in t[4]] + [0] * (width - len(t[4])) for t in tab] for tab in tabs], np.int64),
                len(tabs[0]))
        return hit

    def _keep_invoice_sums(self, cycle: int) -> None:
        """Keep (``LinkSums``) what payments copy from invoices 0-3 (``sums.inv_per``: one a payment)
        of ``cycle`` and of the following cycles of its block of ``BLOCK_CYCLES`` cycles whose sums
        are not kept yet: the draws and arithmetic of ``_invoice_parts(i, text=False)`` read by index
        from whole word blocks (no call, iterator or slice per invoice). Forward only: a page reads
        cycles in increasing order, so the cycles before ``cycle`` were served by the page before (or
        are left to the page that reads them). Invoices 0-3 are never voided (only ordinal 4 is)."""
        sums, rseed, g = self.sums, self.rseed, self.g
        b = cycle // BLOCK_CYCLES
        c0 = b * BLOCK_CYCLES
        start, step, salt = self._start, self._step, self._salt
        usd, every = self._usd_pieces, self._all_pieces
        n_usd, n_all = len(usd), len(every)
        inv_pos = self._invoice_pos
        est_pos = SLOT_POS["Estimate"][0]
        inv_per = sums.inv_per
        assert inv_per <= 4  # paid invoices: never ordinal 4 (voidable, unpaid)
        docs = [stream_block(rseed, DOC, inv_pos[k], b) for k in range(inv_per)]
        lines = [stream_block(rseed, LINES, inv_pos[k], b) for k in range(inv_per)]
        est_doc, est_lines = stream_block(rseed, DOC, est_pos, b), stream_block(rseed, LINES, est_pos, b)
        sum_tabs = self._sum_tabs
        totals, balances, custs, dates = sums.inv_total, sums.inv_balance, sums.inv_cust, sums.inv_date
        cust_ids, date_ids = sums.objects.ids, sums.dates.ids
        # _hash01 thresholds as ints (x / 2**32 < t exactly when x < _p(t)): deleted, converted, paid fully
        p_deleted, p_converted, p_paid = _p(0.03), _p(0.5), _p(0.8)
        s_deleted, s_converted, s_lines, s_paid = salt + 40503, salt + 121509, salt + 81006, salt + 202515
        for c in range(cycle, min(c0 + BLOCK_CYCLES, g.n_cycles)):
            j = c - c0
            base = c * CYCLE
            est_i = base + est_pos
            for k in range(inv_per):
                s = c * inv_per + k
                if totals[s] != UNKNOWN:
                    continue
                i = base + inv_pos[k]
                w, width = docs[k]
                p = j * width
                # _txn_date
                upd = _floor(start + (i + 1) * step)  # g.time_of(i)
                if w[p] < _P2:
                    create = _floor(upd - (0.1 + (1.0 - 0.1) * (w[p + 1] * WORD)) * step)
                    p += 2
                else:
                    create = upd
                    p += 1
                hr = (create - (w[p] * 3 >> 32) * 86400) // 3600  # local_date, randint(0, 2) days back
                txn_date = (_HOURS.get(hr) or _hour(hr))[2]
                converted = False
                if k == 2:  # g.estimate_converted(c): not deleted (_h(est_i, 1) >= 0.03), _h(est_i, 3) < 0.5
                    x = (est_i * 2654435761 + s_deleted) & 0xFFFFFFFF
                    x ^= x >> 16
                    x = (x * 73244475) & 0xFFFFFFFF
                    if x ^ (x >> 16) >= p_deleted:
                        x = (est_i * 2654435761 + s_converted) & 0xFFFFFFFF
                        x ^= x >> 16
                        x = (x * 73244475) & 0xFFFFFFFF
                        converted = x ^ (x >> 16) < p_converted
                if converted:
                    ew, ewidth = est_doc
                    cust = every[ew[j * ewidth] * n_all >> 32]  # the estimate stream's first word
                    key = est_i
                    lw, lwidth = est_lines
                else:
                    cust = (usd[w[p + 1] * n_usd >> 32] if k < 2 else every[w[p + 1] * n_all >> 32])
                    key = i
                    lw, lwidth = lines[k]
                foreign = cust.currency != "USD"
                x = (key * 2654435761 + s_lines) & 0xFFFFFFFF  # g.n_lines(key): 1 + int(_h(key, 2) * 5)
                x ^= x >> 16
                x = (x * 73244475) & 0xFFFFFFFF
                x ^= x >> 16
                # _line_sums inlined
                tab = sum_tabs[foreign][cust.taxable]
                n_items = len(tab)
                q = j * lwidth
                subtotal = taxable = 0
                for _ in range(1 + (x * 5 >> 32)):
                    lstep, taxed, mult, off, amounts = tab[lw[q] * n_items >> 32]
                    amount_c = amounts[(lw[q + 1] * mult >> 32) + off]
                    q += lstep
                    subtotal += amount_c
                    if taxed:
                        taxable += amount_c
                total = subtotal
                for n, d, _t in cust.tax_rates:  # _tax_total
                    total += (2 * taxable * n + d) // (2 * d)
                x = (i * 2654435761 + s_paid) & 0xFFFFFFFF  # g._paid_fully(i)
                x ^= x >> 16
                x = (x * 73244475) & 0xFFFFFFFF
                if x ^ (x >> 16) < p_paid:
                    paid = total
                else:  # g._partial: money(total / 2) (half up), foreign whole units
                    paid = total // 200 * 100 if foreign else (total + 1) // 2
                # sums.put_invoice_cents(c, k, total, total - paid, cust, txn_date) inlined; total last
                balances[s] = total - paid
                v = cust_ids.get(cust)
                custs[s] = sums.objects.id(cust) if v is None else v
                v = date_ids.get(txn_date)
                dates[s] = sums.dates.id(txn_date) if v is None else v
                totals[s] = total

    def _bill_payment(self, i: int) -> str:
        """``generator._b_BillPayment``: pays bill ordinal k of its cycle."""
        g = self.g
        cycle, k = divmod(i, CYCLE)
        k = SLOT_ORD[k]
        bill_i = g.index_of("Bill", cycle, k)
        bill_total, bill_balance, vend, bill_date = self._bill_sums(bill_i)
        nx = stream_words(self.rseed, DOC, i).__next__
        head, txn_date = self._head(i, nx)
        total = bill_total - bill_balance  # int cents
        cur = vend.currency
        check = g._bp_is_check(i)
        if check:
            pay = f'"PayType":"Check","CheckPayment":{{"BankAccountRef":{self.checking_ref},"PrintStatus":"NotSet"}}'
        else:
            pay = f'"PayType":"CreditCard","CreditCardPayment":{{"CCAccountRef":{self.bank_refs["CreditCard"]}}}'
        total_t = _ct(total)  # _text of the difference of two cent amounts
        out = ['{"VendorRef":', vend.ref, ",", pay, ',"TotalAmt":', total_t, ",", head]
        if check:
            out += [',"DocNumber":"', str(5000 + cycle * 2 + k), '"']
        out += [',"TxnDate":"', max(txn_date, bill_date), '","CurrencyRef":', vend.currency_ref]
        if cur != "USD":
            rate = g.rate(cur, bill_date)
            out += [',"ExchangeRate":', _n(rate), ',"APAccountRef":', self.ap_refs[cur], ',"HomeTotalAmt":',
                    _m(from_cents(total) * rate)]
        out += [',"Line":[{"Amount":', total_t, ',"LinkedTxn":[{"TxnId":"', str(100 + bill_i),
                '","TxnType":"Bill"}]}]}']
        return "".join(out)

    def _bill_sums(self, i: int) -> tuple[int, int, _Vendor, str]:
        """``_bill_parts(i, text=False)`` in int cents → (TotalAmt, Balance, vendor, TxnDate): the same
        draws in the same order (``_expense_lines``'), no text and no Decimal (what a bill payment
        copies). Every line amount is a cent amount: an item's ``money(cost * qty)`` (from a table),
        ``money((2000 + d) / 100)`` = 2000 + d cents, or, foreign, whole units."""
        cycle, pos = divmod(i, CYCLE)
        k = SLOT_ORD[pos]
        nx = stream_words(self.rseed, DOC, i).__next__
        txn_date = self._txn_date(i, nx)
        vend = self._pick_vendor(nx, False)
        foreign = vend.currency != "USD"
        n_items = len(self.purchase_items)
        total = 0
        for _ in range(self._n_lines(i)):
            if nx() < _P4:  # item based: item, quantity draw (5 + below(196)), class
                item_n = nx() * n_items >> 32
                total += (self._purchase_cents[foreign][item_n] or self._purchase_table(foreign, item_n))[
                    nx() * 196 >> 32]
                nx()
            else:  # account based: account, amount, customer (1 in 5, then a customer draw), class
                nx()
                total += (20 + (nx() * 3981 >> 32)) * 100 if foreign else 2000 + (nx() * 398001 >> 32)
                if nx() < _P2:
                    nx()
                nx()
        paid = 0
        if k < 2:  # paid in full 85 in 100, else g._partial: whole units foreign, money(total / 2)
            paid = (total if _hash01(i, self._salt + 202515) < 0.85 else
                    total // 200 * 100 if foreign else (total + 1) // 2)
        return total, total - paid, vend, txn_date

    def _purchase_table(self, foreign: bool, item_n: int) -> list[int]:
        """Cents of ``money(cost * qty)`` of purchase item ``item_n`` for quantities 5..200 (a bill's
        item line; the cost in whole units, at least 1, when foreign): made on first use."""
        cost = self.purchase_items[item_n].cost
        if foreign:
            cost = cost.to_integral_value() or ONE
        table = self._purchase_cents[foreign][item_n] = [cents(money(cost * Decimal(q))) for q in range(5, 201)]
        return table

    def _bill(self, i: int) -> str:
        """``generator._b_Bill`` as JSON text (a run of one: ``_bills_run``)."""
        return self._bills_run((i,))[0]

    def _bills_run(self, run) -> list[str]:
        """``_bill_parts(i)``'s text for a run of bills in one block of ``BLOCK_CYCLES`` cycles (a page's
        consecutive bills): the word blocks, tables and attributes loaded once a run; ``_head``,
        ``_pick_vendor``, ``_n_lines`` and ``_expense_lines`` inlined; one f-string a bill."""
        g = self.g
        b = run[0] // CYCLE // BLOCK_CYCLES
        c0 = b * BLOCK_CYCLES
        rseed = self.rseed
        words = {}  # slot -> (doc words, width)
        start, step, salt = self._start, self._step, self._salt
        s_lines, s_paid, s_check = salt + 81006, salt + 202515, salt + 243018
        hours, mmss = _HOURS, _MMSS
        vendors = self._all_vendor_pieces
        n_vendors = len(vendors)
        classes, depts = self.class_refs, self.dept_refs
        n_classes, n_depts = len(classes), len(depts)
        items, n_pitems = self.purchase_items, len(self.purchase_items)
        accounts = self.expense_accounts
        n_accounts = len(accounts)
        amounts = self._amounts
        ap_refs, cents_t = self.ap_refs, _CENTS
        bp_pos = SLOT_POS["BillPayment"]
        out = []
        for i in run:
            cycle, pos = divmod(i, CYCLE)
            k = SLOT_ORD[pos]
            ws = words.get(pos)
            if ws is None:
                ws = words[pos] = stream_block(rseed, DOC, pos, b)
            w, width = ws
            p = (cycle - c0) * width
            # _head: g.time_of(i), edited 1 in 5 (the edit time uniform(0.1, 1.0) steps before), days back
            upd = _floor(start + (i + 1) * step)
            if w[p] < _P2:
                create = _floor(upd - (0.1 + (1.0 - 0.1) * (w[p + 1] * WORD)) * step)
                sync = "1"
                p += 2
            else:
                create, sync = upd, "0"
                p += 1
            h = (create - (w[p] * 3 >> 32) * 86400) // 3600
            txn_date = (hours.get(h) or _hour(h))[2]
            h, r = divmod(upd, 3600)
            v = hours.get(h) or _hour(h)
            updated = v[0] + mmss[r] + v[1]
            if create == upd:
                created = updated
            else:
                h, r = divmod(create, 3600)
                v = hours.get(h) or _hour(h)
                created = v[0] + mmss[r] + v[1]
            vend = vendors[w[p + 1] * n_vendors >> 32]  # _pick_vendor(nx, False)
            p += 2
            foreign = vend.currency != "USD"
            x = (i * 2654435761 + s_lines) & 0xFFFFFFFF  # _n_lines: 1 + int(_h(i, 2) * 3)
            x ^= x >> 16
            x = (x * 73244475) & 0xFFFFFFFF
            x ^= x >> 16
            # _expense_lines(nx, n, foreign): item-based 2 in 5, else account-based (a billable customer 1 in 5)
            parts, total = [], 0
            for n_ in range(1, 2 + (x * 3 >> 32)):
                if w[p] < _P4:
                    item = items[w[p + 1] * n_pitems >> 32]
                    draw = 5 + (w[p + 2] * 196 >> 32)
                    key = ("p", item.id, foreign, draw)
                    hit = amounts.get(key)
                    if hit is None:
                        cost = item.cost
                        if foreign:
                            cost = cost.to_integral_value() or ONE
                        qty = Decimal(draw)
                        amount = money(cost * qty)
                        hit = amounts[key] = (cents(amount), _m(amount), _n(cost), _n(qty))
                    amount, amount_t, cost_t, qty_t = hit
                    cls = classes[w[p + 3] * n_classes >> 32]
                    p += 4
                    parts.append(
                        f'{{"Id":"{n_}","LineNum":{n_},"Description":{item.desc},"Amount":{amount_t},'
                        f'"DetailType":"ItemBasedExpenseLineDetail","ItemBasedExpenseLineDetail":{{"BillableStatus":'
                        f'"NotBillable","ItemRef":{item.ref},"ClassRef":{cls},"UnitPrice":{cost_t},"Qty":{qty_t},'
                        f'"TaxCodeRef":{{"value":"NON"}}}}}}')
                else:
                    acct_ref, acct_desc = accounts[w[p + 1] * n_accounts >> 32]
                    # whole units foreign (Decimal(20 + d)), else money(Decimal(2000 + d) / 100): in cents
                    amount = (20 + (w[p + 2] * 3981 >> 32)) * 100 if foreign else 2000 + (w[p + 2] * 398001 >> 32)
                    if w[p + 3] < _P2:
                        c = self._usd_pieces[w[p + 4] * len(self._usd_pieces) >> 32]  # _pick_customer(nx, True)
                        cls = classes[w[p + 5] * n_classes >> 32]
                        p += 6
                        det = (f'{{"CustomerRef":{c.ref},"BillableStatus":"Billable","ClassRef":'
                               f'{cls},"AccountRef":{acct_ref},"TaxCodeRef":{{"value":"NON"}}}}')
                    else:
                        cls = classes[w[p + 4] * n_classes >> 32]
                        p += 5
                        det = (f'{{"ClassRef":{cls},"AccountRef":{acct_ref},'
                               f'"BillableStatus":"NotBillable","TaxCodeRef":{{"value":"NON"}}}}')
                    parts.append(f'{{"Id":"{n_}","LineNum":{n_},"Description":{acct_desc},"Amount":'
                                 f'{amount // 100}{cents_t[amount % 100]},"DetailType":"AccountBasedExpenseLineDetail",'
                                 f'"AccountBasedExpenseLineDetail":{det}}}')
                total += amount
            # paid in full 85 in 100 (bills 0-1), else g._partial: whole units foreign, money(total / 2)
            linked = ""
            paid = 0
            if k < 2:
                x = (i * 2654435761 + s_paid) & 0xFFFFFFFF
                x ^= x >> 16
                x = (x * 73244475) & 0xFFFFFFFF
                paid = (total if x ^ (x >> 16) < _P_085 else total // 200 * 100 if foreign else (total + 1) // 2)
                # g.index_of("BillPayment", cycle, k); g._bp_is_check: _h(bp_i, 6) < 0.7
                bp_i = cycle * CYCLE + bp_pos[k]
                x = (bp_i * 2654435761 + s_check) & 0xFFFFFFFF
                x ^= x >> 16
                x = (x * 73244475) & 0xFFFFFFFF
                linked = (f'{{"TxnId":"{100 + bp_i}","TxnType":"'
                          f'{"BillPaymentCheck" if x ^ (x >> 16) < _P_07 else "BillPaymentCreditCard"}"}}')
            doc_number = 10000 + (w[p] * 90000 >> 32)
            dept = depts[w[p + 1] * n_depts >> 32]
            balance = total - paid
            cur = vend.currency
            if foreign:
                rate = g.rate(cur, txn_date)
                fx = f',"ExchangeRate":{_n(rate)}'
                home = (f',"HomeTotalAmt":{_m(from_cents(total) * rate)},"HomeBalance":'
                        f'{_m(from_cents(balance) * rate)}')
            else:
                fx = home = ""
            out.append(
                f'{{"SalesTermRef":{{"value":"{vend.term}"}},"DueDate":"{add_days(txn_date, vend.term_days)}",'
                f'"Balance":{balance // 100 if balance else 0}{cents_t[balance % 100] if balance else ""},'
                f'"domain":"QBO","sparse":false,"Id":"{100 + i}","SyncToken":"{sync}","MetaData":{{"CreateTime":'
                f'"{created}","LastUpdatedTime":"{updated}"}},"DocNumber":"INV-{doc_number}","TxnDate":"{txn_date}",'
                f'"DepartmentRef":{dept},"CurrencyRef":{vend.currency_ref}{fx},"LinkedTxn":[{linked}],"Line":['
                f'{",".join(parts)}],"VendorRef":{vend.ref},"APAccountRef":{ap_refs[cur]},"TotalAmt":'
                f'{total // 100 if total else 0}{cents_t[total % 100] if total else ""}{home}}}')
        return out

    def _bill_parts(self, i: int, text: bool = True) -> tuple[str | None, tuple]:
        """``generator._b_Bill`` → (JSON text, (TotalAmt, Balance, vendor, TxnDate)); ``text=False``:
        (None, those fields) from the draws they need only (what a bill payment copies)."""
        g = self.g
        cycle, k = divmod(i, CYCLE)
        k = SLOT_ORD[k]
        nx = stream_words(self.rseed, DOC, i).__next__
        if text:
            head, txn_date = self._head(i, nx)
        else:
            txn_date = self._txn_date(i, nx)
        vend = self._pick_vendor(nx, False)
        cur = vend.currency
        foreign = cur != "USD"
        lines, total = self._expense_lines(nx, self._n_lines(i), foreign, text=text)  # int cents
        # paid in full 85 in 100, else g._partial: whole units foreign, money(total / 2)
        paid = 0
        if k < 2:
            paid = (total if _hash01(i, self._salt + 202515) < 0.85 else
                    total // 200 * 100 if foreign else (total + 1) // 2)
        if not text:
            return None, (from_cents(total), from_cents(total - paid), vend, txn_date)
        linked = ""
        if k < 2:
            bp_i = g.index_of("BillPayment", cycle, k)
            kind = "BillPaymentCheck" if g._bp_is_check(bp_i) else "BillPaymentCreditCard"
            linked = f'{{"TxnId":"{100 + bp_i}","TxnType":"{kind}"}}'
        doc_number = 10000 + (nx() * 90000 >> 32)
        dept = self.dept_refs[(nx() * len(self.dept_refs) >> 32)]
        out = [f'{{"SalesTermRef":{{"value":"{vend.term}"}},"DueDate":"{add_days(txn_date, vend.term_days)}",'
               f'"Balance":{_ct(total - paid)},', head, f',"DocNumber":"INV-{doc_number}","TxnDate":"{txn_date}",'
               f'"DepartmentRef":{dept},"CurrencyRef":{vend.currency_ref}']
        if cur != "USD":
            rate = g.rate(cur, txn_date)
            out.append(f',"ExchangeRate":{_n(rate)}')
        out += [',"LinkedTxn":[', linked, '],"Line":[', ",".join(lines), '],"VendorRef":', vend.ref,
                ',"APAccountRef":', self.ap_refs[cur], ',"TotalAmt":', _ct(total)]
        if cur != "USD":
            out += [',"HomeTotalAmt":', _m(from_cents(total) * rate), ',"HomeBalance":',
                    _m(from_cents(total - paid) * rate)]
        out.append("}")
        return "".join(out), (from_cents(total), from_cents(total - paid), vend, txn_date)

    def _purchase(self, i: int) -> str | None:
        """``generator._b_Purchase`` (not voided) as JSON text (a run of one: ``_purchases_run``)."""
        return self._purchases_run((i,))[0]

    def _purchases_run(self, run) -> list[str | None]:
        """``_purchase`` for a run of purchases in one block of ``BLOCK_CYCLES`` cycles (a page's
        consecutive purchases): the word blocks, tables and attributes loaded once a run; ``_head``,
        ``_pick_vendor``, ``_n_lines`` and ``_expense_lines`` inlined; one f-string a purchase. None for
        a voided one (ordinal 1, ``g.is_voided``: no fast renderer, its dict is encoded)."""
        b = run[0] // CYCLE // BLOCK_CYCLES
        c0 = b * BLOCK_CYCLES
        rseed = self.rseed
        words = {}  # slot -> (doc words, width)
        start, step, salt = self._start, self._step, self._salt
        s_void, s_lines, s_credit = salt + 40503, salt + 81006, salt + 283521
        hours, mmss = _HOURS, _MMSS
        vendors = self._usd_vendor_pieces
        n_vendors = len(vendors)
        usd = self._usd_pieces
        n_usd = len(usd)
        classes, depts = self.class_refs, self.dept_refs
        n_classes, n_depts = len(classes), len(depts)
        items, n_pitems = self.purchase_items, len(self.purchase_items)
        accounts = self.expense_accounts
        n_accounts = len(accounts)
        amounts = self._amounts
        bank_refs, cents_t = self.bank_refs, _CENTS
        out = []
        for i in run:
            cycle, pos = divmod(i, CYCLE)
            k = SLOT_ORD[pos]
            if k == 1:  # g.is_voided(i): _h(i, 1) < 0.03
                x = (i * 2654435761 + s_void) & 0xFFFFFFFF
                x ^= x >> 16
                x = (x * 73244475) & 0xFFFFFFFF
                if x ^ (x >> 16) < _P_003:
                    out.append(None)
                    continue
            ws = words.get(pos)
            if ws is None:
                ws = words[pos] = stream_block(rseed, DOC, pos, b)
            w, width = ws
            p = (cycle - c0) * width
            # _head: g.time_of(i), edited 1 in 5 (the edit time uniform(0.1, 1.0) steps before), days back
            upd = _floor(start + (i + 1) * step)
            if w[p] < _P2:
                create = _floor(upd - (0.1 + (1.0 - 0.1) * (w[p + 1] * WORD)) * step)
                sync = "1"
                p += 2
            else:
                create, sync = upd, "0"
                p += 1
            h = (create - (w[p] * 3 >> 32) * 86400) // 3600
            txn_date = (hours.get(h) or _hour(h))[2]
            h, r = divmod(upd, 3600)
            v = hours.get(h) or _hour(h)
            updated = v[0] + mmss[r] + v[1]
            if create == upd:
                created = updated
            else:
                h, r = divmod(create, 3600)
                v = hours.get(h) or _hour(h)
                created = v[0] + mmss[r] + v[1]
            vend = vendors[w[p + 1] * n_vendors >> 32]  # _pick_vendor(nx, True)
            p += 2
            x = (i * 2654435761 + s_lines) & 0xFFFFFFFF  # _n_lines: 1 + int(_h(i, 2) * 3)
            x ^= x >> 16
            x = (x * 73244475) & 0xFFFFFFFF
            x ^= x >> 16
            # _expense_lines(nx, n, False): item-based 2 in 5, else account-based (a billable customer 1 in 5)
            parts, total = [], 0
            for n_ in range(1, 2 + (x * 3 >> 32)):
                if w[p] < _P4:
                    item = items[w[p + 1] * n_pitems >> 32]
                    draw = 5 + (w[p + 2] * 196 >> 32)
                    key = ("p", item.id, False, draw)
                    hit = amounts.get(key)
                    if hit is None:
                        qty = Decimal(draw)
                        amount = money(item.cost * qty)
                        hit = amounts[key] = (cents(amount), _m(amount), _n(item.cost), _n(qty))
                    amount, amount_t, cost_t, qty_t = hit
                    cls = classes[w[p + 3] * n_classes >> 32]
                    p += 4
                    parts.append(
                        f'{{"Id":"{n_}","LineNum":{n_},"Description":{item.desc},"Amount":{amount_t},'
                        f'"DetailType":"ItemBasedExpenseLineDetail","ItemBasedExpenseLineDetail":{{"BillableStatus":'
                        f'"NotBillable","ItemRef":{item.ref},"ClassRef":{cls},"UnitPrice":{cost_t},"Qty":{qty_t},'
                        f'"TaxCodeRef":{{"value":"NON"}}}}}}')
                else:
                    acct_ref, acct_desc = accounts[w[p + 1] * n_accounts >> 32]
                    amount = 2000 + (w[p + 2] * 398001 >> 32)  # money(Decimal(2000 + d) / 100) in cents
                    if w[p + 3] < _P2:
                        c = usd[w[p + 4] * n_usd >> 32]  # _pick_customer(nx, True)
                        cls = classes[w[p + 5] * n_classes >> 32]
                        p += 6
                        det = (f'{{"CustomerRef":{c.ref},"BillableStatus":"Billable","ClassRef":'
                               f'{cls},"AccountRef":{acct_ref},"TaxCodeRef":{{"value":"NON"}}}}')
                    else:
                        cls = classes[w[p + 4] * n_classes >> 32]
                        p += 5
                        det = (f'{{"ClassRef":{cls},"AccountRef":{acct_ref},'
                               f'"BillableStatus":"NotBillable","TaxCodeRef":{{"value":"NON"}}}}')
                    parts.append(f'{{"Id":"{n_}","LineNum":{n_},"Description":{acct_desc},"Amount":'
                                 f'{amount // 100}{cents_t[amount % 100]},"DetailType":"AccountBasedExpenseLineDetail",'
                                 f'"AccountBasedExpenseLineDetail":{det}}}')
                total += amount
            ptype = _PURCHASE_TYPES[k]
            credit = False
            if k == 2:  # a credit card charge: a refund (credit) 8 in 100, _h(i, 7) < 0.08
                x = (i * 2654435761 + s_credit) & 0xFFFFFFFF
                x ^= x >> 16
                x = (x * 73244475) & 0xFFFFFFFF
                credit = x ^ (x >> 16) < _P_008
            dept = depts[w[p] * n_depts >> 32]
            note = (f',"PrivateNote":"{_PURCHASE_NOTES[w[p + 2] * 4 >> 32]}"' if w[p + 1] < _P3 else "")
            out.append(
                f'{{"AccountRef":{bank_refs[ptype]},"PaymentType":"{ptype}","EntityRef":{vend.entity_ref},'
                f'"Credit":{"true" if credit else "false"},"TotalAmt":{total // 100 if total else 0}'
                f'{cents_t[total % 100] if total else ""},"PurchaseEx":{{"any":['
                f'{_TXN_TYPE_11 if credit else _TXN_TYPE_3 if k == 1 else _TXN_TYPE_1}]}},"domain":"QBO",'
                f'"sparse":false,"Id":"{100 + i}","SyncToken":"{sync}","MetaData":{{"CreateTime":"{created}",'
                f'"LastUpdatedTime":"{updated}"}}{f",{_DOC_NUMBER}{7000 + cycle}{_Q}" if k == 1 else ""},'
                f'"TxnDate":"{txn_date}","DepartmentRef":{dept},"CurrencyRef":{{"value":"USD","name":'
                f'"United States Dollar"}}{note},"Line":[{",".join(parts)}]}}')
        return out

    def _invoice(self, i: int, voided: bool = False) -> str:
        """``generator._b_Invoice`` of one invoice as JSON text (``_invoices_run``; whether it is voided
        is decided there, from its hash)."""
        return self._invoices_run((i,))[0]

    def _invoices_run(self, run) -> list[str | None]:
        """``generator._b_Invoice`` as JSON text for a run of invoices in one block of ``BLOCK_CYCLES``
        cycles (``data_many``; a voided one, ordinal 4, in ``generator._void``'s form: amounts and
        quantities 0, no tax lines, ``PrivateNote`` last): the draws and int-cent sums
        of ``_invoice_parts`` with the text, the small helpers inlined (hashes compared as ints,
        ``estimate_converted``, ``_head``, the customer pick, ``_sales_lines``, custom fields, the cached
        ``_tax_detail``, cents texts), the words read by index from the blocks (a converted estimate's
        invoice: the estimate's first word and its lines); one f-string a document."""
        b = run[0] // CYCLE // BLOCK_CYCLES
        c0 = b * BLOCK_CYCLES
        rseed = self.rseed
        words = {}  # slot -> (doc words, width, line words, width)
        est_pos = self._est_pos
        est_w = est_lw = None
        start, step, salt = self._start, self._step, self._salt
        s_deleted, s_converted, s_lines, s_paid = salt + 40503, salt + 121509, salt + 81006, salt + 202515
        usd, every = self._usd_pieces, self._all_pieces
        n_usd, n_all = len(usd), len(every)
        tabs = self._sale_tabs
        classes, depts = self.class_refs, self.dept_refs
        n_classes, n_depts = len(classes), len(depts)
        n_inv, pay_pos = self.n_invoice_slots, self.payment_pos
        hours, mmss = _HOURS, _MMSS
        tax_by_code, tax_detail = self._tax, self._tax_detail
        sums = self.sums
        inv_per = sums.inv_per
        inv_total, inv_balance, inv_cust, inv_date = sums.inv_total, sums.inv_balance, sums.inv_cust, sums.inv_date
        cust_ids, date_ids = sums.objects.ids, sums.dates.ids
        rates = self._rates
        out = []
        for i in run:
            cycle, pos = divmod(i, CYCLE)
            k = SLOT_ORD[pos]
            voided = False
            if k == 4:  # g.is_voided(i): ordinal 4 and _h(i, 1) < 0.03
                x = (i * 2654435761 + s_deleted) & 0xFFFFFFFF
                x ^= x >> 16
                x = (x * 73244475) & 0xFFFFFFFF
                voided = x ^ (x >> 16) < _P_003
            ws = words.get(pos)
            if ws is None:
                ws = words[pos] = stream_block(rseed, DOC, pos, b) + stream_block(rseed, LINES, pos, b)
            w, width, lw, lwidth = ws
            j = cycle - c0
            p = j * width
            converted = False
            if k == 2:  # g.estimate_converted(cycle): the estimate not deleted (_h(e, 1) >= 0.03), _h(e, 3) < 0.5
                est_i = cycle * CYCLE + est_pos
                x = (est_i * 2654435761 + s_deleted) & 0xFFFFFFFF
                x ^= x >> 16
                x = (x * 73244475) & 0xFFFFFFFF
                if x ^ (x >> 16) >= _P_003:
                    x = (est_i * 2654435761 + s_converted) & 0xFFFFFFFF
                    x ^= x >> 16
                    x = (x * 73244475) & 0xFFFFFFFF
                    converted = x ^ (x >> 16) < _P5
            # _head: g.time_of(i), edited 1 in 5 (the edit time uniform(0.1, 1.0) steps before), days back
            upd = _floor(start + (i + 1) * step)
            if w[p] < _P2:
                create = _floor(upd - (0.1 + (1.0 - 0.1) * (w[p + 1] * WORD)) * step)
                sync = "1"
                p += 2
            else:
                create, sync = upd, "0"
                p += 1
            h = (create - (w[p] * 3 >> 32) * 86400) // 3600
            p += 1
            txn_date = (hours.get(h) or _hour(h))[2]
            h, r = divmod(upd, 3600)
            v = hours.get(h) or _hour(h)
            updated = v[0] + mmss[r] + v[1]
            if create == upd:
                created = updated
            else:
                h, r = divmod(create, 3600)
                v = hours.get(h) or _hour(h)
                created = v[0] + mmss[r] + v[1]
            if converted:
                if est_w is None:
                    est_w, est_width = stream_block(rseed, DOC, est_pos, b)
                    est_lw, est_lwidth = stream_block(rseed, LINES, est_pos, b)
                cust = every[est_w[j * est_width] * n_all >> 32]  # the estimate's first word
                key, lines_w, q = est_i, est_lw, j * est_lwidth
                link = f',"LinkedTxn":[{{"TxnId":"{100 + est_i}","TxnType":"Estimate"}}]'
            else:
                cust = usd[w[p] * n_usd >> 32] if k < 2 else every[w[p] * n_all >> 32]
                p += 1
                key, lines_w, q = i, lw, j * lwidth
                link = ""
            foreign = cust.currency != "USD"
            # _sales_lines: g.n_lines(key) (an invoice's or its estimate's: the same formula)
            x = (key * 2654435761 + s_lines) & 0xFFFFFFFF
            x ^= x >> 16
            x = (x * 73244475) & 0xFFFFFFFF
            x ^= x >> 16
            tab = self._void_tab(foreign, cust.taxable) if voided else tabs[foreign][cust.taxable]
            n_items = len(tab)
            lines, subtotal, taxable = [], 0, 0
            service_date = None
            for n_ in range(1 + (x * 5 >> 32)):
                service, taxed, mult_q, off, by_draw = tab[lines_w[q] * n_items >> 32]
                amount_c, head, tail = by_draw[(lines_w[q + 1] * mult_q >> 32) + off]
                cls = classes[lines_w[q + 2] * n_classes >> 32]
                if service:
                    if lines_w[q + 3] < _P3:
                        if service_date is None:
                            service_date = _SERVICE_DATE % txn_date
                        lines.append(f'{_LINE_START[n_]}{head}{cls}{tail}{service_date}}}{link}}}')
                    else:
                        lines.append(f'{_LINE_START[n_]}{head}{cls}{tail}}}{link}}}')
                    q += 4
                else:
                    lines.append(f'{_LINE_START[n_]}{head}{cls}{tail}}}{link}}}')
                    q += 3
                subtotal += amount_c
                if taxed:
                    taxable += amount_c
            # _custom_fields: Work Order # (a number 3 in 5), Sales Rep (1 in 2)
            wo = f',"StringValue":"WO-{10000 + i // 7}"}}' if w[p] < _P6 else "}"
            if w[p + 1] < _P5:
                custom = f'{_CF_WORK_ORDER}{wo}{_CF_SALES_REP[w[p + 2] * 4 >> 32]}]'
                p += 3
            else:
                custom = f'{_CF_WORK_ORDER}{wo}]'
                p += 2
            dept = depts[w[p] * n_depts >> 32]
            if not cust.tax_code or not cust.taxable:
                tax, total = '{"TotalTax":0}', subtotal
            else:
                hit = tax_by_code.get(cust.tax_code)
                hit = hit.get(taxable) if hit is not None else None
                tax, total_tax = hit if hit is not None else tax_detail(cust, taxable)
                total = subtotal + total_tax
            if k < 4:
                x = (i * 2654435761 + s_paid) & 0xFFFFFFFF  # g._paid_fully(i)
                x ^= x >> 16
                x = (x * 73244475) & 0xFFFFFFFF
                # g._partial: money(total / 2) (half up), foreign Decimal(int(total / 2)) (whole units)
                paid = total if x ^ (x >> 16) < _P_08 else total // 200 * 100 if foreign else (total + 1) // 2
                linked = f'{{"TxnId":"{100 + cycle * CYCLE + pay_pos[k]}","TxnType":"Payment"}}'
                if converted:
                    linked += f',{{"TxnId":"{100 + est_i}","TxnType":"Estimate"}}'
            else:
                paid, linked = 0, ""
            balance = total - paid
            if foreign:
                r100, xrate, rate = rates.get((cust.currency, txn_date[:7])) or self._rate(cust.currency, txn_date)
                if r100 is not None:  # money(total * rate) in int cents: (T * R + 50) // 100 (half up, >= 0)
                    home_total = f',"HomeTotalAmt":{_ct((total * r100 + 50) // 100)}'
                    home_balance = f',"HomeBalance":{_ct((balance * r100 + 50) // 100)}'
                else:
                    home_total = f',"HomeTotalAmt":{_m(from_cents(total) * rate)}'
                    home_balance = f',"HomeBalance":{_m(from_cents(balance) * rate)}'
            else:
                xrate = home_total = home_balance = ""
            print_status = "NeedToPrint" if w[p + 1] < _P3 else "NotSet"
            email_status = "EmailSent" if w[p + 2] < _P5 else "NotSet"
            if k < inv_per:  # sums.put_invoice_cents(cycle, k, total, balance, cust, txn_date) inlined
                si = cycle * inv_per + k
                if inv_total[si] == UNKNOWN:
                    inv_balance[si] = balance
                    v = cust_ids.get(cust)
                    inv_cust[si] = sums.objects.id(cust) if v is None else v
                    v = date_ids.get(txn_date)
                    inv_date[si] = sums.dates.id(txn_date) if v is None else v
                    inv_total[si] = total
            if voided:  # (ordinal 4: no payment, not converted, no sums kept)
                out.append(
                    f'{_INVOICE_START}"domain":"QBO","sparse":false,"Id":"{100 + i}","SyncToken":"{sync}","MetaData":'
                    f'{{"CreateTime":"{created}","LastUpdatedTime":"{updated}"}},"CustomField":{custom},"DocNumber":"'
                    f'{1001 + cycle * n_inv + k}","TxnDate":"{txn_date}","DepartmentRef":{dept},"CurrencyRef":'
                    f'{cust.currency_ref}{xrate},"LinkedTxn":[],"Line":[{",".join(lines)},{{"Amount":0,'
                    f'"DetailType":"SubTotalLineDetail","SubTotalLineDetail":{{}}}}],"TxnTaxDetail":{{"TotalTax":0}}'
                    f'{cust.invoice_tail}{add_days(txn_date, cust.term_days)}","TotalAmt":0'
                    f'{_HOME_TOTAL_0 if foreign else ""},"ApplyTaxAfterDiscount":false,"PrintStatus":"'
                    f'{print_status}","EmailStatus":"{email_status}"{cust.bill_email},"Balance":0'
                    f'{_HOME_BALANCE_0 if foreign else ""}{_VOIDED_NOTE}')
                continue
            # amounts as _ct writes them (subtotal and total are > 0: every line amount is)
            out.append(
                f'{_INVOICE_START}"domain":"QBO","sparse":false,"Id":"{100 + i}","SyncToken":"{sync}","MetaData":'
                f'{{"CreateTime":"{created}","LastUpdatedTime":"{updated}"}},"CustomField":{custom},"DocNumber":"'
                f'{1001 + cycle * n_inv + k}","TxnDate":"{txn_date}","DepartmentRef":{dept},"CurrencyRef":'
                f'{cust.currency_ref}{xrate},"LinkedTxn":[{linked}],"Line":[{",".join(lines)},{{"Amount":'
                f'{subtotal // 100}{_CENTS[subtotal % 100]},"DetailType":"SubTotalLineDetail","SubTotalLineDetail":'
                f'{{}}}}],"TxnTaxDetail":{tax}{cust.invoice_tail}{add_days(txn_date, cust.term_days)}","TotalAmt":'
                f'{total // 100}{_CENTS[total % 100]}{home_total},"ApplyTaxAfterDiscount":false,"PrintStatus":"'
                f'{print_status}","EmailStatus":"{email_status}"{cust.bill_email},"Balance":'
                f'{f"{balance // 100}{_CENTS[balance % 100]}" if balance else "0"}{home_balance}}}')
        return out

    def _invoice_parts(self, i: int, text: bool = False) -> tuple[str | None, tuple]:
        """``generator._b_Invoice``'s fields a payment of the invoice copies → (None, (TotalAmt in
        cents, Balance in cents, customer, TxnDate, DocNumber)), from the kept sums or the draws they
        need only; ``text=True``: (``_invoice(i)``'s text, those fields). Amounts are int cents: lines,
        tax lines and the paid part (the total, money(total / 2) or its whole units) are cent amounts,
        so their sums are exact."""
        g = self.g
        cycle, k = divmod(i, CYCLE)
        k = SLOT_ORD[k]
        doc_number = str(1001 + cycle * self.n_invoice_slots + k)
        if text:
            data = self._invoice(i)
            return data, self._invoice_parts(i)[1]
        if k < self.sums.inv_per:
            known = self.sums.invoice_cents(cycle, k)
            if known is not None:
                return None, known + (doc_number,)
        converted = k == 2 and g.estimate_converted(cycle)
        est_i = g.index_of("Estimate", cycle, 0) if converted else -1
        nx = stream_words(self.rseed, DOC, i).__next__
        txn_date = self._txn_date(i, nx)
        if converted:
            cust = self._pick_customer(stream_words(self.rseed, DOC, est_i).__next__, False)  # its first draw
            key = est_i
        else:
            cust = self._pick_customer(nx, k < 2)
            key = i
        # g.n_lines(key) (an invoice's or its estimate's: the same formula), _h inlined
        x = (key * 2654435761 + self._salt + 81006) & 0xFFFFFFFF
        x ^= x >> 16
        x = (x * 73244475) & 0xFFFFFFFF
        x ^= x >> 16
        n_lines = 1 + (x * 5 >> 32)
        paid_fully = False
        if k < 4:
            # g._paid_fully(i), _h inlined
            x = (i * 2654435761 + self._salt + 202515) & 0xFFFFFFFF
            x ^= x >> 16
            x = (x * 73244475) & 0xFFFFFFFF
            x ^= x >> 16
            paid_fully = x / 4294967296.0 < 0.8
        foreign = cust.currency != "USD"
        subtotal, taxable = self._sales_sums(key, cust, n_lines)
        total = subtotal + self._tax_total(cust, taxable)
        # g._partial: money(total / 2) (half up), foreign Decimal(int(total / 2)) (whole units)
        paid = 0 if k >= 4 else total if paid_fully else total // 200 * 100 if foreign else (total + 1) // 2
        if k < self.sums.inv_per:
            self.sums.put_invoice_cents(cycle, k, total, total - paid, cust, txn_date)
        return None, (total, total - paid, cust, txn_date, doc_number)

    def _payment(self, i: int) -> str | None:
        """``generator._b_Payment`` as JSON text: pays invoice ordinal k of its cycle (its sums kept in
        ``LinkSums``, a block's at once when cold); a run of one (``_payments_run``)."""
        return self._payments_run((i,))[0]

    def _payments_run(self, run) -> list[str | None]:
        """``_payment`` for a run of payments in one block of ``BLOCK_CYCLES`` cycles (a page's
        consecutive payments): the word blocks and the kept invoice sums (``LinkSums`` arrays, read by
        index: ``invoice_cents`` inlined; a cold one keeps its block's at once, ``_keep_invoice_sums``)
        loaded once a run, ``_head`` inlined, one f-string a payment."""
        g = self.g
        b = run[0] // CYCLE // BLOCK_CYCLES
        c0 = b * BLOCK_CYCLES
        rseed = self.rseed
        words = {}  # slot -> (doc words, width)
        start, step = self._start, self._step
        hours, mmss = _HOURS, _MMSS
        sums = self.sums
        inv_per = sums.inv_per
        inv_total, inv_balance, inv_cust, inv_date = sums.inv_total, sums.inv_balance, sums.inv_cust, sums.inv_date
        objects, date_values = sums.objects.values, sums.dates.values
        dep_amount = sums.dep_amount
        invoice_pos, deposit_pos, n_invoice_slots = self._invoice_pos, self._deposit_pos, self.n_invoice_slots
        rates, ar_refs, cents_t = self._rates, self.ar_refs, _CENTS
        n_cycles = g.n_cycles
        out = []
        for i in run:
            cycle, pos = divmod(i, CYCLE)
            k = SLOT_ORD[pos]
            inv_i = cycle * CYCLE + invoice_pos[k]  # g.index_of("Invoice", cycle, k)
            if k == 4 and g.is_voided(inv_i):  # only an invoice of ordinal 4 is ever voided
                out.append(None)
                continue
            s = cycle * inv_per + k
            it = inv_total[s]
            if it == UNKNOWN:  # a cold payment: keep the sums of its block's invoices at once
                self._keep_invoice_sums(cycle)
                it = inv_total[s]
            ib = inv_balance[s]
            cust, i_date = objects[inv_cust[s]], date_values[inv_date[s]]
            total = it - ib  # cents
            ws = words.get(pos)
            if ws is None:
                ws = words[pos] = stream_block(rseed, DOC, pos, b)
            w, width = ws
            p = (cycle - c0) * width
            # _head: g.time_of(i), edited 1 in 5 (the edit time uniform(0.1, 1.0) steps before), days back
            upd = _floor(start + (i + 1) * step)
            if w[p] < _P2:
                create = _floor(upd - (0.1 + (1.0 - 0.1) * (w[p + 1] * WORD)) * step)
                sync = "1"
                p += 2
            else:
                create, sync = upd, "0"
                p += 1
            h = (create - (w[p] * 3 >> 32) * 86400) // 3600
            txn_date = (hours.get(h) or _hour(h))[2]
            h, r = divmod(upd, 3600)
            v = hours.get(h) or _hour(h)
            updated = v[0] + mmss[r] + v[1]
            if create == upd:
                created = updated
            else:
                h, r = divmod(create, 3600)
                v = hours.get(h) or _hour(h)
                created = v[0] + mmss[r] + v[1]
            cur = cust.currency
            to_undeposited = k < 2 and cur == "USD"
            method = _PAY_METHODS[w[p + 1] * 5 >> 32]
            if method == "2":
                ref_num = str(1000 + (w[p + 2] * 99000 >> 32))
                ref_t = f',"PaymentRefNum":"{ref_num}"'
            else:
                ref_num, ref_t = None, ""
            total_t = f"{total // 100}{cents_t[total % 100]}" if total else "0"  # _ct(total)
            date = txn_date if txn_date > i_date else i_date  # max(txn_date, inv_date)
            if cur == "USD":
                fx = home = ""
            else:
                rate = (rates.get((cur, i_date[:7])) or self._rate(cur, i_date))[2]  # g.rate(cur, inv_date)
                fx = f',"ExchangeRate":{_n(rate)},"ARAccountRef":{ar_refs[cur]}'
                home = f',"HomeTotalAmt":{_m(from_cents(total) * rate)}'
            if to_undeposited and cycle < n_cycles:
                linked = f'[{{"TxnId":"{100 + cycle * CYCLE + deposit_pos}","TxnType":"Deposit"}}]'
            else:
                linked = "[]"
            if k < 2 and dep_amount[cycle * 3 + k] == UNKNOWN:
                sums.put_deposit_input_cents(cycle, k, total, _PM_VALUE[method], ref_num, date)
            inv_id = 100 + inv_i
            # the LineEx values are _nv_text of digit strings (JSON-encoded as themselves in quotes)
            out.append(
                f'{{"CustomerRef":{cust.ref},"DepositToAccountRef":{{"value":"'
                f'{co.A_UNDEPOSITED if to_undeposited else co.A_CHECKING}"}},"PaymentMethodRef":{{"value":"{method}"}}'
                f'{ref_t},"TotalAmt":{total_t},"UnappliedAmt":0,"ProcessPayment":false,"domain":"QBO","sparse":false,'
                f'"Id":"{100 + i}","SyncToken":"{sync}","MetaData":{{"CreateTime":"{created}","LastUpdatedTime":'
                f'"{updated}"}},"TxnDate":"{date}",'
                f'"CurrencyRef":{cust.currency_ref}{fx},"LinkedTxn":{linked},"Line":[{{"Amount":{total_t},'
                f'"LinkedTxn":[{{"TxnId":"{inv_id}","TxnType":"Invoice"}}],"LineEx":{{"any":[{_NV_TXN_ID}{inv_id}'
                f'{_NV_OPEN_BALANCE}{it // 100}{cents_t[it % 100]}{_NV_REF_NUMBER}'
                f'{1001 + cycle * n_invoice_slots + k}"{_NV_C}]}}}}]{home}}}')
        return out

    def _payment_parts(self, i: int, text: bool = False) -> tuple[str | None, tuple] | None:
        """``generator._b_Payment``'s fields a deposit copies → (None, (TotalAmt in cents,
        PaymentMethodRef text, PaymentRefNum or None, TxnDate)) from the draws only; ``text=True``:
        (``_payment(i)``'s text, those fields)."""
        g = self.g
        cycle, k = divmod(i, CYCLE)
        k = SLOT_ORD[k]
        inv_i = cycle * CYCLE + self._invoice_pos[k]  # g.index_of("Invoice", cycle, k)
        if k == 4 and g.is_voided(inv_i):  # only an invoice of ordinal 4 is ever voided
            return None
        if text:
            data = self._payment(i)
            return data, self._payment_parts(i)[1]
        known = self.sums.invoice_cents(cycle, k)
        if known is None:  # a cold payment: keep the sums of its block's invoices at once
            self._keep_invoice_sums(cycle)
            known = self.sums.invoice_cents(cycle, k)
        inv_total, inv_balance, cust, inv_date = known
        nx = stream_words(self.rseed, DOC, i).__next__
        total = inv_total - inv_balance  # cents
        txn_date = self._txn_date(i, nx)
        method = ("2", "2", "3", "4", "6")[(nx() * 5 >> 32)]
        ref_num = str(1000 + (nx() * 99000 >> 32)) if method == "2" else None
        summary = (total, _PM_VALUE[method], ref_num, txn_date if txn_date > inv_date else inv_date)
        if k < 2:
            self.sums.put_deposit_input_cents(cycle, k, *summary)
        return None, summary
