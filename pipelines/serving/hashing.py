"""Keyed hashing of personal identifiers: HMAC-SHA256 with a secret pepper, hex-encoded.

Emails and phone numbers never leave the lakehouse in clear. The export publishes
``HMAC(pepper, normalized value)``; the API hashes a lookup value the same way, so a chatbot can
look a customer up by email or phone although neither is stored. Without the pepper the hashes
cannot be reversed by hashing a list of known emails.

The Spark form is built from native functions (``sha2``, ``concat``, ``unhex``) — no Python UDF —
and is checked against :func:`hmac_hex` in the tests.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the API uses hmac_hex without loading pyspark
    from pyspark.sql import Column

_BLOCK = 64  # SHA-256 block size in bytes (RFC 2104)


def hmac_hex(pepper: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` (UTF-8) keyed with ``pepper``, as 64 lower-case hex digits."""
    return hmac.new(pepper.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).hexdigest()


def _pads(pepper: str) -> tuple[bytes, bytes]:
    key = pepper.encode("utf-8")
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hmac_column(col: Column, pepper: str) -> Column:
    """Spark column: ``hmac_hex(pepper, col)``; null stays null."""
    from pyspark.sql import functions as F

    inner_pad, outer_pad = _pads(pepper)
    inner = F.unhex(F.sha2(F.concat(F.lit(bytearray(inner_pad)), F.encode(col, "UTF-8")), 256))
    return F.sha2(F.concat(F.lit(bytearray(outer_pad)), inner), 256)
