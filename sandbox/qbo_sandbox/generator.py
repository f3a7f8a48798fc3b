"""Lazy, deterministic transaction generator.

Transaction ``i`` (0 ≤ i < N) is a pure function of (seed, realm, i): its entity type comes from
its slot in a fixed 29-slot "cycle" (``SLOTS``), its ``MetaData.LastUpdatedTime`` grows with ``i``,
and its content from random words that depend only on (seed, realm, i): its slices of Mersenne
Twister blocks seeded per (seed, realm, slot, 64 cycles) (``stream_words``). Linked documents are
derived from each other the same way (payment slot k of a cycle pays invoice ordinal k of that cycle;
bill payments pay the cycle's bills; a deposit banks the cycle's undeposited payments; an estimate
may be converted into the cycle's third invoice), so nothing has to be held in memory: the
``--size large`` company (over a million transaction lines) costs a few arrays of ints.

Every posting document is balanced: lines carry item or account refs, ``TotalAmt`` is the sum
of the lines plus tax, invoice/bill ``Balance`` equals the total minus the linked payments.
Foreign-currency documents (CAD/EUR customers and vendors) use whole-unit amounts and two-decimal
exchange rates, so ``HomeTotalAmt`` is exact.
"""
from __future__ import annotations

import random
import sys
from array import array
from decimal import Decimal
from functools import lru_cache

from . import company as co
from .company import ref, CURRENCIES, header
from .timefmt import add_days, local_date
from .wire import money

ZERO = Decimal("0")

SLOTS = [
    "Invoice", "Invoice", "Estimate", "Bill", "Purchase", "Payment", "Invoice", "TimeActivity", "SalesReceipt",
    "Bill", "BillPayment", "Payment", "Purchase", "Invoice", "PurchaseOrder", "CreditMemo", "JournalEntry",
    "Payment", "Bill", "Deposit", "Invoice", "Purchase", "BillPayment", "SalesReceipt", "RefundReceipt",
    "VendorCredit", "Transfer", "Payment", "TimeActivity",
]
CYCLE = len(SLOTS)
#: entity → slot positions within a cycle (ordinal k of an entity in a cycle is SLOT_POS[e][k])
SLOT_POS: dict[str, list[int]] = {}
for _pos, _e in enumerate(SLOTS):
    SLOT_POS.setdefault(_e, []).append(_pos)
SLOT_ORD = {}
for _e, _ps in SLOT_POS.items():
    for _k, _p in enumerate(_ps):
        SLOT_ORD[_p] = _k
TXN_ENTITIES = tuple(SLOT_POS)

CYCLES = {"demo": 150, "large": 18000}
ID_BASE = 100  # transaction Ids are str(ID_BASE + i); name lists use their own small ids

MEMO = {"value": "Thank you for your business!"}
LINE_EX_NS = "{http://schema.intuit.com/finance/v3}NameValue"
USD = CURRENCIES["USD"]


#: Random draws. A document's draws come from its *streams*: a few 32-bit words of a Mersenne
#: Twister seeded once per (realm, stream kind, cycle slot, block of BLOCK_CYCLES cycles), document j
#: of the block reading words [j * width, (j + 1) * width). A page of one entity reads consecutive
#: cycles, so it seeds a generator every 64 documents instead of once or twice a document (a seeding
#: is ~30,000 instructions: a fifth of a rendered document). Each draw takes one word:
#: ``below(n) = word * n >> 32`` (randrange, randint, choice) and ``random() = word * 2**-32``.
#: A stream's width is the most its builder can draw (no rejection loops: the counts are bounded by
#: the line counts); reading past it raises (StopIteration), never reads the next document's words.
BLOCK_CYCLES = 64
WORD = 2.0 ** -32
DOC, LINES = 0, 1  # stream kinds: a document's own draws; a sales document's item lines
DOC_WORDS = {  # head 3 (edited?, edit time, days back) + the builder's own draws
    "Invoice": 10, "Estimate": 9, "SalesReceipt": 10, "CreditMemo": 8, "RefundReceipt": 10,
    "Payment": 5, "Deposit": 5, "BillPayment": 3, "Transfer": 5, "TimeActivity": 11, "JournalEntry": 12,
    "Bill": 24, "Purchase": 25, "PurchaseOrder": 17, "VendorCredit": 14}  # expense lines: <= 3 of <= 6 draws
#: a sales document's item lines: <= 4 draws a line (item, quantity, class, service date?), <= 5 lines
#: (<= 3 for credit memos and refund receipts); no other entity has a lines stream
LINE_WORDS = {"Invoice": 20, "Estimate": 20, "SalesReceipt": 20, "CreditMemo": 12, "RefundReceipt": 12}
_WIDTHS = ([DOC_WORDS[e] for e in SLOTS], [LINE_WORDS.get(e, 0) for e in SLOTS])
_TYPECODE = next(t for t in "ILQ" if array(t).itemsize == 4)


#: word blocks by (rseed, kind, slot, block), a few KB each, shared by the threads (a block is never
#: changed once stored; two threads making the same one store equal arrays)
_blocks: dict[tuple, array] = {}


def _block(key: tuple, width: int) -> array:
    rseed, kind, pos, b = key
    r = random.Random((((rseed * 2 + kind) * CYCLE + pos) << 24) + b)
    words = array(_TYPECODE)
    words.frombytes(r.randbytes(BLOCK_CYCLES * width * 4))  # = getrandbits(32) words, in order
    if sys.byteorder == "big":
        words.byteswap()
    if len(_blocks) >= 512:  # a sequential pass over every entity keeps ~60 live: cleared rarely
        _blocks.clear()
    _blocks[key] = words
    return words


