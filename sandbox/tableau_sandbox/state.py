"""In-memory state of one sandbox instance (one Tableau Server or one Tableau Cloud pod)."""

from __future__ import annotations

import secrets
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tableau_sandbox.clock import Clock
from tableau_sandbox.flavors import Flavor


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Site:
    id: str
    name: str
    content_url: str


@dataclass
class User:
    id: str
    name: str
    site_id: str
    site_role: str = "Creator"


@dataclass
class Project:
    id: str
    site_id: str
    name: str
    description: str
    owner_id: str
    parent_id: str | None
    created_at: datetime
    updated_at: datetime
    content_permissions: str = "ManagedByOwner"


@dataclass
class Datasource:
    id: str
    site_id: str
    name: str
    project_id: str
    owner_id: str
    file_path: Path  # stored file as published (.hyper, .tdsx or .tds)
    file_ext: str
    size: int
    content_url: str
    description: str
    created_at: datetime
    updated_at: datetime
    connection_id: str
    tags: list[str] = field(default_factory=list)
    num: int = 0  # numeric id used in webpage URLs
    last_refreshed_at: datetime | None = None

    @property
    def hyper_path(self) -> Path | None:
        return self.file_path if self.file_ext == "hyper" else None


@dataclass
class Workbook:
    id: str
    site_id: str
    name: str
    project_id: str
    owner_id: str
    datasource_ids: list[str]
    content_url: str
    created_at: datetime
    updated_at: datetime
    file_path: Path | None = None
    num: int = 0
    description: str = ""


@dataclass
class Job:
    id: str
    site_id: str
    type: str  # PublishDatasource, RefreshExtract, UpdateUploadedFile, ...
    created_at: datetime
    detail_tag: str | None = None  # e.g. extractRefreshJob, updateUploadedFileJob
    datasource_id: str | None = None
    workbook_id: str | None = None
    mode: str = "Asynchronous"
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime | None = None
    progress: int = 0
    finish_code: int | None = None  # 0 success, 1 failed, 2 cancelled
    notes: list[str] = field(default_factory=list)
    connection_id: str | None = None
    task_id: str | None = None
    held: threading.Event | None = None  # set => may run
    cancel_requested: bool = False

    @property
    def status(self) -> str:
        if self.finish_code is None:
            return "InProgress" if self.started_at else "Pending"
        return {0: "Success", 1: "Failed", 2: "Cancelled"}.get(self.finish_code, "Failed")


@dataclass
class Schedule:
    id: str
    name: str
    type: str = "Extract"
    frequency: str = "Daily"
    state: str = "Active"
    priority: int = 50
    execution_order: str = "Parallel"
    created_at: datetime | None = None
    updated_at: datetime | None = None
    next_run_at: datetime | None = None
    start_time: str = "23:00:00"
    interval_hours: int | None = None
    weekdays: list[str] = field(default_factory=list)


@dataclass
class Task:
    id: str
    site_id: str
    schedule_id: str | None  # Server: a server schedule; Cloud: None (frequency stored on the task)
    datasource_id: str | None
    workbook_id: str | None
    priority: int = 50
    consecutive_failed_count: int = 0
    type: str = "RefreshExtractTask"
    incremental: bool = False
    frequency: str = "Daily"
    start_time: str = "23:00:00"
    intervals: list[tuple[str, str]] = field(default_factory=list)  # Cloud: (weekDay|hours|minutes, value)


@dataclass
class Webhook:
    id: str
    site_id: str
    name: str
    event: str  # api event name, e.g. DatasourceRefreshSucceeded
    url: str
    owner_id: str
    created_at: datetime
    enabled: bool = True


@dataclass
class Session:
    token: str
    site_id: str
    user_id: str
    created_at: datetime
    expires_at: datetime
    pat_name: str | None = None
    scopes: list[str] | None = None  # JWT sessions only


@dataclass
class UploadSession:
    id: str
    site_id: str
    user_id: str
    path: Path
    size: int = 0


@dataclass
class Delivery:
    id: str
    webhook_id: str
    event_type: str
    url: str
    payload: dict[str, Any]
    status_code: int | None
    error: str | None
    delivered_at: str
    test: bool = False


