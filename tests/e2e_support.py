"""Helpers shared by the end-to-end tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MELTANO = str(Path(sys.executable).with_name("meltano"))


@dataclass
class MeltanoProject:
    """A copy of meltano.yml in a temporary folder whose plugins point at this checkout."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)

    def run(self, *args: str, check: bool = True, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [MELTANO, *args],
            cwd=self.root,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=900,
        )
        self.logs.append(proc.stdout + proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(f"meltano {' '.join(args)} exited {proc.returncode}:\n{failure_lines(proc.stderr)}")
        return proc

    @property
    def output_dir(self) -> Path:
        return self.root / "output" / "dev"

    def state(self, state_id: str = "dev:tap-quickbooks-online-to-target-tableau-hyper") -> dict:
        proc = self.run("state", "get", state_id)
        return json.loads(proc.stdout)


def failure_lines(log: str, limit: int = 60) -> str:
    """The lines of a Meltano log that say why a run failed (errors and tracebacks), not the noise."""
    wanted = [line for line in log.splitlines()
              if any(word in line for word in ("error", "Error", "CRITICAL", "Traceback", "raise ", "Exception"))]
    return "\n".join(wanted[-limit:]) or log[-8000:]


def _copy_project(dest: Path) -> None:
    text = (ROOT / "meltano.yml").read_text()
    # Editable installs of this checkout, wherever the copy lives.
    text = re.sub(r"pip_url: -e \./([\w-]+)", lambda m: f"pip_url: -e {ROOT / m.group(1)}", text)
    (dest / "meltano.yml").write_text(text)
    shutil.copytree(ROOT / "plugins", dest / "plugins")


def sandbox_env(project: MeltanoProject, qbo, tableau=None) -> dict[str, str]:
    """Point the dev environment at the sandboxes with the demo app's credentials."""
    creds = qbo.credentials()
    env = {
        "QBO_SANDBOX_URL": qbo.base_url,
        "TAP_QUICKBOOKS_ONLINE_CLIENT_ID": creds["client_id"],
        "TAP_QUICKBOOKS_ONLINE_CLIENT_SECRET": creds["client_secret"],
        "TAP_QUICKBOOKS_ONLINE_REALMS": json.dumps(
            [{"realm_id": r["realm_id"], "refresh_token": r["refresh_token"]} for r in creds["realms"]]
        ),
        "TAP_QUICKBOOKS_ONLINE_TOKEN_STORE": str(project.root / ".meltano" / "run" / "tokens.json"),
    }
    if tableau is not None:
        tc = tableau.credentials()
        env |= {
            "TARGET_TABLEAU_HYPER_PUBLISH": "true",
            "TARGET_TABLEAU_HYPER_TABLEAU_SERVER_URL": tableau.base_url,
            "TARGET_TABLEAU_HYPER_TABLEAU_SITE": tc["site_content_url"],
            "TARGET_TABLEAU_HYPER_TABLEAU_PROJECT": tc["project"],
            "TARGET_TABLEAU_HYPER_TABLEAU_TOKEN_NAME": tc["pat"]["token_name"],
            "TARGET_TABLEAU_HYPER_TABLEAU_TOKEN_SECRET": tc["pat"]["token_secret"],
        }
    project.env.update(env)
    return env


def extract_tables(output_dir: Path) -> dict[str, Path]:
    """The stream extracts of an output directory by stream (the `_audit` mirror left out)."""
    return {p.stem: p for p in output_dir.glob("*.hyper") if not p.stem.startswith("_")}


def differing_tables(a: Path, b: Path, conn) -> tuple[dict[str, str], dict[str, int]]:
    """Streams whose extracts differ between output directories `a` and `b` (rows compared as
    multisets, EXCEPT ALL both ways, on Hyper connection `conn`), and the row count of each of
    `b`'s tables."""
    a_files, b_files = extract_tables(a), extract_tables(b)
    differing = {name: "missing in one output" for name in set(a_files) ^ set(b_files)}
    rows: dict[str, int] = {}
    for name in sorted(set(a_files) & set(b_files)):
        conn.catalog.attach_database(str(a_files[name]), alias="a")
        conn.catalog.attach_database(str(b_files[name]), alias="b")
        try:
            extra = conn.execute_scalar_query(
                'SELECT (SELECT COUNT(*) FROM (SELECT * FROM "a"."Extract"."Extract" EXCEPT ALL '
                'SELECT * FROM "b"."Extract"."Extract") x) + (SELECT COUNT(*) FROM (SELECT * FROM '
                '"b"."Extract"."Extract" EXCEPT ALL SELECT * FROM "a"."Extract"."Extract") y)')
            rows[name] = conn.execute_scalar_query('SELECT COUNT(*) FROM "b"."Extract"."Extract"')
            if extra:
                differing[name] = f"{extra} rows in one table only"
        except Exception as exc:  # noqa: BLE001 - e.g. different columns: report, do not stop
            differing[name] = f"not comparable: {str(exc).splitlines()[0]}"
        finally:
            conn.catalog.detach_database("a")
            conn.catalog.detach_database("b")
    return differing, rows
