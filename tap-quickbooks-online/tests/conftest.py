"""Helpers for the tap's tests against the local QBO sandbox (fixtures come from qbo_sandbox's
pytest plugin: `qbo_sandbox`, `qbo_sandbox_factory`)."""

from __future__ import annotations

import copy
import decimal
import io
import json
import logging
from contextlib import redirect_stdout
from dataclasses import dataclass, field

import pytest

from tap_quickbooks_online.client import QuickBooksStream
from tap_quickbooks_online.tap import TapQuickBooksOnline


def sandbox_config(sb, tmp_path, **overrides) -> dict:
    creds = sb.credentials()
    config = {
        "client_id": creds["client_id"],
        "client_secret": creds["client_secret"],
        "realms": [{"realm_id": r["realm_id"], "refresh_token": r["refresh_token"]}
                   for r in creds["realms"]],
        "api_base_url": sb.base_url,
        "oauth_base_url": sb.base_url,
        "token_store": str(tmp_path / "tokens.json"),
        "start_date": "2000-01-01T00:00:00Z",
    }
    config.update(overrides)
    return config


@dataclass
class TapRun:
    messages: list[dict]
    raw: str
    tap: TapQuickBooksOnline
    logs: str = ""
    error: BaseException | None = None
    records: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def state(self) -> dict:
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else {}

    def bookmark(self, stream: str, realm_id: str) -> str | None:
        for partition in self.state.get("bookmarks", {}).get(stream, {}).get("partitions", []):
            if partition["context"] == {"realm_id": realm_id}:
                return partition.get("replication_key_value")
        return None


def catalog_for(tap: TapQuickBooksOnline, streams: list[str]) -> dict:
    catalog = tap.catalog_dict
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def run_tap(config: dict, streams: list[str] | None = None, state: dict | None = None,
            *, prefetch: bool = True, expect_error: type[BaseException] | None = None) -> TapRun:
    """Run a full sync in-process; returns parsed messages (Decimal numbers) and captured logs."""
    catalog = None
    if streams is not None:
        catalog = catalog_for(TapQuickBooksOnline(config=config), streams)
    tap = TapQuickBooksOnline(config=config, catalog=catalog,
                              state=copy.deepcopy(state) if state else {})
    tap.prefetch_enabled = prefetch
    log_buffer = io.StringIO()
    handler = logging.StreamHandler(log_buffer)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    error = None
    try:
        with redirect_stdout(out):
            try:
                tap.sync_all()
            except BaseException as exc:
                if expect_error is None or not isinstance(exc, expect_error):
                    raise
                error = exc
            out.flush()
    finally:
        root.removeHandler(handler)
    if expect_error is not None and error is None:
        msg = f"the sync did not fail with {expect_error.__name__}"
        raise AssertionError(msg)
    out.seek(0)
    raw = out.read()
    messages = [json.loads(line, parse_float=decimal.Decimal) for line in raw.splitlines() if line]
    run = TapRun(messages=messages, raw=raw, tap=tap, logs=log_buffer.getvalue(), error=error)
    for message in messages:
        if message["type"] == "RECORD":
            run.records.setdefault(message["stream"], []).append(message["record"])
    return run


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    """Keep retry waits short in tests (the policy is the same, the base is 10 ms)."""
    monkeypatch.setattr(QuickBooksStream, "backoff_base_seconds", 0.01)
    monkeypatch.setattr(QuickBooksStream, "backoff_cap_seconds", 0.5)


@pytest.fixture
def info_logs():
    """The tap's logger at INFO for the test (what it says about its decisions is asserted on)."""
    logger = logging.getLogger("tap-quickbooks-online")
    old = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(old)


@pytest.fixture(name="make_config")
def _make_config_fixture(tmp_path):
    """`make_config(sb, **overrides)`: a tap config pointing at a sandbox."""
    return lambda sb, **overrides: sandbox_config(sb, tmp_path, **overrides)


@pytest.fixture(name="tap_run")
def _tap_run_fixture():
    """`tap_run(config, streams, state=None)`: run a sync in-process (see `run_tap`)."""
    return run_tap
