"""Settings of the publishing step, merged into the target's config_jsonschema."""

from __future__ import annotations

from singer_sdk import typing as th

PUBLISH_SETTINGS = th.PropertiesList(
    th.Property(
        "publish",
        th.BooleanType,
        default=False,
        title="Publish",
        description="Publish the .hyper extracts to Tableau after each run (off: local files only).",
    ),
    th.Property(
        "tableau_server_url",
        th.StringType,
        title="Tableau server URL",
        description="e.g. https://tableau.example.com or https://prod-useast-a.online.tableau.com",
    ),
    th.Property(
        "tableau_site",
        th.StringType,
        default="",
        title="Tableau site",
        description="Site content URL (the part after /site/ in the browser); empty for the Default site.",
    ),
    th.Property(
        "tableau_project",
        th.StringType,
        default="default",
        title="Tableau project",
        description="Project name, or a path of nested projects written `Parent/Child`.",
    ),
    th.Property(
        "tableau_flavor",
        th.StringType,
        default="auto",
        allowed_values=["auto", "server", "cloud"],
        title="Tableau Server or Cloud",
        description=(
            "auto: Tableau Cloud when the host is *.online.tableau.com or the server has no server-wide "
            "schedules list (only Tableau Server has one); set it when a proxy hides both."
        ),
    ),
    th.Property("tableau_token_name", th.StringType, title="Personal access token name",
                description="Name of the Tableau personal access token (PAT sign-in; or use the Connected App settings)."),
    th.Property(
        "tableau_token_secret",
        th.StringType,
        secret=True,
        title="Personal access token secret",
        description="Secret value of that personal access token.",
    ),
    th.Property("tableau_jwt_client_id", th.StringType, title="Connected App client id",
                description="Client id of the Tableau Connected App (direct trust) used for JWT sign-in."),
    th.Property("tableau_jwt_secret_id", th.StringType, title="Connected App secret id",
                description="Id of the Connected App's secret (the JWT `kid`)."),
    th.Property(
        "tableau_jwt_secret",
        th.StringType,
        secret=True,
        title="Connected App secret value",
        description="Value of the Connected App's secret, which signs the JWT.",
    ),
    th.Property(
        "tableau_username",
        th.StringType,
        title="Tableau username",
        description="User the Connected App JWT signs in as.",
    ),
    th.Property(
        "datasource_name",
        th.StringType,
        default="QBO {stream}",
        title="Datasource name template",
        description=(
            "Published datasource name per stream; `{stream}` is replaced by the stream name. A name "
            "without `{stream}` publishes every stream into one multi-table datasource (table "
            "`Extract.<stream>` each)."
        ),
    ),
    th.Property(
        "publish_mode",
        th.StringType,
        default="incremental",
        allowed_values=["overwrite", "incremental"],
        title="Publish mode",
        description=(
            "incremental: send only the rows changed since the last successful publish (upserts and "
            "deletes by key); falls back to overwrite when the datasource does not exist yet or its "
            "columns changed. overwrite: publish the whole file each time."
        ),
    ),
    th.Property(
        "refresh",
        th.StringType,
        default="none",
        allowed_values=["auto", "datasource", "task", "schedule", "none"],
        title="Refresh after publish",
        description=(
            "auto: direct datasource refresh on Tableau Cloud, the datasource's extract-refresh task "
            "on Tableau Server. datasource: direct refresh. task/schedule: run the extract-refresh "
            "task. none: no refresh."
        ),
    ),
    th.Property(
        "refresh_workbooks",
        th.ArrayType(th.StringType),
        default=[],
        title="Workbooks to refresh",
        description="Names of workbooks (in the project) refreshed after publishing.",
    ),
    th.Property(
        "wait_for_jobs",
        th.BooleanType,
        default=True,
        title="Wait for jobs",
        description=(
            "Wait for refresh jobs and record their outcome. Publish and update-data jobs are always "
            "awaited: a run's changes count as published only once Tableau applied them."
        ),
    ),
    th.Property("job_timeout_seconds", th.IntegerType, default=1800, title="Job timeout (seconds)",
                description="How long to wait for a Tableau job (publish, update-data, refresh) before recording it as timed out."),
    th.Property(
        "publish_failure_fails_run",
        th.BooleanType,
        default=True,
        title="A failed publish fails the run",
        description=(
            "When true (default) a failed publish makes the target exit non-zero after state was "
            "emitted (local data is committed either way and the publish is retried next run)."
        ),
    ),
    th.Property(
        "webhook_secret",
        th.StringType,
        secret=True,
        title="Webhook path secret",
        description="Unguessable secret in the receiver's URL path `/hooks/{secret}`.",
    ),
    th.Property(
        "webhook_replay_window_seconds",
        th.IntegerType,
        default=600,
        title="Webhook replay window (seconds)",
        description="Webhook events created longer ago than this are refused as replays.",
    ),
    th.Property(
        "webhook_refresh_workbooks",
        th.ArrayType(th.StringType),
        default=[],
        title="Workbooks refreshed after a confirmed webhook event",
        description="Workbook names (in the project) refreshed once a Tableau webhook event is confirmed through the REST API.",
    ),
)
