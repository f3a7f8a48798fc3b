"""The input catalog loses only entries of streams the run does not sync (`catalog_input`):
the tap resolves selection, parents and schemas exactly as with the whole catalog."""

from __future__ import annotations

import copy
import io
import json
from contextlib import redirect_stdout

import pytest
from singer_sdk.singerlib.catalog import Catalog

from tap_quickbooks_online.catalog_input import root_selected, synced_entries
from tap_quickbooks_online.fast_records import flush_stdout
from tap_quickbooks_online.tap import LINE_PARENTS, TapQuickBooksOnline

CONFIG = {"client_id": "c", "client_secret": "s", "refresh_token": "r", "realm_ids": ["9"]}


def discovered() -> dict:
    return TapQuickBooksOnline(config=CONFIG).catalog_dict


def select(catalog: dict, names: set[str]) -> dict:
    catalog = copy.deepcopy(catalog)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in names
    return catalog


def view(tap) -> dict:
    """What the run does with each stream: selection, parents, keys, schema it writes."""
    return {name: (stream.selected, stream.has_selected_descendents,
                   list(stream.primary_keys or ()), stream.replication_key,
                   json.dumps(stream.effective_schema, sort_keys=True)
                   if stream.selected or stream.has_selected_descendents else None)
            for name, stream in tap.streams.items()}


@pytest.mark.parametrize("names", [
    {"invoices", "invoice_lines", "bills", "bill_lines"},
    {"invoice_lines"},                          # a line stream without its parent selected
    {"customers", "profit_and_loss"},
    set(),
])
def test_same_streams_synced_as_with_the_whole_catalog(names):
    catalog = select(discovered(), names)
    pruned = TapQuickBooksOnline(config=CONFIG, catalog=copy.deepcopy(catalog))
    whole = TapQuickBooksOnline(config=CONFIG, catalog=Catalog.from_dict(copy.deepcopy(catalog)))
    kept = {entry.tap_stream_id for entry in pruned.input_catalog.streams}
    # (nothing selected: one unselected entry, so the catalog is not empty)
    assert kept == (names | {LINE_PARENTS[n] for n in names if n in LINE_PARENTS}
                    or {catalog["streams"][0]["tap_stream_id"]})
    assert len(whole.input_catalog.streams) > len(kept)
    assert view(pruned) == view(whole)
    assert [s.name for s in pruned.streams.values() if s.selected] == sorted(
        names, key=list(pruned.streams).index)


def test_catalog_path_is_read_and_pruned(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(select(discovered(), {"payments"})))
    tap = TapQuickBooksOnline(config=CONFIG, catalog=str(path))
    assert [e.tap_stream_id for e in tap.input_catalog.streams] == ["payments"]
    assert tap.streams["payments"].selected and not tap.streams["invoices"].selected


def test_root_selection_as_the_sdk_resolves_it():
    entry = {"metadata": [{"breadcrumb": [], "metadata": {"inclusion": "automatic",
                                                           "selected": False}}]}
    assert root_selected(entry) is True
    entry = {"metadata": [{"breadcrumb": [], "metadata": {"selected-by-default": True}}]}
    assert root_selected(entry) is True
    entry = {"metadata": [{"breadcrumb": [], "metadata": {"inclusion": "unsupported",
                                                           "selected": True}}]}
    assert root_selected(entry) is False
    assert root_selected({"metadata": []}) is True
    # no root entry, or two: not told here, so the entry is kept
    assert root_selected({"metadata": [{"breadcrumb": ["properties", "Id"],
                                        "metadata": {"selected": False}}]}) is None
    assert root_selected({"schema": {}}) is None


def test_untold_entries_are_kept():
    catalog = {"streams": [
        {"tap_stream_id": "a", "metadata": [{"breadcrumb": [], "metadata": {"selected": False}}]},
        {"tap_stream_id": "b", "metadata": [{"breadcrumb": ["properties", "x"],
                                             "metadata": {}}]},
        {"tap_stream_id": "c", "metadata": []},
    ]}
    assert [e["tap_stream_id"] for e in synced_entries(catalog, {})["streams"]] == ["b", "c"]
    assert synced_entries({"streams": "odd"}, {}) == {"streams": "odd"}


def test_streams_left_out_get_stream_maps_for_a_run_selecting_all():
    tap = TapQuickBooksOnline(config=CONFIG, catalog=select(discovered(), {"payments"}))
    left_out = [s for s in tap.streams.values() if s.name not in tap.mapper.stream_maps]
    assert left_out
    tap.map_streams_left_out()  # (run_connection_test does this first)
    for stream in tap.streams.values():
        stream.selected = True  # as the SDK's dry run does
        assert stream.stream_maps[0].stream_alias == stream.name


def test_schemas_of_every_stream_written_with_a_trimmed_catalog():
    """`--test=schema` (write_schemas) marks every stream selected: the left-out ones too."""
    tap = TapQuickBooksOnline(config=CONFIG, catalog=select(discovered(), {"invoices"}))
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with redirect_stdout(out):
        tap.write_schemas()
        flush_stdout()
    out.seek(0)
    written = [json.loads(line) for line in out.buffer.read().splitlines()]
    whole = TapQuickBooksOnline(config=CONFIG)
    assert [m["stream"] for m in written if m["type"] == "SCHEMA"] == list(whole.streams)
