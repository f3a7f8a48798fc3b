"""Projects and datasource publishing (single request, chunked fileUploads, asJob, modes) through TSC."""

from __future__ import annotations

import hashlib
from decimal import Decimal as D
import xml.etree.ElementTree as ET

import pytest
import requests
import tableauserverclient as TSC
from tableauhyperapi import SqlType
from tableauserverclient.server.endpoint.exceptions import JobFailedException, ServerResponseError
from urllib3.fields import RequestField
from urllib3.filepost import encode_multipart_formdata

from tableau_sandbox.testing import tsc_sign_in, write_hyper

NS = {"t": "http://tableau.com/api"}
FLAVORS = ["server", "cloud"]
COLUMNS = [("id", SqlType.big_int()), ("name", SqlType.text()), ("amount", SqlType.numeric(18, 2))]


@pytest.fixture
def orders(tmp_path):
    return write_hyper(tmp_path / "orders.hyper", COLUMNS, [(1, "a", D("10")), (2, "b", D("20.50"))])


@pytest.mark.parametrize("flavor", FLAVORS)
def test_nested_projects_and_filters(tableau_sandbox_factory, flavor):
    sb = tableau_sandbox_factory(flavor)
    server, top = tsc_sign_in(sb)
    child = server.projects.create(TSC.ProjectItem("Staging", "child of ML Connector", parent_id=top.id))
    grandchild = server.projects.create(TSC.ProjectItem("Deep", parent_id=child.id))
    assert child.parent_id == top.id and grandchild.parent_id == child.id
    with pytest.raises(ServerResponseError) as err:
        server.projects.create(TSC.ProjectItem("Staging", parent_id=top.id))
    assert err.value.code == "409006"
    with pytest.raises(ServerResponseError) as err:
        server.projects.create(TSC.ProjectItem("Orphan", parent_id="00000000-0000-0000-0000-000000000000"))
    assert err.value.code == "404005"
    children = list(server.projects.filter(parent_project_id=top.id))
    assert [p.name for p in children] == ["Staging"]
    opts = TSC.RequestOptions()
    opts.filter.add(TSC.Filter(TSC.RequestOptions.Field.TopLevelProject, TSC.RequestOptions.Operator.Equals,
                               "true"))
    top_names = {p.name for p in server.projects.get(opts)[0]}
    assert top.name in top_names and "Staging" not in top_names and "Deep" not in top_names
    by_name = list(server.projects.filter(name="Deep"))
    assert len(by_name) == 1 and by_name[0].id == grandchild.id
    # paging
    opts = TSC.RequestOptions(pagesize=2)
    page, pagination = server.projects.get(opts)
    assert len(page) == 2 and pagination.total_available == len(list(TSC.Pager(server.projects)))


@pytest.mark.parametrize("flavor", FLAVORS)
def test_publish_modes_list_and_get(tableau_sandbox_factory, flavor, orders, tmp_path):
    sb = tableau_sandbox_factory(flavor)
    server, project = tsc_sign_in(sb)
    ds = server.datasources.publish(TSC.DatasourceItem(project.id, name="Orders"), orders, "CreateNew")
    assert (ds.name, ds.project_id, ds.project_name) == ("Orders", project.id, project.name)
    assert ds.datasource_type == "hyper" and ds.has_extracts and ds.created_at is not None
    assert sb.rows(ds.id) == {"columns": ["id", "name", "amount"], "rows": [[1, "a", "10.00"], [2, "b", "20.50"]]}

    with pytest.raises(ServerResponseError) as err:
        server.datasources.publish(TSC.DatasourceItem(project.id, name="Orders"), orders, "CreateNew")
    assert err.value.code == "409004"
    with pytest.raises(ServerResponseError):
        server.datasources.publish(TSC.DatasourceItem(project.id, name="Orders"), orders, "CreateNew", as_job=True)
    assert list((sb.sandbox.store.data_dir / "work").iterdir()) == []  # rejected uploads leave nothing behind

    more = write_hyper(tmp_path / "more.hyper", COLUMNS, [(3, "c", D("1.25"))])
    same = server.datasources.publish(TSC.DatasourceItem(project.id, name="Orders"), more, "Append")
    assert same.id == ds.id
    assert [r[0] for r in sb.rows(ds.id)["rows"]] == [1, 2, 3]

    replaced = server.datasources.publish(TSC.DatasourceItem(project.id, name="Orders"), more, "Overwrite")
    assert replaced.id == ds.id
    assert sb.rows(ds.id)["rows"] == [[3, "c", "1.25"]]

    server.datasources.publish(TSC.DatasourceItem(project.id, name="Customers"), orders, "CreateNew")
    opts = TSC.RequestOptions()
    opts.filter.add(TSC.Filter(TSC.RequestOptions.Field.Name, TSC.RequestOptions.Operator.Equals, "Orders"))
    found, pagination = server.datasources.get(opts)
    assert [d.id for d in found] == [ds.id] and pagination.total_available == 1
    assert {d.name for d in TSC.Pager(server.datasources)} == {"Orders", "Customers"}
    assert [d.id for d in server.datasources.filter(name="Customers", project_name=project.name)] != []
    got = server.datasources.get_by_id(ds.id)
    assert got.name == "Orders" and got.webpage_url.startswith(sb.base_url)
    server.datasources.populate_connections(got)
    assert got.connections[0].connection_type == "hyper"

    path = server.datasources.download(ds.id, filepath=str(tmp_path / "dl"))
    assert open(path, "rb").read() == open(sb.download_hyper(ds.id), "rb").read()

    with pytest.raises(ServerResponseError) as err:
        server.datasources.get_by_id("00000000-0000-0000-0000-000000000000")
    assert err.value.code == "404011"
    server.datasources.delete(ds.id)
    with pytest.raises(ServerResponseError):
        server.datasources.get_by_id(ds.id)


