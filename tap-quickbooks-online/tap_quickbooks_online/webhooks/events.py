"""Parse a verified QBO webhook body into change events (both formats QBO sends).

* Legacy: `{"eventNotifications": [{"realmId", "dataChangeEvent": {"entities": [{"name", "id",
  "operation", "lastUpdated"}]}}]}` (lastUpdated like `2015-10-05T14:42:19-0700`).
* CloudEvents: a JSON array (or one object) of `{"specversion": "1.0", "id", "source",
  "type": "qbo.<entity>.<created|updated|deleted|voided|merged…>.v1", "time",
  "intuitentityid", "intuitaccountid"}`.

Both become `ChangeEvent(realm_id, entity, entity_id, operation, last_updated)` with the entity
in QBO's spelling (`JournalEntry`), the operation as the legacy verb (`Create`, `Update`, …) and
`last_updated` normalised to UTC ISO-8601, so a retry in either format de-duplicates on the same key.
Events carry no data: they only say *what* changed; the incremental sync fetches it.
A body that does not have this shape raises `PayloadError` (the receiver answers 400).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any

# QBO entities that can appear in webhooks (CloudEvents spell them in lower case).
QBO_ENTITIES = (
    "Account", "Attachable", "Bill", "BillPayment", "Budget", "Class", "CompanyInfo", "CreditMemo",
    "Currency", "Customer", "Department", "Deposit", "Employee", "Estimate", "Invoice", "Item",
    "JournalCode", "JournalEntry", "Payment", "PaymentMethod", "Preferences", "Purchase",
    "PurchaseOrder", "RefundReceipt", "SalesReceipt", "TaxAgency", "TaxCode", "TaxRate", "Term",
    "TimeActivity", "Transfer", "Vendor", "VendorCredit",
)
_ENTITY_BY_LOWER = {name.lower(): name for name in QBO_ENTITIES}
_OPERATION_BY_VERB = {"created": "Create", "updated": "Update", "deleted": "Delete", "voided": "Void",
                      "merged": "Merge", "emailed": "Emailed"}
_MAX_FIELD = 128  # ids, names and times are short; longer values are not QBO's


class PayloadError(ValueError):
    """The body is not a QBO webhook notification (message says what is wrong, never echoes it)."""


@dataclasses.dataclass(frozen=True)
class ChangeEvent:
    realm_id: str
    entity: str
    entity_id: str
    operation: str
    last_updated: str  # UTC ISO-8601

    @property
    def dedup_key(self) -> str:
        """Same change delivered twice (retry, replay, both formats) → same key."""
        raw = "\0".join((self.realm_id, self.entity, self.entity_id, self.operation, self.last_updated))
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def parse_notification(body: bytes) -> list[ChangeEvent]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not JSON ({type(exc).__name__})") from None
    if isinstance(doc, dict) and "eventNotifications" in doc:
        return _parse_legacy(doc["eventNotifications"])
    if isinstance(doc, list) or (isinstance(doc, dict) and "specversion" in doc):
        return _parse_cloudevents(doc if isinstance(doc, list) else [doc])
    raise PayloadError("neither eventNotifications nor CloudEvents")


def _text(value: Any, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > _MAX_FIELD:
        raise PayloadError(f"{what} missing or not a short string")
    return value


def _utc_iso(value: Any, what: str) -> str:
    text = _text(value, what)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:  # legacy offsets without a colon: 2015-10-05T14:42:19-0700 (older Pythons)
            parsed = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            raise PayloadError(f"{what} is not a date-time") from None
    if parsed.tzinfo is None:
        raise PayloadError(f"{what} has no UTC offset")
    return parsed.astimezone(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _entity(name: Any) -> str:
    text = _text(name, "entity name")
    return _ENTITY_BY_LOWER.get(text.lower(), text)


def _parse_legacy(notifications: Any) -> list[ChangeEvent]:
    if not isinstance(notifications, list):
        raise PayloadError("eventNotifications is not a list")
    events = []
    for note in notifications:
        if not isinstance(note, dict):
            raise PayloadError("an eventNotification is not an object")
        realm = _text(note.get("realmId"), "realmId")
        change = note.get("dataChangeEvent")
        entities = change.get("entities") if isinstance(change, dict) else None
        if not isinstance(entities, list):
            raise PayloadError("dataChangeEvent.entities missing")
        for ent in entities:
            if not isinstance(ent, dict):
                raise PayloadError("an entity is not an object")
            events.append(ChangeEvent(realm, _entity(ent.get("name")), _text(ent.get("id"), "entity id"),
                                      _text(ent.get("operation"), "operation"),
                                      _utc_iso(ent.get("lastUpdated"), "lastUpdated")))
    return events


def _parse_cloudevents(items: list) -> list[ChangeEvent]:
    events = []
    for item in items:
        if not isinstance(item, dict):
            raise PayloadError("a CloudEvent is not an object")
        kind = _text(item.get("type"), "type").split(".")
        if len(kind) < 3 or kind[0] != "qbo":
            raise PayloadError("type is not qbo.<entity>.<operation>…")
        verb = kind[2].lower()
        events.append(ChangeEvent(_text(item.get("intuitaccountid"), "intuitaccountid"), _entity(kind[1]),
                                  _text(item.get("intuitentityid"), "intuitentityid"),
                                  _OPERATION_BY_VERB.get(verb, verb.capitalize()),
                                  _utc_iso(item.get("time"), "time")))
    return events
