"""Token store: durability (atomic writes), permissions, locking across processes, SQL back end."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tap_quickbooks_online import token_store as ts
from tap_quickbooks_online.token_store import (
    FileTokenStore,
    SqlTokenStore,
    TokenRecord,
    TokenStoreError,
    default_token_store_path,
    fingerprint,
    open_token_store,
)

SECRET_RT = "RT-secret-value-0123456789abcdef"
SECRET_AT = "AT-secret-value-fedcba9876543210"


def make_record(realm: str = "123", rt: str = SECRET_RT, at: str = SECRET_AT) -> TokenRecord:
    record = TokenRecord(realm, refresh_token=rt, access_token=at, access_token_expires_at=2000.0,
                         refresh_token_expires_at=9000.0)
    record.remember(rt)
    return record


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_file_store_round_trip_and_owner_only_permissions(tmp_path):
    path = tmp_path / "new-dir" / "nested" / "tokens.json"
    store = FileTokenStore(path)
    with store.locked("123") as locked:
        assert locked.record is None
        locked.save(make_record())
    assert mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700  # created by the store
    assert mode_of(Path(str(path) + ".lock")) == 0o600
    loaded = store.load("123")
    assert loaded.refresh_token == SECRET_RT and loaded.access_token == SECRET_AT
    assert loaded.knows(SECRET_RT) and not loaded.knows("other")
    assert store.realm_ids() == ["123"]
    # a second realm keeps the first
    with store.locked("456") as locked:
        locked.save(make_record("456", rt="RT-two-xxxxxxxx", at="AT-two-xxxxxxxx"))
    assert store.realm_ids() == ["123", "456"]
    assert store.load("123").refresh_token == SECRET_RT
    store.delete("123")
    assert store.realm_ids() == ["456"]
    document = json.loads(path.read_text())
    assert document["version"] == 1 and set(document["realms"]) == {"456"}


def test_existing_directory_permissions_are_left_alone(tmp_path):
    os.chmod(tmp_path, 0o755)
    store = FileTokenStore(tmp_path / "tokens.json")
    with store.locked("1") as locked:
        locked.save(make_record("1"))
    assert mode_of(tmp_path) == 0o755
    assert mode_of(tmp_path / "tokens.json") == 0o600


@pytest.mark.parametrize("failing_step", ["write", "fsync", "replace"])
def test_crash_mid_write_leaves_previous_file_intact(tmp_path, monkeypatch, failing_step):
    path = tmp_path / "tokens.json"
    store = FileTokenStore(path)
    with store.locked("123") as locked:
        locked.save(make_record(rt="RT-old-aaaaaaaaaaaa"))
    before = path.read_bytes()

    class Crash(RuntimeError):
        pass

    if failing_step == "write":
        real_write = os.write

        def half_write(fd, data):  # writes some bytes, then dies: a torn write
            real_write(fd, bytes(data[: len(data) // 2]))
            raise Crash("power cut")

        monkeypatch.setattr(ts.os, "write", half_write)
    elif failing_step == "fsync":
        monkeypatch.setattr(ts.os, "fsync", lambda fd: (_ for _ in ()).throw(Crash("power cut")))
    else:
        monkeypatch.setattr(ts.os, "replace", lambda a, b: (_ for _ in ()).throw(Crash("power cut")))

    with pytest.raises(Crash):
        with store.locked("123") as locked:
            locked.save(make_record(rt="RT-new-bbbbbbbbbbbb"))
    monkeypatch.undo()
    assert path.read_bytes() == before  # old content, complete, still valid JSON
    assert store.load("123").refresh_token == "RT-old-aaaaaaaaaaaa"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.json", "tokens.json.lock"]  # no temp left


def test_corrupt_file_gives_clear_error_without_content(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text('{"realms": {"1": {"refresh_token": "' + SECRET_RT + '"')  # truncated
    store = FileTokenStore(path)
    with pytest.raises(TokenStoreError) as info:
        store.load("1")
    assert "authorize" in str(info.value)
    assert SECRET_RT not in str(info.value)


def test_default_paths_survive_meltano_runs(tmp_path):
    meltano = default_token_store_path({"MELTANO_PROJECT_ROOT": str(tmp_path)})
    assert meltano == tmp_path / ".meltano" / "tap-quickbooks-online" / "tokens.json"
    xdg = default_token_store_path({"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert xdg == tmp_path / "cfg" / "tap-quickbooks-online" / "tokens.json"
    home = default_token_store_path({})
    assert home == Path.home() / ".config" / "tap-quickbooks-online" / "tokens.json"


def test_open_token_store_picks_back_end(tmp_path, monkeypatch):
    assert isinstance(open_token_store(str(tmp_path / "t.json")), FileTokenStore)
    sql = open_token_store(f"sqlite:///{tmp_path}/t.db")
    assert isinstance(sql, SqlTokenStore)
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(tmp_path))
    default = open_token_store(None)
    assert isinstance(default, FileTokenStore)
    assert default.path == tmp_path / ".meltano" / "tap-quickbooks-online" / "tokens.json"
    with pytest.raises(TokenStoreError):
        open_token_store("notadialect://x")


def test_record_repr_and_fingerprint_hide_tokens():
    record = make_record()
    assert SECRET_RT not in repr(record) and SECRET_AT not in str(record)
    fp = fingerprint(SECRET_RT)
    assert fp.startswith("sha256:") and SECRET_RT not in fp
    assert fingerprint(SECRET_RT) == fp and fingerprint(SECRET_RT + "x") != fp


def test_remember_keeps_recent_fingerprints_bounded():
    record = TokenRecord("1")
    for i in range(ts.MAX_FINGERPRINTS + 10):
        record.remember(f"token-{i:06d}")
    assert len(record.known_fingerprints) == ts.MAX_FINGERPRINTS
    assert record.knows(f"token-{ts.MAX_FINGERPRINTS + 9:06d}") and not record.knows("token-000000")


def test_sqlite_store_round_trip(tmp_path):
    db = tmp_path / "sub" / "tokens.db"
    store = SqlTokenStore(f"sqlite:///{db}")
    assert mode_of(db) == 0o600
    assert "sqlite" in store.description
    with store.locked("123") as locked:
        assert locked.record is None
        locked.save(make_record())
    with store.locked("123") as locked:
        assert locked.record.refresh_token == SECRET_RT
        record = locked.record
        record.refresh_token = "RT-rotated-cccccccccc"
        record.remember(record.refresh_token)
        locked.save(record)
    loaded = store.load("123")
    assert loaded.refresh_token == "RT-rotated-cccccccccc"
    assert loaded.knows(SECRET_RT) and loaded.knows("RT-rotated-cccccccccc")
    assert store.realm_ids() == ["123"]
    store.delete("123")
    assert store.load("123") is None and store.realm_ids() == []


def test_unreachable_database_fails_clearly_without_password():
    with pytest.raises(TokenStoreError) as info:
        SqlTokenStore("postgresql://user:pa55w0rd-secret@127.0.0.1:1/tokens", lock_timeout=5)
    assert "pa55w0rd-secret" not in str(info.value)
    assert "cannot be opened" in str(info.value) and "refused" in str(info.value) and "***" in str(info.value)


COUNTER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from tap_quickbooks_online.token_store import open_token_store, TokenRecord
    store = open_token_store(sys.argv[1])
    for _ in range(int(sys.argv[2])):
        with store.locked("r1") as locked:
            record = locked.record or TokenRecord("r1", refresh_token="0")
            value = int(record.refresh_token)
            time.sleep(0.002)  # widen the read-modify-write window
            record.refresh_token = str(value + 1)
            locked.save(record)
    """
)


