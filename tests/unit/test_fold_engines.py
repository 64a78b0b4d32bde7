"""One fold, two engines: the Spark fold (state.py + finalize.py) and the hot lane's Python
fold (state_local.py + finalize_local.py) give the same finalized profile, field by field,
for random event sets of every type — with re-deliveries, any arrival order, ties on
event_time — and so does the served path: a base folded by Spark, shipped as JSON, merged in
Python with an overlay of the remaining events."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pipelines.profiles import finalize_local, state_local
from pipelines.profiles.finalize import finalize
from pipelines.profiles.rules import FoldParams
from pipelines.profiles.state import fold_events, state_json
from tests.events_factory import events_df, ts
from tests.fold_strategies import events_of

AS_OF = ts("2026-09-01T12:00:00")
# Small bounds so trimming (cart events, categories, order days) is exercised.
PARAMS = FoldParams(cart_events_kept=4, categories_kept=2, order_days_kept=60)
DELTA_LANE_ONLY = {"sessions", "state_hash"}
# Spark-backed examples cost a job each: no shrinking (minutes of Spark jobs on a failure); the
# failing example is printed whole instead.
SPARK_EXAMPLES = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)


def _dedupe(events):
    """Both lanes keep one event per event_id (re-deliveries carry the same content)."""
    return list({e["event_id"]: e for e in events}.values())


def _aware(value):
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
    if isinstance(value, dict):
        return {k: _aware(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_aware(v) for v in value]
    return value


def _same(field, spark_value, local_value):
    if isinstance(spark_value, float) and isinstance(local_value, float):
        assert math.isclose(spark_value, local_value, rel_tol=1e-9, abs_tol=1e-9), field
    else:
        assert spark_value == local_value, (field, spark_value, local_value)


def _spark_profiles(spark, events):
    df = events_df(spark, _dedupe(events))
    rows = finalize(fold_events(df, PARAMS), AS_OF).collect()
    return {r.profile_id: _aware(r.asDict(recursive=True)) for r in rows}


profiles = st.lists(events_of(), min_size=1, max_size=1).flatmap(
    lambda _: st.tuples(*[events_of(profile=f"p{i}") for i in range(6)])
)


@SPARK_EXAMPLES
@given(histories=profiles, seed=st.integers(0, 2**16))
def test_python_fold_equals_spark_fold_field_by_field(spark, histories, seed):
    events = [e for h in histories for e in h]
    expected = _spark_profiles(spark, events)
    rng = random.Random(seed)
    for history in histories:
        pid = history[0]["profile_id"]
        units = [state_local.unit_state(e) for e in _dedupe(history)]
        rng.shuffle(units)  # any merge order: the monoid is commutative
        state = state_local.empty()
        for unit in units:
            state = state_local.merge(state, unit, PARAMS)
        got = finalize_local.finalize(state, AS_OF)
        for field, value in got.items():
            _same(field, expected[pid][field], value)
        assert set(expected[pid]) - set(got) - DELTA_LANE_ONLY >= set(state_local.STATE_FIELDS)


@SPARK_EXAMPLES
@given(histories=profiles, cut=st.floats(0, 1))
def test_spark_base_plus_python_overlay_equals_spark_fold_of_all(spark, histories, cut):
    """The served path: base = Spark fold of the first events (as the JSON the Delta lane
    publishes), overlay = Python units of the rest; finalize(merge(base, overlay)) == Spark's
    profile of everything."""
    events = [e for h in histories for e in h]
    expected = _spark_profiles(spark, events)
    deduped = _dedupe(events)
    split = int(len(deduped) * cut)
    base_events, overlay = deduped[:split], deduped[split:]
    bases = {}
    if base_events:
        states = fold_events(events_df(spark, base_events), PARAMS)
        bases = {
            r.profile_id: json.loads(r.s)
            for r in states.select("profile_id", state_json().alias("s")).collect()
        }
    for pid in expected:
        state = state_local.from_json(bases[pid]) if pid in bases else state_local.empty()
        for e in overlay:
            if e["profile_id"] == pid:
                state = state_local.merge(state, state_local.unit_state(e), PARAMS)
        got = finalize_local.finalize(state, AS_OF)
        for field, value in got.items():
            _same(field, expected[pid][field], value)


@given(events=events_of(max_size=12), seed=st.integers(0, 2**16))
def test_monoid_laws_and_wire_round_trip(events, seed):
    units = [state_local.unit_state(e) for e in _dedupe(events)]
    rng = random.Random(seed)
    a, b, c = (rng.choice(units) for _ in range(3))
    m = state_local.merge
    assert m(m(a, b, PARAMS), c, PARAMS) == m(a, m(b, c, PARAMS), PARAMS)
    assert m(a, b, PARAMS) == m(b, a, PARAMS)
    assert m(a, state_local.empty(), PARAMS) == m(state_local.empty(), a, PARAMS)
    whole = state_local.fold(_dedupe(events), PARAMS)
    assert state_local.from_json(json.loads(json.dumps(state_local.to_json(whole)))) == whole
