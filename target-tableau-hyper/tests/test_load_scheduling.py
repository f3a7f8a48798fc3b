"""When batches load: quiet streams early, files side by side, each file's batches in order.

The target hands a sink's batch to the loader threads when the stream stayed quiet over a whole
STATE interval (the tap moved on to other streams), loads batches of different .hyper files on
two threads, keeps every file's jobs (table set-up, then its batches) in submission order, and
still emits a STATE only after every sink is drained and committed."""

from __future__ import annotations

import threading

import pytest

from target_tableau_hyper.hyper_store import HyperTable

SCHEMA = {"type": "object", "properties": {"id": {"type": "integer"}, "v": {"type": ["integer", "null"]}}}


def _schema(stream: str) -> dict:
    return {"type": "SCHEMA", "stream": stream, "schema": SCHEMA, "key_properties": ["id"]}


def _rec(stream: str, id_: int, v: int) -> dict:
    return {"type": "RECORD", "stream": stream, "record": {"id": id_, "v": v}}


def _state(n: int) -> dict:
    return {"type": "STATE", "value": {"pos": n}}


def _rows(hyper_reader, path) -> list[tuple]:
    return [(r["id"], r["v"]) for r in hyper_reader(path, order_by='"id"')["rows"]]


def test_quiet_stream_loads_while_later_streams_are_read(run_target, hyper_reader, monkeypatch):
    from target_tableau_hyper.sink import HyperSink
    from target_tableau_hyper.target import TargetTableauHyper

    events: list[str] = []

    original_process_batch = HyperSink.process_batch

    def process_batch(self, context):
        events.append(f"hand over {self.stream_name} ({self.current_size})")
        return original_process_batch(self, context)

    monkeypatch.setattr(HyperSink, "process_batch", process_batch)
    messages = [
        _schema("a"), _rec("a", 1, 1), _rec("a", 2, 2), _rec("a", 3, 3), _state(1),
        _schema("b"), _rec("b", 1, 10), _rec("b", 2, 20), _state(2),
        _rec("b", 3, 30), _state(3),
        _rec("b", 4, 40),
    ]
    # the target's reader calls this for every STATE line, in input order
    original_state = TargetTableauHyper._process_state_message

    def on_state(self, message_dict):
        events.append(f"state {message_dict['value']['pos']}")
        return original_state(self, message_dict)

    monkeypatch.setattr(TargetTableauHyper, "_process_state_message", on_state)
    monkeypatch.setattr(TargetTableauHyper, "IDLE_DRAIN_SECONDS", 0.0)  # no time floor here
    run = run_target(messages)
    # a: quiet from state 1 to state 2 → handed over at state 2, before b's later records
    assert events.index("hand over a (3)") == events.index("state 2") + 1
    assert events.index("hand over a (3)") < events.index("state 3")
    # b got records in every interval: loaded at the end of the input only
    assert events[-1] == "hand over b (4)"
    assert _rows(hyper_reader, run_target.out_dir / "a.hyper") == [(1, 1), (2, 2), (3, 3)]
    assert _rows(hyper_reader, run_target.out_dir / "b.hyper") == [(1, 10), (2, 20), (3, 30), (4, 40)]
    # loading earlier emits no state: the one state comes after everything is committed
    assert run.states == [{"pos": 3}]


def test_interleaved_streams_with_frequent_states_are_not_cut_into_tiny_batches(run_target, hyper_reader, monkeypatch):
    from target_tableau_hyper.sink import HyperSink
    from target_tableau_hyper.target import TargetTableauHyper

    handed: list[tuple[str, int]] = []
    original_process_batch = HyperSink.process_batch

    def process_batch(self, context):
        handed.append((self.stream_name, self.current_size))
        return original_process_batch(self, context)

    monkeypatch.setattr(HyperSink, "process_batch", process_batch)
    # a sink must also be quiet for IDLE_DRAIN_SECONDS: never, within this run
    monkeypatch.setattr(TargetTableauHyper, "IDLE_DRAIN_SECONDS", 3600.0)
    messages = [_schema("a"), _schema("b")]
    for i in range(1, 11):  # a STATE after every record, streams alternating
        messages += [_rec("a", i, i), _state(2 * i), _rec("b", i, i), _state(2 * i + 1)]
    run = run_target(messages)
    assert sorted(handed) == [("a", 10), ("b", 10)]  # one batch each, at the end
    assert len(_rows(hyper_reader, run_target.out_dir / "a.hyper")) == 10
    assert run.states == [{"pos": 21}]


