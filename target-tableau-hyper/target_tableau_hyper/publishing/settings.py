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
)
