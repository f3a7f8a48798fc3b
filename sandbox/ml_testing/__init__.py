"""Test infrastructure shared by the packages' test suites (pytest plugin `ml_testing.pytest_plugin`)."""
