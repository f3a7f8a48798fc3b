"""Create, update (full and sparse), delete, void and inactivate — with QBO's validation faults.

Every change bumps ``SyncToken`` and sets ``MetaData.LastUpdatedTime`` from the sandbox clock,
writes the new object into the realm overlay, keeps balances (invoice/bill ``Balance``, account,
customer and vendor balances) consistent, and notifies listeners (webhooks, CDC).
"""
from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

from . import balances
from .company import CURRENCIES
from .generator import SLOT_POS
from .store import NAME_ENTITIES, Rec, Realm, Store
from .wire import PACIFIC, money, qbo_timestamp

ZERO = Decimal(0)
TXN = set(SLOT_POS)
VOIDABLE = {"Invoice", "Payment", "SalesReceipt", "BillPayment", "Purchase", "CreditMemo", "RefundReceipt"}
PARTY_ENTITIES = ("Customer", "Vendor", "Employee")
REF_ENTITY = {"CustomerRef": "Customer", "VendorRef": "Vendor", "EmployeeRef": "Employee", "ItemRef": "Item",
              "AccountRef": "Account", "ClassRef": "Class", "DepartmentRef": "Department",
              "SalesTermRef": "Term", "PaymentMethodRef": "PaymentMethod", "DepositToAccountRef": "Account",
              "APAccountRef": "Account", "ARAccountRef": "Account", "FromAccountRef": "Account",
              "ToAccountRef": "Account"}
EXTRA_FIELDS = {"Id", "SyncToken", "sparse", "domain", "MetaData", "Notes", "PrivateNote", "GlobalTaxCalculation",
                "TxnSource", "AutoDocNumber", "ShipDate", "TrackingNum", "ShipMethodRef", "SalesRepRef",
                "RemitToRef", "ExchangeRate", "HomeTotalAmt", "TransactionLocationType", "Mobile", "Fax",
                "WebAddr", "Title", "MiddleName", "Suffix", "ResaleNum", "TaxExemptionReasonId", "Level",
                "OpenBalanceDate", "PaymentMethodRef", "PrimaryTaxIdentifier", "SSN", "BirthDate", "Gender",
                "AlternatePhone", "Sku", "SubItem", "ParentRef", "Level", "ClassRef", "DepartmentRef",
                "TxnStatus", "LinkedTxn", "CustomField", "ARAccountRef", "DocNumber", "PrintStatus",
                "EmailStatus", "BillEmail", "CustomerMemo", "ShipAddr", "BillAddr", "DueDate", "TxnDate",
                "CurrencyRef", "Line", "TxnTaxDetail", "DeliveryInfo", "ApplyTaxAfterDiscount", "Balance",
                "TotalAmt", "Description", "Active", "status"}


class MutationError(Exception):
    """A QBO Fault for a write: HTTP status, Message, Detail, code."""

    def __init__(self, status: int, message: str, detail: str, code: str, fault_type: str = "ValidationFault"):
        super().__init__(detail)
        self.status, self.message, self.detail, self.code, self.fault_type = status, message, detail, code, fault_type


def _stale(current: str) -> MutationError:
    return MutationError(400, "Stale Object Error",
                         f"Stale Object Error : You and sandbox were working on this at the same time. "
                         f"sandbox finished before you did, so your work was not saved. (current SyncToken {current})",
                         "5010")


def _not_found(entity: str, id_) -> MutationError:
    return MutationError(400, "Object Not Found",
                         f"Object Not Found : Something you're trying to use has been made inactive or deleted "
                         f"({entity} Id {id_}).", "610")


def _missing(param: str) -> MutationError:
    return MutationError(400, "Required param missing, need to supply the required value for the API",
                         f"Required parameter {param} is missing in the request", "2020")


def _dec(v) -> Decimal:
    if v is None or v == "":
        return ZERO
    return v if isinstance(v, Decimal) else Decimal(str(v))


def _m0(d: Decimal):
    d = money(d)
    return d if d else 0


