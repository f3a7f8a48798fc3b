"""Webhook events: which REST events exist, and delivery of unsigned JSON payloads.

Payload keys as in Tableau's "Webhooks Events and Payloads" page: resource, event_type,
resource_name, site_luid, resource_luid, created_at. Tableau does not sign webhook requests.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import requests

from tableau_sandbox.clock import iso
from tableau_sandbox.state import Delivery, Store, Webhook, new_id

# Tableau's trigger events: API event name -> (webhook-source element, payload "resource"), from
# "Webhooks Events and Payloads" (help.tableau.com/current/developer/webhooks/...webhooks-events-payload.html).
EVENTS: dict[str, tuple[str, str]] = {
    "AdminPromoted": ("webhook-event-user-promoted-admin", "USER"),
    "AdminDemoted": ("webhook-event-user-demoted-admin", "USER"),
    "DatasourceUpdated": ("webhook-source-event-datasource-updated", "DATASOURCE"),
    "DatasourceCreated": ("webhook-source-event-datasource-created", "DATASOURCE"),
    "DatasourceDeleted": ("webhook-source-event-datasource-deleted", "DATASOURCE"),
    "DatasourceRefreshStarted": ("webhook-source-event-datasource-refresh-started", "EXTRACTS"),
    "DatasourceRefreshSucceeded": ("webhook-source-event-datasource-refresh-succeeded", "EXTRACTS"),
    "DatasourceRefreshFailed": ("webhook-source-event-datasource-refresh-failed", "EXTRACTS"),
    "LabelCreated": ("webhook-source-event-label-created", "DATASOURCE/WORKBOOK"),
    "LabelUpdated": ("webhook-source-event-label-updated", "DATASOURCE/WORKBOOK"),
    "LabelDeleted": ("webhook-source-event-label-LabelDeleted", "DATASOURCE/WORKBOOK"),
    "SiteCreated": ("webhook-source-event-site-created", "SITE"),
    "SiteUpdated": ("webhook-source-event-site-updated", "SITE"),
    "SiteDeleted": ("webhook-source-event-site-deleted", "SITE"),
    "UserDeleted": ("webhook-source-event-user-deleted", "USER"),
    "ViewDeleted": ("webhook-source-event-view-deleted", "VIEW"),
    "WorkbookUpdated": ("webhook-source-event-workbook-updated", "WORKBOOK"),
    "WorkbookCreated": ("webhook-source-event-workbook-created", "WORKBOOK"),
    "WorkbookDeleted": ("webhook-source-event-workbook-deleted", "WORKBOOK"),
    "WorkbookRefreshStarted": ("webhook-source-event-workbook-refresh-started", "EXTRACTS"),
    "WorkbookRefreshSucceeded": ("webhook-source-event-workbook-refresh-succeeded", "EXTRACTS"),
    "WorkbookRefreshFailed": ("webhook-source-event-workbook-refresh-failed", "EXTRACTS"),
}
_BY_TAG = {tag: api for api, (tag, _) in EVENTS.items()}
_BY_SHORT = {tag.split("-event-", 1)[1]: api for api, (tag, _) in EVENTS.items()}


def event_from_xml_name(name: str) -> str | None:
    """Accept ``DatasourceCreated``, ``webhook-source-event-datasource-created`` or ``datasource-created``."""
    if name in EVENTS:
        return name
    return _BY_TAG.get(name) or _BY_SHORT.get(name)


def legacy_tag(event: str) -> str:
    return EVENTS[event][0]


def destination_allowed(url: str) -> bool:
    """Tableau requires https destinations; the sandbox also allows plain http on loopback for tests."""
    parsed = urlparse(url)
    if parsed.scheme == "https" and parsed.hostname:
        return True
    return parsed.scheme == "http" and parsed.hostname in ("127.0.0.1", "localhost", "::1")


class Notifier:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tableau-webhook")
        self._pending = 0
        self._cv = threading.Condition()

    def payload(self, site_id: str, event: str, resource_id: str, resource_name: str) -> dict:
        return {
            "resource": EVENTS[event][1],
            "event_type": event,
            "resource_name": resource_name,
            "site_luid": site_id,
            "resource_luid": resource_id,
            "created_at": iso(self.store.clock.now()),
        }

    def fire(self, site_id: str, event: str, resource_id: str, resource_name: str) -> None:
        with self.store.lock:
            hooks = [w for w in self.store.webhooks.values()
                     if w.site_id == site_id and w.event == event and w.enabled]
            self.store.counters[f"event:{event}"] = self.store.counters.get(f"event:{event}", 0) + 1
        for hook in hooks:
            body = self.payload(site_id, event, resource_id, resource_name)
            with self._cv:
                self._pending += 1
            self._pool.submit(self._deliver_bg, hook, body)

    def _deliver_bg(self, hook: Webhook, body: dict) -> None:
        try:
            self.deliver(hook, body)
        finally:
            with self._cv:
                self._pending -= 1
                self._cv.notify_all()

    def deliver(self, hook: Webhook, body: dict, test: bool = False) -> Delivery:
        status, error = None, None
        try:
            resp = requests.post(hook.url, data=json.dumps(body), timeout=10,
                                 headers={"Content-Type": "application/json", "User-Agent": "Tableau-Webhooks"})
            status = resp.status_code
        except requests.RequestException as exc:
            error = type(exc).__name__
        delivery = Delivery(new_id(), hook.id, body["event_type"], hook.url, body, status, error,
                            iso(self.store.clock.now()), test)
        with self.store.lock:
            self.store.deliveries.append(delivery)
        return delivery

    def wait_idle(self, timeout: float = 10.0) -> bool:
        with self._cv:
            return self._cv.wait_for(lambda: self._pending == 0, timeout=timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