class Store:
    """Everything one sandbox knows. Guard every read-modify-write with ``store.lock``."""

    def __init__(self, flavor: Flavor, data_dir: Path | None = None) -> None:
        self.flavor = flavor
        self.clock = Clock()
        self.lock = threading.RLock()
        self._tmp = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tableau-sandbox-")
            data_dir = Path(self._tmp.name)
        self.data_dir = Path(data_dir)
        (self.data_dir / "datasources").mkdir(parents=True, exist_ok=True)
        (self.data_dir / "uploads").mkdir(parents=True, exist_ok=True)
        (self.data_dir / "workbooks").mkdir(parents=True, exist_ok=True)
        (self.data_dir / "work").mkdir(parents=True, exist_ok=True)

        self.sites: dict[str, Site] = {}
        self.users: dict[str, User] = {}
        self.projects: dict[str, Project] = {}
        self.datasources: dict[str, Datasource] = {}
        self.workbooks: dict[str, Workbook] = {}
        self.jobs: dict[str, Job] = {}
        self.schedules: dict[str, Schedule] = {}
        self.tasks: dict[str, Task] = {}
        self.webhooks: dict[str, Webhook] = {}
        self.sessions: dict[str, Session] = {}
        self.uploads: dict[str, UploadSession] = {}
        self.deliveries: list[Delivery] = []
        self.used_jti: set[str] = set()
        self.update_requests: dict[tuple[str, str], str] = {}  # (datasource id, RequestID) -> job id
        self.pat_sessions: dict[str, str] = {}  # PAT name -> current session token
        self.denied: set[tuple[str, str, str]] = set()  # (user id, project id, capability)
        self.counters: dict[str, int] = {}
        self.limits: dict[str, Any] = {
            "single_request_max_bytes": 64 * 1024 * 1024,
            "max_concurrent_requests": flavor.concurrency_limit,
        }
        self._num = 0
        self._seed()

    def next_num(self) -> int:
        with self.lock:
            self._num += 1
            return self._num

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()

    # ----------------------------------------------------------------- seed data
    def _seed(self) -> None:
        now = self.clock.now()
        self.site = Site(new_id(), "ML Connector", "mlconnector")
        self.sites[self.site.id] = self.site
        if self.flavor.has_default_site:
            default = Site(new_id(), "Default", "")
            self.sites[default.id] = default
        # A site administrator (Creator licence): webhooks need an administrator on Tableau.
        self.user = User(new_id(), "publisher@example.com", self.site.id, "SiteAdministratorCreator")
        self.users[self.user.id] = self.user
        for site in self.sites.values():
            self.projects_add(site.id, "default", "The default project that was automatically created by Tableau.",
                              self.user.id, None, now)
        self.project = self.projects_add(self.site.id, "ML Connector", "QuickBooks Online extracts", self.user.id,
                                         None, now)
        self.pat = {"token_name": "ml-connector-pat", "token_secret": secrets.token_urlsafe(24)}
        self.connected_app = {
            "client_id": new_id(),
            "secret_id": new_id(),
            "secret_value": secrets.token_urlsafe(32),
            "username": self.user.name,
        }
        if not self.flavor.is_cloud:
            for name, freq, hour in (("Daily refresh", "Daily", "23:00:00"), ("Hourly refresh", "Hourly", "00:00:00")):
                sid = new_id()
                self.schedules[sid] = Schedule(sid, name, "Extract", freq, created_at=now, updated_at=now,
                                               start_time=hour, interval_hours=1 if freq == "Hourly" else None)

    def projects_add(self, site_id: str, name: str, description: str, owner_id: str, parent_id: str | None,
                     now: datetime) -> Project:
        project = Project(new_id(), site_id, name, description, owner_id, parent_id, now, now)
        self.projects[project.id] = project
        return project

    def credentials(self) -> dict[str, Any]:
        return {
            "site_content_url": self.site.content_url,
            "project": self.project.name,
            "pat": dict(self.pat),
            "connected_app": dict(self.connected_app),
        }

    def count(self, key: str) -> None:
        with self.lock:
            self.counters[key] = self.counters.get(key, 0) + 1
