"""Response handling without a server: truncated/non-JSON bodies are retriable, Retry-After
sets the wait, 401/3200 is recognised, other faults are fatal with a clear message."""

from __future__ import annotations

import pytest
import requests

from tap_quickbooks_online.errors import QBOAPIError, QBORetriableError, QBOTokenRejected
from tap_quickbooks_online.tap import TapQuickBooksOnline

CONFIG = {"client_id": "c", "client_secret": "s", "refresh_token": "r", "realm_ids": ["9"]}


def response(status, body, headers=None):
    r = requests.Response()
    r.status_code = status
    r._content = body
    r.headers.update({"intuit_tid": "1-aa-bb", **(headers or {})})
    r.url = "http://x/v3/company/9/query"
    return r


@pytest.fixture
def stream():
    return TapQuickBooksOnline(config=CONFIG).streams["invoices"]


def test_truncated_json_is_retriable(stream):
    with pytest.raises(QBORetriableError) as info:
        stream._check_response(response(200, b'{"QueryResponse": {"Invoice": [{"Id": "1"'),
                               "9", "query", "tok")
    assert "truncated or non-JSON body" in str(info.value)
    assert "intuit_tid=1-aa-bb" in str(info.value)


def test_html_body_is_retriable(stream):
    with pytest.raises(QBORetriableError):
        stream._check_response(response(200, b"<html>maintenance</html>"), "9", "query", "tok")


def test_retry_after_sets_the_wait(stream):
    with pytest.raises(QBORetriableError) as info:
        stream._check_response(response(429, b"", {"Retry-After": "7"}), "9", "query", "tok")
    assert info.value.retry_after == 7.0
    waits = stream.backoff_wait_generator()
    next(waits)
    assert 7.0 <= waits.send(info.value) <= 7.0 + stream.backoff_base_seconds
    # without Retry-After: exponential with jitter
    plain = QBORetriableError("x")
    values = [waits.send(plain) for _ in range(4)]
    base = stream.backoff_base_seconds
    for attempt, wait in enumerate(values, start=1):
        ceiling = min(stream.backoff_cap_seconds, base * 2 ** attempt)
        assert ceiling / 2 <= wait <= ceiling


def test_401_3200_is_token_rejected(stream):
    body = open("/work/shared/reference/qbo/fault-401.json", "rb").read()
    with pytest.raises(QBOTokenRejected) as info:
        stream._check_response(response(401, body), "9", "customer/1", "the-token")
    assert info.value.access_token == "the-token"
    assert "the-token" not in str(info.value)


def test_400_fault_is_fatal(stream):
    body = open("/work/shared/reference/qbo/fault-validation.json", "rb").read()
    with pytest.raises(QBOAPIError) as info:
        stream._check_response(response(400, body), "9", "customer", "tok")
    assert not isinstance(info.value, QBORetriableError)
    assert "6240" in str(info.value) and "Duplicate Name Exists Error" in str(info.value)


def test_fault_inside_200_is_an_error(stream):
    body = b'{"Fault":{"Error":[{"Message":"m","Detail":"d","code":"4000"}],"type":"ValidationFault"}}'
    with pytest.raises(QBOAPIError):
        stream._check_response(response(200, body), "9", "query", "tok", envelope=True)
