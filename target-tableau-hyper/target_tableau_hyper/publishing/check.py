"""`target-tableau-hyper check --config FILE`: can this configuration publish to Tableau?

Walks the same path a publish takes and stops at the first step that fails, saying in plain words
what is wrong: the server URL, the credentials, the site, the project, or the permission to publish
(proved by publishing a tiny datasource under a temporary name and deleting it again).
Exit code 0 when everything works, 1 when a step failed, 2 when the config itself is unusable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from typing import Callable

import tableauserverclient as TSC
from tableauhyperapi import Connection, CreateMode, Inserter, SqlType, TableDefinition, TableName

from target_tableau_hyper.publishing.config import PublishConfig
from target_tableau_hyper.publishing.errors import PublishError, explain
from target_tableau_hyper.publishing.hyperfiles import hyper_process
from target_tableau_hyper.publishing.jobs import wait_for_job
from target_tableau_hyper.publishing.lookup import find_project
from target_tableau_hyper.publishing.session import TableauSession


def _tiny_hyper(path: str) -> None:
    with hyper_process() as hyper, Connection(hyper.endpoint, path, CreateMode.CREATE_AND_REPLACE) as conn:
        conn.catalog.create_schema("Extract")
        table = TableDefinition(TableName("Extract", "Extract"), [TableDefinition.Column("check", SqlType.text())])
        conn.catalog.create_table(table)
        with Inserter(conn, table) as inserter:
            inserter.add_row(["ml-connector publish check"])
            inserter.execute()


def dry_publish(session: TableauSession, project: TSC.ProjectItem, timeout_seconds: float) -> str:
    """Publish a one-row datasource under a unique temporary name, then delete it."""
    name = f"ml-connector check {uuid.uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory(prefix="tableau-check-") as tmp:
        path = os.path.join(tmp, "check.hyper")
        _tiny_hyper(path)
        item = TSC.DatasourceItem(project.id, name=name)
        job = session.call("publishing a test datasource",
                           lambda srv: srv.datasources.publish(item, path, mode=TSC.Server.PublishMode.CreateNew,
                                                               as_job=True))
        wait_for_job(session, job.id, timeout_seconds=timeout_seconds, what="publishing a test datasource")
    options = TSC.RequestOptions()
    options.filter.add(TSC.Filter(TSC.RequestOptions.Field.Name, TSC.RequestOptions.Operator.Equals, name))
    created, _ = session.call("finding the test datasource", lambda srv: srv.datasources.get(options))
    for datasource in created:
        session.call("deleting the test datasource", lambda srv, ds=datasource: srv.datasources.delete(ds.id))
    return name


def run_check(config: PublishConfig, *, dry_publish_enabled: bool = True,
              out: Callable[[str], None] = print) -> int:
    steps_ok = 0
    try:
        with TableauSession(config, http_retries=2, lock_timeout_seconds=120) as session:
            info = session.server_info
            out(f"ok    server: {config.server_url} is Tableau "
                f"({'Tableau Cloud' if session.flavor == 'cloud' else 'Tableau Server'}, "
                f"version {info.product_version}, REST API {info.rest_api_version})")
            who = f"token {config.token_name!r}" if config.auth_kind == "pat" else \
                f"Connected App {config.jwt_client_id!r} as {config.username!r}"
            out(f"ok    sign-in: {who} signed in to site {config.site or '(Default)'!r}")
            steps_ok += 2
            project = find_project(session, config.project_path)
            out(f"ok    project: {config.project!r} found (id {project.id})")
            steps_ok += 1
            if dry_publish_enabled:
                name = dry_publish(session, project, timeout_seconds=min(config.job_timeout_seconds, 300))
                out(f"ok    permission: published and deleted a test datasource ({name!r}) in {config.project!r}")
            else:
                out("skip  permission: dry publish disabled (--no-dry-publish)")
    except PublishError as exc:
        out(f"FAIL  {_step_name(exc, steps_ok)}: {exc}")
        return 1
    except Exception as exc:  # anything TSC raised that no step translated
        out(f"FAIL  {_step_name(None, steps_ok)}: {explain(exc, server_url=config.server_url, site=config.site)}")
        return 1
    out("Tableau publishing is ready.")
    return 0


def _step_name(exc: PublishError | None, steps_ok: int) -> str:
    kinds = {"server": "server", "sign_in": "sign-in", "site": "site", "project": "project", "permission": "permission"}
    if exc is not None and exc.kind in kinds:
        return kinds[exc.kind]
    return ["server", "sign-in", "sign-in", "permission"][min(steps_ok, 3)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="target-tableau-hyper check",
                                     description="Check that the Tableau publishing settings work.")
    parser.add_argument("--config", required=True, help="the target's JSON config file")
    parser.add_argument("--no-dry-publish", action="store_true",
                        help="skip the permission check (publishing and deleting a tiny test datasource)")
    args = parser.parse_args(argv)
    try:
        with open(args.config, encoding="utf-8") as handle:
            config = PublishConfig.from_mapping(json.load(handle))
    except (OSError, ValueError) as exc:
        print(f"FAIL  config: cannot read {args.config}: {exc}")
        return 2
    except PublishError as exc:
        print(f"FAIL  config: {exc}")
        return 2
    return run_check(config, dry_publish_enabled=not args.no_dry_publish)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