def test_publish_rejects_a_file_that_is_not_hyper(tableau_sandbox, tmp_path):
    server, project = tsc_sign_in(tableau_sandbox)
    bogus = tmp_path / "bogus.hyper"
    bogus.write_bytes(b"this is not a hyper database" * 100)
    with pytest.raises(ServerResponseError) as err:
        server.datasources.publish(TSC.DatasourceItem(project.id, name="Bogus"), bogus, "CreateNew")
    assert err.value.code.startswith("400")
    job = server.datasources.publish(TSC.DatasourceItem(project.id, name="Bogus"), bogus, "CreateNew", as_job=True)
    with pytest.raises(JobFailedException) as failed:  # asynchronously, the job fails with the reason
        server.jobs.wait_for_job(job)
    assert "not a valid .hyper file" in " ".join(failed.value.job.notes)
    assert list(TSC.Pager(server.datasources)) == []
    assert list((tableau_sandbox.sandbox.store.data_dir / "work").iterdir()) == []


@pytest.mark.parametrize("flavor", FLAVORS)
def test_publish_as_job(tableau_sandbox_factory, flavor, orders):
    sb = tableau_sandbox_factory(flavor)
    server, project = tsc_sign_in(sb)
    job = server.datasources.publish(TSC.DatasourceItem(project.id, name="Orders"), orders, "CreateNew",
                                     as_job=True)
    assert job.type == "PublishDatasource" and job.mode == "Asynchronous"
    done = server.jobs.wait_for_job(job)
    assert done.finish_code == 0 and done.completed_at is not None and done.datasource_id
    assert sb.rows(done.datasource_id)["rows"][0][0] == 1


