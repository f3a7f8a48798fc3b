"""The CLI (subprocess fixture mode) and the store interface the reports module uses."""
from __future__ import annotations

from qbo_sandbox.store import Store
from qbo_sandbox.testing import QboSandboxServer


def test_cli_subprocess_prints_ready_and_serves():
    with QboSandboxServer(realms=3, size="demo", seed=9, subprocess_mode=True) as sb:
        assert sb.base_url.startswith("http://127.0.0.1:")
        creds = sb.credentials()
        assert len(creds["realms"]) == 3
        assert {"client_id", "client_secret", "redirect_uris", "webhook_verifier_token"} <= set(creds)
        assert all(r["refresh_token"] and r["company_name"] for r in creds["realms"])
        api = sb.api(creds["realms"][2]["realm_id"])
        assert api.query("select count(*) from Invoice").json()["QueryResponse"]["totalCount"] > 500
        assert sb.sandbox is None  # state lives in the child process


def test_store_interface():
    store = Store(2, "demo", 4, as_of=1_780_000_000.0)
    realms = store.realms()
    assert len(realms) == 2 and realms[0] != realms[1]
    invoices = list(store.iter_entities(realms[0], "Invoice"))
    assert invoices and all(i["domain"] == "QBO" for i in invoices)
    assert store.get(realms[0], "Invoice", invoices[3]["Id"]) == invoices[3]
    assert store.get(realms[0], "Invoice", "999999999") is None
    assert store.get(realms[0], "Bill", invoices[3]["Id"]) is None  # an invoice id is not a bill
    assert len(list(store.iter_entities(realms[0], "CompanyInfo"))) == 1
    # Each realm has its own company and data.
    names = {next(store.iter_entities(r, "CompanyInfo"))["CompanyName"] for r in realms}
    assert len(names) == 2
    try:
        list(store.iter_entities(realms[0], "NoSuchEntity"))
    except KeyError:
        pass
    else:
        raise AssertionError("unknown entity must raise KeyError")


def test_servers_started_the_same_day_serve_identical_data(qbo_sandbox_factory):
    import time
    start = time.time()  # one clock start for both, so a run across midnight cannot split them
    a = qbo_sandbox_factory(realms=1, seed=13, now=start)
    b = qbo_sandbox_factory(realms=1, seed=13, now=start)
    ra, rb = a.realm_ids()[0], b.realm_ids()[0]
    assert ra == rb
    qa = a.api(ra).query("select * from Invoice maxresults 50").content
    qb = b.api(rb).query("select * from Invoice maxresults 50").content
    strip = lambda body: body.rsplit(b',"time"', 1)[0]  # noqa: E731 - only the envelope time differs
    assert strip(qa) == strip(qb)
