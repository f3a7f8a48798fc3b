"""Update Data in Hyper Data Source (PATCH …/data): actions applied for real to the stored .hyper."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from decimal import Decimal as D

import pytest
import requests
import tableauserverclient as TSC
from tableauhyperapi import SqlType
from tableauserverclient.server.endpoint.exceptions import JobFailedException, ServerResponseError

from tableau_sandbox.testing import tsc_sign_in, write_hyper

NS = {"t": "http://tableau.com/api"}
FLAVORS = ["server", "cloud"]
COLUMNS = [("id", SqlType.big_int()), ("region", SqlType.text()), ("amount", SqlType.numeric(18, 2)),
           ("day", SqlType.date())]


def base_rows():
    import datetime as dt
    return [(1, "Europe", D("10.00"), dt.date(2024, 1, 1)), (2, "Asia", D("20.00"), dt.date(2024, 2, 1)),
            (3, "Europe", D("30.00"), dt.date(2024, 3, 1))]


@pytest.fixture
def published(tableau_sandbox_factory, tmp_path, request):
    sb = tableau_sandbox_factory(getattr(request, "param", "server"))
    server, project = tsc_sign_in(sb)
    path = write_hyper(tmp_path / "sales.hyper", COLUMNS, base_rows())
    ds = server.datasources.publish(TSC.DatasourceItem(project.id, name="Sales"), path, "CreateNew")
    return sb, server, ds, tmp_path


def changes(tmp_path, rows, name="changes.hyper", table="changes", columns=None):
    return write_hyper(tmp_path / name, columns or COLUMNS, rows, schema="public", table=table)


def rows_by_id(sb, ds_id):
    return {r[0]: r[1:] for r in sb.rows(ds_id)["rows"]}


@pytest.mark.parametrize("published", FLAVORS, indirect=True)
def test_upsert_insert_update_delete_replace(published):
    import datetime as dt
    sb, server, ds, tmp = published
    payload = changes(tmp, [(2, "Asia", D("25.50"), dt.date(2024, 2, 2)), (4, "Africa", D("4.00"), dt.date(2024, 4, 1))])
    job = server.datasources.update_hyper_data(ds, request_id=str(uuid.uuid4()), payload=payload, actions=[{
        "action": "upsert", "source-schema": "public", "source-table": "changes",
        "target-schema": "Extract", "target-table": "Extract",
        "condition": {"op": "eq", "target-col": "id", "source-col": "id"}}])
    assert job.type == "UpdateUploadedFile" and job.datasource_id == ds.id
    job = server.jobs.wait_for_job(job)
    assert job.finish_code == 0
    got = rows_by_id(sb, ds.id)
    assert got[2] == ["Asia", "25.50", "2024-02-02"] and got[4] == ["Africa", "4.00", "2024-04-01"]
    assert len(got) == 4

    # insert + update in one batch, update keyed by an `and` condition
    upd = write_hyper(tmp / "batch.hyper", COLUMNS, [(5, "Asia", D("5.00"), dt.date(2024, 5, 1))], schema="public",
                      table="ins", extra_tables={("public", "upd"): (
                          [("id", SqlType.big_int()), ("region", SqlType.text()), ("amount", SqlType.numeric(18, 2))],
                          [(1, "Europe", D("11.11")), (3, "Asia", D("99.99"))])})
    job = server.datasources.update_hyper_data(ds.id, request_id=str(uuid.uuid4()), payload=upd, actions=[
        {"action": "insert", "source-schema": "public", "source-table": "ins", "target-schema": "Extract",
         "target-table": "Extract"},
        {"action": "update", "source-schema": "public", "source-table": "upd", "target-schema": "Extract",
         "target-table": "Extract",
         "condition": {"op": "and", "args": [{"op": "eq", "target-col": "id", "source-col": "id"},
                                              {"op": "eq", "target-col": "region", "source-col": "region"}]}},
    ])
    assert server.jobs.wait_for_job(job).finish_code == 0
    got = rows_by_id(sb, ds.id)
    assert got[1] == ["Europe", "11.11", "2024-01-01"]  # matched id and region
    assert got[3] == ["Europe", "30.00", "2024-03-01"]  # region differs: untouched
    assert got[5] == ["Asia", "5.00", "2024-05-01"]

    # delete with a const condition, no payload (as in TSC's update_datasource_data sample)
    job = server.datasources.update_hyper_data(ds.id, request_id=str(uuid.uuid4()), actions=[
        {"action": "delete", "target-schema": "Extract", "target-table": "Extract",
         "condition": {"op": "eq", "target-col": "region", "const": {"type": "string", "v": "Europe"}}}])
    assert server.jobs.wait_for_job(job).finish_code == 0
    assert sorted(rows_by_id(sb, ds.id)) == [2, 4, 5]

    # delete keyed by ids in a payload table, combined with `or` / `lt` on a date constant
    ids = write_hyper(tmp / "ids.hyper", [("id", SqlType.big_int())], [(4,)], schema="public", table="gone")
    job = server.datasources.update_hyper_data(ds.id, request_id=str(uuid.uuid4()), payload=ids, actions=[
        {"action": "delete", "source-schema": "public", "source-table": "gone", "target-schema": "Extract",
         "target-table": "Extract",
         "condition": {"op": "or", "args": [{"op": "eq", "target-col": "id", "source-col": "id"},
                                             {"op": "lt", "target-col": "day",
                                              "const": {"type": "date", "v": "2024-03-01"}}]}}])
    assert server.jobs.wait_for_job(job).finish_code == 0
    assert sorted(rows_by_id(sb, ds.id)) == [5]

    # replace the whole table
    repl = changes(tmp, [(9, "Oceania", D("0.01"), dt.date(2025, 1, 1))], name="repl.hyper")
    job = server.datasources.update_hyper_data(ds.id, request_id=str(uuid.uuid4()), payload=repl, actions=[
        {"action": "replace", "source-schema": "public", "source-table": "changes", "target-schema": "Extract",
         "target-table": "Extract"}])
    assert server.jobs.wait_for_job(job).finish_code == 0
    assert sb.rows(ds.id)["rows"] == [[9, "Oceania", "0.01", "2025-01-01"]]

    # what a client downloads is what the rows endpoint shows
    from tableauhyperapi import Connection, HyperProcess, Telemetry
    path = sb.download_hyper(ds.id)
    with HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_dir": str(tmp)}) as hp:
        with Connection(hp.endpoint, str(path)) as conn:
            assert conn.execute_scalar_query('SELECT COUNT(*) FROM "Extract"."Extract"') == 1


def test_repeated_request_id_is_a_no_op(published):
    import datetime as dt
    sb, server, ds, tmp = published
    payload = changes(tmp, [(7, "Asia", D("7.00"), dt.date(2024, 7, 1))])
    actions = [{"action": "insert", "source-schema": "public", "source-table": "changes",
                "target-schema": "Extract", "target-table": "Extract"}]
    rid = "req-" + str(uuid.uuid4())
    first = server.jobs.wait_for_job(server.datasources.update_hyper_data(ds, request_id=rid, payload=payload,
                                                                          actions=actions))
    again = server.datasources.update_hyper_data(ds, request_id=rid, payload=payload, actions=actions)
    assert again.id == first.id
    server.jobs.wait_for_job(again)
    assert [r[0] for r in sb.rows(ds.id)["rows"]].count(7) == 1
    assert sb.control("GET", "/_sandbox/counters")["update_data:duplicate_request"] == 1
    other = server.jobs.wait_for_job(server.datasources.update_hyper_data(
        ds, request_id=rid + "-2", payload=payload, actions=actions))
    assert other.id != first.id
    assert [r[0] for r in sb.rows(ds.id)["rows"]].count(7) == 2


def test_failing_batch_fails_the_job_and_changes_nothing(published):
    import datetime as dt
    sb, server, ds, tmp = published
    before = sb.rows(ds.id)
    payload = changes(tmp, [(8, "Asia", D("8.00"), dt.date(2024, 8, 1))])
    job = server.datasources.update_hyper_data(ds, request_id=str(uuid.uuid4()), payload=payload, actions=[
        {"action": "insert", "source-schema": "public", "source-table": "changes", "target-schema": "Extract",
         "target-table": "Extract"},
        {"action": "update", "source-schema": "public", "source-table": "changes", "target-schema": "Extract",
         "target-table": "Extract", "condition": {"op": "eq", "target-col": "no_such_col", "source-col": "id"}},
    ])
    with pytest.raises(JobFailedException) as err:
        server.jobs.wait_for_job(job)
    assert err.value.job.finish_code == 1
    assert "no_such_col" in " ".join(err.value.job.notes)
    assert sb.rows(ds.id) == before  # atomic: the insert of the same batch was rolled back


def test_bad_requests_are_rejected_up_front(published):
    sb, server, ds, tmp = published
    base = f"{sb.base_url}/api/3.25/sites/{server.site_id}/datasources"
    headers = {"X-Tableau-Auth": server.auth_token, "Content-Type": "application/json"}
    r = requests.patch(f"{base}/{ds.id}/data", data=json.dumps({"actions": []}),
                       headers=dict(headers, RequestID="x"), timeout=10)
    assert r.status_code == 400
    r = requests.patch(f"{base}/{ds.id}/data", data=json.dumps({"actions": [{"action": "insert"}]}),
                       headers=headers, timeout=10)  # no RequestID header
    assert r.status_code == 400
    r = requests.patch(f"{base}/00000000-0000-0000-0000-000000000000/data",
                       data=json.dumps({"actions": [{"action": "delete"}]}), headers=dict(headers, RequestID="y"),
                       timeout=10)
    assert r.status_code == 404 and ET.fromstring(r.content).find("t:error", NS).get("code") == "404011"
    r = requests.patch(f"{base}/{ds.id}/data?uploadSessionId=nope", data=json.dumps(
        {"actions": [{"action": "delete"}]}), headers=dict(headers, RequestID="z"), timeout=10)
    assert r.status_code == 404


def test_update_through_connection_id_and_raw_rest(published):
    import datetime as dt
    sb, server, ds, tmp = published
    server.datasources.populate_connections(ds)
    conn = ds.connections[0]
    job = server.datasources.update_hyper_data(conn, request_id=str(uuid.uuid4()), actions=[
        {"action": "delete", "target-table": "Extract", "target-schema": "Extract",
         "condition": {"op": "gte", "target-col": "amount", "const": {"type": "double", "v": 20}}}])
    done = server.jobs.wait_for_job(job)
    assert done.finish_code == 0
    raw = requests.get(f"{sb.base_url}/api/3.25/sites/{server.site_id}/jobs/{job.id}",
                       headers={"X-Tableau-Auth": server.auth_token}, timeout=10)
    detail = ET.fromstring(raw.content).find("t:job/t:updateUploadedFileJob", NS)
    assert detail.find("t:connectionLuid", NS).text == conn.id
    assert detail.find("t:datasource", NS).get("id") == ds.id
    assert sorted(rows_by_id(sb, ds.id)) == [1]


@pytest.mark.parametrize("actions,why", [
    ([{"action": "merge", "target-table": "Extract"}], "unsupported action"),
    ([{"action": "insert", "target-table": "Extract"}], "source-table"),
    ([{"action": "delete", "target-table": "Extract"}], "condition"),
    ([{"action": "delete", "target-table": "Extract",
       "condition": {"op": "like", "target-col": "id", "const": {"type": "integer", "v": 1}}}], "operator"),
    ([{"action": "delete", "target-table": "Extract", "condition": {"op": "eq", "target-col": "id",
                                                                     "source-col": "id"}}], "source"),
    ([{"action": "upsert", "target-table": "Extract", "source-table": "x",
       "condition": {"op": "eq", "target-col": "id", "source-col": "id"}}], "payload"),
])
def test_invalid_action_batches_are_400(published, actions, why):
    sb, server, ds, tmp = published
    with pytest.raises(ServerResponseError) as err:
        server.datasources.update_hyper_data(ds, request_id=str(uuid.uuid4()), actions=actions)
    assert err.value.code == "400000" and why in err.value.detail
    assert all(j.type != "UpdateUploadedFile" for j in server.jobs.get()[0])  # no job was created
