"""Throttling (429/3001, JSON and XML), concurrency limits, latency, fault injection, counters."""
from __future__ import annotations

import threading

import pytest
import requests


@pytest.fixture
def env(qbo_sandbox):
    realm = qbo_sandbox.realm_ids()[0]
    return qbo_sandbox, realm, qbo_sandbox.api(realm)


def test_requests_per_minute_limit_gives_429_3001(env):
    sb, realm, api = env
    sb.control("POST", "/_sandbox/limits", json={"realm": realm, "requests_per_minute": 5, "reset_window": True})
    codes = [api.query("select count(*) from Term").status_code for _ in range(8)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429] * 3
    r = api.query("select count(*) from Term")
    assert r.json()["Fault"]["Error"][0]["code"] == "3001"
    # The other realm has its own limits.
    other = sb.realm_ids()[1]
    assert sb.api(other).query("select count(*) from Term").status_code == 200
    sb.control("POST", "/_sandbox/limits", json={"realm": realm, "throttle_format": "xml"})
    x = api.query("select count(*) from Term")
    assert x.status_code == 429 and x.headers["content-type"].startswith("application/xml")
    assert b'<Error code="3001">' in x.content and b"ThrottleExceeded" in x.content
    # The window is a minute of sandbox time.
    sb.control("POST", "/_sandbox/clock", json={"advance": 61})
    assert api.query("select count(*) from Term").status_code == 200
    counters = sb.control("GET", "/_sandbox/counters")
    assert counters["throttled_429"] == 5 and counters["requests"]["query"] >= 12


def test_concurrency_limit(env):
    sb, realm, api = env
    sb.control("POST", "/_sandbox/limits", json={"realm": realm, "concurrent": 2})
    sb.control("POST", "/_sandbox/latency", json={"enabled": True, "base_ms": 2500, "per_row_ms": 0})
    results = []
    token = api.session.headers["Authorization"]
    barrier = threading.Barrier(6)

    def call():
        barrier.wait()
        r = requests.get(api.base + "/query", params={"query": "select count(*) from Term"},
                         headers={"Authorization": token})
        results.append(r.status_code)
    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(200) >= 2 and results.count(429) >= 1


def test_latency_model_scales_with_rows(env):
    sb, realm, api = env
    cfg = sb.control("POST", "/_sandbox/latency", json={"enabled": True, "base_ms": 1, "per_row_ms": 5})
    assert cfg == {"enabled": True, "base_ms": 1.0, "per_row_ms": 5.0, "prefetch": True}
    big = api.query("select * from Invoice maxresults 200")
    small = api.query("select * from Invoice maxresults 1")
    assert big.status_code == small.status_code == 200
    assert big.elapsed > small.elapsed  # 1001 ms of modelled latency against 6 ms
    sb.control("POST", "/_sandbox/latency", json={"enabled": False})


def test_fault_injection_5xx_limited_to_n_and_path(env):
    sb, realm, api = env
    sb.control("POST", "/_sandbox/faults", json={"kind": "5xx", "status": 503, "count": 2, "path": "/query"})
    sb.control("POST", "/_sandbox/faults", json={"kind": "5xx", "status": 500, "count": 1, "path": "/invoice/"})
    assert [api.query("select count(*) from Term").status_code for _ in range(3)] == [503, 503, 200]
    r = api.get("/invoice/100")
    assert r.status_code == 500 and r.json()["Fault"]["Error"][0]["code"] == "10000"
    assert api.get("/invoice/100").status_code == 200
    faults = sb.control("GET", "/_sandbox/faults")["faults"]
    assert [f["fired"] for f in faults] == [2, 1]
    sb.control("DELETE", "/_sandbox/faults")
    assert sb.control("GET", "/_sandbox/counters")["faults_injected"] == {"5xx": 3}


def test_connection_reset_truncation_and_slow(env):
    sb, realm, api = env
    sb.control("POST", "/_sandbox/faults", json={"kind": "reset", "count": 1})
    with pytest.raises(requests.ConnectionError):
        api.query("select * from Invoice maxresults 5")
    sb.control("POST", "/_sandbox/faults", json={"kind": "truncate", "count": 1})
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        api.query("select * from Invoice maxresults 50").json()
    sb.control("POST", "/_sandbox/faults", json={"kind": "slow", "delay_s": 0.3, "count": 1})
    r = api.query("select count(*) from Term")
    assert r.status_code == 200 and r.elapsed.total_seconds() >= 0.3
    assert api.query("select count(*) from Term").status_code == 200


def test_injected_429_rate_based(env):
    sb, realm, api = env
    sb.control("POST", "/_sandbox/faults", json={"kind": "429", "rate": 0.5})
    codes = [api.query("select count(*) from Term").status_code for _ in range(20)]
    assert 2 < codes.count(429) < 18 and set(codes) == {200, 429}
