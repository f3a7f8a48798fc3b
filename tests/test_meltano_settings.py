"""meltano.yml mirrors each plugin's config_jsonschema exactly (scripts/sync_meltano_settings.py writes it)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from sync_meltano_settings import PLUGINS, meltano_setting, plugin_settings  # noqa: E402


@pytest.mark.parametrize(("plugin_type", "name"), PLUGINS.items())
def test_meltano_yml_mirrors_config_jsonschema(plugin_type, name):
    project = YAML(typ="safe").load((ROOT / "meltano.yml").read_text())
    plugin = next(p for p in project["plugins"][plugin_type] if p["name"] == name)
    declared = {s["name"]: s for s in plugin["settings"]}
    expected = {n: meltano_setting(n, spec) for n, spec in plugin_settings(name).items()}
    assert list(declared) == list(expected), "run scripts/sync_meltano_settings.py"
    for setting_name, setting in expected.items():
        assert declared[setting_name] == setting, setting_name


def test_every_secret_is_sensitive_and_no_hub_variant():
    project = YAML(typ="safe").load((ROOT / "meltano.yml").read_text())
    for plugin_type, name in PLUGINS.items():
        plugin = next(p for p in project["plugins"][plugin_type] if p["name"] == name)
        assert "variant" not in plugin and plugin["namespace"] and plugin["pip_url"].startswith("-e ./")
        for setting in plugin["settings"]:
            # (a Connected App's secret *id* names the key; it is not the key)
            if any(w in setting["name"] for w in ("secret", "refresh_token", "realms")) and not setting["name"].endswith("_id"):
                assert setting.get("sensitive"), setting["name"]
