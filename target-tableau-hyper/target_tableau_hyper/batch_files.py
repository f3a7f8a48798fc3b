"""Singer BATCH messages: records handed over as local JSONL files instead of RECORD lines.

A BATCH message (`{"type": "BATCH", "stream": S, "encoding": {"format": "jsonl", "compression":
"gzip"|"none"}, "manifest": [file URLs]}`, e.g. from tap-quickbooks-online's `batch_config`)
names files holding one record per line. Each file goes through the SAME path as RECORD lines:

* read in chunks of `CHUNK` bytes of whole lines (bounded memory, whatever the file's size;
  gzip detected by its magic bytes, whatever the encoding says);
* each chunk's lines wrapped into RECORD lines (`{"type":"RECORD","stream":S,"record":` + line
  + `}`, one `bytes.replace` per chunk) and handed to `HyperSink.add_run`, as the reader hands
  runs of RECORD lines: Arrow's JSON reader at drain, validation, exact decimals, flattening,
  upserts, deletes, parent tombstones and one audit row per record, all identical; a sink that
  is full drains as with RECORD lines. Streams outside that fast path (stream maps other than
  the identity, a schema needing full JSON-schema validation) go record by record through
  `TargetTableauHyper._process_record_message`, as their RECORD lines would.

Line numbers: a file's records are numbered as input lines following the BATCH message (the
reader's counter moves on by one per record), so sequence numbers, audit `line`s and batch
line ranges stay unique and in message order. Errors about such a record say which file and
line it was: "line 1234 (line 7 of batch file /…/x.jsonl)" (`errors.line_source`).

Files: local paths or `file://` URLs only (the tap writes them on the same machine). A missing
file, a file that is not a regular file, a bad gzip stream, another format than jsonl or a remote
URL stop the run with an error naming the stream, the file and the BATCH message's line; nothing
of that message is committed then, and no state covering it is emitted.

Deleting: a file whose records were all handed over is deleted once the target has committed
them and emitted the next STATE (or at the end of a successful run): the target owns the files
from the BATCH message on. Files of a failed run stay (no state covers them; the tap's rerun
writes new files). Only file names the SDK or the tap use are deleted (`*.jsonl`, `*.jsonl.gz`,
`*.json.gz`).
"""

from __future__ import annotations

import bisect
import contextlib
import gzip
import json
import os
import typing as t
import zlib
from pathlib import Path
from urllib.parse import unquote, urlparse

import msgspec

from target_tableau_hyper import errors
from target_tableau_hyper.errors import InputError
from target_tableau_hyper.reader import RecordEnvelope

if t.TYPE_CHECKING:
    from singer_sdk.helpers._batch import BaseBatchFileEncoding

    from target_tableau_hyper.sink import HyperSink
    from target_tableau_hyper.target import TargetTableauHyper

#: bytes read from a file at once (then cut after its last whole line)
CHUNK = 1 << 22
DELETABLE_SUFFIXES = (".jsonl", ".jsonl.gz", ".json.gz")
_GZIP_MAGIC = b"\x1f\x8b"


def process_batch_files(sink: HyperSink, encoding: BaseBatchFileEncoding, files: t.Sequence[str]) -> None:
    """The records of one BATCH message's files, for `sink` (see module docstring)."""
    target = sink.hyper_target
    state = _state_of(target)
    stream, handles = state.route(sink)
    if not handles:
        return  # the stream's first map's sink reads the files, for every map (see route)
    if (encoding.format or "jsonl") != "jsonl":
        raise InputError(
            f"BATCH message: format {encoding.format!r} is not supported, only jsonl "
            "(set the tap's batch_config.encoding.format to jsonl)",
            stream=stream, line=state.reader.line_number,
        )
    for url in files:
        path = _local_path(url, stream, state.reader.line_number)
        state.read_file(sink, stream, path)