def test_each_files_batches_load_in_order_on_two_threads(run_target, hyper_reader, monkeypatch):
    threads: set[str] = set()
    original_apply = HyperTable.apply

    def apply(self, *args, **kwargs):
        threads.add(threading.current_thread().name)
        return original_apply(self, *args, **kwargs)

    monkeypatch.setattr(HyperTable, "apply", apply)
    messages = [_schema("a"), _schema("b"), _schema("c")]
    for v in range(1, 16):  # one batch per record: each key rewritten 5 times per stream
        for stream in ("a", "b", "c"):
            messages.append(_rec(stream, v % 3, v))
    run = run_target(messages, batch_size_rows=1)
    for stream in ("a", "b", "c"):
        # the last version of each key wins only if the file's batches applied in order
        assert _rows(hyper_reader, run_target.out_dir / f"{stream}.hyper") == [(0, 15), (1, 13), (2, 14)]
        assert run.counts[stream] == {"inserted": 3, "updated": 12, "deleted": 0}
    assert threads and all(name.startswith("hyper-load") for name in threads)


def test_table_setup_runs_on_loader_threads_and_empty_streams_get_their_file(run_target, hyper_reader, monkeypatch):
    setups: list[tuple[str, str]] = []
    original = HyperTable._ensure_in

    def ensure_in(self, conn, columns):
        setups.append((self.stream, threading.current_thread().name))
        return original(self, conn, columns)

    monkeypatch.setattr(HyperTable, "_ensure_in", ensure_in)
    run_target([_schema("empty"), _schema("full"), _rec("full", 1, 1), _state(1)])
    assert sorted(s for s, _ in setups) == ["empty", "full"]
    assert all(name.startswith("hyper-load") for _, name in setups)
    empty = hyper_reader(run_target.out_dir / "empty.hyper")
    assert empty["rows"] == [] and set(empty["columns"]) == {"id", "v"}
    assert _rows(hyper_reader, run_target.out_dir / "full.hyper") == [(1, 1)]


def test_table_setup_shares_the_first_loads_attach(run_target, hyper_reader, monkeypatch):
    """A stream's table is created inside the attach of its first batch (each attach of a file
    costs hyperd its tables' code generation): one attach per file for a stream loaded in one
    batch, one for a stream without records; a schema change mid-run evolves the table before
    the batches sent after it, and the batches before it keep their rows."""
    from target_tableau_hyper.hyper_store import AttachedFile

    attaches: list[str] = []
    original_enter = AttachedFile.__enter__

    def enter(self):
        attaches.append(self.path.rsplit("/", 1)[-1])
        return original_enter(self)

    monkeypatch.setattr(AttachedFile, "__enter__", enter)
    wider = {"type": "object", "properties": {**SCHEMA["properties"], "w": {"type": ["string", "null"]}}}
    messages = [
        _schema("empty"), _schema("full"), _rec("full", 1, 1), _rec("full", 2, 2),
        _schema("evolving"), _rec("evolving", 1, 1), _state(1),
        {"type": "SCHEMA", "stream": "evolving", "schema": wider, "key_properties": ["id"]},
        {"type": "RECORD", "stream": "evolving", "record": {"id": 2, "v": 2, "w": "x"}}, _state(2),
    ]
    run = run_target(messages)
    assert attaches.count("empty.hyper") == 1
    assert attaches.count("full.hyper") == 1
    assert _rows(hyper_reader, run_target.out_dir / "full.hyper") == [(1, 1), (2, 2)]
    evolving = hyper_reader(run_target.out_dir / "evolving.hyper", order_by='"id"')
    assert [(r["id"], r["v"], r["w"]) for r in evolving["rows"]] == [(1, 1, None), (2, 2, "x")]
    assert run.states[-1] == {"pos": 2}


def test_failed_batch_stops_the_later_batches_of_its_file(run_target, hyper_reader, monkeypatch):
    applied: list[str] = []
    original_apply = HyperTable.apply

    def apply(self, *args, **kwargs):
        applied.append(self.stream)
        if self.stream == "a" and applied.count("a") == 1:
            raise RuntimeError("boom in a's first batch")
        return original_apply(self, *args, **kwargs)

    monkeypatch.setattr(HyperTable, "apply", apply)
    messages = [_schema("a"), *[_rec("a", i, i) for i in range(1, 6)], _state(1)]
    with pytest.raises(RuntimeError, match="boom"):
        run_target(messages, batch_size_rows=1)
    assert applied.count("a") == 1  # batches 2..5 of a.hyper never ran after batch 1 failed
    assert hyper_reader(run_target.out_dir / "a.hyper")["rows"] == []
