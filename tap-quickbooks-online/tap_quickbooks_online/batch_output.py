"""Singer BATCH messages (the SDK's `batch_config`): records written to local JSONL files, one
small BATCH message per file instead of one RECORD message per record.

Not to be confused with `batch.py`, QBO's own `/batch` API endpoint (`batch_enabled`).

What the files hold: one record per line, exactly the `record` of the RECORD message the tap
would have sent (same compiled writer, same conformance, money as JSON numbers with their exact
digits, line streams' parent tombstones, CDC delete records, report rows), in message order.

Life of a file (`BatchOutput`):

* written as `<root>/<prefix><tap>--<stream>-<run id>-<n>.jsonl[.gz].partial` (directory created
  mode 0700, file 0600: records are company data), one open file per stream;
* closed when it holds `batch_size` records and, for every open file, before any STATE message: renamed without `.partial`, then its BATCH
  message is written. So a STATE always comes after the BATCH messages of every record its
  bookmarks cover (`fast_records.SingerBytesWriter` calls `before_state`);
* deleted by the target once the records are committed and the state after them emitted
  (target_tableau_hyper/batch_files.py). A run that fails deletes the files it has not announced
  (`discard`); files of a killed target stay on disk (no state covers them: the rerun reads the
  records again into new files) and can be deleted whenever no run is active.

Files are local (a `file://` URL or a path): the target reads them on the same machine.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import typing as t
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

from singer_sdk.helpers._batch import BaseBatchFileEncoding, SDKBatchMessage

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 20_000
FORMATS = ("jsonl",)
COMPRESSIONS = ("gzip", "none")
#: zlib level of gzip files: level 1 compresses JSON ~6x at a fraction of level 9's CPU
GZIP_LEVEL = 1


def default_root() -> str:
    """Where files go without `storage.root`: the Meltano project's run directory, else `./`."""
    project = os.environ.get("MELTANO_PROJECT_ROOT")
    base = Path(project) / ".meltano" / "run" if project else Path.cwd()
    return str(base / "tap-quickbooks-online" / "batches")


def local_root(root: str) -> Path:
    """The directory of a `storage.root` (a path or a `file://` URL); ValueError otherwise."""
    parsed = urlparse(root)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"storage.root {root!r}: only local file:// URLs are supported")
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # (a Windows drive letter is not a scheme)
        raise ValueError(f"storage.root {root!r}: only local paths or file:// URLs are supported "
                         "(the target reads the files on the same machine)")
    return Path(root).expanduser()


