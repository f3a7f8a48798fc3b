"""Console entry point: the Singer target by default, plus the target's own sub-commands.

`target-tableau-hyper [--config …]`       the Singer target (singer-sdk CLI)
`target-tableau-hyper audit …`            query the audit trail
`target-tableau-hyper check …`            connection/permission check against Tableau
`target-tableau-hyper webhooks serve …`   receiver for Tableau webhooks (confirmed before use)
"""

from __future__ import annotations

import logging
import os
import sys


SUBCOMMANDS = ('audit', 'check', 'webhooks')


def _split_subcommand(argv: list[str]) -> tuple[str, list[str]]:
    """(sub-command, its arguments) wherever it stands: `meltano invoke` puts `--config FILE` first."""
    for i, arg in enumerate(argv):
        if arg in SUBCOMMANDS and (i == 0 or argv[i - 1] != "--config"):
            return arg, argv[:i] + argv[i + 1 :]
    return "", argv


def main() -> None:
    command, rest = _split_subcommand(sys.argv[1:])
    if command == "audit":
        from target_tableau_hyper.audit_cli import main as audit_main

        sys.exit(audit_main(rest))
    if command == "check":
        from target_tableau_hyper.publishing.check import main as check_main

        sys.exit(check_main(rest))
    if command == "webhooks":
        from target_tableau_hyper.publishing.webhooks.cli import main as webhooks_main

        sys.exit(webhooks_main(rest))
    from target_tableau_hyper.target import TargetTableauHyper

    try:
        TargetTableauHyper.cli()
    except SystemExit as exc:
        if exc.code in (None, 0):
            _exit_clean()
        raise
    _exit_clean()


def _exit_clean() -> None:
    """End a successful target run without the interpreter's teardown.

    By the time the SDK's CLI returns success, the run has finished: every batch committed and
    detached, every audit row and the run's end committed, the audit DB closed, hyperd stopped,
    every STATE written. What is left is the interpreter freeing hundreds of MB of objects,
    module by module (measured ~0.1-0.2 s per run). Only stdout/stderr and the logging handlers
    still hold anything: they are flushed first. Never used on a failure or an interrupt
    (those exit through the normal path, with their exit code).
    """
    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001 - a closed/broken stdout: let the normal exit report it
        sys.exit(0)
    logging.shutdown()
    try:
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        pass
    os._exit(0)
