"""Golden digests of the served base documents: the speed work on the generator/renderer must not
change a single byte unless the data is changed on purpose. Pinned every document of the demo
company (two realms) and a fixed sample of the large one. Regenerated 2026-11-26 for one deliberate
change: documents draw from per-block Mersenne Twister word streams (``generator.stream_words``)
instead of a generator seeded per document (same builders, same draw order, other values); refresh
with ``python sandbox/tests/test_qbo_golden_bytes.py`` only after such a change.
"""
from __future__ import annotations

import hashlib
import random

from qbo_sandbox.generator import CYCLE, SLOTS
from qbo_sandbox.store import Store
from qbo_sandbox.wire import encode

AS_OF = 1_780_000_000.0

GOLDEN_DEMO = {'realm0': {'Bill': 'a130245f9526912c7a2fc5d0',
            'BillPayment': '9c44e6e24da57209cbcf5b20',
            'CreditMemo': '733ce5ec58245df5db33e264',
            'Deposit': 'e8aed258d7f57706bf0f2db2',
            'Estimate': 'd787b0287b90458127b0949b',
            'Invoice': '4e2f8e91e3d0f08991d7d853',
            'JournalEntry': '6dd99acbfbff21a7ddff60ff',
            'Payment': '538dcbf64bcb5db9ba86a64c',
            'Purchase': '70cf745cdf7f0f6d66f07df2',
            'PurchaseOrder': '42b3eadbfe4e71fb5496bde0',
            'RefundReceipt': 'ea41bf1f919654f7dbc568ad',
            'SalesReceipt': 'ccaf78fa087b861fef6648b5',
            'TimeActivity': 'b032c5c0c4b39a3910a10344',
            'Transfer': '38b6395a1e2f4e5267dcc88d',
            'VendorCredit': 'ef97461da4bba4db5407c73a'},
 'realm1': {'Bill': 'acbb75d87a425179be9eb430',
            'BillPayment': 'b2701d500bffdf61e452cf16',
            'CreditMemo': 'd17bd018e59250db474c51b0',
            'Deposit': '4f457333b08b0017a7164c81',
            'Estimate': 'f69b9a8b2b8c88dab2d87c04',
            'Invoice': '472b6d7052040d471024e9be',
            'JournalEntry': '0264efca35a991d57eeb9fa8',
            'Payment': '8d346e4bb501d472c24cb0f3',
            'Purchase': '5a34a4f1f6ae433cbf555850',
            'PurchaseOrder': '6bfd4f05d635e34ac9f9af3e',
            'RefundReceipt': 'a324bb388a3981f3c1970853',
            'SalesReceipt': 'b0761359b27979d4211ff64f',
            'TimeActivity': '1dcb31c2c0b5a51c0f78091b',
            'Transfer': '2a2e91ac585da15300bfeb7f',
            'VendorCredit': '89213973b698b7d460bb1a0c'}}
GOLDEN_LARGE = {'Bill': '56f2fef080b67b134baf571a',
 'BillPayment': '3ebc7217651156a7a781b79e',
 'CreditMemo': 'eb30a6bf72b466331324c968',
 'Deposit': 'a05b726245903eb5aea6403c',
 'Estimate': '5cbfa77806cf119131e8547c',
 'Invoice': '1332aaff9917349fe64d48ca',
 'JournalEntry': '0ccdf0b7d8e04b19ad9de613',
 'Payment': 'ff979352cdabb2d8e1aed933',
 'Purchase': '65a918303241ff824ed932ee',
 'PurchaseOrder': '9c3558d90184b905b5f5cd14',
 'RefundReceipt': 'b29a685f8015982e63874309',
 'SalesReceipt': 'a5e2ca9bd8e3f856623cb0c9',
 'TimeActivity': '6d40c9d74ca21f42a7188035',
 'Transfer': '45578cc60640c78feedced09',
 'VendorCredit': 'e05f759b6bcdfa959a69ebd9'}


def _digests(realm, indices, served: bool) -> dict[str, str]:
    hashes: dict[str, "hashlib._Hash"] = {}
    for i in indices:
        data = realm._base_bytes(i) if served else encode(realm.gen._build(i))
        h = hashes.setdefault(SLOTS[i % CYCLE], hashlib.sha256())
        h.update(data)
        h.update(b"\n")
    return {e: h.hexdigest()[:24] for e, h in sorted(hashes.items())}


def _large_sample(n: int) -> list[int]:
    rng = random.Random(11)
    return sorted(set(range(3 * CYCLE)) | set(rng.sample(range(n), 3000)) | set(range(n - 2 * CYCLE, n)))


def demo_digests() -> dict[str, dict[str, str]]:
    store = Store(2, "demo", 42, as_of=AS_OF)
    out = {}
    for k, rid in enumerate(store.realms()):
        realm = store.realm(rid)
        out[f"realm{k}"] = _digests(realm, range(realm.gen.N), served=False)
    return out


def large_digests() -> dict[str, str]:
    store = Store(1, "large", 42, as_of=AS_OF)
    realm = store.realm(store.realms()[0])
    return _digests(realm, _large_sample(realm.gen.N), served=True)


def test_demo_documents_are_byte_identical_to_the_golden_digests():
    assert demo_digests() == GOLDEN_DEMO


def test_large_served_sample_is_byte_identical_to_the_golden_digests():
    assert large_digests() == GOLDEN_LARGE


if __name__ == "__main__":  # prints the digests (to refresh the constants after a *deliberate* data change)
    import pprint
    pprint.pprint(demo_digests(), width=110)
    pprint.pprint(large_digests(), width=110)
