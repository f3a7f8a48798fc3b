"""The Singer SDK's standard target tests (singer_sdk.testing)."""

from __future__ import annotations

import tempfile

from singer_sdk.testing import SuiteConfig, get_target_test_class

from target_tableau_hyper.target import TargetTableauHyper

_OUT = tempfile.mkdtemp(prefix="tth-sdk-tests-")

TestTargetTableauHyperStandard = get_target_test_class(
    TargetTableauHyper,
    config={"output_dir": _OUT, "hard_delete": True},
    suite_config=SuiteConfig(),
)