class Mutator:
    def __init__(self, store: Store, clock):
        self.store, self.clock = store, clock
        self._known_fields: dict[str, set[str]] = {}

    # -- helpers -------------------------------------------------------------------------------
    def known_fields(self, realm: Realm, entity: str) -> set[str]:
        kf = self._known_fields.get(entity)
        if kf is None:
            kf = set(EXTRA_FIELDS)
            n = 0
            for rec in realm.iter_recs(entity):
                kf.update(rec.obj.keys())
                n += 1
                if n >= 400:  # enough to see every variant (foreign currency, voided, linked...)
                    break
            self._known_fields[entity] = kf
        return kf

    def _check_fields(self, realm: Realm, entity: str, body: dict) -> None:
        known = self.known_fields(realm, entity)
        for k in body:
            if k not in known:
                raise MutationError(
                    400, "Request has invalid or unsupported property",
                    f'Property Name:Unrecognized field "{k}" (class com.intuit.schema.finance.v3.{entity}), '
                    f"not marked as ignorable specified is unsupported or invalid", "2010")

    def _resolve_refs(self, realm: Realm, obj) -> None:
        """Check every *Ref points at an existing record and fill in its name, as QBO does."""
        if isinstance(obj, list):
            for x in obj:
                self._resolve_refs(realm, x)
            return
        if not isinstance(obj, dict):
            return
        for k, v in list(obj.items()):
            target = REF_ENTITY.get(k)
            if target and isinstance(v, dict) and "value" in v:
                rec = realm.names[target].get(str(v["value"]))
                if rec is None:
                    raise MutationError(400, "Invalid Reference Id",
                                        f"Invalid Reference Id : {target} Id {v['value']} does not exist", "2500")
                name = rec.obj.get("FullyQualifiedName") or rec.obj.get("DisplayName") or rec.obj.get("Name")
                if name and "name" not in v:
                    obj[k] = {"value": str(v["value"]), "name": name}
            elif isinstance(v, (dict, list)):
                self._resolve_refs(realm, v)

    def _now(self) -> float:
        return self.clock.now()

    def _today(self) -> str:
        return dt.datetime.fromtimestamp(self._now(), PACIFIC).date().isoformat()

    def _current(self, realm: Realm, entity: str, id_) -> dict:
        if id_ is None:
            raise _missing("Id")
        rec = realm.get_rec(entity, str(id_))
        if rec is None:
            raise _not_found(entity, id_)
        return rec.obj

    def _write(self, realm: Realm, entity: str, old: dict | None, new: dict, op: str) -> dict:
        id_ = new["Id"]
        if entity in realm.names:
            realm.names[entity][id_] = Rec(new)
        else:
            realm.overlay[(entity, id_)] = Rec(new)
            if old is None:
                realm.created_order[entity].append(id_)
        realm.version += 1
        balances.apply_change(realm, entity, old, new)
        self.store.notify(realm.id, entity, id_, op, self._now())
        return new

    def _bump(self, obj: dict) -> None:
        obj["SyncToken"] = str(int(obj.get("SyncToken", "0")) + 1)
        meta = dict(obj.get("MetaData") or {})
        meta["LastUpdatedTime"] = qbo_timestamp(self._now())
        obj["MetaData"] = meta

    # -- totals --------------------------------------------------------------------------------
    def _compute_totals(self, realm: Realm, entity: str, obj: dict, old: dict | None) -> None:
        lines = obj.get("Line")
        if entity not in TXN or lines is None:
            return
        if not isinstance(lines, list):
            raise MutationError(400, "Request has invalid or unsupported property", "Line must be an array", "2010")
        total = ZERO
        new_lines = []
        n = 0
        subtotal = ZERO
        discount = ZERO
        for ln in lines:
            if not isinstance(ln, dict):
                continue
            ln = dict(ln)
            kind = ln.get("DetailType")
            if kind == "SubTotalLineDetail":
                continue
            if kind == "SalesItemLineDetail":
                d = ln.get("SalesItemLineDetail") or {}
                if "Amount" not in ln and "UnitPrice" in d and "Qty" in d:
                    ln["Amount"] = _dec(d["UnitPrice"]) * _dec(d["Qty"])
            if "Amount" in ln:
                ln["Amount"] = _m0(_dec(ln["Amount"]))
            elif kind not in ("DescriptionOnly",) and entity != "Payment" and entity != "BillPayment":
                raise _missing("Line.Amount")
            n += 1
            if "Id" not in ln and kind:
                ln["Id"] = str(n)
            if kind == "DiscountLineDetail":
                discount += _dec(ln.get("Amount"))
            elif kind == "JournalEntryLineDetail":
                pass
            else:
                subtotal += _dec(ln.get("Amount"))
            new_lines.append(ln)
        if entity in ("Invoice", "SalesReceipt", "CreditMemo", "RefundReceipt", "Estimate"):
            for k, ln in enumerate(new_lines):
                if ln.get("DetailType") == "SalesItemLineDetail":
                    ln.setdefault("LineNum", k + 1)
            new_lines.append({"Amount": _m0(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
            tax = _dec((obj.get("TxnTaxDetail") or {}).get("TotalTax"))
            obj.setdefault("TxnTaxDetail", {"TotalTax": 0})
            total = subtotal - discount + tax
        elif entity == "JournalEntry":
            debits = sum((_dec(l.get("Amount")) for l in new_lines
                          if (l.get("JournalEntryLineDetail") or {}).get("PostingType") == "Debit"), ZERO)
            credits = sum((_dec(l.get("Amount")) for l in new_lines
                           if (l.get("JournalEntryLineDetail") or {}).get("PostingType") == "Credit"), ZERO)
            if debits != credits:
                raise MutationError(400, "A business validation error has occurred while processing your request",
                                    "Business Validation Error: Journal Entry must have equal debits and credits",
                                    "6000")
            obj["Line"] = new_lines
            return
        else:
            total = subtotal
        obj["Line"] = new_lines
        if entity == "Payment" or entity == "BillPayment":
            if "TotalAmt" not in obj:
                obj["TotalAmt"] = _m0(total)
            else:
                obj["TotalAmt"] = _m0(_dec(obj["TotalAmt"]))
            if entity == "Payment":
                obj["UnappliedAmt"] = _m0(_dec(obj["TotalAmt"]) - total)
            return
        if entity in ("TimeActivity", "Transfer"):
            return
        obj["TotalAmt"] = _m0(total)
        rate = _dec(obj.get("ExchangeRate") or 1)
        if (obj.get("CurrencyRef") or {}).get("value", "USD") != "USD":
            obj["HomeTotalAmt"] = _m0(total * rate)
        if entity in ("Invoice", "Bill", "CreditMemo", "VendorCredit"):
            paid = ZERO
            if old is not None:
                paid = _dec(old.get("TotalAmt")) - _dec(old.get("Balance"))
            obj["Balance"] = _m0(total - paid)
            if entity == "CreditMemo":
                obj["RemainingCredit"] = obj["Balance"]

    def _apply_links(self, realm: Realm, entity: str, obj: dict, sign: int) -> None:
        """Payments reduce the Balance of the invoices they pay (bill payments: bills)."""
        target_type = {"Payment": "Invoice", "BillPayment": "Bill"}.get(entity)
        if target_type is None:
            return
        for ln in obj.get("Line") or []:
            for link in ln.get("LinkedTxn") or []:
                if link.get("TxnType") != target_type:
                    continue
                rec = realm.get_rec(target_type, str(link.get("TxnId")))
                if rec is None:
                    if sign > 0:
                        raise MutationError(400, "Invalid Reference Id",
                                            f"Invalid Reference Id : {target_type} Id {link.get('TxnId')} "
                                            f"does not exist", "2500")
                    continue
                old = rec.obj
                new = copy.deepcopy(old)
                amount = _dec(ln.get("Amount"))
                new["Balance"] = _m0(_dec(old.get("Balance")) - sign * amount)
                links = [l for l in new.get("LinkedTxn") or [] if l.get("TxnId") != obj["Id"]]
                if sign > 0:
                    links.append({"TxnId": obj["Id"], "TxnType": entity if entity == "Payment" else
                                  ("BillPaymentCheck" if obj.get("PayType", "Check") == "Check"
                                   else "BillPaymentCreditCard")})
                new["LinkedTxn"] = links
                rate = _dec(new.get("ExchangeRate") or 1)
                if "HomeBalance" in new:
                    new["HomeBalance"] = _m0(_dec(new["Balance"]) * rate)
                self._bump(new)
                self._write(realm, target_type, old, new, "Update")

    # -- operations ----------------------------------------------------------------------------
    def create(self, realm: Realm, entity: str, body: dict) -> dict:
        if not isinstance(body, dict):
            raise MutationError(400, "Request has invalid or unsupported property", "The body must be an object",
                                "2010")
        self._check_fields(realm, entity, body)
        obj = copy.deepcopy(body)
        for k in ("Id", "SyncToken", "MetaData", "domain", "sparse"):
            obj.pop(k, None)
        now = self._now()
        if entity in PARTY_ENTITIES:
            self._party_name(realm, entity, obj, None)
        if entity in NAME_ENTITIES and entity not in PARTY_ENTITIES:
            if entity in ("Account", "Class", "Department", "Term", "PaymentMethod", "Item") and not obj.get("Name"):
                raise _missing("Name")
            self._unique_name(realm, entity, obj, None)
        required = {"Invoice": ("CustomerRef", "Line"), "SalesReceipt": ("Line",), "Estimate": ("CustomerRef", "Line"),
                    "CreditMemo": ("CustomerRef", "Line"), "RefundReceipt": ("Line",),
                    "Payment": ("CustomerRef", "TotalAmt"), "Bill": ("VendorRef", "Line"),
                    "BillPayment": ("VendorRef", "PayType", "TotalAmt"), "Purchase": ("AccountRef", "PaymentType", "Line"),
                    "PurchaseOrder": ("VendorRef", "Line"), "VendorCredit": ("VendorRef", "Line"),
                    "JournalEntry": ("Line",), "Deposit": ("DepositToAccountRef", "Line"),
                    "Transfer": ("FromAccountRef", "ToAccountRef", "Amount"), "TimeActivity": ("NameOf",)}
        for param in required.get(entity, ()):
            if param not in obj:
                raise _missing(param)
        self._resolve_refs(realm, obj)
        if entity in TXN:
            id_ = str(realm.next_txn_id)
            realm.next_txn_id += 1
            obj.setdefault("TxnDate", self._today())
            if entity != "TimeActivity":
                party = obj.get("CustomerRef") or obj.get("VendorRef")
                cur = "USD"
                if party:
                    ent = "Customer" if "CustomerRef" in obj else "Vendor"
                    prec = realm.names[ent].get(party["value"])
                    if prec is not None:
                        cur = prec.obj.get("CurrencyRef", {}).get("value", "USD")
                obj.setdefault("CurrencyRef", CURRENCIES.get(cur, CURRENCIES["USD"]))
            if entity == "Transfer":
                obj["Amount"] = _m0(_dec(obj["Amount"]))
        else:
            id_ = str(max((int(k) for k in realm.names[entity] if k.isdigit()), default=0) + 1)
            obj.setdefault("Active", True)
        obj["Id"] = id_
        head = {"domain": "QBO", "sparse": False, "Id": id_, "SyncToken": "0",
                "MetaData": {"CreateTime": qbo_timestamp(now), "LastUpdatedTime": qbo_timestamp(now)}}
        obj = {**head, **{k: v for k, v in obj.items() if k not in head}}
        self._compute_totals(realm, entity, obj, None)
        if entity in ("Customer", "Vendor"):
            obj.setdefault("Balance", 0)
            obj.setdefault("CurrencyRef", CURRENCIES["USD"])
        new = self._write(realm, entity, None, obj, "Create")
        self._apply_links(realm, entity, new, +1)
        return new

    def _party_name(self, realm: Realm, entity: str, obj: dict, own_id: str | None) -> None:
        if not obj.get("DisplayName"):
            parts = [obj.get(k) for k in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix") if obj.get(k)]
            if not parts and obj.get("CompanyName"):
                parts = [obj["CompanyName"]]
            if not parts:
                raise _missing("DisplayName")
            obj["DisplayName"] = " ".join(parts)
        name = obj["DisplayName"].casefold()
        for ent in PARTY_ENTITIES:
            for rid, rec in realm.names[ent].items():
                if (ent, rid) != (entity, own_id) and str(rec.obj.get("DisplayName", "")).casefold() == name:
                    raise MutationError(400, "Duplicate Name Exists Error",
                                        "The name supplied already exists. : null", "6240")
        if entity == "Customer":
            obj.setdefault("FullyQualifiedName", obj["DisplayName"])
        obj.setdefault("PrintOnCheckName", obj.get("CompanyName") or obj["DisplayName"])

    def _unique_name(self, realm: Realm, entity: str, obj: dict, own_id: str | None) -> None:
        name = obj.get("Name")
        if not name:
            return
        for rid, rec in realm.names[entity].items():
            if rid != own_id and str(rec.obj.get("Name", "")).casefold() == str(name).casefold():
                raise MutationError(400, "Duplicate Name Exists Error",
                                    "The name supplied already exists. : null", "6240")
        if entity in ("Account", "Class", "Department", "Item"):
            obj.setdefault("FullyQualifiedName", name)

    def update(self, realm: Realm, entity: str, body: dict) -> dict:
        if not isinstance(body, dict):
            raise MutationError(400, "Request has invalid or unsupported property", "The body must be an object",
                                "2010")
        self._check_fields(realm, entity, body)
        old = self._current(realm, entity, body.get("Id"))
        if "SyncToken" not in body:
            raise _missing("SyncToken")
        if str(body["SyncToken"]) != old.get("SyncToken"):
            raise _stale(old.get("SyncToken"))
        sparse = body.get("sparse") is True or str(body.get("sparse")).lower() == "true"
        if sparse:
            new = copy.deepcopy(old)
            for k, v in body.items():
                if k not in ("Id", "SyncToken", "sparse", "MetaData", "domain"):
                    new[k] = copy.deepcopy(v)
        else:
            new = {k: copy.deepcopy(v) for k, v in body.items() if k not in ("sparse", "MetaData", "domain")}
            new = {"domain": "QBO", "sparse": False, "Id": old["Id"], "SyncToken": old["SyncToken"],
                   "MetaData": dict(old["MetaData"]), **{k: v for k, v in new.items()
                                                          if k not in ("Id", "SyncToken")}}
            # QBO keeps the server-maintained fields of a full update.
            for k in ("Balance", "CurrentBalance", "CurrentBalanceWithSubAccounts", "BalanceWithJobs"):
                if k in old and k not in new:
                    new[k] = old[k]
        new["sparse"] = False
        if entity in PARTY_ENTITIES and ("DisplayName" in body or not sparse):
            self._party_name(realm, entity, new, old["Id"])
        elif entity in NAME_ENTITIES and "Name" in body:
            self._unique_name(realm, entity, new, old["Id"])
        self._resolve_refs(realm, new)
        if entity in ("Payment", "BillPayment") and "Line" in body:
            self._apply_links(realm, entity, old, -1)
        self._compute_totals(realm, entity, new, old)
        self._bump(new)
        out = self._write(realm, entity, old, new, "Update")
        if entity in ("Payment", "BillPayment") and "Line" in body:
            self._apply_links(realm, entity, out, +1)
        return out

    def delete(self, realm: Realm, entity: str, body: dict) -> dict:
        if entity not in TXN:
            raise MutationError(400, "Operation Delete is not supported.",
                                f"Operation Delete is not supported for {entity}: make it inactive instead "
                                f"(Active=false).", "500")
        old = self._current(realm, entity, (body or {}).get("Id"))
        if "SyncToken" in (body or {}) and str(body["SyncToken"]) != old.get("SyncToken"):
            raise _stale(old.get("SyncToken"))
        id_ = old["Id"]
        self._apply_links(realm, entity, old, -1)
        now = self._now()
        realm.deleted[(entity, id_)] = now
        realm.overlay.pop((entity, id_), None)
        if (entity, id_) in realm.overlay:
            del realm.overlay[(entity, id_)]
        realm.version += 1
        balances.apply_change(realm, entity, old, None)
        self.store.notify(realm.id, entity, id_, "Delete", now)
        return {"domain": "QBO", "status": "Deleted", "Id": id_}

    def void(self, realm: Realm, entity: str, body: dict) -> dict:
        if entity not in VOIDABLE:
            raise MutationError(400, "Operation Void is not supported.",
                                f"Operation Void is not supported for {entity}.", "500")
        old = self._current(realm, entity, (body or {}).get("Id"))
        if "SyncToken" in (body or {}) and str(body["SyncToken"]) != old.get("SyncToken"):
            raise _stale(old.get("SyncToken"))
        self._apply_links(realm, entity, old, -1)
        new = copy.deepcopy(old)
        for ln in new.get("Line") or []:
            ln["Amount"] = 0
            for key in ("SalesItemLineDetail", "ItemBasedExpenseLineDetail"):
                if key in ln:
                    ln[key]["Qty"] = 0
        if "TxnTaxDetail" in new:
            new["TxnTaxDetail"] = {"TotalTax": 0}
        for key in ("TotalAmt", "Balance", "HomeTotalAmt", "HomeBalance", "UnappliedAmt", "RemainingCredit"):
            if key in new:
                new[key] = 0
        new["PrivateNote"] = "Voided"
        new["LinkedTxn"] = []
        self._bump(new)
        out = self._write(realm, entity, old, new, "Void")
        return out

    def inactivate(self, realm: Realm, entity: str, id_: str) -> dict:
        old = self._current(realm, entity, id_)
        return self.update(realm, entity, {"Id": old["Id"], "SyncToken": old["SyncToken"], "sparse": True,
                                           "Active": False})
