"""Publishing local .hyper extracts to Tableau Server / Tableau Cloud (filled in by the publishing work).

Contract with the target core:
- `PUBLISH_SETTINGS` (settings.py) is merged into the target's `config_jsonschema`.
- `publish_after_run(target, run_id, hyper_files)` is called once per run, after every sink
  has drained and committed (local durability first). It is a no-op when `publish` is off.
"""

from __future__ import annotations

from typing import Any, Mapping


def publish_after_run(target: Any, run_id: str, hyper_files: Mapping[str, str]) -> None:
    """Publish what this run (and any earlier run whose publish failed) changed."""
    if not target.config.get("publish"):
        return
    raise NotImplementedError("publishing is not built yet")
