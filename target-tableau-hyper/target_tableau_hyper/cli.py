"""Console entry point: the Singer target by default, plus the target's own sub-commands.

`target-tableau-hyper [--config …]`       the Singer target (singer-sdk CLI)
`target-tableau-hyper audit …`            query the audit trail
`target-tableau-hyper check …`            connection/permission check against Tableau
`target-tableau-hyper webhooks serve …`   receiver for Tableau webhooks (confirmed before use)
"""

from __future__ import annotations

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

    TargetTableauHyper.cli()
