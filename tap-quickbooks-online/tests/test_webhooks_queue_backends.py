"""The durable event queue on SQLite (default) and PostgreSQL (shared deployments).

Concurrent deliveries of the same changes (QBO retrying while the first attempt is still being
answered) must queue each change exactly once, and the counts the receiver reports must add up.
PostgreSQL: a fresh database per test in the throw-away cluster of the `ml_testing` pytest plugin
(sandbox package), with psycopg 3.
"""

from __future__ import annotations

import threading

import pytest

from tap_quickbooks_online.webhooks.event_queue import EventQueue
from tap_quickbooks_online.webhooks.events import ChangeEvent


@pytest.fixture(params=["sqlite", "postgresql"])
def queue(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/webhooks.db"
    else:
        url = request.getfixturevalue("postgres_database").replace("postgresql://", "postgresql+psycopg://", 1)
    q = EventQueue.from_url(url)
    assert q.engine.dialect.name == request.param
    yield q
    q.engine.dispose()  # before the database is dropped


def events(start: int, n: int) -> list[ChangeEvent]:
    return [ChangeEvent("r1", "Invoice", str(i), "Update", "2026-01-01T00:00:00.000000Z") for i in range(start, start + n)]


def test_concurrent_retries_queue_each_change_once(queue):
    results = []
    lock = threading.Lock()

    def deliver(batch):
        result = queue.enqueue(batch)
        with lock:
            results.append(result)

    # 8 "deliveries" racing, overlapping pairwise: 0-99, 50-149, … and each sent twice.
    batches = [events(50 * k, 100) for k in range(4)] * 2
    threads = [threading.Thread(target=deliver, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    distinct = 250
    assert sum(r.queued for r in results) == distinct
    assert sum(r.duplicates for r in results) == 800 - distinct
    assert queue.waiting_count() == distinct and len({e["dedup_key"] for e in queue.events()}) == distinct


def test_watermark_run_cycle(queue):
    queue.enqueue(events(0, 10))
    batch = queue.next_batch()
    run_id = queue.start_run(batch)
    queue.set_run_process(run_id, "host-a", 1234)
    assert [r["pid"] for r in queue.unfinished_runs()] == [1234]
    queue.enqueue(events(10, 5))  # during the run
    assert queue.finish_run(run_id, batch, 0) == 10
    assert queue.waiting_count() == 5 and queue.unfinished_runs() == []
    run2 = queue.start_run(queue.next_batch())
    assert queue.mark_interrupted_runs() == 1  # as after a crash
    assert [r["status"] for r in queue.runs()] == ["succeeded", "interrupted"] and run2 > run_id
