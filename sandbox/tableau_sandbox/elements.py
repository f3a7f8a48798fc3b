"""XML elements for each resource, shaped like Tableau's responses (see reference/tableau/*.xml)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tableau_sandbox.clock import iso
from tableau_sandbox.state import Datasource, Job, Project, Schedule, Store, Task, Webhook, Workbook
from tableau_sandbox.webhooks import legacy_tag
from tableau_sandbox.xmlresp import sub


def project_el(parent: ET.Element, store: Store, p: Project) -> ET.Element:
    el = sub(parent, "project", {
        "id": p.id, "name": p.name, "description": p.description, "createdAt": iso(p.created_at),
        "updatedAt": iso(p.updated_at), "contentPermissions": p.content_permissions,
        "parentProjectId": p.parent_id, "topLevelProject": p.parent_id is None, "writeable": True,
    })
    owner = store.users.get(p.owner_id)
    sub(el, "owner", {"id": p.owner_id, "name": owner.name if owner else None})
    return el


def datasource_el(parent: ET.Element, store: Store, ds: Datasource, base_url: str) -> ET.Element:
    site = store.sites[ds.site_id]
    site_part = f"/site/{site.content_url}" if site.content_url else ""
    el = sub(parent, "datasource", {
        "id": ds.id, "name": ds.name, "size": max(1, ds.size // (1024 * 1024)) if ds.size else 0,
        "contentUrl": ds.content_url, "description": ds.description,
        "type": "hyper" if ds.file_ext in ("hyper", "tdsx") else ds.file_ext,
        "createdAt": iso(ds.created_at), "updatedAt": iso(ds.updated_at), "encryptExtracts": False,
        "hasExtracts": ds.file_ext in ("hyper", "tdsx"), "isCertified": False, "useRemoteQueryAgent": False,
        "webpageUrl": f"{base_url}/#{site_part}/datasources/{ds.num}",
    })
    project = store.projects.get(ds.project_id)
    sub(el, "project", {"id": ds.project_id, "name": project.name if project else None})
    owner = store.users.get(ds.owner_id)
    sub(el, "owner", {"id": ds.owner_id, "name": owner.name if owner else None})
    tags = sub(el, "tags")
    for t in ds.tags:
        sub(tags, "tag", {"label": t})
    return el


def workbook_el(parent: ET.Element, store: Store, wb: Workbook, base_url: str) -> ET.Element:
    site = store.sites[wb.site_id]
    site_part = f"/site/{site.content_url}" if site.content_url else ""
    el = sub(parent, "workbook", {
        "id": wb.id, "name": wb.name, "description": wb.description, "contentUrl": wb.content_url,
        "webpageUrl": f"{base_url}/#{site_part}/workbooks/{wb.num}", "showTabs": False, "size": 1,
        "createdAt": iso(wb.created_at), "updatedAt": iso(wb.updated_at), "encryptExtracts": False,
        "defaultViewId": None,
    })
    project = store.projects.get(wb.project_id)
    sub(el, "project", {"id": wb.project_id, "name": project.name if project else None})
    owner = store.users.get(wb.owner_id)
    sub(el, "owner", {"id": wb.owner_id, "name": owner.name if owner else None})
    sub(el, "tags")
    return el


def job_el(parent: ET.Element, store: Store, job: Job) -> ET.Element:
    el = sub(parent, "job", {
        "id": job.id, "mode": job.mode, "type": job.type, "progress": job.progress,
        "createdAt": iso(job.created_at), "updatedAt": iso(job.updated_at), "startedAt": iso(job.started_at),
        "completedAt": iso(job.completed_at), "finishCode": job.finish_code,
    })
    if job.detail_tag:
        detail = sub(el, job.detail_tag)
        if job.datasource_id:
            ds = store.datasources.get(job.datasource_id)
            sub(detail, "datasource", {"id": job.datasource_id, "name": ds.name if ds else None})
        if job.workbook_id:
            wb = store.workbooks.get(job.workbook_id)
            sub(detail, "workbook", {"id": job.workbook_id, "name": wb.name if wb else None})
        if job.connection_id:
            sub(detail, "connectionLuid", text=job.connection_id)
        for note in job.notes:
            sub(detail, "notes", text=note)
    elif job.notes:
        for note in job.notes:
            sub(el, "notes", text=note)
    if job.notes and job.finish_code == 1:
        notes = sub(el, "statusNotes")
        for note in job.notes:
            sub(notes, "statusNote", {"type": "ErrorMessage", "value": "", "text": note})
    return el


def background_job_el(parent: ET.Element, job: Job) -> ET.Element:
    return sub(parent, "backgroundJob", {
        "id": job.id, "status": job.status, "createdAt": iso(job.created_at), "startedAt": iso(job.started_at),
        "endedAt": iso(job.completed_at), "priority": 50, "jobType": job.type,
        "title": job.type, "subtitle": job.datasource_id or job.workbook_id,
    })


def schedule_el(parent: ET.Element, s: Schedule, with_details: bool = True) -> ET.Element:
    el = sub(parent, "schedule", {
        "id": s.id, "name": s.name, "state": s.state, "priority": s.priority, "createdAt": iso(s.created_at),
        "updatedAt": iso(s.updated_at), "type": s.type, "frequency": s.frequency,
        "nextRunAt": iso(s.next_run_at), "executionOrder": s.execution_order,
    })
    if with_details:
        fd = sub(el, "frequencyDetails", {"start": s.start_time})
        intervals = sub(fd, "intervals")
        if s.frequency == "Hourly":
            sub(intervals, "interval", {"hours": s.interval_hours or 1})
        for day in s.weekdays:
            sub(intervals, "interval", {"weekDay": day})
    return el


def task_el(parent: ET.Element, store: Store, t: Task) -> ET.Element:
    task = sub(parent, "task")
    er = sub(task, "extractRefresh", {
        "id": t.id, "priority": t.priority, "consecutiveFailedCount": t.consecutive_failed_count,
        "type": t.type, "incremental": t.incremental,
    })
    sched = store.schedules.get(t.schedule_id) if t.schedule_id else None
    if sched is not None:  # Tableau Server: the task points at a server schedule
        schedule_el(er, sched, with_details=False)
    else:  # Tableau Cloud: the schedule lives on the task itself
        s = sub(er, "schedule", {"frequency": t.frequency, "nextRunAt": None})
        fd = sub(s, "frequencyDetails", {"start": t.start_time})
        intervals = sub(fd, "intervals")
        for key, value in t.intervals:
            sub(intervals, "interval", {key: value})
    if t.datasource_id:
        sub(er, "datasource", {"id": t.datasource_id})
    if t.workbook_id:
        sub(er, "workbook", {"id": t.workbook_id})
    return task


def webhook_el(parent: ET.Element, store: Store, w: Webhook) -> ET.Element:
    el = sub(parent, "webhook", {"id": w.id, "name": w.name, "isEnabled": w.enabled, "event": w.event,
                                 "createdAt": iso(w.created_at)})
    source = sub(el, "webhook-source")
    sub(source, legacy_tag(w.event))
    dest = sub(el, "webhook-destination")
    sub(dest, "webhook-destination-http", {"method": "POST", "url": w.url})
    owner = store.users.get(w.owner_id)
    sub(el, "owner", {"id": w.owner_id, "name": owner.name if owner else None})
    return el
