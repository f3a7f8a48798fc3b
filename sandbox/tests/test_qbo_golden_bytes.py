"""Golden digests of the served base documents: the speed work on the generator/renderer must not
change a single byte. The digests were computed from the code before that work (commit 42e9ed7)
and pin every document of the demo company (two realms) and a fixed sample of the large one."""
from __future__ import annotations

import hashlib
import random

from qbo_sandbox.generator import CYCLE, SLOTS
from qbo_sandbox.store import Store
from qbo_sandbox.wire import encode

AS_OF = 1_780_000_000.0

GOLDEN_DEMO = {'realm0': {'Bill': '20445769ff20bee9caa02263',
            'BillPayment': '9adae24f5b0a0e51e44f8f4b',
            'CreditMemo': 'c60cbf34a98741845cc7b6d6',
            'Deposit': '66bca41ae8396537b8719bf2',
            'Estimate': '6815b1bf62d6af7a98ae51b3',
            'Invoice': 'bc8d6e64d89849be4ea3b94c',
            'JournalEntry': 'f44fc66382b7ef5a6bc156ef',
            'Payment': 'd611040a3f0ba9463ff6a32d',
            'Purchase': 'c54fe300df9f86a4f73ef789',
            'PurchaseOrder': '89c6c7a7f84f693ec2c877c3',
            'RefundReceipt': '7dfdb69663bd262f7e9cd382',
            'SalesReceipt': 'd1d3718c939c109644c327ca',
            'TimeActivity': 'dbe5f281f883f7399e4d7663',
            'Transfer': 'a104352be93897f3e31ee325',
            'VendorCredit': '99c83c709bf719c99481f9fa'},
 'realm1': {'Bill': 'cd52e0eb5d4c2035fb357642',
            'BillPayment': '17ec7bebb56f33c8acfb4cae',
            'CreditMemo': 'd04103b88209097cefce8bef',
            'Deposit': '20439ea9ef79700dae82c54a',
            'Estimate': 'c5703c3783e082bc562df77e',
            'Invoice': '0974df0442961307f2c9922a',
            'JournalEntry': '70698b83ae8dd8aa43a5108f',
            'Payment': '44f488c6094d912be7e0f3cc',
            'Purchase': '92d40da95ddc08c0a1bead37',
            'PurchaseOrder': 'dea393b81ec042c245024375',
            'RefundReceipt': '3b843a37c62de53bfc3b6071',
            'SalesReceipt': '56a918ebaebc1eedceb831c1',
            'TimeActivity': '394dd2522c9b8d8c37c6ec87',
            'Transfer': 'dc92e16a2961659073ea3d2b',
            'VendorCredit': '78086c5f18481823c796941a'}}
GOLDEN_LARGE = {'Bill': 'da8b1f901b483c453fe7d7e4',
 'BillPayment': '538a9ce251485afeefb7f7a6',
 'CreditMemo': '21742d111e9a0c6683b4651b',
 'Deposit': '57071632cc25f387b7fa88f4',
 'Estimate': 'e0ad604cb80cc5475926ebf1',
 'Invoice': '6426dd7fe0a7e80bd6e30e2a',
 'JournalEntry': '4e8dbb26d6d2194ca4cc733e',
 'Payment': '08c80ad7f83fbd93e09d2334',
 'Purchase': 'bd93443e61ad22aa5cde333d',
 'PurchaseOrder': '56d96ea2dac656182dc8799c',
 'RefundReceipt': 'bdeecc9adf36d5be5eead3a3',
 'SalesReceipt': '02a7cbb1ada7dd036df876e0',
 'TimeActivity': '8e67d613b1afe9557a56a596',
 'Transfer': 'dc4e5407471dcf7b901b5a88',
 'VendorCredit': '2a2b1d1a2607762b3c74e4e7'}


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
