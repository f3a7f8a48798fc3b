"""The Tableau REST API routes (``/api/{version}/...``), one module per resource."""

from __future__ import annotations

from starlette.routing import Route

from tableau_sandbox.rest.auth import get_site, list_sites, server_info, sign_in, sign_out
from tableau_sandbox.rest.projects import create_project, delete_project, list_projects, update_project
from tableau_sandbox.rest.datasources import (datasource_connections, delete_datasource, download_datasource,
                                              get_datasource, list_datasources, publish_datasource,
                                              update_datasource)
from tableau_sandbox.rest.uploads import append_upload, initiate_upload
from tableau_sandbox.rest.update_data import update_hyper_data
from tableau_sandbox.rest.refresh import refresh_datasource, refresh_workbook
from tableau_sandbox.rest.jobs import cancel_job, get_job, list_jobs
from tableau_sandbox.rest.workbooks import (delete_workbook, get_workbook, list_workbooks, publish_workbook,
                                            workbook_connections)
from tableau_sandbox.rest.tasks import (add_to_schedule, create_schedule, create_task, delete_schedule,
                                        delete_task, get_schedule, get_task, list_schedules, list_tasks,
                                        run_task_now)
from tableau_sandbox.rest.webhooks import create_webhook, delete_webhook, get_webhook, list_webhooks, test_webhook
from tableau_sandbox.rest.users_tags import add_datasource_tags, delete_datasource_tag, get_user, list_users


def routes() -> list[Route]:
    v = "/api/{version}"
    s = v + "/sites/{site_id}"
    return [
        Route(v + "/serverinfo", server_info, methods=["GET"]),
        Route(v + "/serverInfo", server_info, methods=["GET"]),
        Route(v + "/auth/signin", sign_in, methods=["POST"]),
        Route(v + "/auth/signout", sign_out, methods=["POST"]),
        Route(v + "/sites", list_sites, methods=["GET"]),
        Route(s, get_site, methods=["GET"]),
        Route(s + "/users", list_users, methods=["GET"]),
        Route(s + "/users/{user_id}", get_user, methods=["GET"]),
        Route(s + "/projects", list_projects, methods=["GET"]),
        Route(s + "/projects", create_project, methods=["POST"]),
        Route(s + "/projects/{project_id}", update_project, methods=["PUT"]),
        Route(s + "/projects/{project_id}", delete_project, methods=["DELETE"]),
        Route(s + "/datasources", list_datasources, methods=["GET"]),
        Route(s + "/datasources", publish_datasource, methods=["POST"]),
        Route(s + "/datasources/{datasource_id}", get_datasource, methods=["GET"]),
        Route(s + "/datasources/{datasource_id}", update_datasource, methods=["PUT"]),
        Route(s + "/datasources/{datasource_id}", delete_datasource, methods=["DELETE"]),
        Route(s + "/datasources/{datasource_id}/connections", datasource_connections, methods=["GET"]),
        Route(s + "/datasources/{datasource_id}/tags", add_datasource_tags, methods=["PUT"]),
        Route(s + "/datasources/{datasource_id}/tags/{tag}", delete_datasource_tag, methods=["DELETE"]),
        Route(s + "/datasources/{datasource_id}/content", download_datasource, methods=["GET"]),
        Route(s + "/datasources/{datasource_id}/refresh", refresh_datasource, methods=["POST"]),
        Route(s + "/datasources/{datasource_id}/data", update_hyper_data, methods=["PATCH"]),
        Route(s + "/datasources/{datasource_id}/connections/{connection_id}/data", update_hyper_data,
              methods=["PATCH"]),
        Route(s + "/fileUploads", initiate_upload, methods=["POST"]),
        Route(s + "/fileUploads/{upload_id}", append_upload, methods=["PUT"]),
        Route(s + "/jobs", list_jobs, methods=["GET"]),
        Route(s + "/jobs/{job_id}", get_job, methods=["GET"]),
        Route(s + "/jobs/{job_id}", cancel_job, methods=["PUT"]),
        Route(s + "/workbooks", list_workbooks, methods=["GET"]),
        Route(s + "/workbooks", publish_workbook, methods=["POST"]),
        Route(s + "/workbooks/{workbook_id}", get_workbook, methods=["GET"]),
        Route(s + "/workbooks/{workbook_id}", delete_workbook, methods=["DELETE"]),
        Route(s + "/workbooks/{workbook_id}/connections", workbook_connections, methods=["GET"]),
        Route(s + "/workbooks/{workbook_id}/refresh", refresh_workbook, methods=["POST"]),
        Route(s + "/tasks/extractRefreshes", list_tasks, methods=["GET"]),
        Route(s + "/tasks/extractRefreshes", create_task, methods=["POST"]),
        Route(s + "/tasks/extractRefreshes/{task_id}", get_task, methods=["GET"]),
        Route(s + "/tasks/extractRefreshes/{task_id}", delete_task, methods=["DELETE"]),
        Route(s + "/tasks/extractRefreshes/{task_id}/runNow", run_task_now, methods=["POST"]),
        Route(v + "/schedules", list_schedules, methods=["GET"]),
        Route(v + "/schedules", create_schedule, methods=["POST"]),
        Route(v + "/schedules/{schedule_id}", get_schedule, methods=["GET"]),
        Route(v + "/schedules/{schedule_id}", delete_schedule, methods=["DELETE"]),
        Route(s + "/schedules/{schedule_id}/{kind:str}", add_to_schedule, methods=["PUT"]),
        Route(s + "/webhooks", list_webhooks, methods=["GET"]),
        Route(s + "/webhooks", create_webhook, methods=["POST"]),
        Route(s + "/webhooks/{webhook_id}", get_webhook, methods=["GET"]),
        Route(s + "/webhooks/{webhook_id}", delete_webhook, methods=["DELETE"]),
        Route(s + "/webhooks/{webhook_id}/test", test_webhook, methods=["GET"]),
    ]
