"""The query grammar (valid and invalid), paging and name-list activity filtering."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def api():
    from qbo_sandbox.testing import QboSandboxServer
    with QboSandboxServer(realms=1, seed=3) as sb:
        yield sb.api(sb.realm_ids()[0])


def rows(r, entity):
    assert r.status_code == 200, r.text
    return r.json()["QueryResponse"].get(entity, [])


def count(api, text):
    r = api.query(text)
    assert r.status_code == 200, r.text
    return r.json()["QueryResponse"]["totalCount"]


def test_paging_walks_every_invoice_once(api):
    total = count(api, "SELECT COUNT(*) FROM Invoice")
    seen, start = [], 1
    while True:
        page = rows(api.query(f"select * from Invoice STARTPOSITION {start} MAXRESULTS 300"), "Invoice")
        if not page:
            break
        assert len(page) <= 300
        seen += [o["Id"] for o in page]
        start += len(page)
    assert len(seen) == len(set(seen)) == total > 300
    # MAXRESULTS above 1000 is capped at 1000; the default page is 100.
    assert len(rows(api.query("select * from Invoice maxresults 5000"), "Invoice")) == min(1000, total)
    assert len(rows(api.query("select * from Invoice"), "Invoice")) == 100
    # MAXRESULTS before STARTPOSITION is accepted (QBO accepts either order).
    a = rows(api.query("select * from Invoice maxresults 5 startposition 6"), "Invoice")
    assert [o["Id"] for o in a] == seen[5:10]


def test_where_operators_and_ordering(api):
    inv = rows(api.query("select * from Invoice where TotalAmt > '1000' ORDERBY TotalAmt DESC maxresults 50"),
               "Invoice")
    amounts = [o["TotalAmt"] for o in inv]
    assert amounts == sorted(amounts, reverse=True) and all(a > 1000 for a in amounts)
    lut = rows(api.query("select * from Invoice order by Metadata.LastUpdatedTime maxresults 200"), "Invoice")
    times = [o["MetaData"]["LastUpdatedTime"] for o in lut]
    mid = times[100]
    after = rows(api.query(f"SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '{mid}' "
                           f"ORDERBY MetaData.LastUpdatedTime ASC MAXRESULTS 10"), "Invoice")
    assert after[0]["MetaData"]["LastUpdatedTime"] == mid
    strictly = rows(api.query(f"select * from Invoice where Metadata.LastUpdatedTime > '{mid}' maxresults 1"),
                    "Invoice")
    assert strictly[0]["Id"] == lut[101]["Id"]
    cust = lut[0]["CustomerRef"]["value"]
    by_cust = rows(api.query(f"select * from Invoice where CustomerRef = '{cust}' maxresults 1000"), "Invoice")
    assert by_cust and all(o["CustomerRef"]["value"] == cust for o in by_cust)
    ids = [lut[0]["Id"], lut[1]["Id"], "999999"]
    got = rows(api.query(f"select * from Invoice where Id in ('{ids[0]}', '{ids[1]}', '{ids[2]}')"), "Invoice")
    assert sorted(o["Id"] for o in got) == sorted(ids[:2])
    first = lut[0]["DocNumber"]
    assert rows(api.query(f"select * from invoice where DocNumber = '{first}' and TotalAmt >= '0'"), "Invoice")
    like = rows(api.query("select * from Customer where DisplayName LIKE '%Robotics%'"), "Customer")
    assert all("robotics" in c["DisplayName"].lower() for c in like)
    dated = rows(api.query("select * from Invoice where TxnDate >= '2000-01-01' and TxnDate <= '2100-01-01' "
                           "maxresults 3"), "Invoice")
    assert len(dated) == 3


def test_keywords_case_insensitive_and_post_text(api):
    a = api.query("SeLeCt * FrOm Invoice WhErE TotalAmt > '0' OrDeRbY Id StArTpOsItIoN 1 MaXrEsUlTs 4")
    assert len(rows(a, "Invoice")) == 4
    r = api.session.post(api.base + "/query", params={"minorversion": "75"}, data="select count(*) from Bill",
                         headers={"Content-Type": "application/text"})
    assert r.status_code == 200 and r.json()["QueryResponse"]["totalCount"] > 0
    proj = rows(api.query("select Id, DisplayName from Customer maxresults 2"), "Customer")
    assert set(proj[0]) <= {"Id", "DisplayName", "domain", "sparse"}


def test_name_lists_return_active_only_unless_filtered(api):
    active = count(api, "select count(*) from Customer")
    everything = count(api, "select count(*) from Customer where Active in (true, false)")
    inactive = count(api, "select count(*) from Customer where Active = false")
    assert inactive > 0 and active + inactive == everything
    assert all(c["Active"] for c in rows(api.query("select * from Customer maxresults 1000"), "Customer"))
    assert count(api, "select count(*) from Account where Active = false") >= 1


@pytest.mark.parametrize("text,needle", [
    ("select * frm Invoice", "frm"),
    ("select * from Nonsense", "Nonsense"),
    ("select * from Invoice where TotalAmt > 1 or TotalAmt < 0", "OR"),
    ("select * from Invoice where Bogus = '1'", "Bogus"),
    ("select * from Invoice maxresults x", "x"),
    ("select * from Invoice where TotalAmt", "<EOF>"),
    ("select * from Invoice orderby", "<EOF>"),
    ("select * from Invoice where (TotalAmt > '1')", "("),
    ("", "EOF"),
    ("select * from Invoice where DocNumber = 'unterminated", "'unterminated"),
])
def test_invalid_queries_get_a_4000_fault_naming_the_problem(api, text, needle):
    r = api.query(text)
    assert r.status_code == 400
    err = r.json()["Fault"]["Error"][0]
    assert r.json()["Fault"]["type"] == "ValidationFault"
    assert err["Message"] == "Error parsing query" and err["code"] == "4000"
    assert err["Detail"].startswith(("QueryParserError", "QueryValidationError"))
    assert needle in err["Detail"]


def test_other_lists_the_tap_reads(api):
    rates = rows(api.query("SELECT * FROM exchangerate STARTPOSITION 1 MAXRESULTS 1000"), "ExchangeRate")
    assert rates and all("Id" not in r and r["TargetCurrencyCode"] == "USD" for r in rates)
    assert {r["SourceCurrencyCode"] for r in rates} == {"CAD", "EUR"}
    assert {c["Code"] for c in rows(api.query("select * from CompanyCurrency"), "CompanyCurrency")} == {"CAD", "EUR"}
    assert rows(api.query("select * from CustomerType"), "CustomerType")
    att = rows(api.query("select * from Attachable"), "Attachable")
    assert att and att[0]["AttachableRef"][0]["EntityRef"]["type"] == "Invoice"


def test_sync_pages_follow_changes_and_projections(qbo_sandbox):
    """Pages of the sync pattern (ORDERBY LastUpdatedTime): an untouched range is served from the
    entity's index alone; once a document in it changes, it leaves its place (the page closes up) and
    comes last, changed; projections of such pages carry the same values."""
    realm = qbo_sandbox.realm_ids()[0]
    api = qbo_sandbox.api(realm)
    page = "SELECT {} FROM Invoice ORDERBY Metadata.LastUpdatedTime STARTPOSITION {} MAXRESULTS {}"
    total = count(api, "SELECT COUNT(*) FROM Invoice")
    before = rows(api.query(page.format("*", 11, 20)), "Invoice")
    following = rows(api.query(page.format("*", 31, 1)), "Invoice")
    assert len(before) == 20 and len(following) == 1
    picked = rows(api.query(page.format("Id, DocNumber, TotalAmt", 11, 20)), "Invoice")
    assert [(r["Id"], r["DocNumber"], r["TotalAmt"]) for r in picked] == [
        (r["Id"], r["DocNumber"], r["TotalAmt"]) for r in before]
    changed = before[4]
    qbo_sandbox.control("POST", "/_sandbox/mutate", json={
        "realm": realm, "entity": "Invoice", "op": "update", "id": changed["Id"], "data": {"PrivateNote": "moved"}})
    after = rows(api.query(page.format("*", 11, 20)), "Invoice")
    assert after == [r for r in before if r["Id"] != changed["Id"]] + following
    assert count(api, "SELECT COUNT(*) FROM Invoice") == total
    last = rows(api.query(page.format("*", total, 10)), "Invoice")
    assert len(last) == 1 and last[0]["Id"] == changed["Id"] and last[0]["PrivateNote"] == "moved"


@pytest.mark.parametrize("n", [1, 99, 100, 101, 250])
def test_page_writes_are_the_page_with_no_tiny_head_or_tail_write(n):
    """A page goes to the socket in groups of ``Page.GROUP`` documents whose concatenation is the
    page's bytes; the head and the tail ride with the first and last group (a tail written alone
    after megabytes could wait on the client's delayed ACK)."""
    from qbo_sandbox.app import Page
    docs = [b'{"Id":"%d"}' % i for i in range(n)]
    page = Page(b'{"QueryResponse":{"Invoice":[', docs, b'],"maxResults":%d}}' % n)
    writes = list(page.chunks())
    assert b"".join(writes) == page.join() == b'{"QueryResponse":{"Invoice":[' + b",".join(docs) + b'],"maxResults":%d}}' % n
    assert len(page.join()) == page.size()
    assert len(writes) == -(-n // Page.GROUP)
    assert writes[0].startswith(page.head + docs[0]) and writes[-1].endswith(docs[-1] + page.tail)
