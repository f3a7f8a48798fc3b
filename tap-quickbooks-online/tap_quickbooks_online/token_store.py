"""Durable, lock-protected storage of the OAuth tokens of each QuickBooks company (realm).

Why a store at all: Intuit rotates refresh tokens (a refresh may hand back a *new* refresh token and
the old one stops working soon after). The newest refresh token must therefore survive the process
that received it. It cannot live in the tap's config file: Meltano writes a temporary config file
for every run and deletes it afterwards (singer-sdk issue #106), so anything written there is lost.

Two back ends, chosen by the `token_store` setting:

* **File** (default): a JSON file. Default location
  `$MELTANO_PROJECT_ROOT/.meltano/tap-quickbooks-online/tokens.json` when run by Meltano (the env
  var is set for every plugin Meltano runs), else `$XDG_CONFIG_HOME/tap-quickbooks-online/tokens.json`
  (`~/.config/tap-quickbooks-online/tokens.json`). Any other path may be given; `~` is expanded.
  Written atomically: temp file in the same directory → write → fsync → `os.replace` → fsync of the
  directory, so a crash leaves either the old or the new file, never a partial one. The file is
  mode 0600 and a directory this module creates is 0700. Refreshes are serialized across processes
  by a `filelock` lock file next to it (`tokens.json.lock`).
* **SQL** (`sqlite:///path/tokens.db`, `postgresql://user@host/db`, any SQLAlchemy URL): for runs on
  several machines. Table `qbo_oauth_tokens`, one row per realm. On PostgreSQL (and other servers)
  a refresh holds `SELECT … FOR UPDATE` on the realm's row; on SQLite the transaction starts with
  `BEGIN IMMEDIATE` (SQLite has no row locks; this takes the database write lock).

The API is one call, `store.locked(realm_id)`: a context manager holding an exclusive lock for the
realm that yields a `LockedRecord` with a *fresh* read of the record (`.record`) and `.save(record)`,
which makes the record durable before it returns. Callers re-read inside the lock, so a refresh done
meanwhile by another process is seen, never repeated with a stale token.

A record carries, besides the tokens, `known_fingerprints`: SHA-256 fingerprints (never the tokens)
of every refresh token that was stored or offered for the realm, so a refresh token pasted into the
config can be told apart: known → older than the store, ignored; unknown → the user re-authorized,
it wins. Nothing in this module logs or raises with a token in the message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

STORE_FORMAT_VERSION = 1
# Cap on remembered fingerprints per realm: enough for years of daily rotation to be recognized
# (rotation is at most every 24 h; a config seed is only compared against recent history anyway).
MAX_FINGERPRINTS = 400


class TokenStoreError(Exception):
    """The token store cannot be read or written (message never contains a token)."""


def fingerprint(token: str) -> str:
    """A stable one-way fingerprint of a token: lets us recognize a token without keeping it."""
    digest = hashlib.sha256(b"tap-quickbooks-online/refresh-token/v1\0" + token.encode()).hexdigest()
    return "sha256:" + digest[:40]


@dataclasses.dataclass
class TokenRecord:
    """The OAuth state of one realm. Times are POSIX seconds (float)."""

    realm_id: str
    refresh_token: str | None = None
    refresh_token_expires_at: float | None = None
    access_token: str | None = None
    access_token_expires_at: float | None = None
    known_fingerprints: list[str] = dataclasses.field(default_factory=list)
    updated_at: float | None = None

    def remember(self, token: str | None) -> None:
        """Record a refresh token's fingerprint as seen for this realm (most recent last)."""
        if not token:
            return
        fp = fingerprint(token)
        if fp in self.known_fingerprints:
            self.known_fingerprints.remove(fp)
        self.known_fingerprints.append(fp)
        del self.known_fingerprints[:-MAX_FINGERPRINTS]

    def knows(self, token: str) -> bool:
        return fingerprint(token) in self.known_fingerprints

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("realm_id")
        return data

    @classmethod
    def from_json(cls, realm_id: str, data: dict[str, Any]) -> TokenRecord:
        fields = {f.name for f in dataclasses.fields(cls)} - {"realm_id"}
        return cls(realm_id=realm_id, **{k: v for k, v in data.items() if k in fields})

    def __repr__(self) -> str:  # never print tokens
        return (
            f"TokenRecord(realm_id={self.realm_id!r}, has_refresh_token={bool(self.refresh_token)}, "
            f"access_token_expires_at={self.access_token_expires_at!r}, "
            f"refresh_token_expires_at={self.refresh_token_expires_at!r})"
        )

    __str__ = __repr__


