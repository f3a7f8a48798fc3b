"""Typed view of the publishing settings, validated once with plain-language errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from target_tableau_hyper.publishing.errors import PublishConfigError

@dataclass(frozen=True)
class PublishConfig:
    server_url: str
    site: str = ""
    project: str = "default"
    flavor: str = "auto"
    token_name: str | None = None
    token_secret: str | None = field(default=None, repr=False)
    jwt_client_id: str | None = None
    jwt_secret_id: str | None = None
    jwt_secret: str | None = field(default=None, repr=False)
    username: str | None = None
    datasource_name: str = "QBO {stream}"
    publish_mode: str = "incremental"
    refresh: str = "none"
    refresh_workbooks: tuple[str, ...] = ()
    wait_for_jobs: bool = True
    job_timeout_seconds: int = 1800
    failure_fails_run: bool = True
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_replay_window_seconds: int = 600
    webhook_refresh_workbooks: tuple[str, ...] = ()

    @property
    def auth_kind(self) -> str:
        return "pat" if self.token_name else "jwt"

    @property
    def identity(self) -> str:
        """Who signs in, without any secret: used for the per-identity session lock."""
        who = self.token_name if self.auth_kind == "pat" else f"{self.jwt_client_id}:{self.username}"
        return f"{self.server_url}|{self.site}|{self.auth_kind}|{who}"

    def datasource_name_for(self, stream: str) -> str:
        return self.datasource_name.replace("{stream}", stream)

    @property
    def project_path(self) -> list[str]:
        return [part.strip() for part in self.project.split("/") if part.strip()]

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> "PublishConfig":
        url = (config.get("tableau_server_url") or "").strip().rstrip("/")
        if not url:
            raise PublishConfigError("tableau_server_url is not set: say which Tableau Server or Cloud to publish to.")
        if not url.startswith(("http://", "https://")):
            raise PublishConfigError(f"tableau_server_url must start with https:// (got {url!r}).")
        has_pat = bool(config.get("tableau_token_name")) and bool(config.get("tableau_token_secret"))
        jwt_keys = ("tableau_jwt_client_id", "tableau_jwt_secret_id", "tableau_jwt_secret", "tableau_username")
        has_jwt = all(config.get(key) for key in jwt_keys)
        if not has_pat and not has_jwt:
            raise PublishConfigError(
                "No Tableau credentials: set tableau_token_name and tableau_token_secret (personal access "
                "token), or tableau_jwt_client_id, tableau_jwt_secret_id, tableau_jwt_secret and "
                "tableau_username (Connected App)."
            )
        mode = config.get("publish_mode") or "incremental"
        if mode not in ("overwrite", "incremental"):
            raise PublishConfigError(f"publish_mode must be overwrite or incremental (got {mode!r}).")
        refresh = config.get("refresh") or "none"
        if refresh not in ("auto", "datasource", "task", "schedule", "none"):
            raise PublishConfigError(f"refresh must be auto, datasource, task, schedule or none (got {refresh!r}).")
        name = config.get("datasource_name") or "QBO {stream}"
        flavor = config.get("tableau_flavor") or "auto"
        if flavor not in ("auto", "server", "cloud"):
            raise PublishConfigError(f"tableau_flavor must be auto, server or cloud (got {flavor!r}).")
        return cls(
            server_url=url,
            site=(config.get("tableau_site") or "").strip(),
            project=(config.get("tableau_project") or "default").strip(),
            flavor=flavor,
            token_name=config.get("tableau_token_name") if has_pat else None,
            token_secret=config.get("tableau_token_secret") if has_pat else None,
            jwt_client_id=None if has_pat else config.get("tableau_jwt_client_id"),
            jwt_secret_id=None if has_pat else config.get("tableau_jwt_secret_id"),
            jwt_secret=None if has_pat else config.get("tableau_jwt_secret"),
            username=None if has_pat else config.get("tableau_username"),
            datasource_name=name,
            publish_mode=mode,
            refresh=refresh,
            refresh_workbooks=tuple(config.get("refresh_workbooks") or ()),
            wait_for_jobs=bool(config.get("wait_for_jobs", True)),
            job_timeout_seconds=int(config.get("job_timeout_seconds") or 1800),
            failure_fails_run=bool(config.get("publish_failure_fails_run", True)),
            webhook_secret=config.get("webhook_secret"),
            webhook_replay_window_seconds=int(config.get("webhook_replay_window_seconds") or 600),
            webhook_refresh_workbooks=tuple(config.get("webhook_refresh_workbooks") or ()),
        )


def audit_db_url(config: Mapping[str, Any]) -> str:
    """The audit database shared with the target core: its `audit_db_url` setting, else the core's
    default `sqlite:///<output_dir>/audit.sqlite`."""
    url = config.get("audit_db_url")
    if url:
        return url
    from target_tableau_hyper.audit import default_url

    return default_url(str(config.get("output_dir") or "output"))