@pytest.mark.parametrize("flavor", FLAVORS)
def test_chunked_publish_through_tsc(tableau_sandbox_factory, flavor, tmp_path, monkeypatch):
    """TSC switches to fileUploads at TSC_FILESIZE_LIMIT_MB; the sandbox refuses big single requests."""
    sb = tableau_sandbox_factory(flavor)
    server, project = tsc_sign_in(sb)
    rows = [(i, hashlib.sha256(str(i).encode()).hexdigest() * 2, D(i)) for i in range(30000)]
    big = write_hyper(tmp_path / "big.hyper", COLUMNS, rows)
    assert big.stat().st_size > 2 * 1024 * 1024
    sb.control("POST", "/_sandbox/limits", json={"single_request_max_bytes": 1024 * 1024})
    with pytest.raises(ServerResponseError) as err:  # single request over the cap, as Tableau's 64 MB
        server.datasources.publish(TSC.DatasourceItem(project.id, name="Big"), big, "CreateNew")
    assert err.value.code == "413000"
    monkeypatch.setenv("TSC_FILESIZE_LIMIT_MB", "1")
    monkeypatch.setenv("TSC_CHUNK_SIZE_MB", "1")
    before = sb.control("GET", "/_sandbox/counters")
    ds = server.datasources.publish(TSC.DatasourceItem(project.id, name="Big"), big, "CreateNew")
    after = sb.control("GET", "/_sandbox/counters")
    chunks = after.get("route:PUT append_upload", 0) - before.get("route:PUT append_upload", 0)
    assert chunks == -(-big.stat().st_size // (1024 * 1024))
    assert after["route:POST initiate_upload"] == 1
    assert len(sb.rows(ds.id)["rows"]) == 30000


def test_chunked_publish_raw_rest(tableau_sandbox, orders):
    """The documented sequence: POST fileUploads, PUT chunks, POST datasources?uploadSessionId=…"""
    sb = tableau_sandbox
    server, project = tsc_sign_in(sb)
    base = f"{sb.base_url}/api/3.25/sites/{server.site_id}"
    headers = {"X-Tableau-Auth": server.auth_token}
    r = requests.post(f"{base}/fileUploads", headers=headers, timeout=10)
    assert r.status_code == 201
    upload_id = ET.fromstring(r.content).find("t:fileUpload", NS).get("uploadSessionId")
    data = orders.read_bytes()
    for i in range(0, len(data), 4096):
        parts = [RequestField("request_payload", "", filename=""), RequestField("tableau_file", data[i:i + 4096],
                                                                                  filename="file")]
        parts[0].make_multipart(content_type="text/xml")
        parts[1].make_multipart(content_type="application/octet-stream")
        body, ctype = encode_multipart_formdata(parts)
        r = requests.put(f"{base}/fileUploads/{upload_id}", data=body,
                         headers=dict(headers, **{"Content-Type": "multipart/mixed" + ctype[len("multipart/form-data"):]}),
                         timeout=10)
        assert r.status_code == 200
    payload = (f'<tsRequest><datasource name="Raw"><project id="{project.id}"/></datasource></tsRequest>').encode()
    part = RequestField("request_payload", payload, filename="")
    part.make_multipart(content_type="text/xml")
    body, ctype = encode_multipart_formdata([part])
    r = requests.post(f"{base}/datasources?uploadSessionId={upload_id}&datasourceType=hyper&overwrite=false",
                      data=body, headers=dict(headers, **{"Content-Type": "multipart/mixed" + ctype[len("multipart/form-data"):]}),
                      timeout=10)
    assert r.status_code == 201, r.text
    ds_id = ET.fromstring(r.content).find("t:datasource", NS).get("id")
    assert sb.rows(ds_id)["rows"][1] == [2, "b", "20.50"]
    # the upload session is consumed
    r = requests.put(f"{base}/fileUploads/{upload_id}", data=body, headers=headers, timeout=10)
    assert r.status_code == 404 and ET.fromstring(r.content).find("t:error", NS).get("code") == "404004"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_publish_permission_denied(tableau_sandbox_factory, flavor, orders):
    sb = tableau_sandbox_factory(flavor)
    server, project = tsc_sign_in(sb)
    sb.control("POST", "/_sandbox/permissions", json={"project_id": project.id, "capability": "Publish"})
    with pytest.raises(ServerResponseError) as err:
        server.datasources.publish(TSC.DatasourceItem(project.id, name="Orders"), orders, "CreateNew")
    assert err.value.code == "403004"
    # other projects are still open
    other = server.projects.create(TSC.ProjectItem("Sandbox other"))
    assert server.datasources.publish(TSC.DatasourceItem(other.id, name="Orders"), orders, "CreateNew").id
    sb.control("DELETE", "/_sandbox/permissions")
    assert server.datasources.publish(TSC.DatasourceItem(project.id, name="Orders"), orders, "CreateNew").id


def test_publish_into_unknown_project_is_404005(tableau_sandbox, orders):
    server, _ = tsc_sign_in(tableau_sandbox)
    with pytest.raises(ServerResponseError) as err:
        server.datasources.publish(TSC.DatasourceItem("00000000-0000-0000-0000-000000000000", name="X"), orders,
                                   "CreateNew")
    assert err.value.code == "404005"


def test_tags_and_users(tableau_sandbox, orders):
    server, project = tsc_sign_in(tableau_sandbox)
    ds = server.datasources.publish(TSC.DatasourceItem(project.id, name="Orders"), orders, "CreateNew")
    assert server.datasources.add_tags(ds, ["qbo", "finance"]) == {"qbo", "finance"}
    server.datasources.delete_tags(ds, "qbo")
    assert server.datasources.get_by_id(ds.id).tags == {"finance"}
    tagged = list(server.datasources.filter(tags="finance"))
    assert [d.id for d in tagged] == [ds.id]
    me = server.users.get_by_id(server.user_id)
    assert me.name == tableau_sandbox.credentials()["connected_app"]["username"]
    assert me.site_role == "SiteAdministratorCreator"
    assert [u.id for u in server.users.get()[0]] == [server.user_id]


def test_append_to_a_multi_table_extract_is_refused(tableau_sandbox, tmp_path):
    server, project = tsc_sign_in(tableau_sandbox)
    multi = write_hyper(tmp_path / "multi.hyper", COLUMNS, [(1, "a", D("1.00"))],
                        extra_tables={("Extract", "Lines"): ([("id", SqlType.big_int())], [(1,)])})
    ds = server.datasources.publish(TSC.DatasourceItem(project.id, name="Multi"), multi, "CreateNew")
    with pytest.raises(ServerResponseError) as err:
        server.datasources.publish(TSC.DatasourceItem(project.id, name="Multi"), multi, "Append")
    assert err.value.code == "400000" and "multiple-tables" in err.value.detail
    assert len(tableau_sandbox.rows(ds.id, "Extract", "Lines")["rows"]) == 1
