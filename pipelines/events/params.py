"""What checking an event needs, for both lanes: the money rules and the future tolerance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipelines.config import Conf


@dataclass(frozen=True)
class ParseParams:
    """What ``parse_kafka_records`` needs: the money rules and the future tolerance.

    Attributes:
        rates: units of ``base_currency`` per 1 unit of each currency (conf ``currency.rates``);
            a currency not listed makes an event invalid.
        future_tolerance_s: an event_time later than its Kafka record's timestamp + this is
            rejected (``future_time``).
    """

    base_currency: str = "EUR"
    rates: Mapping[str, float] = field(default_factory=lambda: {"EUR": 1.0})
    future_tolerance_s: float = 600.0

    @classmethod
    def from_conf(cls, conf: Conf) -> ParseParams:
        return cls(
            base_currency=str(conf.get("currency.base")),
            rates={str(k).upper(): float(v) for k, v in conf.get("currency.rates").items()},
            future_tolerance_s=float(conf.get("streaming.future_tolerance_s")),
        )
