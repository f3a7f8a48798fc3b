"""The READMEs' settings tables equal each plugin's `--about --format=markdown` (scripts/sync_readme_settings.py writes them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from sync_readme_settings import (  # noqa: E402
    PLUGINS,
    ROOT_README,
    about_markdown,
    has_markers,
    replace_table,
    settings_table,
    synced_readmes,
)


@pytest.fixture(scope="module")
def tables() -> dict[str, str]:
    return {plugin: settings_table(about_markdown(plugin), plugin) for plugin in PLUGINS}


def test_readmes_hold_the_generated_settings_tables(tables):
    readmes = synced_readmes(tables)
    assert ROOT_README in readmes
    for path, (text, synced) in readmes.items():
        assert text == synced, f"{path.relative_to(ROOT)} is out of date: run scripts/sync_readme_settings.py"


@pytest.mark.parametrize("plugin", PLUGINS)
def test_every_setting_is_a_row_of_the_readme_table(plugin, tables):
    # Independent of the markdown parsing: every property of the JSON --about is in the table.
    exe = Path(sys.executable).with_name(plugin)
    about = json.loads(subprocess.run([str(exe), "--about", "--format=json"], capture_output=True,
                                      text=True, check=True).stdout)
    rows = {line.split("|")[1].strip() for line in tables[plugin].splitlines()[2:]}
    assert set(about["settings"]["properties"]) <= rows
    assert has_markers(ROOT_README.read_text(), plugin)


def test_replace_table_rewrites_only_between_the_markers():
    text = ("intro\n<!-- settings-table:p:start (generated) -->\n| old |\n"
            "<!-- settings-table:p:end -->\noutro\n")
    new = replace_table(text, "p", "| a | b |\n|:--|:--|\n| x | y |")
    assert new.startswith("intro\n<!-- settings-table:p:start") and new.endswith("<!-- settings-table:p:end -->\noutro\n")
    assert "| old |" not in new and "| x | y |" in new
    assert replace_table(new, "p", "| a | b |\n|:--|:--|\n| x | y |") == new
    with pytest.raises(ValueError):
        replace_table("no markers here", "p", "| a |")