class LockedRecord:
    """Handle given inside `TokenStore.locked`: the fresh record and a durable `save`."""

    def __init__(self, realm_id: str, record: TokenRecord | None, saver) -> None:
        self.realm_id = realm_id
        self.record = record
        self._saver = saver

    def save(self, record: TokenRecord) -> None:
        if record.realm_id != self.realm_id:
            raise ValueError("record belongs to another realm")
        record.updated_at = time.time()
        self._saver(record)
        self.record = record


class TokenStore(Protocol):
    description: str

    def locked(self, realm_id: str) -> contextlib.AbstractContextManager[LockedRecord]: ...

    def load(self, realm_id: str) -> TokenRecord | None: ...

    def realm_ids(self) -> list[str]: ...

    def delete(self, realm_id: str) -> None: ...


def default_token_store_path(environ: os._Environ | dict | None = None) -> Path:
    """`$MELTANO_PROJECT_ROOT/.meltano/tap-quickbooks-online/tokens.json`, else the XDG config dir."""
    env = os.environ if environ is None else environ
    project_root = env.get("MELTANO_PROJECT_ROOT")
    if project_root:
        return Path(project_root) / ".meltano" / "tap-quickbooks-online" / "tokens.json"
    config_home = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "tap-quickbooks-online" / "tokens.json"


def open_token_store(location: str | os.PathLike | None = None, *, lock_timeout: float = 120.0) -> TokenStore:
    """The store named by the `token_store` setting: a SQLAlchemy URL, a file path, or the default."""
    if location is None or str(location).strip() == "":
        return FileTokenStore(default_token_store_path(), lock_timeout=lock_timeout)
    text = str(location).strip()
    if "://" in text:
        return SqlTokenStore(text, lock_timeout=lock_timeout)
    return FileTokenStore(Path(os.path.expanduser(text)), lock_timeout=lock_timeout)


# --------------------------------------------------------------------------------------------
# File store
# --------------------------------------------------------------------------------------------


