"""What one generator run is asked for: the population, the activity window and the messiness.

A run is fully described by a :class:`GeneratorSpec`; the same spec always gives the same bytes.
People are drawn from ``(seed, customers, population_date)`` only, so a later window
(``start`` moved on, new batch name) shows the *same* people doing new things.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

# People are generated in blocks with their own random stream: blocks are independent (so they
# can run in parallel and memory stays bounded) and a block's draws never depend on another's.
BLOCK_SIZE = 10_000
# Peak memory is about 1 GB per block of 10,000 people and 90 days at the default web rate;
# it grows with the window, so long histories are better generated as several batches.
# Blocks written to one part file: 5 blocks = 50,000 people per file and source.
BLOCKS_PER_PART = 5
# Phone numbers and e-mail tokens are built from the person index (see contacts.py); past
# this many people they would no longer be unique.
MAX_CUSTOMERS = 9_999_999

DAY_S = 86_400


@dataclass(frozen=True)
class Shares:
    """Real-world messiness and behaviour knobs (conf ``generator.*``)."""

    messy_email_share: float = 0.3
    duplicate_share: float = 0.02
    invalid_share: float = 0.01
    shared_device_share: float = 0.01
    anonymous_visit_share: float = 0.3
    web_events_per_customer_per_day: float = 0.15
    # Off by default, so the default output stays what it was (docs/sources.md, "Devices").
    mobile_app_share: float = 0.0
    library_pc_share: float = 0.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Shares:
        """Pick the known keys out of conf ``generator`` (other keys such as seed are ignored)."""
        known = {f: float(values[f]) for f in cls.__dataclass_fields__ if f in values}
        shares = cls(**known)
        for name, value in known.items():
            if value < 0 or (name.endswith("_share") and value > 1):
                raise ValueError(f"generator.{name} must be a share in [0, 1], got {value}")
        return shares


@dataclass(frozen=True)
class GeneratorSpec:
    """One run: ``customers`` people observed over ``days`` days from ``start``."""

    seed: int
    customers: int
    start: date
    days: int
    population_date: date | None = None  # anchors signups/churn; defaults to ``start``
    shares: Shares = field(default_factory=Shares)
    block_size: int = BLOCK_SIZE

    def __post_init__(self) -> None:
        if not 1 <= self.customers <= MAX_CUSTOMERS:
            raise ValueError(f"customers must be in [1, {MAX_CUSTOMERS}], got {self.customers}")
        if self.days < 1:
            raise ValueError(f"days must be >= 1, got {self.days}")
        if self.block_size < 1:
            raise ValueError("block_size must be >= 1")

    @property
    def anchor(self) -> date:
        return self.population_date or self.start

    @property
    def n_blocks(self) -> int:
        return -(-self.customers // self.block_size)

    def block_bounds(self, block: int) -> tuple[int, int]:
        """Global person indexes ``[first, last)`` of a block."""
        first = block * self.block_size
        return first, min(first + self.block_size, self.customers)

    @property
    def window_start_s(self) -> int:
        return epoch_s(self.start)

    @property
    def window_end_s(self) -> int:
        return self.window_start_s + self.days * DAY_S

    @property
    def anchor_s(self) -> int:
        return epoch_s(self.anchor)

    @property
    def window_day(self) -> int:
        """Days since 1970-01-01 of the window start; makes record ids unique per window."""
        return self.window_start_s // DAY_S


def epoch_s(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