def stream_words(rseed: int, kind: int, i: int):
    """Iterator over the words of stream ``kind`` (DOC or LINES) of base document ``i``."""
    return iter(stream_slice(rseed, kind, i))


def stream_block(rseed: int, kind: int, pos: int, b: int) -> tuple[array, int]:
    """(the words of block ``b`` of stream ``kind`` of slot ``pos``, its width): document j of the
    block (cycle ``b * BLOCK_CYCLES + j``) reads ``words[j * width:(j + 1) * width]``."""
    width = _WIDTHS[kind][pos]
    key = (rseed, kind, pos, b)
    return _blocks.get(key) or _block(key, width), width


def stream_slice(rseed: int, kind: int, i: int) -> array:
    """The words of stream ``kind`` of base document ``i`` as an array (``stream_words`` without the
    iterator: a reader that indexes them can skip the draws it does not need)."""
    cycle, pos = divmod(i, CYCLE)
    b, j = divmod(cycle, BLOCK_CYCLES)
    width = _WIDTHS[kind][pos]
    key = (rseed, kind, pos, b)
    words = _blocks.get(key) or _block(key, width)
    j *= width
    return words[j:j + width]


class Rng(random.Random):
    """The ``random.Random`` API (random, randrange, randint, choice, uniform) over one stream's
    words (``stream_words``): the draws ``render.py`` makes inline, through the same formulas."""

    def __init__(self, words):  # no Random.__init__: the Mersenne Twister state of the base is unused
        self._next = words.__next__

    def random(self) -> float:
        return self._next() * WORD

    def _randbelow(self, n: int) -> int:
        return self._next() * n >> 32

    def getrandbits(self, k: int) -> int:
        if not 0 < k <= 32:
            raise ValueError("a stream word has 32 bits")
        return self._next() >> (32 - k)

    def seed(self, *args, **kwargs):
        raise TypeError("a document stream is not re-seeded")


def _nv(name: str, value: str) -> dict:
    return {"name": LINE_EX_NS, "declaredType": "com.intuit.schema.finance.v3.NameValue",
            "scope": "javax.xml.bind.JAXBElement$GlobalScope", "value": {"Name": name, "Value": value},
            "nil": False, "globalScope": True, "typeSubstituted": False}


def _norm(d: Decimal):
    """A non-money number as QBO writes it: 4, 22.5 (no trailing zeros)."""
    if d == d.to_integral_value():
        return int(d)
    return d.normalize()


def _m(d: Decimal):
    """Money: cents, except zero which QBO writes as a bare 0."""
    d = money(d)
    return d if d else 0