class FileTokenStore:
    """JSON file `{"version": 1, "realms": {realm_id: record}}`, atomic writes, 0600, file lock."""

    def __init__(self, path: str | os.PathLike, *, lock_timeout: float = 120.0) -> None:
        from filelock import FileLock

        self.path = Path(path)
        self.description = f"file {self.path}"
        self._lock_timeout = lock_timeout
        # thread_local=False: one reentrant lock object shared by all threads of this process,
        # guarded by our own thread lock so threads queue up instead of re-entering each other.
        self._file_lock = FileLock(str(self.path) + ".lock", timeout=lock_timeout, mode=0o600, thread_local=False)
        self._thread_lock = threading.RLock()

    # -- public API -------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, realm_id: str) -> Iterator[LockedRecord]:
        self._ensure_directory()
        from filelock import Timeout

        if not self._thread_lock.acquire(timeout=self._lock_timeout):
            raise TokenStoreError(f"timed out waiting for the token store lock ({self.path})")
        try:
            try:
                self._file_lock.acquire()
            except Timeout:
                raise TokenStoreError(
                    f"timed out after {self._lock_timeout:.0f}s waiting for the token store lock "
                    f"{self.path}.lock (another run is refreshing tokens?)"
                ) from None
            try:
                document = self._read()
                data = document["realms"].get(realm_id)
                record = TokenRecord.from_json(realm_id, data) if data is not None else None

                def saver(rec: TokenRecord) -> None:
                    fresh = self._read()  # other realms may have changed: we hold the lock, reread
                    fresh["realms"][realm_id] = rec.to_json()
                    self._write(fresh)

                yield LockedRecord(realm_id, record, saver)
            finally:
                self._file_lock.release()
        finally:
            self._thread_lock.release()

    def load(self, realm_id: str) -> TokenRecord | None:
        data = self._read()["realms"].get(realm_id)
        return TokenRecord.from_json(realm_id, data) if data is not None else None

    def realm_ids(self) -> list[str]:
        return sorted(self._read()["realms"])

    def delete(self, realm_id: str) -> None:
        self._ensure_directory()
        with self._thread_lock, self._file_lock:
            document = self._read()
            if document["realms"].pop(realm_id, None) is not None:
                self._write(document)

    # -- internals ----------------------------------------------------------------------------

    def _ensure_directory(self) -> None:
        directory = self.path.parent
        if not directory.exists():
            # Only directories we create are forced to 0700; an existing one (e.g. /tmp) is left alone.
            directory.mkdir(parents=True, mode=0o700, exist_ok=True)
            os.chmod(directory, 0o700)

    def _read(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
            self._restrict_permissions()
        except FileNotFoundError:
            return {"version": STORE_FORMAT_VERSION, "realms": {}}
        except OSError as exc:
            raise TokenStoreError(f"cannot read token store {self.path}: {exc.strerror}") from None
        try:
            document = json.loads(raw)
            if not isinstance(document, dict) or not isinstance(document.get("realms"), dict):
                raise ValueError("missing 'realms'")
        except ValueError as exc:
            # No token text in the message: json errors quote positions, not the document.
            raise TokenStoreError(
                f"token store {self.path} is not a valid token file ({type(exc).__name__}); "
                "fix or remove it and run `tap-quickbooks-online authorize`"
            ) from None
        return document

    def _restrict_permissions(self) -> None:
        """A token file someone made group/world-readable (e.g. copied in by hand) is fixed to 0600."""
        mode = os.stat(self.path).st_mode
        if mode & 0o077:
            logging.getLogger(__name__).warning(
                "Token store %s was readable by other users (mode %o); restricting it to 0600", self.path, mode & 0o777
            )
            try:
                os.chmod(self.path, 0o600)
            except OSError:
                pass

    def _write(self, document: dict[str, Any]) -> None:
        document["version"] = STORE_FORMAT_VERSION
        payload = json.dumps(document, indent=2, sort_keys=True).encode()
        directory = self.path.parent
        # mkstemp creates the file 0600 from the start: the token is never readable by others.
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        try:
            try:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, 0o600)
                _write_all(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp_name, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        _fsync_directory(directory)


def _database_error(description: str, what: str, exc: Exception) -> TokenStoreError:
    """The driver's own message (first line), never SQLAlchemy's statement text: that one lists the
    bound parameters, i.e. the tokens."""
    original = getattr(exc, "orig", None)
    detail = str(original).strip().splitlines()[0][:300] if original is not None and str(original).strip() else ""
    try:
        from tap_quickbooks_online.auth import SECRETS  # late: auth imports this module

        detail = SECRETS.redact(detail)
    except ImportError:  # pragma: no cover
        detail = ""
    return TokenStoreError(f"token store {description} {what}: {type(exc).__name__}" + (f" ({detail})" if detail else ""))


def _default_postgres_driver() -> str:
    """`postgresql://` means psycopg2 to SQLAlchemy; use psycopg 3 (our `postgres` extra) if that is what is installed."""
    import importlib.util

    if importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg") is not None:
        return "postgresql+psycopg"
    return "postgresql"


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable (POSIX); not supported everywhere, hence best effort.
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


# --------------------------------------------------------------------------------------------
# SQL store
# --------------------------------------------------------------------------------------------

TABLE_NAME = "qbo_oauth_tokens"


class SqlTokenStore:
    """One row per realm in `qbo_oauth_tokens`; row lock (`FOR UPDATE`) or SQLite write lock."""

    def __init__(self, url: str, *, lock_timeout: float = 120.0) -> None:
        import sqlalchemy as sa

        try:
            parsed = sa.engine.make_url(url)
        except Exception:
            raise TokenStoreError("token_store is not a valid SQLAlchemy URL") from None
        if parsed.password:
            from tap_quickbooks_online.auth import register_secrets  # late: auth imports this module

            register_secrets(str(parsed.password))  # kept out of logs and of our error messages
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername=_default_postgres_driver())
        self.description = "database " + parsed.render_as_string(hide_password=True)
        self._is_sqlite = parsed.get_backend_name() == "sqlite"
        self._thread_lock = threading.RLock()
        self._lock_timeout = lock_timeout
        if self._is_sqlite:
            database = parsed.database
            if database and database != ":memory:" and not database.startswith("file:"):
                path = Path(os.path.expanduser(database))
                if not path.parent.exists():
                    path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
                parsed = parsed.set(database=str(path))
                self._sqlite_path: Path | None = path
            else:
                self._sqlite_path = None
            self.engine = sa.create_engine(parsed, connect_args={"timeout": lock_timeout})
            # Plain reads (load, realm_ids) need no write lock: a second engine without BEGIN IMMEDIATE.
            self._read_engine = sa.create_engine(parsed, connect_args={"timeout": lock_timeout})

            # pysqlite's own transaction handling defers BEGIN; we want BEGIN IMMEDIATE so two
            # processes serialize at the start of the read-refresh-write critical section.
            @sa.event.listens_for(self.engine, "connect")
            def _no_auto_begin(dbapi_connection, _record):
                dbapi_connection.isolation_level = None

            @sa.event.listens_for(self.engine, "begin")
            def _begin_immediate(connection):
                connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            self._sqlite_path = None
            try:
                self.engine = sa.create_engine(parsed, pool_pre_ping=True)
                self._read_engine = self.engine
            except ImportError as exc:
                raise TokenStoreError(
                    f"token store {self.description}: the database driver is not installed "
                    f"({exc.name or exc}); e.g. `pip install psycopg2-binary` for postgresql://"
                ) from None
            except sa.exc.ArgumentError:
                raise TokenStoreError(f"token store {self.description}: unsupported database URL") from None

        metadata = sa.MetaData()
        self.table = sa.Table(
            TABLE_NAME,
            metadata,
            sa.Column("realm_id", sa.String(64), primary_key=True),
            sa.Column("refresh_token", sa.Text, nullable=True),
            sa.Column("refresh_token_expires_at", sa.Float, nullable=True),
            sa.Column("access_token", sa.Text, nullable=True),
            sa.Column("access_token_expires_at", sa.Float, nullable=True),
            sa.Column("known_fingerprints", sa.Text, nullable=False, default="[]"),
            sa.Column("updated_at", sa.Float, nullable=True),
        )
        try:
            from tap_quickbooks_online.sql_tables import create_tables  # noqa: PLC0415 - SQLAlchemy only for SQL stores

            create_tables(self.engine, metadata)
        except sa.exc.SQLAlchemyError as exc:
            raise _database_error(self.description, "cannot be opened", exc) from None
        if self._sqlite_path is not None and self._sqlite_path.exists():
            os.chmod(self._sqlite_path, 0o600)

    def _row_to_record(self, row) -> TokenRecord:
        data = dict(row._mapping)
        data["known_fingerprints"] = json.loads(data.get("known_fingerprints") or "[]")
        realm_id = data.pop("realm_id")
        return TokenRecord.from_json(realm_id, data)

    def _record_to_row(self, record: TokenRecord) -> dict[str, Any]:
        row = record.to_json()
        row["known_fingerprints"] = json.dumps(row["known_fingerprints"])
        return row

    @contextlib.contextmanager
    def locked(self, realm_id: str) -> Iterator[LockedRecord]:
        import sqlalchemy as sa

        t = self.table
        if not self._thread_lock.acquire(timeout=self._lock_timeout):
            raise TokenStoreError("timed out waiting for the token store lock")
        try:
            with self.engine.connect() as conn:
                transaction = conn.begin()
                try:
                    if not self._is_sqlite:
                        # Make sure a row exists to lock (first authorization of a realm); a
                        # concurrent insert of the same key waits for ours and then does nothing.
                        self._insert_placeholder(conn, realm_id)
                    query = sa.select(t).where(t.c.realm_id == realm_id)
                    if not self._is_sqlite:
                        query = query.with_for_update()
                    row = conn.execute(query).first()
                    record = self._row_to_record(row) if row is not None else None
                    if record is not None and record.refresh_token is None and record.access_token is None:
                        record = None  # placeholder row
                except BaseException:
                    transaction.rollback()
                    raise

                def saver(rec: TokenRecord) -> None:
                    nonlocal transaction
                    if not transaction.is_active:
                        transaction = conn.begin()
                    values = self._record_to_row(rec)
                    updated = conn.execute(t.update().where(t.c.realm_id == realm_id).values(**values))
                    if updated.rowcount == 0:
                        conn.execute(t.insert().values(realm_id=realm_id, **values))
                    # Durable before the caller hands out the new access token: commit now.
                    # Saving is the last step of the critical section, so releasing the lock is fine.
                    transaction.commit()

                try:
                    yield LockedRecord(realm_id, record, saver)
                finally:
                    if transaction.is_active:
                        transaction.rollback()  # nothing was saved: only releases the lock
        except sa.exc.SQLAlchemyError as exc:
            raise _database_error(self.description, "failed", exc) from None
        finally:
            self._thread_lock.release()

    def _insert_placeholder(self, conn, realm_id: str) -> None:
        import sqlalchemy as sa

        dialect = self.engine.dialect.name
        values = {"realm_id": realm_id, "known_fingerprints": "[]"}
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(pg_insert(self.table).values(**values).on_conflict_do_nothing(index_elements=["realm_id"]))
            return
        exists = conn.execute(sa.select(self.table.c.realm_id).where(self.table.c.realm_id == realm_id)).first()
        if exists is None:
            with contextlib.suppress(sa.exc.IntegrityError):
                with conn.begin_nested():
                    conn.execute(self.table.insert().values(**values))

    def load(self, realm_id: str) -> TokenRecord | None:
        import sqlalchemy as sa

        try:
            with self._read_engine.connect() as conn:
                row = conn.execute(sa.select(self.table).where(self.table.c.realm_id == realm_id)).first()
        except sa.exc.SQLAlchemyError as exc:
            raise _database_error(self.description, "failed", exc) from None
        if row is None:
            return None
        record = self._row_to_record(row)
        if record.refresh_token is None and record.access_token is None:
            return None
        return record

    def realm_ids(self) -> list[str]:
        import sqlalchemy as sa

        t = self.table
        try:
            with self._read_engine.connect() as conn:
                rows = conn.execute(sa.select(t.c.realm_id).where(t.c.refresh_token.is_not(None))).all()
        except sa.exc.SQLAlchemyError as exc:
            raise _database_error(self.description, "failed", exc) from None
        return sorted(r[0] for r in rows)

    def delete(self, realm_id: str) -> None:
        import sqlalchemy as sa

        try:
            with self.engine.begin() as conn:
                conn.execute(self.table.delete().where(self.table.c.realm_id == realm_id))
        except sa.exc.SQLAlchemyError as exc:
            raise _database_error(self.description, "failed", exc) from None
