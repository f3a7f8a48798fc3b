"""Singer BATCH messages (the SDK's `batch_config`): records written to local JSONL files, one
small BATCH message per file instead of one RECORD message per record.

Not to be confused with `batch.py`, QBO's own `/batch` API endpoint (`batch_enabled`).

What the files hold: one record per line, exactly the `record` of the RECORD message the tap
would have sent (same compiled writer, same conformance, money as JSON numbers with their exact
digits, line streams' parent tombstones, CDC delete records, report rows), in message order.

Life of a file (`BatchOutput`):

* written as `<root>/<prefix><tap>--<label>-<run id>-<s>-<n>.jsonl[.gz].partial` (file 0600,
  root directory 0700: records are company data; a root owned by another user is refused, an
  existing root of ours is chmod-ed to 0700), one open file per stream;
* closed when it holds `batch_size` records and, for every open file, before any STATE message: renamed without `.partial`, then its BATCH
  message is written. So a STATE always comes after the BATCH messages of every record its
  bookmarks cover (`fast_records.SingerBytesWriter` calls `before_state`);
* deleted by the target once the records are committed and the state after them emitted
  (target_tableau_hyper/batch_files.py). A run that fails deletes the files it has not announced
  (`discard`); files of a killed target stay on disk (no state covers them: the rerun reads the
  records again into new files) and can be deleted whenever no run is active. A file whose
  close or BATCH message fails (disk full, target gone) is deleted at once, then the error
  raised. At start-up the tap deletes its own leftover files in the root (`sweep_stale`) once
  they are older than `STALE_AFTER_SECONDS` (24 h): younger ones may belong to a run still going.
* a SIGTERM/SIGINT that lands while files are being closed and announced (`guard`) is handled
  once that is done (`on_signal`): the tap then exits 143/130 without a STATE message (tap.py).

File names never carry a stream name as such: Singer stream names are arbitrary strings (a
stream map alias like `crm/customers` or `../x`, spaces, unicode). `<label>` is the stream name
with every run of characters other than ASCII letters, digits and `_` replaced by one `_`, cut to
`LABEL_MAX` characters: readable, never a separator, `.` or `..` (`file_label`). What keeps two
streams apart is `<s>`, the stream's number in this run (streams labelled alike, `a/b` and
`a_b`, get different numbers), and `<n>` numbers a stream's files; `<run id>` is random per run.
A label holds no `-`, so the part after `--` splits on `-` one way only: two names are equal
only for the same run, stream and file. The stream travels in the BATCH message, never in the
file name (the target reads the name as a path only).

Files are local (a `file://` URL or a path): the target reads them on the same machine.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import re
import stat
import time
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
#: age after which a leftover file of this tap in the batch root is deleted at start-up. Not
#: less: another run of the same tap (another job, same root) may still be writing a recent file,
#: or its target still reading it; a day is far longer than any run.
STALE_AFTER_SECONDS = 24 * 3600
FILE_SUFFIXES = (".partial", ".jsonl", ".jsonl.gz")
#: longest stream label in a file name, and longest prefix (UTF-8 bytes): with the tap name, run
#: id, numbers and suffixes a name stays far below the 255-byte limit of file systems
LABEL_MAX = 64
PREFIX_MAX_BYTES = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")


def file_label(stream: str) -> str:
    """The readable part of a stream's file names: only ASCII letters, digits and `_` (see the
    module docstring; not unique, the stream's number in the run is)."""
    return _UNSAFE.sub("_", stream)[:LABEL_MAX] or "_"


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
    if not isinstance(prefix, str) or "/" in prefix or "\\" in prefix or "\0" in prefix:
        errors.append("batch_config.storage.prefix: a file name prefix, without '/'")
    elif len(prefix.encode()) > PREFIX_MAX_BYTES:
        errors.append(f"batch_config.storage.prefix: at most {PREFIX_MAX_BYTES} bytes "
                      "(file names have a length limit)")
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
        self.closed = False

    def write(self, data: bytes | bytearray, count: int) -> None:
        self.out.write(data)
        self.count += count

    def close(self) -> None:
        """Flushed, closed and renamed without `.partial` (a second call does nothing)."""
        if self.closed:
            return
        if self.out is not self.raw:
            self.out.close()
        self.raw.close()
        os.replace(self.partial, self.path)
        self.closed = True

    def discard(self) -> None:
        """Closed if it can be, and deleted (`.partial` or renamed): nothing left on disk."""
        with contextlib.suppress(Exception):
            if self.out is not self.raw:
                self.out.close()
        with contextlib.suppress(Exception):
            self.raw.close()
        for path in (self.partial, self.path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


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
        #: each stream's number in this run (file names: streams labelled alike stay apart)
        self._stream_numbers: dict[str, int] = {}
        #: files announced in BATCH messages, and the records they hold (tests, logs)
        self.files_written = 0
        self.records_written = 0
        #: `guard` depth, and a termination signal that arrived inside it (handled at its end)
        self._busy = 0
        self._deferred_signal: int | None = None
        #: a file is being closed and announced (`finish`)
        self._finishing = False
        #: called with the signal number once a deferred signal can be handled (tap.py)
        self.on_signal: t.Callable[[int], None] | None = None
        self._make_private_root()
        self.sweep_stale()

    def _make_private_root(self) -> None:
        """The root exists, is ours and only ours (0700): the files hold company data."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.stat(self.root)
        if not stat.S_ISDIR(info.st_mode):
            raise ValueError(f"batch_config.storage.root {self.root}: not a directory")
        if info.st_uid != os.getuid():
            raise ValueError(f"batch_config.storage.root {self.root}: owned by uid "
                             f"{info.st_uid}, not by this user (uid {os.getuid()}); batch "
                             "files hold company data: use a directory of your own")
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.chmod(self.root, 0o700)

    def sweep_stale(self, now: float | None = None) -> int:
        """Delete this tap's leftover files (this prefix and tap name) older than
        `STALE_AFTER_SECONDS`: a killed run's or target's. Younger ones are left: a concurrent
        run may be writing them, or its target reading them. Returns how many were deleted."""
        limit = (time.time() if now is None else now) - STALE_AFTER_SECONDS
        head = f"{self.prefix}{self.tap_name}--"
        deleted = 0
        for entry in os.scandir(self.root):
            if not entry.name.startswith(head) or not entry.name.endswith(FILE_SUFFIXES):
                continue
            with contextlib.suppress(FileNotFoundError):  # (another run's sweep got it first)
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(info.st_mode) and info.st_mtime < limit:
                    os.unlink(entry.path)
                    deleted += 1
        if deleted:
            logger.info("batch mode: deleted %d leftover batch file(s) older than %d h in %s",
                        deleted, STALE_AFTER_SECONDS // 3600, self.root)
        return deleted

    @contextlib.contextmanager
    def guard(self) -> t.Iterator[None]:
        """Files being closed and announced (and the STATE after them): a termination signal
        arriving now is only noted (`defer_signal`) and handled at the end, so neither a
        half-announced file nor a STATE without its files' BATCH messages can result."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
        if not self._busy and self._deferred_signal is not None and self.on_signal is not None:
            signum, self._deferred_signal = self._deferred_signal, None
            self.on_signal(signum)

    def defer_signal(self, signum: int) -> bool:
        """True (and the signal kept for the end of `guard`) when inside `guard`."""
        if self._busy:
            self._deferred_signal = signum
            return True
        return False

    def _new_file(self, stream: str) -> _OpenFile:
        number = self._numbers[stream] = self._numbers.get(stream, 0) + 1
        stream_number = self._stream_numbers.setdefault(stream, len(self._stream_numbers) + 1)
        suffix = ".jsonl.gz" if self.compression == "gzip" else ".jsonl"
        name = (f"{self.prefix}{self.tap_name}--{file_label(stream)}-{self.run_id}-"
                f"{stream_number:03d}-{number:05d}{suffix}")
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
        """Close the stream's open file and announce it in a BATCH message. The file stays in
        `_open` until announced (so `close_all` and `discard` still see it); if the close or the
        message fails (disk full, target gone) the file is deleted and the error raised."""
        found = self._open.get(stream)
        if found is None:
            return
        with self.guard():
            self._finishing = True
            try:
                found.close()
                self._write_message(SDKBatchMessage(stream=stream, encoding=self.encoding,
                                                    manifest=[found.path.as_uri()]))
            except BaseException:
                found.discard()
                if self._open.get(stream) is found:
                    del self._open[stream]
                raise
            finally:
                self._finishing = False
            if self._open.get(stream) is found:
                del self._open[stream]
                self.files_written += 1
                self.records_written += found.count

    def close_all(self) -> None:
        """Every open file closed and announced (before a STATE message, at the end)."""
        if self._finishing:  # (a STATE written from inside a close would not follow the file)
            raise RuntimeError("batch files closed again while one is being closed and "
                               "announced: a STATE now could cover records not announced")
        with self.guard():
            for stream in list(self._open):
                self.finish(stream)

    def discard(self) -> None:
        """A failed run: delete the files not announced yet."""
        for found in self._open.values():
            found.discard()
        self._open.clear()
