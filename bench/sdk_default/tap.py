"""tap-quickbooks-online with the Singer SDK's default record path switched back on.

Same streams, requests and records as the shipped tap; only the output path differs, exactly as
`bench/bench_tap.py`'s ``Baseline``: every value decoded to Python (Decimal for fractions), the
SDK's `_write_record_message` (selection pruning, type conformance, RecordMessage, simplejson),
its default message writer (a flush per message) and no page prefetch.

Run as `python bench/sdk_default/tap.py --config … --catalog …` with the python of a virtualenv
that has `tap-quickbooks-online` installed (bench/bench_pipeline.py writes a launcher that does).
"""

from __future__ import annotations

from singer_sdk.io_base import SingerWriter

from tap_quickbooks_online.tap import TapQuickBooksOnline


class TapQuickBooksOnlineSdkDefault(TapQuickBooksOnline):
    message_writer_class = SingerWriter
    fast_output = False
    prefetch_enabled = False


def main() -> None:
    TapQuickBooksOnlineSdkDefault.cli()


if __name__ == "__main__":
    main()
