"""Compact sums of rendered documents that other documents copy, kept after rendering.

A payment copies its invoice's total, balance, customer, date and number; a deposit copies the
amount, payment method, reference number and date of the cycle's two undeposited payments and
first sales receipt. Recomputing those means re-drawing the linked documents (their random words,
lines and tax: ~100,000 instructions an invoice), so whenever the renderer has computed them — serving the linked
document itself, or as a summary — it keeps them here, and the linking document reads them back.

Amounts are int cents (``*_cents`` methods; the Decimal ones convert). A cold deposit fills its whole
64-cycle block's inputs at once (``Renderer._keep_deposit_inputs``): the arrays are the memo.
Memory is fixed per realm: a few int arrays sized by the number of cycles (~2 MB for ``large``);
no Python object per document. The values are the same whichever path computed them, so what is
served never depends on what was served before (``tests/test_qbo_render.py``, golden digests).
Writes store the "known" marker (the amount) last, so a reader in another thread (the next-page
prefetch) never sees half an entry.
"""
from __future__ import annotations

import threading
from array import array
from decimal import Decimal

UNKNOWN = -1


def _ints(code: str, n: int, fill: int = 0) -> array:
    return array(code, [fill]) * n


class Interned:
    """Small ints for repeated strings (dates, customer refs), so arrays can hold them."""

    def __init__(self):
        self.values: list = []
        self.ids: dict = {}
        self._lock = threading.Lock()

    def id(self, value) -> int:
        k = self.ids.get(value)
        if k is None:
            with self._lock:  # the prefetch thread renders too: one id per value
                k = self.ids.get(value)
                if k is None:
                    self.values.append(value)
                    k = self.ids[value] = len(self.values) - 1
        return k


_HUNDRED = Decimal(100)


def cents(d: Decimal) -> int:
    """A cent-quantized, non-negative Decimal → int cents (exact: the product is integral)."""
    return int(d * _HUNDRED)


def from_cents(c: int) -> Decimal:
    """int cents → the Decimal ``wire.money`` gives (exponent -2: ``12.30``, ``0.00``)."""
    return Decimal(c).scaleb(-2)


class LinkSums:
    ARRAYS = ("inv_total", "inv_balance", "inv_cust", "inv_date", "dep_amount", "dep_method", "dep_ref", "_dep_date")

    def __init__(self, n_cycles: int, invoices_per_cycle: int, deposit_inputs_per_cycle: int):
        n = n_cycles * invoices_per_cycle
        self.inv_per = invoices_per_cycle
        self.inv_total = _ints("q", n, UNKNOWN)
        self.inv_balance = _ints("q", n)
        self.inv_cust = _ints("i", n)
        self.inv_date = _ints("i", n)
        m = n_cycles * deposit_inputs_per_cycle
        self.dep_per = deposit_inputs_per_cycle
        self.dep_amount = _ints("q", m, UNKNOWN)
        self.dep_method = _ints("i", m)
        self.dep_ref = _ints("i", m)
        self._dep_date = _ints("i", m)
        self.dates = Interned()
        self.objects = Interned()  # customer and payment-method texts

    def arrays(self) -> dict[str, array]:
        return {name: getattr(self, name) for name in self.ARRAYS}

    def restore(self, arrays: dict[str, array], objects: list, dates: list[str]) -> None:
        """Take the arrays and interned values saved from another ``LinkSums`` of the same realm."""
        for name in self.ARRAYS:
            if len(arrays[name]) != len(getattr(self, name)):
                raise ValueError(f"saved {name} has another size")
        for table, values in ((self.objects, objects), (self.dates, dates)):
            table.values = list(values)
            table.ids = {v: k for k, v in enumerate(table.values)}
        for name in self.ARRAYS:
            setattr(self, name, arrays[name])

    # -- invoices (what a payment copies) --------------------------------------------------------
    def invoice(self, cycle: int, k: int):
        """(total, balance, customer, TxnDate) or None."""
        s = cycle * self.inv_per + k
        total = self.inv_total[s]
        if total == UNKNOWN:
            return None
        return (from_cents(total), from_cents(self.inv_balance[s]), self.objects.values[self.inv_cust[s]],
                self.dates.values[self.inv_date[s]])

    def invoice_cents(self, cycle: int, k: int):
        """(total in cents, balance in cents, customer, TxnDate) or None."""
        s = cycle * self.inv_per + k
        total = self.inv_total[s]
        if total == UNKNOWN:
            return None
        return total, self.inv_balance[s], self.objects.values[self.inv_cust[s]], self.dates.values[self.inv_date[s]]

    def put_invoice(self, cycle: int, k: int, total: Decimal, balance: Decimal, cust, txn_date: str) -> None:
        self.put_invoice_cents(cycle, k, cents(total), cents(balance), cust, txn_date)

    def put_invoice_cents(self, cycle: int, k: int, total: int, balance: int, cust, txn_date: str) -> None:
        s = cycle * self.inv_per + k
        if self.inv_total[s] != UNKNOWN:
            return
        # the ids of values already interned inlined (this runs for most rendered invoices)
        self.inv_balance[s] = balance
        k = self.objects.ids.get(cust)
        self.inv_cust[s] = self.objects.id(cust) if k is None else k
        k = self.dates.ids.get(txn_date)
        self.inv_date[s] = self.dates.id(txn_date) if k is None else k
        self.inv_total[s] = total

    # -- deposit inputs (payments 0-1 and sales receipt 0 of a cycle) ------------------------------
    def deposit_input(self, cycle: int, j: int):
        """(amount, PaymentMethodRef text, PaymentRefNum or None, TxnDate) or None."""
        kept = self.deposit_input_cents(cycle, j)
        return None if kept is None else (from_cents(kept[0]), *kept[1:])

    def deposit_input_cents(self, cycle: int, j: int):
        """(amount in cents, PaymentMethodRef text, PaymentRefNum or None, TxnDate) or None."""
        s = cycle * self.dep_per + j
        amount = self.dep_amount[s]
        if amount == UNKNOWN:
            return None
        ref = self.dep_ref[s]
        return (amount, self.objects.values[self.dep_method[s]], None if ref < 0 else str(ref),
                self.dates.values[self._dep_date[s]])

    def dep_date_id(self, s: int) -> int:
        return self._dep_date[s]

    def put_deposit_input(self, cycle: int, j: int, amount: Decimal, pm_text: str, ref_num: str | None,
                          txn_date: str) -> None:
        self.put_deposit_input_cents(cycle, j, cents(amount), pm_text, ref_num, txn_date)

    def put_deposit_input_cents(self, cycle: int, j: int, amount: int, pm_text: str, ref_num: str | None,
                                txn_date: str) -> None:
        s = cycle * self.dep_per + j
        if self.dep_amount[s] != UNKNOWN:
            return
        # the ids of values already interned inlined (as put_invoice_cents)
        k = self.objects.ids.get(pm_text)
        self.dep_method[s] = self.objects.id(pm_text) if k is None else k
        self.dep_ref[s] = -1 if ref_num is None else int(ref_num)
        k = self.dates.ids.get(txn_date)
        self._dep_date[s] = self.dates.id(txn_date) if k is None else k
        self.dep_amount[s] = amount
