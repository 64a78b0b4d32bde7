"""Record and device identifiers that are unique by construction and look random.

An id is a 64-bit composite (kind, window day, block, sequence) pushed through the splitmix64
finalizer, which is a bijection on 64-bit integers: distinct composites give distinct ids, so
no two records, sessions or devices ever collide, across blocks, windows and reruns — without
any shared counter between blocks.

Id strings are assembled as fixed-width byte matrices and handed to Arrow without a Python
loop: the web source alone needs tens of millions of them.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import pyarrow as pa

_SEQ_BITS = 28
_BLOCK_BITS = 16
_DAY_BITS = 16
_HEX_LOWER = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HEX_UPPER = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)


class Kind(IntEnum):
    """Namespace of a composite id (4 bits)."""

    DEVICE = 1
    ANON = 2
    WEB_EVENT = 3
    SESSION = 4
    ORDER = 5
    TICKET = 6
    SOCIAL = 7


def mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: an invertible scramble of uint64 values (wraps on overflow)."""
    z = np.asarray(values).astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def record_ids(kind: Kind, window_day: int, block: int, count: int) -> np.ndarray:
    """``count`` scrambled ids for records of one block in one window."""
    if count >= 1 << _SEQ_BITS:
        raise ValueError(f"too many records ({count}) in one block: lower the block size")
    if block >= 1 << _BLOCK_BITS or not 0 <= window_day < 1 << _DAY_BITS:
        raise ValueError("block or window day out of id range")
    base = (
        (int(kind) << (_DAY_BITS + _BLOCK_BITS + _SEQ_BITS))
        | (window_day << (_BLOCK_BITS + _SEQ_BITS))
        | (block << _SEQ_BITS)
    )
    return mix64(np.uint64(base) + np.arange(count, dtype=np.uint64))


def person_ids(kind: Kind, person_index: np.ndarray, slot: np.ndarray | int) -> np.ndarray:
    """Scrambled ids owned by a person (up to 16 slots each, e.g. own devices, cookies)."""
    composite = (
        (np.uint64(int(kind)) << np.uint64(60))
        | (np.asarray(person_index).astype(np.uint64) << np.uint64(4))
        | np.asarray(slot, dtype=np.uint64)
    )
    return mix64(composite)


def _strings(matrix: np.ndarray, valid: np.ndarray | None) -> pa.Array:
    """Rows of a (n, width) uint8 matrix as an Arrow string array (zero-copy)."""
    n, width = matrix.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(matrix))]
    null_count = 0
    if valid is not None and not valid.all():
        buffers[0] = pa.py_buffer(np.packbits(valid, bitorder="little"))
        null_count = int((~valid).sum())
    return pa.Array.from_buffers(pa.string(), n, buffers, null_count=null_count)


def hex_column(prefix: str, values: np.ndarray, valid: np.ndarray | None = None,
               upper: bool = False) -> pa.Array:
    """``prefix`` + 16 hex digits of each uint64 value; null where ``valid`` is False."""
    values = np.asarray(values, dtype=np.uint64)
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    raw = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    digits = _HEX_UPPER if upper else _HEX_LOWER
    matrix = np.empty((len(values), len(head) + 16), dtype=np.uint8)
    matrix[:, : len(head)] = head
    matrix[:, len(head)::2] = digits[raw >> 4]
    matrix[:, len(head) + 1::2] = digits[raw & 15]
    return _strings(matrix, valid)


def decimal_column(prefix: str, numbers: np.ndarray, width: int,
                   valid: np.ndarray | None = None) -> pa.Array:
    """``prefix`` + zero-padded decimal, e.g. ("C", [123], 7) -> "C0000123"."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if len(numbers) and numbers.max(initial=0) >= 10**width:
        raise ValueError(f"numbers do not fit in {width} digits")
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    matrix = np.empty((len(numbers), len(head) + width), dtype=np.uint8)
    matrix[:, : len(head)] = head
    matrix[:, len(head):] = (numbers[:, None] // powers) % 10 + 48
    return _strings(matrix, valid)
