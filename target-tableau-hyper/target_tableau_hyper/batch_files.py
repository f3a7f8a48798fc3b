"""Singer BATCH messages: records handed over as files instead of RECORD lines."""

from __future__ import annotations

import typing as t

from target_tableau_hyper.errors import InputError

if t.TYPE_CHECKING:
    from singer_sdk.helpers._batch import BaseBatchFileEncoding

    from target_tableau_hyper.sink import HyperSink


def process_batch_files(sink: HyperSink, encoding: BaseBatchFileEncoding, files: t.Sequence[str]) -> None:
    # The SDK's default would hand the records to process_batch as a context this sink ignores:
    # refuse clearly rather than drop them.
    raise InputError(
        f"BATCH messages ({encoding.format}) are not supported by this target; send RECORD messages",
        stream=sink.stream_name,
    )
