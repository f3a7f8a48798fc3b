"""Stream names that are not plain file names stay inside output_dir, one file each."""

from __future__ import annotations

from pathlib import Path

import pytest

from target_tableau_hyper.file_names import AUDIT_FILE_NAME, hyper_file_name

ODD = ["../escape", "crm/customers", "crm_customers", "crm customers", ".hidden", "..", "a\\b", "_audit",
       "x" * 300, "café/ünï"]


def test_plain_names_keep_their_file_name():
    for stream in ("invoices", "invoice_lines", "general_ledger", "crm customers", "café", "a..b", "Invoice-Lines"):
        assert hyper_file_name(stream) == f"{stream}.hyper"


@pytest.mark.parametrize("stream", ODD)
def test_odd_names_get_one_safe_file_name(stream):
    name = hyper_file_name(stream)
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert not name.startswith(".") and name.endswith(".hyper") and name != AUDIT_FILE_NAME
    assert len(name.encode()) <= 255
    assert hyper_file_name(stream) == name  # stable: a rerun writes the same file


def test_names_that_sanitize_alike_never_share_a_file():
    names = {hyper_file_name(s) for s in ["a/b", "a\\b", "a/b/", "/a/b", ".a/b"]}
    assert len(names) == 5
    # a plain name shaped like a hashed one does not take that stream's file
    hashed = hyper_file_name("crm/customers")[: -len(".hyper")]
    assert hyper_file_name(hashed) != hyper_file_name("crm/customers")


def _messages(stream: str, amount: str) -> list:
    return [
        {"type": "SCHEMA", "stream": stream, "key_properties": ["Id"],
         "schema": {"type": "object", "properties": {"Id": {"type": "string"},
                                                     "TotalAmt": {"type": ["number", "null"]}}}},
        f'{{"type": "RECORD", "stream": "{stream.replace(chr(92), chr(92) * 2)}", '
        f'"record": {{"Id": "1", "TotalAmt": {amount}}}}}',
    ]


def test_target_writes_odd_streams_inside_output_dir(run_target, hyper_reader, tmp_path):
    streams = ["../escape", "crm/customers", "crm_customers", "_audit", "a\\b"]
    messages = [m for i, s in enumerate(streams) for m in _messages(s, f"{i + 1}.01")]
    messages.append({"type": "STATE", "value": {"bookmarks": {"done": True}}})
    run = run_target(messages)
    out: Path = run_target.out_dir
    assert run.states == [{"bookmarks": {"done": True}}]
    assert not (tmp_path / "escape.hyper").exists() and not (out / "crm").exists()
    files = {p.name for p in out.iterdir() if p.suffix == ".hyper"}
    for i, stream in enumerate(streams):
        name = hyper_file_name(stream)
        assert name in files
        rows = hyper_reader(out / name)["rows"]
        assert [(r["Id"], str(r["TotalAmt"])) for r in rows] == [("1", f"{i + 1}.01")]
    assert hyper_file_name("crm_customers") == "crm_customers.hyper"  # the plain name is unchanged