class TxnGenerator:
    def __init__(self, company: co.Company, seed: int, realm_index: int, n_cycles: int, cache_size: int):
        self.co = company
        self.salt = (seed * 1_000_003 + realm_index * 7_919 + 17) & 0xFFFFFFFF
        self.rseed = seed * 10_000_019 + realm_index * 104_729
        self.n_cycles = n_cycles
        self.N = n_cycles * CYCLE
        self.start, self.end = company.start, company.end
        self.step = (self.end - self.start) / (self.N + 1)
        self.doc = lru_cache(maxsize=cache_size)(self._build)
        c = company
        self.acct = {a["Id"]: ref(a["Id"], a["FullyQualifiedName"]) for a in c.lists["Account"]}
        self.items = c.items
        self.item_refs = {i["Id"]: ref(i["Id"], i["Name"]) for i in c.lists["Item"]}
        self.pm_refs = {p["Id"]: ref(p["Id"], p["Name"]) for p in c.lists["PaymentMethod"]}
        self.term_days = {t["Id"]: (t["Name"], t["DueDays"]) for t in c.lists["Term"]}

    # -- pure index arithmetic -----------------------------------------------------------------
    def entity_of(self, i: int) -> str:
        return SLOTS[i % CYCLE]

    def index_of(self, entity: str, cycle: int, k: int) -> int:
        return cycle * CYCLE + SLOT_POS[entity][k]

    def time_of(self, i: int) -> int:
        """MetaData.LastUpdatedTime (epoch seconds) of base transaction i: strictly increasing."""
        return int(self.start + (i + 1) * self.step)

    def index_at_or_after(self, t: float) -> int:
        """Smallest i with time_of(i) >= t (0..N)."""
        i = max(0, int((t - self.start) / self.step) - 2)
        while i < self.N and self.time_of(i) < t:
            i += 1
        return min(i, self.N)

    def _h(self, i: int, salt: int = 0) -> float:
        """A cheap deterministic hash of i in [0, 1) (decides voids, deletions, line counts)."""
        x = (i * 2654435761 + self.salt + salt * 40503) & 0xFFFFFFFF
        x ^= x >> 16
        x = (x * 73244475) & 0xFFFFFFFF
        x ^= x >> 16
        return x / 4294967296.0

    def is_deleted(self, i: int) -> bool:
        e = SLOTS[i % CYCLE]
        if e == "Invoice":
            return SLOT_ORD[i % CYCLE] == 4 and 0.03 <= self._h(i, 1) < 0.06
        if e in ("Estimate", "TimeActivity"):
            return self._h(i, 1) < 0.03
        if e == "Purchase":
            return SLOT_ORD[i % CYCLE] == 2 and self._h(i, 1) < 0.04
        return False

    def deleted_time(self, i: int) -> int:
        return int(self.start + (i + 1.5) * self.step)

    def is_voided(self, i: int) -> bool:
        e = SLOTS[i % CYCLE]
        k = SLOT_ORD[i % CYCLE]
        if e == "Invoice":
            return k == 4 and self._h(i, 1) < 0.03
        if e == "SalesReceipt":
            return k == 1 and self._h(i, 1) < 0.05
        if e == "Purchase":
            return k == 1 and self._h(i, 1) < 0.03
        return False

    def n_lines(self, i: int) -> int:
        """Number of item/account lines of transaction i (before subtotal/discount lines)."""
        e = SLOTS[i % CYCLE]
        h = self._h(i, 2)
        if e in ("Invoice", "Estimate", "SalesReceipt"):
            if e == "Invoice" and SLOT_ORD[i % CYCLE] == 2 and self.estimate_converted(i // CYCLE):
                return self.n_lines(self.index_of("Estimate", i // CYCLE, 0))
            return 1 + int(h * 5)
        if e in ("Bill", "PurchaseOrder", "Purchase", "CreditMemo", "RefundReceipt", "VendorCredit"):
            return 1 + int(h * 3)
        if e == "JournalEntry":
            return 2 + int(h * 3)
        return 1

    def line_count(self, i: int) -> int:
        """len(doc(i)["Line"]) computed without building the document."""
        e = SLOTS[i % CYCLE]
        if e in ("TimeActivity", "Transfer"):
            return 0
        if e in ("Invoice", "Estimate", "CreditMemo", "RefundReceipt"):
            return self.n_lines(i) + 1
        if e == "SalesReceipt":
            return self.n_lines(i) + 1 + (1 if self._has_discount(i) else 0)
        if e == "Deposit":
            return 1 + len(self._deposit_payments(i // CYCLE))
        return self.n_lines(i)

    def estimate_converted(self, cycle: int) -> bool:
        i = self.index_of("Estimate", cycle, 0)
        return not self.is_deleted(i) and self._h(i, 3) < 0.5

    def _has_discount(self, i: int) -> bool:
        return self._h(i, 4) < 0.25

    def _paid_fully(self, inv_i: int) -> bool:
        return self._h(inv_i, 5) < 0.8

    # -- shared pieces -------------------------------------------------------------------------
    def _rnd(self, i: int) -> random.Random:
        return Rng(stream_words(self.rseed, DOC, i))

    def _dates(self, i: int, rnd: random.Random) -> tuple[int, int, int, str]:
        """(create, update, sync, TxnDate) — a fifth of the documents were edited after creation."""
        upd = self.time_of(i)
        if rnd.random() < 0.2:
            create = int(upd - rnd.uniform(0.1, 1.0) * self.step)
            sync = 1
        else:
            create, sync = upd, 0
        return create, upd, sync, local_date(create - rnd.randint(0, 2) * 86400)

    def rate(self, currency: str, txn_date: str) -> Decimal:
        if currency == "USD":
            return Decimal(1)
        y, m = int(txn_date[:4]), int(txn_date[5:7])
        n = (y * 12 + m) % 97
        if currency == "CAD":
            return Decimal(70 + (n * 7) % 6) / 100
        return Decimal(105 + (n * 5) % 8) / 100

    def _currency_fields(self, d: dict, currency: str, txn_date: str) -> Decimal:
        d["CurrencyRef"] = CURRENCIES[currency]
        if currency != "USD":
            r = self.rate(currency, txn_date)
            d["ExchangeRate"] = _norm(r)
            return r
        return Decimal(1)

    def _customer(self, rnd: random.Random, usd_only: bool = False) -> dict:
        pool = self.co.usd_customers if usd_only else self.co.active_customers
        return pool[rnd.randrange(len(pool))]

    def _vendor(self, rnd: random.Random, usd_only: bool = False) -> dict:
        pool = self.co.usd_vendors if usd_only else self.co.active_vendors
        return pool[rnd.randrange(len(pool))]

    def _sales_lines(self, key: int, cust: dict, n: int, purpose: str = "sale"):
        """Item lines for a sales document; a pure function of ``key`` (an index) and the customer."""
        rnd = Rng(stream_words(self.rseed, LINES, key))
        foreign = cust["CurrencyRef"]["value"] != "USD"
        lines, subtotal, taxable = [], ZERO, ZERO
        classes = self.co.class_refs
        for n_ in range(n):
            item = self.items[co.SALES_ITEMS[rnd.randrange(len(co.SALES_ITEMS))]]
            price = item["UnitPrice"]
            if foreign:
                price = price.to_integral_value() or Decimal(1)
                qty = Decimal(rnd.randint(1, 12))
            else:
                qty = Decimal(rnd.randint(1, 40)) if item["Type"] != "Service" else Decimal(rnd.randint(2, 24)) / 2
            amount = money(price * qty)
            is_taxable = item["Taxable"] and cust["Taxable"]
            detail = {"ItemRef": self.item_refs[item["Id"]], "ClassRef": classes[rnd.randrange(len(classes))],
                      "UnitPrice": _norm(price), "Qty": _norm(qty),
                      "TaxCodeRef": {"value": "TAX" if is_taxable else "NON"}}
            if item["Type"] == "Service" and rnd.random() < 0.3:
                detail["ServiceDate"] = None  # filled by caller with TxnDate (kept sparse otherwise)
            lines.append({"Id": str(n_ + 1), "LineNum": n_ + 1, "Description": item["Description"],
                          "Amount": _m(amount), "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": detail})
            subtotal += amount
            if is_taxable:
                taxable += amount
        return lines, subtotal, taxable

    def _tax_detail(self, cust: dict, taxable: Decimal) -> tuple[dict, Decimal]:
        code = (cust.get("DefaultTaxCodeRef") or {}).get("value")
        if not code or not cust["Taxable"]:
            return {"TotalTax": 0}, ZERO
        tax_lines, total = [], ZERO
        for rid in self.co.tax_codes[code]:
            _name, pct = self.co.tax_rates[rid]
            amt = money(taxable * pct / 100)
            total += amt
            tax_lines.append({"Amount": _m(amt), "DetailType": "TaxLineDetail",
                              "TaxLineDetail": {"TaxRateRef": {"value": rid}, "PercentBased": True,
                                                "TaxPercent": _norm(pct), "NetAmountTaxable": _m(taxable)}})
        return {"TxnTaxCodeRef": {"value": code}, "TotalTax": _norm(total), "TaxLine": tax_lines}, total

    def _custom_fields(self, rnd: random.Random, i: int) -> list[dict]:
        cf = {"DefinitionId": "1", "Name": "Work Order #", "Type": "StringType"}
        if rnd.random() < 0.6:
            cf["StringValue"] = f"WO-{10000 + i // 7}"
        out = [cf]
        if rnd.random() < 0.5:
            out.append({"DefinitionId": "2", "Name": "Sales Rep", "Type": "StringType",
                        "StringValue": rnd.choice(["North", "South", "Key Accounts", "Export"])})
        return out

    # -- builders ------------------------------------------------------------------------------
    def _build(self, i: int) -> dict:
        e = SLOTS[i % CYCLE]
        d = getattr(self, "_b_" + e)(i, i // CYCLE, SLOT_ORD[i % CYCLE])
        if self.is_voided(i):
            self._void(d)
        return d

    def txn_id(self, i: int) -> str:
        return str(ID_BASE + i)

    def _head(self, i: int, rnd: random.Random) -> tuple[dict, str]:
        create, upd, sync, txn_date = self._dates(i, rnd)
        return header(self.txn_id(i), create, upd, sync), txn_date

    def _doc_number(self, e: str, cycle: int, k: int) -> str:
        return str(1001 + cycle * len(SLOT_POS[e]) + k)

    def _sales_doc(self, i, cycle, k, entity, content_key=None, cust=None):
        rnd = self._rnd(i)
        head, txn_date = self._head(i, rnd)
        if cust is None:
            cust = self._customer(rnd)
        key = i if content_key is None else content_key
        lines, subtotal, taxable = self._sales_lines(key, cust, self.n_lines(key))
        for ln in lines:
            det = ln["SalesItemLineDetail"]
            if "ServiceDate" in det:
                det["ServiceDate"] = txn_date
        d = {}
        return d, head, txn_date, cust, lines, subtotal, taxable, rnd

    def _b_Invoice(self, i, cycle, k):
        est_i = self.index_of("Estimate", cycle, 0)
        converted = k == 2 and self.estimate_converted(cycle)
        rnd = self._rnd(i)
        head, txn_date = self._head(i, rnd)
        if converted:
            cust = self._customer(self._rnd(est_i))
            key = est_i
        else:
            cust = self._customer(rnd, usd_only=k < 2)  # ordinals 0-1 are paid into Undeposited Funds
            key = i
        lines, subtotal, taxable = self._sales_lines(key, cust, self.n_lines(key))
        for ln in lines:
            det = ln["SalesItemLineDetail"]
            if "ServiceDate" in det:
                det["ServiceDate"] = txn_date
            if converted:
                ln["LinkedTxn"] = [{"TxnId": self.txn_id(est_i), "TxnType": "Estimate"}]
        cur = cust["CurrencyRef"]["value"]
        d = {"AllowIPNPayment": False, "AllowOnlinePayment": False, "AllowOnlineCreditCardPayment": False,
             "AllowOnlineACHPayment": False}
        d.update(head)
        d["CustomField"] = self._custom_fields(rnd, i)
        d["DocNumber"] = self._doc_number("Invoice", cycle, k)
        d["TxnDate"] = txn_date
        d["DepartmentRef"] = self.co.dept_refs[rnd.randrange(len(self.co.dept_refs))]
        rate = self._currency_fields(d, cur, txn_date)
        tax, total_tax = self._tax_detail(cust, taxable)
        total = subtotal + total_tax
        paid = ZERO
        linked = []
        if k < 4:
            pay_i = self.index_of("Payment", cycle, k)
            paid = total if self._paid_fully(i) else self._partial(total, cur)
            linked.append({"TxnId": self.txn_id(pay_i), "TxnType": "Payment"})
        if converted:
            linked.append({"TxnId": self.txn_id(est_i), "TxnType": "Estimate"})
        d["LinkedTxn"] = linked
        lines.append({"Amount": _m(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
        d["Line"] = lines
        d["TxnTaxDetail"] = tax
        d["CustomerRef"] = ref(cust["Id"], cust["DisplayName"])
        d["CustomerMemo"] = MEMO
        d["BillAddr"] = cust["BillAddr"]
        if "ShipAddr" in cust:
            d["ShipAddr"] = cust["ShipAddr"]
        if cur != "USD":
            d["ARAccountRef"] = self.acct[co.A_AR[cur]]
        term = (cust.get("SalesTermRef") or {}).get("value", "3")
        tname, tdays = self.term_days[term]
        d["SalesTermRef"] = ref(term, tname)
        d["DueDate"] = add_days(txn_date, tdays)
        d["TotalAmt"] = _m(total)
        if cur != "USD":
            d["HomeTotalAmt"] = _m(total * rate)
        d["ApplyTaxAfterDiscount"] = False
        d["PrintStatus"] = "NeedToPrint" if rnd.random() < 0.3 else "NotSet"
        d["EmailStatus"] = "EmailSent" if rnd.random() < 0.5 else "NotSet"
        if "PrimaryEmailAddr" in cust:
            d["BillEmail"] = cust["PrimaryEmailAddr"]
        d["Balance"] = _m(total - paid)
        if cur != "USD":
            d["HomeBalance"] = _m((total - paid) * rate)
        return d

    @staticmethod
    def _partial(total: Decimal, cur: str) -> Decimal:
        half = total / 2
        return Decimal(int(half)) if cur != "USD" else money(half)

    def _b_Payment(self, i, cycle, k):
        inv_i = self.index_of("Invoice", cycle, k)
        inv = self.doc(inv_i)
        rnd = self._rnd(i)
        head, txn_date = self._head(i, rnd)
        total = money(inv["TotalAmt"]) - money(inv["Balance"])
        cur = inv["CurrencyRef"]["value"]
        to_undeposited = k < 2 and cur == "USD"
        d = {"CustomerRef": inv["CustomerRef"],
             "DepositToAccountRef": {"value": co.A_UNDEPOSITED if to_undeposited else co.A_CHECKING},
             "PaymentMethodRef": {"value": rnd.choice(["2", "2", "3", "4", "6"])}}
        if d["PaymentMethodRef"]["value"] == "2":
            d["PaymentRefNum"] = str(rnd.randint(1000, 99999))
        d["TotalAmt"] = _m(total)
        d["UnappliedAmt"] = 0
        d["ProcessPayment"] = False
        d.update(head)
        d["TxnDate"] = max(txn_date, inv["TxnDate"])
        rate = self._currency_fields(d, cur, inv["TxnDate"])
        if cur != "USD":
            d["ExchangeRate"] = _norm(rate)
            d["ARAccountRef"] = self.acct[co.A_AR[cur]]
        if to_undeposited and cycle < self.n_cycles:
            d["LinkedTxn"] = [{"TxnId": self.txn_id(self.index_of("Deposit", cycle, 0)), "TxnType": "Deposit"}]
        else:
            d["LinkedTxn"] = []
        d["Line"] = [{"Amount": _m(total), "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}],
                      "LineEx": {"any": [_nv("txnId", inv["Id"]),
                                         _nv("txnOpenBalance", f"{money(inv['TotalAmt']):.2f}"),
                                         _nv("txnReferenceNumber", inv["DocNumber"])]}}]
        if cur != "USD":
            d["HomeTotalAmt"] = _m(total * rate)
        return d

    def _deposit_payments(self, cycle: int) -> list[int]:
        out = [self.index_of("Payment", cycle, 0), self.index_of("Payment", cycle, 1)]
        out.append(self.index_of("SalesReceipt", cycle, 0))  # the cycle's first receipt went to Undeposited Funds
        return out

    def _b_Deposit(self, i, cycle, k):
        rnd = self._rnd(i)
        head, txn_date = self._head(i, rnd)
        lines, total = [], ZERO
        for pay_i in self._deposit_payments(cycle):
            p = self.doc(pay_i)
            amt = money(p["TotalAmt"])
            total += amt
            det = {"PaymentMethodRef": p["PaymentMethodRef"]}
            if "PaymentRefNum" in p:
                det["CheckNum"] = p["PaymentRefNum"]
            kind = "Payment" if SLOTS[pay_i % CYCLE] == "Payment" else "SalesReceipt"
            lines.append({"Amount": _m(amt), "LinkedTxn": [{"TxnId": p["Id"], "TxnType": kind, "TxnLineId": "0"}],
                          "DepositLineDetail": det})
            txn_date = max(txn_date, p["TxnDate"])
        interest = money(Decimal(rnd.randint(50, 4000)) / 100)
        total += interest
        lines.append({"Id": "1", "LineNum": 1, "Description": "Interest", "Amount": _m(interest),
                      "DetailType": "DepositLineDetail",
                      "DepositLineDetail": {"AccountRef": self.acct[co.A_INTEREST]}})
        d = {"DepositToAccountRef": self.acct[co.A_CHECKING], "TotalAmt": _m(total)}
        d.update(head)
        d["TxnDate"] = txn_date
        d["CurrencyRef"] = USD
        if rnd.random() < 0.3:
            d["PrivateNote"] = "Weekly deposit"
        d["Line"] = lines
        return d

    def _b_Estimate(self, i, cycle, k):
        rnd = self._rnd(i)
        head, txn_date = self._head(i, rnd)
        cust = self._customer(rnd)
        lines, subtotal, taxable = self._sales_lines(i, cust, self.n_lines(i))
        for ln in lines:
            det = ln["SalesItemLineDetail"]
            if "ServiceDate" in det:
                det["ServiceDate"] = txn_date
        d = dict(head)
        d["CustomField"] = self._custom_fields(rnd, i)
        d["DocNumber"] = self._doc_number("Estimate", cycle, 0)
        d["TxnDate"] = txn_date
        rate = self._currency_fields(d, cust["CurrencyRef"]["value"], txn_date)
        if self.estimate_converted(cycle):
            d["TxnStatus"] = "Closed"
            d["LinkedTxn"] = [{"TxnId": self.txn_id(self.index_of("Invoice", cycle, 2)), "TxnType": "Invoice"}]
        else:
            d["TxnStatus"] = rnd.choice(["Pending", "Pending", "Accepted", "Rejected"])
        lines.append({"Amount": _m(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
        d["Line"] = lines
        tax, total_tax = self._tax_detail(cust, taxable)
        d["TxnTaxDetail"] = tax
        d["CustomerRef"] = ref(cust["Id"], cust["DisplayName"])
        d["CustomerMemo"] = MEMO
        d["BillAddr"] = cust["BillAddr"]
        if "ShipAddr" in cust:
            d["ShipAddr"] = cust["ShipAddr"]
        total = subtotal + total_tax
        d["TotalAmt"] = _m(total)
        if cust["CurrencyRef"]["value"] != "USD":
            d["HomeTotalAmt"] = _m(total * rate)
        d["ApplyTaxAfterDiscount"] = False
        d["PrintStatus"] = "NotSet"
        emailed = rnd.random() < 0.5
        d["EmailStatus"] = "EmailSent" if emailed else "NotSet"
        if "PrimaryEmailAddr" in cust:
            d["BillEmail"] = cust["PrimaryEmailAddr"]
        if emailed:
            d["DeliveryInfo"] = {"DeliveryType": "Email"}
        d["ExpirationDate"] = add_days(txn_date, 30)
        return d

    def _receipt_like(self, i, cycle, k, entity):
        rnd = self._rnd(i)
        head, txn_date = self._head(i, rnd)
        cust = self._customer(rnd, usd_only=True)
        lines, subtotal, taxable = self._sales_lines(i, cust, self.n_lines(i))
        for ln in lines:
            det = ln["SalesItemLineDetail"]
            if "ServiceDate" in det:
                det["ServiceDate"] = txn_date
        d = dict(head)
        d["CustomField"] = self._custom_fields(rnd, i)
        d["DocNumber"] = self._doc_number(entity, cycle, k)
        d["TxnDate"] = txn_date
        d["DepartmentRef"] = self.co.dept_refs[rnd.randrange(len(self.co.dept_refs))]
        d["CurrencyRef"] = USD
        lines.append({"Amount": _m(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
        discount = ZERO
        if entity == "SalesReceipt" and self._has_discount(i):
            discount = money(subtotal * Decimal("0.1"))
            lines.append({"Amount": _m(discount), "DetailType": "DiscountLineDetail",
                          "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": 10,
                                                 "DiscountAccountRef": self.acct[co.A_DISCOUNTS]}})
        d["Line"] = lines
        tax, total_tax = self._tax_detail(cust, taxable)
        d["TxnTaxDetail"] = tax
        d["CustomerRef"] = ref(cust["Id"], cust["DisplayName"])
        d["CustomerMemo"] = MEMO
        d["BillAddr"] = cust["BillAddr"]
        if "ShipAddr" in cust:
            d["ShipAddr"] = cust["ShipAddr"]
        total = subtotal - discount + total_tax
        d["TotalAmt"] = _m(total)
        d["ApplyTaxAfterDiscount"] = False
        d["PrintStatus"] = "NotSet"
        if entity != "RefundReceipt":
            d["EmailStatus"] = "NotSet"
        if "PrimaryEmailAddr" in cust:
            d["BillEmail"] = cust["PrimaryEmailAddr"]
        if entity == "CreditMemo":
            d["Balance"] = _m(total)
            d["RemainingCredit"] = _m(total)
        else:
            d["Balance"] = 0
            d["PaymentMethodRef"] = self.pm_refs[rnd.choice(["1", "2", "3", "4"])]
            if d["PaymentMethodRef"]["value"] == "2":
                d["PaymentRefNum"] = str(rnd.randint(1000, 99999))
            if entity == "SalesReceipt" and k == 0:
                d["DepositToAccountRef"] = self.acct[co.A_UNDEPOSITED]
                d["LinkedTxn"] = [{"TxnId": self.txn_id(self.index_of("Deposit", cycle, 0)), "TxnType": "Deposit"}]
            else:
                d["DepositToAccountRef"] = self.acct[co.A_CHECKING]
        return d

    def _b_SalesReceipt(self, i, cycle, k):
        return self._receipt_like(i, cycle, k, "SalesReceipt")

    def _b_CreditMemo(self, i, cycle, k):
        return self._receipt_like(i, cycle, k, "CreditMemo")

    def _b_RefundReceipt(self, i, cycle, k):
        return self._receipt_like(i, cycle, k, "RefundReceipt")

    def _expense_lines(self, rnd, n, foreign, item_based_ok=True, with_customer=True):
        lines, total = [], ZERO
        classes = self.co.class_refs
        for n_ in range(n):
            if item_based_ok and rnd.random() < 0.4:
                item = self.items[co.PURCHASE_ITEMS[rnd.randrange(len(co.PURCHASE_ITEMS))]]
                cost = item["PurchaseCost"]
                if foreign:
                    cost = cost.to_integral_value() or Decimal(1)
                qty = Decimal(rnd.randint(5, 200))
                amount = money(cost * qty)
                det = {"BillableStatus": "NotBillable", "ItemRef": self.item_refs[item["Id"]],
                       "ClassRef": classes[rnd.randrange(len(classes))],
                       "UnitPrice": _norm(cost), "Qty": _norm(qty), "TaxCodeRef": {"value": "NON"}}
                lines.append({"Id": str(n_ + 1), "LineNum": n_ + 1, "Description": item["PurchaseDesc"],
                              "Amount": _m(amount), "DetailType": "ItemBasedExpenseLineDetail",
                              "ItemBasedExpenseLineDetail": det})
            else:
                acct = co.EXPENSE_ACCOUNTS[rnd.randrange(len(co.EXPENSE_ACCOUNTS))]
                amount = Decimal(rnd.randint(20, 4000)) if foreign else money(Decimal(rnd.randint(2000, 400000)) / 100)
                det = {}
                if with_customer and rnd.random() < 0.2:
                    c = self._customer(rnd, usd_only=True)
                    det["CustomerRef"] = ref(c["Id"], c["DisplayName"])
                    det["BillableStatus"] = "Billable"
                det["ClassRef"] = classes[rnd.randrange(len(classes))]
                det["AccountRef"] = self.acct[acct]
                det.setdefault("BillableStatus", "NotBillable")
                det["TaxCodeRef"] = {"value": "NON"}
                lines.append({"Id": str(n_ + 1), "LineNum": n_ + 1,
                              "Description": self.co.account_names[acct].split(":")[-1],
                              "Amount": _m(amount), "DetailType": "AccountBasedExpenseLineDetail",
                              "AccountBasedExpenseLineDetail": det})
            total += amount
        return lines, total

    def _b_Bill(self, i, cycle, k):
        rnd = self._rnd(i)
        head, txn_date = self._head(i, rnd)
        vend = self._vendor(rnd)
        cur = vend["CurrencyRef"]["value"]
        lines, total = self._expense_lines(rnd, self.n_lines(i), cur != "USD")
        paid = ZERO
        linked = []
        if k < 2:
            bp_i = self.index_of("BillPayment", cycle, k)
            paid = total if self._h(i, 5) < 0.85 else self._partial(total, cur)
            linked.append({"TxnId": self.txn_id(bp_i),
                           "TxnType": "BillPaymentCheck" if self._bp_is_check(bp_i) else "BillPaymentCreditCard"})
        term = (vend.get("TermRef") or {}).get("value", "3")
        d = {"SalesTermRef": {"value": term},
             "DueDate": add_days(txn_date, self.term_days[term][1]),
             "Balance": _m(total - paid)}
        d.update(head)
        d["DocNumber"] = f"INV-{rnd.randint(10000, 99999)}"
        d["TxnDate"] = txn_date
        d["DepartmentRef"] = self.co.dept_refs[rnd.randrange(len(self.co.dept_refs))]
        rate = self._currency_fields(d, cur, txn_date)
        d["LinkedTxn"] = linked
        d["Line"] = lines
        d["VendorRef"] = ref(vend["Id"], vend["DisplayName"])
        d["APAccountRef"] = self.acct[co.A_AP[cur]]
        d["TotalAmt"] = _m(total)
        if cur != "USD":
            d["HomeTotalAmt"] = _m(total * rate)
            d["HomeBalance"] = _m((total - paid) * rate)
        return d

    def _bp_is_check(self, bp_i: int) -> bool:
        return self._h(bp_i, 6) < 0.7

    def _b_BillPayment(self, i, cycle, k):
        bill = self.doc(self.index_of("Bill", cycle, k))
        rnd = self._rnd(i)
        head, txn_date = self._head(i, rnd)
        total = money(bill["TotalAmt"]) - money(bill["Balance"])
        cur = bill["CurrencyRef"]["value"]
        d = {"VendorRef": bill["VendorRef"]}
        if self._bp_is_check(i):
            d["PayType"] = "Check"
            d["CheckPayment"] = {"BankAccountRef": self.acct[co.A_CHECKING], "PrintStatus": "NotSet"}
        else:
            d["PayType"] = "CreditCard"
            d["CreditCardPayment"] = {"CCAccountRef": self.acct[co.A_VISA]}
        d["TotalAmt"] = _m(total)
        d.update(head)
        if d["PayType"] == "Check":
            d["DocNumber"] = str(5000 + cycle * 2 + k)
        d["TxnDate"] = max(txn_date, bill["TxnDate"])
        rate = self._currency_fields(d, cur, bill["TxnDate"])
        if cur != "USD":
            d["APAccountRef"] = self.acct[co.A_AP[cur]]
            d["HomeTotalAmt"] = _m(total * rate)
        d["Line"] = [{"Amount": _m(total), "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]}]
        return d

    def _b_Purchase(self, i, cycle, k):
        rnd = self._rnd(i)
        head, txn_date = self._head(i, rnd)
        vend = self._vendor(rnd, usd_only=True)
        lines, total = self._expense_lines(rnd, self.n_lines(i), False)
        ptype = ("Cash", "Check", "CreditCard")[k]
        credit = ptype == "CreditCard" and self._h(i, 7) < 0.08
        d = {"AccountRef": self.acct[co.A_VISA if ptype == "CreditCard" else co.A_CHECKING], "PaymentType": ptype,
             "EntityRef": {"value": vend["Id"], "name": vend["DisplayName"], "type": "Vendor"},
             "Credit": credit, "TotalAmt": _m(total),
             "PurchaseEx": {"any": [_nv("TxnType", "11" if credit else ("3" if ptype == "Check" else "1"))]}}
        d.update(head)
        if ptype == "Check":
            d["DocNumber"] = str(7000 + cycle)
        d["TxnDate"] = txn_date
        d["DepartmentRef"] = self.co.dept_refs[rnd.randrange(len(self.co.dept_refs))]
        d["CurrencyRef"] = USD
        if rnd.random() < 0.3:
            d["PrivateNote"] = rnd.choice(["Shop supplies", "Emergency repair", "Crew lunch", "Fuel"])
        d["Line"] = lines
        return d

    def _b_PurchaseOrder(self, i, cycle, k):
        rnd = self._rnd(i)
        head, txn_date = self._head(i, rnd)
        vend = self._vendor(rnd)
        cur = vend["CurrencyRef"]["value"]
        lines = []
        total = ZERO
        classes = self.co.class_refs
        for n_ in range(self.n_lines(i)):
            item = self.items[co.PURCHASE_ITEMS[rnd.randrange(len(co.PURCHASE_ITEMS))]]
            cost = item["PurchaseCost"] if cur == "USD" else (item["PurchaseCost"].to_integral_value() or Decimal(1))
            qty = Decimal(rnd.randint(10, 300))
            amount = money(cost * qty)
            total += amount
            lines.append({"Id": str(n_ + 1), "LineNum": n_ + 1, "Description": item["PurchaseDesc"],
                          "Amount": _m(amount), "DetailType": "ItemBasedExpenseLineDetail",
                          "ItemBasedExpenseLineDetail": {"BillableStatus": "NotBillable",
                                                         "ItemRef": self.item_refs[item["Id"]],
                                                         "ClassRef": classes[rnd.randrange(len(classes))],
                                                         "UnitPrice": _norm(cost), "Qty": _norm(qty),
                                                         "TaxCodeRef": {"value": "NON"}}})
        d = {"VendorAddr": vend["BillAddr"], "POStatus": "Closed" if rnd.random() < 0.6 else "Open"}
        d.update(head)
        d["CustomField"] = self._custom_fields(rnd, i)
        d["DocNumber"] = self._doc_number("PurchaseOrder", cycle, 0)
        d["TxnDate"] = txn_date
        rate = self._currency_fields(d, cur, txn_date)
        d["Line"] = lines
        d["VendorRef"] = ref(vend["Id"], vend["DisplayName"])
        d["APAccountRef"] = self.acct[co.A_AP[cur]]
        d["TotalAmt"] = _m(total)
        if cur != "USD":
            d["HomeTotalAmt"] = _m(total * rate)
        return d

    def _b_VendorCredit(self, i, cycle, k):
        rnd = self._rnd(i)
        head, txn_date = self._head(i, rnd)
        vend = self._vendor(rnd, usd_only=True)
        lines, total = self._expense_lines(rnd, self.n_lines(i), False, item_based_ok=False, with_customer=False)
        d = {"VendorRef": ref(vend["Id"], vend["DisplayName"]), "APAccountRef": self.acct[co.A_AP["USD"]],
             "TotalAmt": _m(total), "Balance": _m(total)}
        d.update(head)
        d["DocNumber"] = f"CR-{rnd.randint(1000, 9999)}"
        d["TxnDate"] = txn_date
        d["CurrencyRef"] = USD
        d["Line"] = lines
        return d

    def _b_JournalEntry(self, i, cycle, k):
        rnd = self._rnd(i)
        head, txn_date = self._head(i, rnd)
        n = self.n_lines(i)
        classes, depts = self.co.class_refs, self.co.dept_refs
        kind = cycle % 3
        if kind == 0:
            debit_acct, credit_acct, memo = co.A_DEPRECIATION, co.A_ACCUM_DEPR, "Depreciation"
        elif kind == 1:
            debit_acct, credit_acct, memo = co.A_WAGES, co.A_PAYROLL_LIAB, "Payroll accrual"
        else:
            debit_acct, credit_acct, memo = co.A_SAVINGS, co.A_CHECKING, "Cash sweep"
        parts = [money(Decimal(rnd.randint(10000, 900000)) / 100) for _ in range(n - 1)]
        lines = []
        for n_, amt in enumerate(parts):
            lines.append({"Id": str(n_), "Description": memo, "Amount": _m(amt), "DetailType": "JournalEntryLineDetail",
                          "JournalEntryLineDetail": {"PostingType": "Debit", "AccountRef": self.acct[debit_acct],
                                                     "ClassRef": classes[rnd.randrange(len(classes))],
                                                     "DepartmentRef": depts[rnd.randrange(len(depts))]}})
        total = sum(parts, ZERO)
        lines.append({"Id": str(n - 1), "Description": memo, "Amount": _m(total),
                      "DetailType": "JournalEntryLineDetail",
                      "JournalEntryLineDetail": {"PostingType": "Credit", "AccountRef": self.acct[credit_acct]}})
        d = {"Adjustment": False}
        d.update(head)
        d["DocNumber"] = f"JE-{cycle + 1}"
        d["TxnDate"] = txn_date
        d["CurrencyRef"] = USD
        d["PrivateNote"] = memo
        d["Line"] = lines
        d["TxnTaxDetail"] = {}
        return d

    def _b_Transfer(self, i, cycle, k):
        rnd = self._rnd(i)
        head, txn_date = self._head(i, rnd)
        out_ = rnd.random() < 0.5
        amount = money(Decimal(rnd.randint(500, 20000)))
        d = {"FromAccountRef": self.acct[co.A_CHECKING if out_ else co.A_SAVINGS],
             "ToAccountRef": self.acct[co.A_SAVINGS if out_ else co.A_CHECKING], "Amount": _m(amount)}
        d.update(head)
        d["TxnDate"] = txn_date
        d["CurrencyRef"] = USD
        d["PrivateNote"] = "Transfer to savings" if out_ else "Transfer to checking"
        return d

    def _b_TimeActivity(self, i, cycle, k):
        rnd = self._rnd(i)
        head, txn_date = self._head(i, rnd)
        emps = self.co.active_employees
        emp = emps[rnd.randrange(len(emps))]
        cust = self._customer(rnd, usd_only=True)
        billable = rnd.random() < 0.6
        d = {"TxnDate": txn_date, "NameOf": "Employee", "EmployeeRef": ref(emp["Id"], emp["DisplayName"]),
             "CustomerRef": ref(cust["Id"], cust["DisplayName"]), "ItemRef": self.item_refs["1"],
             "ClassRef": self.co.class_refs[rnd.randrange(len(self.co.class_refs))],
             "BillableStatus": ("HasBeenBilled" if rnd.random() < 0.3 else "Billable") if billable else "NotBillable",
             "Taxable": False, "HourlyRate": emp.get("BillRate", 0) if billable else 0,
             "Hours": rnd.randint(0, 9), "Minutes": rnd.choice([0, 15, 30, 45]),
             "Description": rnd.choice(["Machine setup", "Assembly", "On-site service", "Quality inspection"])}
        d.update(head)
        return d

    @staticmethod
    def _void(d: dict) -> None:
        """QBO's voided form: zero amounts, 'Voided' memo, no balance."""
        for ln in d.get("Line", []):
            ln["Amount"] = 0
            for key in ("SalesItemLineDetail", "ItemBasedExpenseLineDetail"):
                if key in ln:
                    ln[key]["Qty"] = 0
        if "TxnTaxDetail" in d:
            d["TxnTaxDetail"] = {"TotalTax": 0}
        for key in ("TotalAmt", "Balance", "HomeTotalAmt", "HomeBalance"):
            if key in d:
                d[key] = 0
        d["PrivateNote"] = "Voided"
        if "LinkedTxn" in d:
            d["LinkedTxn"] = []
