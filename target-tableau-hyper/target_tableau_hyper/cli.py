"""Console entry point: the Singer target by default, plus the target's own sub-commands.

`target-tableau-hyper [--config …]`       the Singer target (singer-sdk CLI)
`target-tableau-hyper audit …`            query the audit trail
`target-tableau-hyper check …`            connection/permission check against Tableau
`target-tableau-hyper webhooks serve …`   receiver for Tableau webhooks (confirmed before use)
"""

from __future__ import annotations

import sys


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "audit":
        from target_tableau_hyper.audit_cli import main as audit_main

        sys.exit(audit_main(sys.argv[2:]))
    if command == "check":
        from target_tableau_hyper.publishing.check import main as check_main

        sys.exit(check_main(sys.argv[2:]))
    if command == "webhooks":
        from target_tableau_hyper.publishing.webhooks.cli import main as webhooks_main

        sys.exit(webhooks_main(sys.argv[2:]))
    from target_tableau_hyper.target import TargetTableauHyper

    TargetTableauHyper.cli()
