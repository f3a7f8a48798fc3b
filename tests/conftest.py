"""End-to-end fixtures: a throw-away copy of this Meltano project, driven through the real Meltano CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_support import MELTANO, MeltanoProject, _copy_project  # noqa: E402


@pytest.fixture(scope="session")
def installed_project_template(tmp_path_factory) -> Path:
    """`meltano install` once per session (uv backend: seconds); each test copies the result."""
    template = tmp_path_factory.mktemp("meltano-template")
    _copy_project(template)
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    proc = subprocess.run(
        [MELTANO, "install", "tap-quickbooks-online", "tap-quickbooks-online--entities", "target-tableau-hyper"], cwd=template, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-8000:]
    return template


@pytest.fixture
def meltano_project(installed_project_template, tmp_path) -> MeltanoProject:
    root = tmp_path / "project"
    # The plugin virtualenvs are relocatable enough for a copy made with symlinks kept.
    shutil.copytree(installed_project_template, root, symlinks=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_", "MELTANO_"))},
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_ENVIRONMENT": "dev",
    }
    return MeltanoProject(root=root, env=env)