@pytest.mark.parametrize("kind", ["file", "sqlite", "postgresql"])
def test_lock_serializes_read_modify_write_across_processes(request, tmp_path, kind):
    if kind == "postgresql":  # SELECT … FOR UPDATE; the row does not exist at first: first inserts serialize too
        location = request.getfixturevalue("postgres_database")
    else:
        location = str(tmp_path / "tokens.json") if kind == "file" else f"sqlite:///{tmp_path}/tokens.db"
    processes, rounds = 3, 15
    children = [
        subprocess.Popen([sys.executable, "-c", COUNTER_SCRIPT, location, str(rounds)], stderr=subprocess.PIPE)
        for _ in range(processes)
    ]
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err.decode()
    # every increment survived: no lost update, so no process ever read a stale record
    assert open_token_store(location).load("r1").refresh_token == str(processes * rounds)


@pytest.mark.parametrize("round_", range(3))
def test_taps_opening_a_fresh_postgresql_store_at_once_all_start(postgres_database, round_):
    """Taps of several workers starting together on a new shared token store: PostgreSQL's
    CREATE TABLE IF NOT EXISTS is not atomic, so without the creation lock some of them failed
    with a duplicate pg_type key ("cannot be opened")."""
    import threading

    starters = 6
    barrier = threading.Barrier(starters)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait()
            open_token_store(postgres_database)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = open_token_store(postgres_database)
    with store.locked("r1") as locked:
        locked.save(make_record("r1"))
    assert store.load("r1").refresh_token == SECRET_RT


def test_loose_permissions_on_existing_file_are_fixed(tmp_path, caplog):
    path = tmp_path / "tokens.json"
    store = FileTokenStore(path)
    with store.locked("1") as locked:
        locked.save(make_record("1"))
    os.chmod(path, 0o644)
    assert store.load("1").refresh_token == SECRET_RT
    assert mode_of(path) == 0o600
    assert "restricting it to 0600" in caplog.text
