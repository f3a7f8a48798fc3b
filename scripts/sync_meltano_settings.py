"""Mirror each plugin's `config_jsonschema` into meltano.yml (names, labels, descriptions, kinds, sensitive).

Run after changing a plugin's settings: `.venv/bin/python scripts/sync_meltano_settings.py`.
`tests/test_meltano_settings.py` fails while the two disagree. Comments and everything else in
meltano.yml are kept (ruamel round-trip, which Meltano itself uses).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = {"extractors": "tap-quickbooks-online", "loaders": "target-tableau-hyper"}
# Settings of the SDK's `stream-maps` capability, left out of the mirror. (`batch_config` is
# mirrored: the tap declares and implements it, see tap_quickbooks_online/batch_output.py.)
CAPABILITY_SETTINGS = {"stream_maps", "stream_map_config", "faker_config"}


def plugin_settings(executable: str) -> dict[str, dict]:
    exe = Path(sys.executable).with_name(executable)
    about = json.loads(subprocess.run([str(exe), "--about", "--format=json"], capture_output=True, text=True,
                                      check=True).stdout)
    props = about["settings"]["properties"]
    return {name: spec for name, spec in props.items() if name not in CAPABILITY_SETTINGS}


def meltano_setting(name: str, spec: dict) -> dict:
    types = spec.get("type", ["string"])
    types = [types] if isinstance(types, str) else types
    kind = next((t for t in types if t != "null"), "string")
    setting: dict = {"name": name, "label": spec.get("title") or name.replace("_", " ").title()}
    if spec.get("description"):
        setting["description"] = spec["description"]
    if spec.get("format") == "date-time" or spec.get("format") == "date":
        setting["kind"] = "date_iso8601"
    elif spec.get("enum"):
        setting["kind"] = "options"
        setting["options"] = [{"label": str(v), "value": v} for v in spec["enum"] if v is not None]
    elif kind in ("integer", "boolean", "array", "object"):
        setting["kind"] = kind
    elif kind == "number":
        # Meltano passes a kind-less setting as a string ("1.5", which a `number` schema refuses)
        # and its `decimal` kind fails to serialize; plugins declare seconds and counts as integers.
        raise SystemExit(f"setting {name}: declare it as an integer (Meltano has no working number kind)")
    if _holds_secret(spec):
        setting["sensitive"] = True
    return setting


def _holds_secret(spec: dict) -> bool:
    """A setting is sensitive when it, or anything nested in it (realms[].refresh_token), is secret."""
    if spec.get("secret") or spec.get("writeOnly"):
        return True
    nested = list((spec.get("properties") or {}).values())
    if isinstance(spec.get("items"), dict):
        nested.append(spec["items"])
    return any(_holds_secret(child) for child in nested)


def main() -> None:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    path = ROOT / "meltano.yml"
    project = yaml.load(path.read_text())
    for plugin_type, name in PLUGINS.items():
        plugin = next(p for p in project["plugins"][plugin_type] if p["name"] == name)
        plugin["settings"] = [meltano_setting(n, s) for n, s in plugin_settings(name).items()]
    with path.open("w") as fh:
        yaml.dump(project, fh)
    print(f"meltano.yml settings synced from {', '.join(PLUGINS.values())}")


if __name__ == "__main__":
    main()
