"""target-tableau-hyper with the Singer SDK's default record path switched back on.

Writes the same `.hyper` files (same sinks, batches, Hyper loads and audit trail); what goes
back to the SDK defaults is everything before the sink's buffer:

* input: the SDK's `SingerReader` (every line decoded to dicts by simplejson, Decimal numbers)
  instead of the raw-bytes reader with compiled per-stream decoders;
* records: the SDK's `Target._process_record_message` (copy, stream map, metadata handling,
  `_validate_and_parse` = jsonschema validation + timestamp parsing, key check, per-record
  metric) instead of the fast path;
* validation: the SDK's default jsonschema validator (`Sink.get_validator`), not the compiled
  model's (turned off so records are not validated twice); the model still converts each dict
  into the sink's row type, as every record of a mapped/flattened stream does in the shipped
  target.

One deviation from the SDK's record path is needed to load the same rows: with
`add_record_metadata` off the SDK strips `_sdc_deleted_at` from every record
(`Sink._remove_sdc_metadata_from_record`), which would turn deletes and the line streams' parent
tombstones into bad records; this sink keeps that one property.

Run as `python bench/sdk_default/target.py --config …` with the python of a virtualenv that has
`target-tableau-hyper` installed (bench/bench_pipeline.py writes a launcher that does).
"""

from __future__ import annotations

import typing as t

from singer_sdk.io_base import SingerReader
from singer_sdk.sinks import Sink
from singer_sdk.target_base import Target

from target_tableau_hyper.sink import HyperSink
from target_tableau_hyper.target import TargetTableauHyper


class HyperSinkSdkDefault(HyperSink):
    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.model.full_validator = None  # the SDK's validator below does the checking

    def get_validator(self) -> t.Any:
        return Sink.get_validator(self)

    def _remove_sdc_metadata_from_record(self, record: dict) -> None:
        deleted_at = record.get("_sdc_deleted_at")
        super()._remove_sdc_metadata_from_record(record)
        if deleted_at is not None:
            record["_sdc_deleted_at"] = deleted_at


class TargetTableauHyperSdkDefault(TargetTableauHyper):
    message_reader_class = SingerReader
    default_sink_class = HyperSinkSdkDefault

    def _process_schema_message(self, message_dict: dict) -> None:
        Target._process_schema_message(self, message_dict)  # no fast-path registration

    def _process_record_message(self, message_dict: dict) -> None:
        Target._process_record_message(self, message_dict)


def main() -> None:
    TargetTableauHyperSdkDefault.cli()


if __name__ == "__main__":
    main()
