"""Feature settings (``features:`` in conf/base.yaml) as one typed object."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.config import Conf, ConfigError


@dataclass(frozen=True)
class FeatureParams:
    """Windows, half-lives and the business vocabulary the feature definitions use.

    Attributes:
        order_windows: days ending on as_of (inclusive) → ``orders_<N>d``, ``spend_<N>d``.
        activity_windows: → ``tickets_<N>d``, ``sessions_<N>d``, ``product_views_<N>d``,
            ``cart_adds_<N>d``.
        top_categories / top_categories_window: the K categories with most interactions in
            the last N days.
        engagement_half_life / spend_half_life: days after which an event weighs half.
        escalation_statuses / escalation_priorities / resolved_statuses: lower-case values.
        rfm_frequency_column / rfm_monetary_column: what F and M score.
        rfm_quantile_error: relative error of the quintile cut points (0 = exact).
    """

    order_windows: tuple[int, ...] = (30, 90, 365)
    activity_windows: tuple[int, ...] = (30, 90)
    top_categories: int = 3
    top_categories_window: int = 90
    engagement_half_life: float = 14.0
    spend_half_life: float = 60.0
    escalation_statuses: tuple[str, ...] = ("escalated",)
    escalation_priorities: tuple[str, ...] = ("urgent", "p1")
    resolved_statuses: tuple[str, ...] = ("solved", "closed", "resolved")
    rfm_frequency_column: str = "orders_lifetime"
    rfm_monetary_column: str = "spend_lifetime"
    rfm_quantile_error: float = 0.001

    def __post_init__(self) -> None:
        windows = (*self.order_windows, *self.activity_windows, self.top_categories_window)
        if any(int(w) < 1 for w in windows):
            raise ConfigError("features: every window must be at least 1 day")
        if self.engagement_half_life <= 0 or self.spend_half_life <= 0:
            raise ConfigError("features: half-lives must be positive")

    @classmethod
    def from_conf(cls, conf: Conf) -> FeatureParams:
        f = conf.get("features")
        lower = lambda key: tuple(str(v).lower() for v in f.get(key))  # noqa: E731
        return cls(
            order_windows=tuple(int(w) for w in f.get("order_windows_days")),
            activity_windows=tuple(int(w) for w in f.get("activity_windows_days")),
            top_categories=int(f.get("top_categories")),
            top_categories_window=int(f.get("top_categories_window_days")),
            engagement_half_life=float(f.get("engagement_half_life_days")),
            spend_half_life=float(f.get("spend_half_life_days")),
            escalation_statuses=lower("escalation_statuses"),
            escalation_priorities=lower("escalation_priorities"),
            resolved_statuses=lower("resolved_statuses"),
            rfm_frequency_column=str(f.get("rfm_frequency_column")),
            rfm_monetary_column=str(f.get("rfm_monetary_column")),
            rfm_quantile_error=float(f.get("rfm_quantile_error")),
        )