def config_errors(raw: t.Any) -> list[str]:
    """Problems of a `batch_config` setting (empty: usable)."""
    if not raw:
        return []
    if not isinstance(raw, dict):
        return ["batch_config: must be an object"]
    errors = []
    encoding = raw.get("encoding") or {}
    fmt = encoding.get("format") or "jsonl"
    if fmt not in FORMATS:
        errors.append(f"batch_config.encoding.format: {fmt!r} is not supported, use jsonl "
                      "(records keep their exact decimal text)")
    compression = encoding.get("compression") or "none"
    if compression not in COMPRESSIONS:
        errors.append(f"batch_config.encoding.compression: {compression!r} is not one of "
                      f"{', '.join(COMPRESSIONS)}")
    storage = raw.get("storage") or {}
    try:
        local_root(str(storage.get("root") or default_root()))
    except ValueError as exc:
        errors.append(f"batch_config.{exc}")
    prefix = storage.get("prefix") or ""
    if "/" in prefix or "\\" in prefix:
        errors.append("batch_config.storage.prefix: a file name prefix, without '/'")
    size = raw.get("batch_size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
        errors.append("batch_config.batch_size: a positive integer")
    return errors


def _after_line(data: bytes | bytearray, n: int) -> int:
    """Position just after the n-th newline of `data`."""
    pos = 0
    find = data.find
    for _ in range(n):
        pos = find(b"\n", pos) + 1
    return pos


class _OpenFile:
    """One stream's file being written (`.partial` until closed)."""

    def __init__(self, path: Path, *, gzipped: bool) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.raw = os.fdopen(fd, "wb", buffering=1 << 20)
        self.out: t.Any = (gzip.GzipFile(filename="", fileobj=self.raw, mode="wb",
                                         compresslevel=GZIP_LEVEL, mtime=0)
                           if gzipped else self.raw)
        self.count = 0

    def write(self, data: bytes | bytearray, count: int) -> None:
        self.out.write(data)
        self.count += count

    def close(self) -> None:
        if self.out is not self.raw:
            self.out.close()
        self.raw.close()
        os.replace(self.partial, self.path)

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            if self.out is not self.raw:
                self.out.close()
            self.raw.close()
        with contextlib.suppress(FileNotFoundError):
            self.partial.unlink()


class BatchOutput:
    """The run's batch files, one open file per stream (see module docstring)."""

    def __init__(self, tap_name: str, raw_config: dict,
                 write_message: t.Callable[[t.Any], None]) -> None:
        errors = config_errors(raw_config)
        if errors:
            raise ValueError("; ".join(errors))
        encoding = raw_config.get("encoding") or {}
        storage = raw_config.get("storage") or {}
        self.compression = encoding.get("compression") or "none"
        self.encoding = BaseBatchFileEncoding(format="jsonl", compression=self.compression)
        self.root = local_root(str(storage.get("root") or default_root())).resolve()
        self.prefix = storage.get("prefix") or ""
        self.batch_size = int(raw_config.get("batch_size") or DEFAULT_BATCH_SIZE)
        self.tap_name = tap_name
        self.run_id = uuid.uuid4().hex[:12]
        self._write_message = write_message
        self._open: dict[str, _OpenFile] = {}
        self._numbers: dict[str, int] = {}
        #: files announced in BATCH messages, and the records they hold (tests, logs)
        self.files_written = 0
        self.records_written = 0
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _new_file(self, stream: str) -> _OpenFile:
        number = self._numbers[stream] = self._numbers.get(stream, 0) + 1
        suffix = ".jsonl.gz" if self.compression == "gzip" else ".jsonl"
        name = f"{self.prefix}{self.tap_name}--{stream}-{self.run_id}-{number:05d}{suffix}"
        found = self._open[stream] = _OpenFile(self.root / name,
                                               gzipped=self.compression == "gzip")
        return found

    def write(self, stream: str, data: bytes | bytearray, count: int) -> None:
        """`count` records of `stream`, JSON lines (each ending in a newline). A file is closed
        and announced as soon as it holds `batch_size` records (a page is split across files)."""
        while count:
            found = self._open.get(stream) or self._new_file(stream)
            room = self.batch_size - found.count
            if count < room:
                found.write(data, count)
                return
            cut = _after_line(data, room) if count > room else len(data)
            found.write(data[:cut], room)
            self.finish(stream)
            data, count = data[cut:], count - room

    def writer_for(self, stream: str) -> t.Callable[[bytes | bytearray, int], None]:
        """`write` bound to one stream."""
        return lambda data, count: self.write(stream, data, count)

    def finish(self, stream: str) -> None:
        """Close the stream's open file and announce it in a BATCH message."""
        found = self._open.pop(stream, None)
        if found is None:
            return
        found.close()
        self.files_written += 1
        self.records_written += found.count
        self._write_message(SDKBatchMessage(stream=stream, encoding=self.encoding,
                                            manifest=[found.path.as_uri()]))

    def close_all(self) -> None:
        """Every open file closed and announced (before a STATE message, at the end)."""
        for stream in list(self._open):
            self.finish(stream)

    def discard(self) -> None:
        """A failed run: delete the files not announced yet."""
        for found in self._open.values():
            found.discard()
        self._open.clear()
