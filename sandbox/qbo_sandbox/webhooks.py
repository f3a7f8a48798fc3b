"""Webhook delivery: QBO's ``eventNotifications`` (or CloudEvents) POSTs, signed and retried.

Every change (create/update/delete/void/merge) becomes an event. A background thread gathers
events for ``batch_window_s`` (QBO batches the changes of a period into one POST, grouped per
realm), then POSTs them to each registered endpoint with the ``intuit-signature`` header:
base64(HMAC-SHA256(key=verifier token, msg=raw body)). A non-2xx answer or a connection error is
retried with exponential backoff (``backoff_s`` × 2^n) up to ``max_attempts`` times. Every
attempt is logged (``GET /_sandbox/webhooks/deliveries``).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import queue
import threading
import time
import uuid

import requests

from .wire import PACIFIC

CE_VERB = {"Create": "created", "Update": "updated", "Delete": "deleted", "Void": "voided", "Merge": "merged",
           "Emailed": "emailed"}


def sign(body: bytes, verifier_token: str) -> str:
    """The ``intuit-signature`` header value for a raw body."""
    return base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()).decode()


def verify(body: bytes, signature: str, verifier_token: str) -> bool:
    return hmac.compare_digest(sign(body, verifier_token), signature or "")


def legacy_time(epoch: float) -> str:
    """``2015-10-05T14:42:19-0700`` (the format of QBO's legacy payload)."""
    return dt.datetime.fromtimestamp(int(epoch), PACIFIC).strftime("%Y-%m-%dT%H:%M:%S%z")


def legacy_payload(events: list[dict]) -> bytes:
    by_realm: dict[str, list[dict]] = {}
    for e in events:
        by_realm.setdefault(e["realm"], []).append(
            {"name": e["entity"], "id": e["id"], "operation": e["operation"], "lastUpdated": legacy_time(e["when"])})
    body = {"eventNotifications": [{"realmId": r, "dataChangeEvent": {"entities": ents}}
                                   for r, ents in by_realm.items()]}
    return json.dumps(body, separators=(",", ":")).encode()


def cloudevents_payload(events: list[dict], source: str) -> bytes:
    out = []
    for e in events:
        t = dt.datetime.fromtimestamp(e["when"], dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        out.append({"specversion": "1.0", "id": str(uuid.uuid4()), "source": source,
                    "type": f"qbo.{e['entity'].lower()}.{CE_VERB.get(e['operation'], 'updated')}.v1",
                    "time": t, "intuitentityid": e["id"], "intuitaccountid": e["realm"]})
    return json.dumps(out, separators=(",", ":")).encode()


class WebhookDispatcher:
    def __init__(self, default_verifier: str):
        self.default_verifier = default_verifier
        self.endpoints: dict[str, dict] = {}
        self.deliveries: list[dict] = []
        self.events_seen = 0
        self._q: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="qbo-webhooks", daemon=True)
        self._thread.start()
        self._session = requests.Session()

    def register(self, cfg: dict) -> dict:
        if not cfg.get("url"):
            raise ValueError("url is required")
        fmt = cfg.get("format", "legacy")
        if fmt not in ("legacy", "cloudevents"):
            raise ValueError("format must be 'legacy' or 'cloudevents'")
        ep = {"id": cfg.get("id") or uuid.uuid4().hex[:12], "url": cfg["url"],
              "verifier_token": cfg.get("verifier_token") or self.default_verifier, "format": fmt,
              "batch_window_s": float(cfg.get("batch_window_s", 0.5)), "max_attempts": int(cfg.get("max_attempts", 5)),
              "backoff_s": float(cfg.get("backoff_s", 0.5)), "entities": cfg.get("entities"),
              "realms": cfg.get("realms"), "timeout_s": float(cfg.get("timeout_s", 5))}
        with self._lock:
            self.endpoints[ep["id"]] = ep
        return self.public(ep)

    @staticmethod
    def public(ep: dict) -> dict:
        return {k: v for k, v in ep.items() if k != "verifier_token"}

    def unregister(self, ep_id: str | None = None) -> None:
        with self._lock:
            if ep_id is None:
                self.endpoints.clear()
            else:
                self.endpoints.pop(ep_id, None)

    def on_change(self, realm: str, entity: str, id_: str, operation: str, when: float) -> None:
        self.events_seen += 1
        if self.endpoints:
            self._q.put({"realm": realm, "entity": entity, "id": id_, "operation": operation, "when": when})

    def stop(self) -> None:
        self._stop.set()
        self._q.put(None)

    def _run(self) -> None:
        while not self._stop.is_set():
            first = self._q.get()
            if first is None:
                return
            with self._lock:
                window = max([ep["batch_window_s"] for ep in self.endpoints.values()] or [0])
            batch = [first]
            deadline = time.monotonic() + window
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    e = self._q.get(timeout=left)
                except queue.Empty:
                    break
                if e is None:
                    self._stop.set()
                    break
                batch.append(e)
            with self._lock:
                eps = list(self.endpoints.values())
            for ep in eps:
                events = [e for e in batch
                          if (not ep["entities"] or e["entity"] in ep["entities"])
                          and (not ep["realms"] or e["realm"] in ep["realms"])]
                if events:
                    self._deliver(ep, events)

    def _deliver(self, ep: dict, events: list[dict]) -> None:
        if ep["format"] == "cloudevents":
            body = cloudevents_payload(events, "intuit.sandbox")
        else:
            body = legacy_payload(events)
        headers = {"Content-Type": "application/json", "intuit-signature": sign(body, ep["verifier_token"]),
                   "User-Agent": "Intuit-Webhooks-Sandbox/1.0"}
        if ep["format"] == "cloudevents":
            headers["Content-Type"] = "application/cloudevents-batch+json"
        delay = ep["backoff_s"]
        for attempt in range(1, ep["max_attempts"] + 1):
            status, error = None, None
            try:
                r = self._session.post(ep["url"], data=body, headers=headers, timeout=ep["timeout_s"])
                status = r.status_code
            except requests.RequestException as exc:
                error = type(exc).__name__
            ok = status is not None and 200 <= status < 300
            with self._lock:
                self.deliveries.append({"endpoint": ep["id"], "attempt": attempt, "status": status, "error": error,
                                        "ok": ok, "events": len(events), "bytes": len(body),
                                        "body": body.decode()})
            if ok or self._stop.is_set():
                return
            if attempt < ep["max_attempts"]:
                time.sleep(delay)
                delay *= 2
