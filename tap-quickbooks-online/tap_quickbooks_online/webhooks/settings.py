"""Settings of the webhook receiver, read from the tap's config (file and/or `TAP_QUICKBOOKS_ONLINE_*`).

The tap's own `config_jsonschema` (tap.py) does not list these: the receiver reads and validates
them itself, so the tap keeps working with or without them. Names (mirror them in meltano.yml):

| setting | default | meaning |
|---|---|---|
| `webhook_verifier_token` (secret) | — required | Verifier token of the Intuit app (developer portal → Webhooks); signs every delivery |
| `webhook_queue_url` | `sqlite:///<project>/.meltano/run/tap-quickbooks-online/webhooks.db` | SQLAlchemy URL of the durable event queue (`postgresql://…` for shared deployments) |
| `webhook_command` | `meltano run tap-quickbooks-online target-tableau-hyper` | Command run when events arrive (a string, split like a shell, or a JSON array) |
| `webhook_command_cwd` | `$MELTANO_PROJECT_ROOT`, else the current directory | Working directory of that command |
| `webhook_debounce_seconds` | 5 | Quiet time after the last event before a run starts (coalesces bursts) |
| `webhook_max_delay_seconds` | 30 | A run starts at the latest this long after the first waiting event, even if events keep coming |
| `webhook_retry_seconds` | 30 | Wait after a failed run before the next try; doubles per failure … |
| `webhook_retry_max_seconds` | 900 | … up to this |
| `webhook_run_timeout_seconds` | 3600 | A run taking longer is killed and counts as failed |
| `webhook_max_body_bytes` | 1048576 | Larger requests are refused (413) unread |
| `webhook_retention_days` | 7 | Done events are kept this long to recognise retries and replays |

`realm_ids` / `realms` (the tap's own settings) limit which companies' events are queued;
events of other realms are acknowledged and ignored (logged).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "TAP_QUICKBOOKS_ONLINE_"
DEFAULT_COMMAND = ("meltano", "run", "tap-quickbooks-online", "target-tableau-hyper")
SETTING_NAMES = (
    "webhook_verifier_token", "webhook_queue_url", "webhook_command", "webhook_command_cwd",
    "webhook_debounce_seconds", "webhook_max_delay_seconds", "webhook_retry_seconds",
    "webhook_retry_max_seconds", "webhook_run_timeout_seconds", "webhook_max_body_bytes",
    "webhook_retention_days", "realm_ids", "realms",
)


class SettingsError(ValueError):
    """A webhook setting is missing or invalid (the message names the setting, never a secret)."""


def default_queue_url(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    if env.get("MELTANO_PROJECT_ROOT"):
        base = Path(env["MELTANO_PROJECT_ROOT"]) / ".meltano" / "run" / "tap-quickbooks-online"
    else:
        base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "tap-quickbooks-online"
    return f"sqlite:///{base / 'webhooks.db'}"


def config_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The receiver's settings given as `TAP_QUICKBOOKS_ONLINE_<NAME>` (how Meltano passes them)."""
    env = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for name in SETTING_NAMES:
        value = env.get(ENV_PREFIX + name.upper())
        if value is None:
            continue
        if name in ("realm_ids", "realms"):
            try:
                out[name] = json.loads(value)
            except json.JSONDecodeError:
                out[name] = [v.strip() for v in value.split(",") if v.strip()]
        else:
            out[name] = value
    return out


def _number(config: Mapping[str, Any], name: str, default: float, *, minimum: float, integer: bool = False) -> float:
    raw = config.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw) if integer else float(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if isinstance(raw, bool) or value < minimum:
        raise SettingsError(f"{name} must be a number ≥ {minimum}, got {raw!r}")
    return value


@dataclasses.dataclass(frozen=True)
class WebhookSettings:
    verifier_token: str = dataclasses.field(repr=False)
    queue_url: str
    command: tuple[str, ...]
    command_cwd: str | None
    debounce_s: float
    max_delay_s: float
    retry_s: float
    retry_max_s: float
    run_timeout_s: float
    max_body_bytes: int
    retention_s: float
    realm_ids: frozenset[str]  # empty = every realm

    @classmethod
    def from_config(cls, config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> WebhookSettings:
        env = os.environ if environ is None else environ
        token = config.get("webhook_verifier_token")
        if not isinstance(token, str) or not token.strip():
            raise SettingsError("webhook_verifier_token is required (the Intuit app's webhook verifier token)")
        queue_url = config.get("webhook_queue_url") or default_queue_url(env)
        if not isinstance(queue_url, str) or "://" not in queue_url:
            raise SettingsError("webhook_queue_url must be a SQLAlchemy URL such as sqlite:///path/webhooks.db")
        command = config.get("webhook_command")
        if command is None or command == "":
            command = list(DEFAULT_COMMAND)
        if isinstance(command, str):
            text = command.strip()
            if text.startswith("["):
                try:
                    command = json.loads(text)
                except json.JSONDecodeError:
                    raise SettingsError("webhook_command is not a valid JSON array") from None
            else:
                command = shlex.split(text)
        if not isinstance(command, list) or not command or not all(isinstance(a, str) and a for a in command):
            raise SettingsError("webhook_command must be a non-empty command line or list of arguments")
        cwd = config.get("webhook_command_cwd") or env.get("MELTANO_PROJECT_ROOT") or None
        debounce = _number(config, "webhook_debounce_seconds", 5.0, minimum=0)
        max_delay = _number(config, "webhook_max_delay_seconds", 30.0, minimum=0)
        if max_delay < debounce:
            raise SettingsError("webhook_max_delay_seconds must be ≥ webhook_debounce_seconds")
        retry = _number(config, "webhook_retry_seconds", 30.0, minimum=0.01)
        retry_max = _number(config, "webhook_retry_max_seconds", 900.0, minimum=retry)
        realms: set[str] = set()
        for realm in config.get("realm_ids") or []:
            realms.add(str(realm))
        for realm in config.get("realms") or []:
            if isinstance(realm, Mapping) and realm.get("realm_id"):
                realms.add(str(realm["realm_id"]))
        return cls(
            verifier_token=token.strip(),
            queue_url=queue_url,
            command=tuple(command),
            command_cwd=str(cwd) if cwd else None,
            debounce_s=debounce,
            max_delay_s=max_delay,
            retry_s=retry,
            retry_max_s=retry_max,
            run_timeout_s=_number(config, "webhook_run_timeout_seconds", 3600.0, minimum=1),
            max_body_bytes=int(_number(config, "webhook_max_body_bytes", 1048576, minimum=1024, integer=True)),
            retention_s=_number(config, "webhook_retention_days", 7.0, minimum=0) * 86400,
            realm_ids=frozenset(realms),
        )
