"""Finding the project, datasources and workbooks by name, with plain-language misses."""

from __future__ import annotations

import tableauserverclient as TSC

from target_tableau_hyper.publishing.errors import ProjectNotFoundError, PublishError
from target_tableau_hyper.publishing.session import TableauSession


def find_project(session: TableauSession, path: list[str]) -> TSC.ProjectItem:
    """The project at `Parent/Child/...` (a single name matches a top-level project first)."""
    if not path:
        raise ProjectNotFoundError("tableau_project is empty: name the project to publish into.")
    projects = session.call("listing projects", lambda srv: list(TSC.Pager(srv.projects)))
    by_parent: dict[str | None, dict[str, TSC.ProjectItem]] = {}
    for project in projects:
        by_parent.setdefault(project.parent_id, {})[project.name] = project
    if len(path) == 1:
        top = by_parent.get(None, {}).get(path[0])
        if top is not None:
            return top
        matches = [p for p in projects if p.name == path[0]]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ProjectNotFoundError(
                f"several projects are named {path[0]!r}; write the full path, e.g. 'Parent/{path[0]}'."
            )
    parent_id: str | None = None
    found: TSC.ProjectItem | None = None
    for depth, name in enumerate(path):
        found = by_parent.get(parent_id, {}).get(name)
        if found is None:
            where = "/".join(path[:depth]) or "the site's top level"
            known = sorted(by_parent.get(parent_id, {}))
            raise ProjectNotFoundError(
                f"project {'/'.join(path)!r} not found: there is no {name!r} in {where}"
                f" (projects there: {', '.join(known) or 'none visible to this user'})."
            )
        parent_id = found.id
    assert found is not None
    return found


def find_datasource(session: TableauSession, name: str, project_id: str) -> TSC.DatasourceItem | None:
    def query(srv: TSC.Server) -> list[TSC.DatasourceItem]:
        options = TSC.RequestOptions(pagesize=100)
        options.filter.add(TSC.Filter(TSC.RequestOptions.Field.Name, TSC.RequestOptions.Operator.Equals, name))
        return list(TSC.Pager(srv.datasources, options))

    for item in session.call(f"looking up datasource {name!r}", query):
        if item.name == name and item.project_id == project_id:
            return item
    return None


def find_workbook(session: TableauSession, name: str, project_id: str) -> TSC.WorkbookItem:
    def query(srv: TSC.Server) -> list[TSC.WorkbookItem]:
        options = TSC.RequestOptions(pagesize=100)
        options.filter.add(TSC.Filter(TSC.RequestOptions.Field.Name, TSC.RequestOptions.Operator.Equals, name))
        return list(TSC.Pager(srv.workbooks, options))

    items = session.call(f"looking up workbook {name!r}", query)
    for item in items:
        if item.name == name and item.project_id == project_id:
            return item
    if len(items) == 1:  # workbooks to refresh may live in another project
        return items[0]
    raise PublishError(f"workbook {name!r} was not found (refresh_workbooks names a workbook that does not exist).",
                       kind="not_found")
