"""The champion gate: the registry alias ``champion`` moves to a new churn model version only
when it beats the current champion on the holdout window and passes the fairness check.

Rules (docs/segments.md):
- Performance: the new model's holdout ROC AUC must exceed the champion's AUC on the same
  holdout rows by more than ``min_auc_gain``. With no champion yet, it must beat the
  recency-only baseline by that much instead.
- Fairness over the configured attribute (e.g. country), among groups with at least
  ``min_group_size`` holdout rows: the largest difference between groups in mean churn score
  must be ≤ ``max_score_gap`` and in the share of profiles in the high band (score ≥
  high_from) ≤ ``max_rate_gap``. With fewer than two such groups there is nothing to compare:
  the check passes and says so.
- The decision and its reason are returned, tagged on the model version and logged to the
  run; a rejected model stays registered without the alias.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from pipelines.config import Conf

CHAMPION = "champion"


@dataclass(frozen=True)
class FairnessParams:
    attribute: str = "country"
    min_group_size: int = 30
    max_score_gap: float = 0.15
    max_rate_gap: float = 0.15


@dataclass(frozen=True)
class PromotionParams:
    min_auc_gain: float = 0.0
    fairness: FairnessParams = FairnessParams()

    @classmethod
    def from_conf(cls, conf: Conf) -> PromotionParams:
        p = conf.get("models.churn.promotion")
        f = p.get("fairness")
        return cls(
            min_auc_gain=float(p.get("min_auc_gain")),
            fairness=FairnessParams(
                attribute=str(f.get("attribute")),
                min_group_size=int(f.get("min_group_size")),
                max_score_gap=float(f.get("max_score_gap")),
                max_rate_gap=float(f.get("max_rate_gap")),
            ),
        )


@dataclass
class FairnessReport:
    passed: bool
    reason: str
    score_gap: float | None
    rate_gap: float | None
    groups: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Decision:
    promote: bool
    reason: str
    new_auc: float
    baseline_auc: float
    champion_auc: float | None = None
    champion_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fairness_report(
    groups: Sequence[Any], scores: Sequence[float], high_from: float, params: FairnessParams
) -> FairnessReport:
    """Score and high-band-rate parity of ``scores`` across ``groups`` (rules above)."""
    frame = pd.DataFrame({"g": list(groups), "s": list(scores)}).dropna(subset=["g"])
    frame["high"] = frame["s"] >= high_from
    stats = frame.groupby("g").agg(
        n=("s", "size"), mean_score=("s", "mean"), high_rate=("high", "mean")
    )
    kept = stats[stats["n"] >= params.min_group_size]
    table = {str(g): {k: float(v) for k, v in row.items()} for g, row in stats.iterrows()}
    if len(kept) < 2:
        return FairnessReport(
            True,
            f"fewer than two {params.attribute} groups with ≥ {params.min_group_size} "
            "holdout rows: nothing to compare",
            None,
            None,
            table,
        )
    score_gap = float(kept["mean_score"].max() - kept["mean_score"].min())
    rate_gap = float(kept["high_rate"].max() - kept["high_rate"].min())
    problems = []
    if score_gap > params.max_score_gap:
        problems.append(f"mean score gap {score_gap:.3f} > {params.max_score_gap}")
    if rate_gap > params.max_rate_gap:
        problems.append(f"high-band rate gap {rate_gap:.3f} > {params.max_rate_gap}")
    reason = (
        f"{params.attribute}: " + "; ".join(problems)
        if problems
        else f"{params.attribute}: score gap {score_gap:.3f} ≤ {params.max_score_gap}, "
        f"rate gap {rate_gap:.3f} ≤ {params.max_rate_gap} over {len(kept)} groups"
    )
    return FairnessReport(not problems, reason, score_gap, rate_gap, table)


def decide(
    new_auc: float,
    baseline_auc: float,
    fairness: FairnessReport,
    params: PromotionParams,
    champion_auc: float | None = None,
    champion_version: str | None = None,
) -> Decision:
    """Promote or not, with the reason (rules in the module docstring)."""
    if champion_auc is None:
        bar, against = baseline_auc, "the recency-only baseline"
    else:
        bar, against = champion_auc, f"champion v{champion_version}"
    beats = new_auc > bar + params.min_auc_gain
    perf = (
        f"holdout AUC {new_auc:.4f} {'beats' if beats else 'does not beat'} {against} "
        f"({bar:.4f}{f' + {params.min_auc_gain}' if params.min_auc_gain else ''})"
    )
    fair = ("passes fairness (" if fairness.passed else "fails fairness (") + fairness.reason + ")"
    promote = beats and fairness.passed
    return Decision(
        promote=promote,
        reason=f"{'promoted' if promote else 'kept champion'}: {perf}; {fair}",
        new_auc=new_auc,
        baseline_auc=baseline_auc,
        champion_auc=champion_auc,
        champion_version=champion_version,
    )


def apply_decision(client: Any, model_name: str, version: str, decision: Decision) -> None:
    """Tag the new version with the decision; move the alias only when promoting."""
    client.set_model_version_tag(
        model_name, version, "promotion_decision", "promoted" if decision.promote else "rejected"
    )
    client.set_model_version_tag(model_name, version, "promotion_reason", decision.reason[:5000])
    if decision.promote:
        client.set_registered_model_alias(model_name, CHAMPION, version)


def champion_version(client: Any, model_name: str) -> str | None:
    """The version the ``champion`` alias points at, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException:
        return None
