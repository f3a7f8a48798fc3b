"""What a run imports before its first record: SQLAlchemy (via audit.py) only when the audit is on."""

from __future__ import annotations

import json
import subprocess
import sys

from target_tableau_hyper import audit, target

RUN = """
import sys
from target_tableau_hyper.target import TargetTableauHyper
t = TargetTableauHyper(config={"output_dir": sys.argv[1], "audit_enabled": sys.argv[2] == "on"})
with open(sys.argv[3], "rb") as fh:
    t.listen_safely(fh)
print(sorted(m for m in ("sqlalchemy", "target_tableau_hyper.audit") if m in sys.modules))
"""


def _imported(tmp_path, audit_on: str) -> list[str]:
    schema = {"type": "SCHEMA", "stream": "s", "key_properties": ["id"],
              "schema": {"properties": {"id": {"type": "integer"}, "name": {"type": ["string", "null"]}}}}
    lines = [json.dumps(schema)] + [
        json.dumps({"type": "RECORD", "stream": "s", "record": {"id": i, "name": f"n{i}"}}, separators=(",", ":"))
        for i in range(5)
    ]
    singer = tmp_path / "in.singer"
    singer.write_text("\n".join(lines) + "\n")
    out = tmp_path / f"out-{audit_on}"
    proc = subprocess.run([sys.executable, "-c", RUN, str(out), audit_on, str(singer)],
                          capture_output=True, text=True, check=True)
    assert (out / "s.hyper").exists()
    return json.loads(proc.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_audit_off_run_never_imports_sqlalchemy(tmp_path):
    assert _imported(tmp_path, "off") == []


def test_audit_on_run_imports_the_audit(tmp_path):
    assert _imported(tmp_path, "on") == ["sqlalchemy", "target_tableau_hyper.audit"]


def test_stale_run_timeout_default_agrees_with_the_audit():
    setting = target.TargetTableauHyper.config_jsonschema["properties"]["audit_stale_run_timeout_minutes"]
    assert setting["default"] == target.DEFAULT_STALE_RUN_TIMEOUT_MINUTES == audit.DEFAULT_STALE_RUN_TIMEOUT_MINUTES
