"""Jobs, extract refreshes (datasource, workbook, tasks), schedules and workbooks, in both flavors."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from decimal import Decimal as D

import pytest
import tableauserverclient as TSC
from tableauhyperapi import SqlType
from tableauserverclient.models.job_item import JobItem
from tableauserverclient.server.endpoint.exceptions import (JobCancelledException, JobFailedException,
                                                            ServerResponseError)

from tableau_sandbox.testing import tsc_sign_in, write_hyper

NS = {"t": "http://tableau.com/api"}
FLAVORS = ["server", "cloud"]


@pytest.fixture(params=FLAVORS)
def env(request, tableau_sandbox_factory, tmp_path):
    sb = tableau_sandbox_factory(request.param)
    server, project = tsc_sign_in(sb)
    path = write_hyper(tmp_path / "orders.hyper", [("id", SqlType.big_int()), ("amount", SqlType.numeric(10, 2))],
                       [(1, D("1.00"))])
    ds = server.datasources.publish(TSC.DatasourceItem(project.id, name="Orders"), path, "CreateNew")
    return sb, server, project, ds


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_datasource_refresh_job_lifecycle(env):
    sb, server, _, ds = env
    sb.control("POST", "/_sandbox/faults", json={"jobs": {"hold": True}})
    job = server.datasources.refresh(ds)
    assert job.type == "RefreshExtract" and job.datasource_id == ds.id and job.created_at is not None
    queued = server.jobs.get_by_id(job.id)
    assert queued.started_at is None and queued.completed_at is None and queued.finish_code == -1
    # a second refresh of the same datasource while one is queued: 409093, TSC returns None
    assert server.datasources.refresh(ds) is None
    sb.control("POST", "/_sandbox/faults", json={"jobs": {"hold": False, "delay_seconds": 0.6}})
    assert wait_until(lambda: server.jobs.get_by_id(job.id).started_at is not None)
    running = server.jobs.get_by_id(job.id)
    assert running.completed_at is None and running.progress == "50"
    done = server.jobs.wait_for_job(job)
    assert done.finish_code == 0 and done.progress == "100"
    assert done.created_at <= done.started_at <= done.completed_at
    listing = [j for j in server.jobs.get()[0] if j.id == job.id]
    assert listing and listing[0].status == "Success"


def test_injected_job_failure(env):
    sb, server, _, ds = env
    sb.control("POST", "/_sandbox/faults",
               json={"jobs": {"fail": {"type": "RefreshExtract", "count": 1, "notes": "credentials expired"}}})
    job = server.datasources.refresh(ds.id)
    with pytest.raises(JobFailedException) as err:
        server.jobs.wait_for_job(job)
    assert err.value.job.finish_code == 1 and "credentials expired" in err.value.job.notes
    # the fault was for one job only
    assert server.jobs.wait_for_job(server.datasources.refresh(ds.id)).finish_code == 0


def test_cancel_a_queued_job(env):
    sb, server, _, ds = env
    sb.control("POST", "/_sandbox/faults", json={"jobs": {"hold": True}})
    job = server.datasources.refresh(ds.id)
    server.jobs.cancel(job.id)
    with pytest.raises(JobCancelledException):
        server.jobs.wait_for_job(job)
    assert server.jobs.get_by_id(job.id).finish_code == 2


def test_workbook_connected_to_published_datasource_refresh(env, tmp_path):
    sb, server, project, ds = env
    wb = sb.control("POST", "/_sandbox/workbooks", json={"name": "Sales dashboard", "datasource_ids": [ds.id]})
    item = server.workbooks.get_by_id(wb["id"])
    assert item.name == "Sales dashboard" and item.project_id == project.id
    server.workbooks.populate_connections(item)
    assert [c.datasource_id for c in item.connections] == [ds.id]
    job = server.workbooks.refresh(item)
    assert job.workbook_id == item.id
    assert server.jobs.wait_for_job(job).finish_code == 0
    # publishing a .twb that names the published datasource by contentUrl links it too
    twb = tmp_path / "Orders view.twb"
    twb.write_text(f"<?xml version='1.0' encoding='utf-8' ?><workbook><datasources><datasource name='x'>"
                   f"<connection class='sqlproxy' dbname='{ds.content_url}' server='localhost'/></datasource>"
                   f"</datasources></workbook>")
    published = server.workbooks.publish(TSC.WorkbookItem(project.id, name="Orders view"), str(twb), "CreateNew")
    server.workbooks.populate_connections(published)
    assert [c.datasource_id for c in published.connections] == [ds.id]
    assert {w.name for w in TSC.Pager(server.workbooks)} == {"Sales dashboard", "Orders view"}
    # deleting the datasource makes the workbook refresh fail
    server.datasources.delete(ds.id)
    with pytest.raises(JobFailedException):
        server.jobs.wait_for_job(server.workbooks.refresh(item.id))


def test_extract_refresh_tasks(env):
    sb, server, _, ds = env
    task_ref = sb.control("POST", "/_sandbox/tasks", json={"datasource_id": ds.id})
    tasks, _ = server.tasks.get()
    assert [t.id for t in tasks] == [task_ref["id"]]
    task = server.tasks.get_by_id(task_ref["id"])
    assert task.target.id == ds.id and task.target.type == "datasource"
    if sb.flavor == "server":
        assert task.schedule_id == task_ref["schedule_id"] and task.schedule_item.name
    job = JobItem.from_response(server.tasks.run(task), server.namespace)[0]
    assert job.type == "RefreshExtract"
    assert server.jobs.wait_for_job(job).finish_code == 0
    assert sb.control("GET", "/_sandbox/state")["datasources"][0]["last_refreshed_at"] is not None
    server.tasks.delete(task.id)
    assert server.tasks.get()[0] == []
    with pytest.raises(ServerResponseError) as err:
        server.tasks.get_by_id(task.id)
    assert err.value.code == "404030"


def test_failed_task_runs_count_up(env):
    sb, server, _, ds = env
    task_ref = sb.control("POST", "/_sandbox/tasks", json={"datasource_id": ds.id})
    sb.control("POST", "/_sandbox/faults", json={"jobs": {"fail": {"count": 2}}})
    for _ in range(2):
        job = JobItem.from_response(server.tasks.run(server.tasks.get_by_id(task_ref["id"])), server.namespace)[0]
        with pytest.raises(JobFailedException):
            server.jobs.wait_for_job(job)
    assert server.tasks.get_by_id(task_ref["id"]).consecutive_failed_count == 2


def test_schedules_server_only(tableau_sandbox_factory):
    server_sb = tableau_sandbox_factory("server")
    server, _ = tsc_sign_in(server_sb)
    schedules, pagination = server.schedules.get()
    assert {s.name for s in schedules} == {"Daily refresh", "Hourly refresh"} and pagination.total_available == 2
    interval = TSC.WeeklyInterval(__import__("datetime").time(2, 30), "Monday")
    created = server.schedules.create(TSC.ScheduleItem("Weekly Monday", 50, TSC.ScheduleItem.Type.Extract,
                                                       TSC.ScheduleItem.ExecutionOrder.Parallel, interval))
    assert created.id and created.name == "Weekly Monday"
    assert server.schedules.get_by_id(created.id).schedule_type == "Extract"
    server.schedules.delete(created.id)
    with pytest.raises(ServerResponseError) as err:
        server.schedules.get_by_id(created.id)
    assert err.value.code == "404013"

    cloud_sb = tableau_sandbox_factory("cloud")
    cloud, _ = tsc_sign_in(cloud_sb)
    with pytest.raises(ServerResponseError) as err:
        cloud.schedules.get()
    assert err.value.code == "403000" and "Cloud" in err.value.detail


def test_add_datasource_to_server_schedule(tableau_sandbox_factory, tmp_path):
    sb = tableau_sandbox_factory("server")
    server, project = tsc_sign_in(sb)
    path = write_hyper(tmp_path / "a.hyper", [("id", SqlType.big_int())], [(1,)])
    ds = server.datasources.publish(TSC.DatasourceItem(project.id, name="A"), path, "CreateNew")
    schedule = next(s for s in server.schedules.get()[0] if s.name == "Daily refresh")
    results = server.schedules.add_to_schedule(schedule.id, datasource=ds)
    assert all(r.result for r in results)
    tasks, _ = server.tasks.get()
    assert [(t.target.id, t.schedule_id) for t in tasks] == [(ds.id, schedule.id)]


def test_cloud_task_create_through_tsc(tableau_sandbox_factory, tmp_path):
    import datetime as dt
    sb = tableau_sandbox_factory("cloud")
    server, project = tsc_sign_in(sb)
    path = write_hyper(tmp_path / "a.hyper", [("id", SqlType.big_int())], [(1,)])
    ds = server.datasources.publish(TSC.DatasourceItem(project.id, name="A"), path, "CreateNew")
    def task_item(*intervals):
        schedule = TSC.ScheduleItem(None, None, None, None, TSC.DailyInterval(dt.time(6, 0), *intervals))
        return TSC.TaskItem(None, "FullRefresh", None, schedule_item=schedule, target=TSC.Target(ds.id, "datasource"))

    with pytest.raises(ServerResponseError) as err:  # Cloud wants weekDay intervals on Daily/Hourly
        server.tasks.create(task_item(24))
    assert err.value.code == "409004" and "weekDay" in err.value.detail
    raw = server.tasks.create(task_item(24, "Monday", "Thursday"))
    root = ET.fromstring(raw)
    assert root.find("t:extractRefresh/t:datasource", NS).get("id") == ds.id
    assert root.find("t:schedule", NS).get("frequency") == "Daily"
    assert [t.target.id for t in server.tasks.get()[0]] == [ds.id]
    days = [i.get("weekDay") for i in root.iter("{http://tableau.com/api}interval") if i.get("weekDay")]
    assert days == ["Monday", "Thursday"]


def test_packaged_workbook_links_published_datasource(env, tmp_path):
    import zipfile
    sb, server, project, ds = env
    twbx = tmp_path / "Packaged.twbx"
    with zipfile.ZipFile(twbx, "w") as zf:
        zf.writestr("Packaged.twb", f"<workbook><datasources><datasource><connection class='sqlproxy' "
                                    f"dbname='{ds.content_url}'/></datasource></datasources></workbook>")
    wb = server.workbooks.publish(TSC.WorkbookItem(project.id, name="Packaged"), str(twbx), "CreateNew")
    server.workbooks.populate_connections(wb)
    assert [c.datasource_id for c in wb.connections] == [ds.id]
    with pytest.raises(ServerResponseError) as err:
        server.workbooks.publish(TSC.WorkbookItem(project.id, name="Packaged"), str(twbx), "CreateNew")
    assert err.value.code == "409004"
    assert server.workbooks.publish(TSC.WorkbookItem(project.id, name="Packaged"), str(twbx), "Overwrite").id == wb.id
