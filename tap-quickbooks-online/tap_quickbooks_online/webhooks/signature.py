"""The `intuit-signature` check: base64(HMAC-SHA256(key=verifier token, msg=raw body)).

Done on the raw bytes exactly as received, before anything parses them; the comparison is
constant-time (`hmac.compare_digest`) so a forger learns nothing from response timing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SIGNATURE_HEADER = "intuit-signature"


def sign(body: bytes, verifier_token: str) -> str:
    """The header value QBO sends for `body` (also what tests and replays need)."""
    digest = hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(body: bytes, signature: str | None, verifier_token: str) -> bool:
    """True only when `signature` is the exact signature of `body` under the verifier token."""
    if not signature or not verifier_token:
        return False
    expected = sign(body, verifier_token).encode("ascii")
    try:
        given = signature.strip().encode("ascii")
    except UnicodeEncodeError:  # a header with non-ASCII text cannot be a base64 signature
        return False
    return hmac.compare_digest(expected, given)
