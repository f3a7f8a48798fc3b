"""Console entry point: the Singer tap by default, plus the tap's own sub-commands.

`tap-quickbooks-online [--config …]`      the Singer tap (singer-sdk CLI)
`tap-quickbooks-online authorize …`       OAuth 2.0 Authorization Code flow, stores tokens per realm
`tap-quickbooks-online webhooks serve …`  receiver for QBO webhook notifications
"""

from __future__ import annotations

import sys


SUBCOMMANDS = ('authorize', 'webhooks')


def _split_subcommand(argv: list[str]) -> tuple[str, list[str]]:
    """(sub-command, its arguments) wherever it stands: `meltano invoke` puts `--config FILE` first."""
    for i, arg in enumerate(argv):
        if arg in SUBCOMMANDS and (i == 0 or argv[i - 1] != "--config"):
            return arg, argv[:i] + argv[i + 1 :]
    return "", argv


def main() -> None:
    command, rest = _split_subcommand(sys.argv[1:])
    if command == "authorize":
        from tap_quickbooks_online.authorize import main as authorize_main

        sys.exit(authorize_main(rest))
    if command == "webhooks":
        from tap_quickbooks_online.webhooks.cli import main as webhooks_main

        sys.exit(webhooks_main(rest))
    from tap_quickbooks_online.tap import TapQuickBooksOnline

    TapQuickBooksOnline.cli()
