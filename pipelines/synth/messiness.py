"""Real-world dirt applied to clean records: messy e-mails, mixed-case labels, invalid rows.

Shares are exact per block (rounded, at least one row when the share is positive) so even a
tiny run shows every kind of mess and a test can rely on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def share_count(n: int, share: float) -> int:
    """Rows a share stands for in a block of ``n`` rows (at least 1 when share > 0)."""
    if n == 0 or share <= 0:
        return 0
    return min(n, max(1, round(share * n)))


def messy_emails(rng: np.random.Generator, emails: pa.Array, share: float) -> pa.Array:
    """Canonical addresses as people and systems really store them: for ``share`` of rows
    capitalized, Title-Cased, UPPER-CASED or padded with spaces (lower-case or Title)."""
    n = len(emails)
    k = share_count(n, share)
    if k == 0:
        return emails
    variant = np.full(n, -1)
    variant[rng.choice(n, k, replace=False)] = rng.integers(0, 5, k)
    title = pc.utf8_title(emails)
    options = (
        pc.utf8_capitalize(emails),
        title,
        pc.utf8_upper(emails),
        pc.binary_join_element_wise("  ", emails, " ", ""),
        pc.binary_join_element_wise(" ", title, "  ", ""),
    )
    out = emails
    for i, option in enumerate(options):
        out = pc.if_else(pa.array(variant == i), option, out)
    return out


def mixed_case(rng: np.random.Generator, labels: pa.Array, upper: float, title: float) -> pa.Array:
    """Labels typed by different agents/integrations: some UPPER, some Title, rest as is."""
    u = rng.random(len(labels))
    out = pc.if_else(pa.array(u < upper), pc.utf8_upper(labels), labels)
    return pc.if_else(pa.array((u >= upper) & (u < upper + title)), pc.utf8_title(labels), out)


def pick_invalid(
    rng: np.random.Generator,
    n: int,
    share: float,
    kinds: Sequence[str],
    eligible: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Choose ``share`` of ``n`` rows to corrupt and a failure kind for each.

    A kind restricted by ``eligible`` (a row mask) falls back to the first kind on rows
    where it makes no sense (e.g. a negative quantity on a row without quantity).
    Returns kind -> sorted row numbers.
    """
    rows = np.sort(rng.choice(n, share_count(n, share), replace=False))
    kind = rng.integers(0, len(kinds), len(rows))
    for name, mask in (eligible or {}).items():
        k = kinds.index(name)
        kind[(kind == k) & ~mask[rows]] = 0
    return {name: rows[kind == i] for i, name in enumerate(kinds)}


def row_mask(n: int, rows: np.ndarray) -> pa.Array:
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return pa.array(mask)


def set_rows(table: pa.Table, column: str, rows: np.ndarray, values: object) -> pa.Table:
    """Replace ``column`` at ``rows`` by ``values`` (a scalar, None, or a full-length array)."""
    if len(rows) == 0:
        return table
    col = table.column(column)
    if values is None:
        values = pa.nulls(len(table), col.type)
    elif not isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = pa.scalar(values, col.type)
    new = pc.if_else(row_mask(len(table), rows), values, col)
    return table.set_column(table.schema.get_field_index(column), column, new)
