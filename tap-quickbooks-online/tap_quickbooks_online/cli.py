"""Console entry point: the Singer tap by default, plus the tap's own sub-commands.

`tap-quickbooks-online [--config …]`      the Singer tap (singer-sdk CLI)
`tap-quickbooks-online authorize …`       OAuth 2.0 Authorization Code flow, stores tokens per realm
`tap-quickbooks-online webhooks serve …`  receiver for QBO webhook notifications
"""

from __future__ import annotations

import sys


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "authorize":
        from tap_quickbooks_online.authorize import main as authorize_main

        sys.exit(authorize_main(sys.argv[2:]))
    if command == "webhooks":
        from tap_quickbooks_online.webhooks.cli import main as webhooks_main

        sys.exit(webhooks_main(sys.argv[2:]))
    from tap_quickbooks_online.tap import TapQuickBooksOnline

    TapQuickBooksOnline.cli()