class _BatchFilesState:
    """Per target: line ranges of the files read, files waiting to be deleted."""

    def __init__(self, target: TargetTableauHyper) -> None:
        self.target = target
        self.reader = target.message_reader
        self._firsts: list[int] = []  # first line number of each file's records, increasing
        self._files: list[tuple[int, Path]] = []  # (last line number, file) per file
        self.read_files: list[Path] = []  # fully handed over, to delete after the next STATE
        self._hook()

    # --- routing -------------------------------------------------------------------------
    def route(self, sink: HyperSink) -> tuple[str, bool]:
        """(the BATCH message's stream, whether this sink reads the files).

        The SDK hands a BATCH message to the sink of every map of its stream; the records must
        go through the maps once, so the first map's sink reads them for all."""
        target = self.target
        alias = sink.stream_name
        if target._fast_sinks.get(alias) is sink:  # noqa: SLF001 - identity map, fast path
            return alias, True
        sources = [name for name, maps in target.mapper.stream_maps.items()
                   if any(m.stream_alias == alias for m in maps)]
        if len(sources) != 1:
            raise InputError(
                "BATCH message for a stream that several streams are mapped to is not supported",
                stream=alias, line=self.reader.line_number,
            )
        source = sources[0]
        first = target.mapper.stream_maps[source][0].stream_alias
        return source, first == alias

    # --- reading ---------------------------------------------------------------------------
    def read_file(self, sink: HyperSink, stream: str, path: Path) -> None:
        reader = self.reader
        at = reader.line_number  # the BATCH message's own line
        first = at + 1
        try:
            opened = path.open("rb")
        except FileNotFoundError:
            raise InputError(f"BATCH file {path} does not exist (already loaded and deleted "
                             "by an earlier run, or written on another machine?)",
                             stream=stream, line=at) from None
        except OSError as exc:
            raise InputError(f"BATCH file {path} cannot be read: {exc}", stream=stream, line=at) from None
        with opened:
            if not path.is_file():
                raise InputError(f"BATCH file {path} is not a regular file", stream=stream, line=at)
            self._firsts.append(first)
            self._files.append((first - 1, path))  # last line grows as records are read
            gzipped = opened.read(2) == _GZIP_MAGIC
            opened.seek(0)
            source: t.Any = gzip.GzipFile(fileobj=opened, mode="rb") if gzipped else opened
            try:
                self._read_chunks(sink, stream, path, source)
            except (OSError, EOFError, zlib.error) as exc:
                raise InputError(f"BATCH file {path} is damaged: {exc}", stream=stream,
                                 line=reader.line_number) from None
        self.read_files.append(path)

    def _read_chunks(self, sink: HyperSink, stream: str, path: Path, source: t.Any) -> None:
        target = self.target
        # the reader's fast path for this stream (Arrow-parsed runs), else record by record
        entry = self.reader.fast_streams.get(stream.encode())
        fast = entry is not None and entry[1] is sink and bool(entry[3])
        prefix = b'{"type":"RECORD","stream":' + json.dumps(stream).encode() + b',"record":'
        joint = b"}\n" + prefix
        pending = b""
        while True:
            data = source.read(CHUNK)
            if not data:
                break
            data = pending + data if pending else data
            cut = data.rfind(b"\n") + 1
            pending = data[cut:]
            if cut:
                self._hand_over(sink, stream, data[:cut] if cut < len(data) else data, fast, prefix, joint)
        if pending:
            self._hand_over(sink, stream, pending + b"\n", fast, prefix, joint)

    def _hand_over(self, sink: HyperSink, stream: str, lines: bytes, fast: bool, prefix: bytes,
                   joint: bytes) -> None:
        """Whole lines (each ending in a newline) of a file → the sink, as RECORD lines."""
        if lines[:1] == b"\n" or b"\n\n" in lines or b"\r" in lines:
            lines = b"".join(line.strip() + b"\n" for line in lines.split(b"\n") if line.strip())
            if not lines:
                return
        count = lines.count(b"\n")
        target = self.target
        reader = self.reader
        if not fast:
            for line in lines.split(b"\n")[:-1]:
                reader.line_number += 1
                self._files[-1] = (reader.line_number, self._files[-1][1])
                target._process_record_message(  # noqa: SLF001 - the RECORD path, per record
                    RecordEnvelope("RECORD", stream, msgspec.Raw(line)))
            return
        wrapped = prefix + lines[:-1].replace(b"\n", joint) + b"}\n"
        offset = 0
        while count:
            room = max(sink.max_size - sink._batch_records_read, 1)  # noqa: SLF001 - SDK counter
            take = min(count, room)
            end = len(wrapped) if take == count else _after_line(wrapped, take, offset)
            first = reader.line_number + 1
            reader.line_number += take
            self._files[-1] = (reader.line_number, self._files[-1][1])
            sink.add_run(memoryview(wrapped)[offset:end], first, take)
            if sink._batch_records_read >= sink.max_size:  # noqa: SLF001
                target.drain_one(sink)
            offset, count = end, count - take
        target._handle_max_record_age()  # noqa: SLF001 - as the SDK does after a BATCH

    # --- errors ------------------------------------------------------------------------------
    def describe_line(self, line: int) -> str | None:
        i = bisect.bisect_right(self._firsts, line) - 1
        if i < 0:
            return None
        last, path = self._files[i]
        if line > last:
            return None
        return f"line {line - self._firsts[i] + 1} of batch file {path}"

    # --- deleting ----------------------------------------------------------------------------
    def delete_read_files(self) -> None:
        files, self.read_files = self.read_files, []
        for path in files:
            if path.name.endswith(DELETABLE_SUFFIXES):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def _hook(self) -> None:
        """Files are deleted after the target emits a STATE (every sink drained and committed
        before it: SDK `drain_all`) and after a successful run; `errors.line_source` names the
        file of an error's line during the run."""
        target = self.target
        write_state = target._write_state_message  # noqa: SLF001
        finish = target.finish

        def write_state_then_delete(state: dict) -> None:
            done, self.read_files = self.read_files, []  # read before this state: committed
            try:
                write_state(state)
            except BaseException:
                self.read_files = done + self.read_files
                raise
            self.read_files, pending = done, self.read_files
            self.delete_read_files()
            self.read_files = pending

        def finish_then_delete(*, error: str | None = None, interrupted: bool = False) -> None:
            try:
                finish(error=error, interrupted=interrupted)
            finally:
                if errors.line_source == self.describe_line:
                    errors.line_source = None
            if error is None and not interrupted:
                self.delete_read_files()

        target._write_state_message = write_state_then_delete  # type: ignore[method-assign]  # noqa: SLF001
        target.finish = finish_then_delete  # type: ignore[method-assign]
        errors.line_source = self.describe_line


def _state_of(target: TargetTableauHyper) -> _BatchFilesState:
    found = getattr(target, "_batch_files_state", None)
    if found is None:
        found = _BatchFilesState(target)
        target._batch_files_state = found  # type: ignore[attr-defined]  # noqa: SLF001
    return found


def _after_line(data: bytes, n: int, pos: int) -> int:
    """Position just after the n-th newline of `data` from `pos`."""
    find = data.find
    for _ in range(n):
        pos = find(b"\n", pos) + 1
    return pos


def _local_path(url: str, stream: str, line: int) -> Path:
    parsed = urlparse(url)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return Path(unquote(parsed.path))
    if not parsed.scheme or len(parsed.scheme) == 1:
        return Path(url)
    raise InputError(f"BATCH file {url!r}: only local files (a path or a file:// URL) are supported",
                     stream=stream, line=line)


__all__ = ["CHUNK", "process_batch_files"]
