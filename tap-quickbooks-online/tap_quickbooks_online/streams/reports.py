"""Report streams (general ledger, P&L, balance sheet, trial balance, aging, cash flow).

`REPORT_STREAMS` is the list the tap registers; filled in by the reports work.
"""

from __future__ import annotations

REPORT_STREAMS: list[type] = []
