"""The tap's Singer output survives a stdout that takes only part of each write.

With PYTHONUNBUFFERED=1, `sys.stdout.buffer` is the raw FileIO: one write(2) per call, which
may write part of the data (a signal during a pipe write, a non-blocking descriptor). Every
byte must still reach the target, in order."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import msgspec

from tap_quickbooks_online.fast_records import SingerOutput, write_all


class StingyRaw(io.RawIOBase):
    """A raw stream that takes at most `step` bytes per call, and sometimes none (None)."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.got = bytearray()
        self.calls = 0

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:  # select() on it: always writable
        return sys.__stderr__.fileno()

    def write(self, data) -> int | None:
        self.calls += 1
        if self.calls % 3 == 0:
            return None  # would block
        chunk = bytes(data[: self.step])
        self.got += chunk
        return len(chunk)


class TextOnly:
    def __init__(self, buffer) -> None:
        self.buffer = buffer

    def flush(self) -> None:
        pass


def test_write_all_writes_every_byte_in_order():
    data = bytes(range(256)) * 1000
    raw = StingyRaw(step=4093)
    write_all(raw, bytearray(data))
    assert bytes(raw.got) == data
    assert raw.calls > len(data) // 4093  # it really took several calls


def test_write_all_one_call_for_a_buffered_writer():
    sink = io.BytesIO()
    write_all(sink, b"abc\n")
    assert sink.getvalue() == b"abc\n"


def test_singer_output_large_and_small_chunks_survive_partial_writes(monkeypatch):
    raw = StingyRaw(step=10_000)
    out = SingerOutput()
    monkeypatch.setattr(sys, "stdout", TextOnly(raw))
    lines = [msgspec.json.encode({"type": "RECORD", "stream": "s", "record": {"i": i, "pad": "x" * (i % 300)}})
             + b"\n" for i in range(5000)]
    expected = bytearray()
    for start in range(0, len(lines), 1000):
        for line in lines[start : start + 500]:  # small messages: through the pending buffer
            out.append(line)
            expected += line
        page = b"".join(lines[start + 500 : start + 1000]) * 3  # a page: written directly
        assert len(page) >= out.limit
        out.append(page)
        expected += page
    out.flush()
    assert bytes(raw.got) == bytes(expected)
    assert out.pending == bytearray()


def test_unbuffered_stdout_pipe_keeps_every_line():
    # A child with PYTHONUNBUFFERED=1 (raw FileIO stdout) writes large pages into a pipe.
    code = (
        "import sys\n"
        "from tap_quickbooks_online.fast_records import OUTPUT, flush_stdout\n"
        "assert type(sys.stdout.buffer).__name__ == 'FileIO', type(sys.stdout.buffer)\n"
        "for p in range(20):\n"
        "    OUTPUT.append(b''.join(b'{\"p\":%d,\"i\":%d,\"pad\":\"%s\"}\\n' % (p, i, b'y' * 200) for i in range(5000)))\n"
        "flush_stdout()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    decoded = [msgspec.json.decode(line) for line in proc.stdout.splitlines()]
    assert [(d["p"], d["i"]) for d in decoded] == [(p, i) for p in range(20) for i in range(5000)]
