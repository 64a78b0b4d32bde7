"""The hot lane's per-event Python cost, stage by stage, on realistic producer messages.

What pipelines/hot/lane.py does per Kafka record, without Kafka or Redis: ``classify`` (the
record check, pipelines/events/validate.py), then the unit state's wire form
(``state_local.unit_state`` → ``to_json`` → ``json.dumps``). Each stage is timed over the same
batch ``repeats`` times; the median µs per event is printed as JSON.

Run: ``PYTHONPATH=. python -m tests.benchmarks.bench_hot_cpu [--events N] [--repeats R]``.
The hot lane's bar (≥ 20,000 events/s on two cores, one lane process per core) leaves about
40 µs of Python per event for all stages together.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from pipelines.config import load_conf
from pipelines.events.envelope import EVENT_TYPES, build_envelope, serialize
from pipelines.events.params import ParseParams
from pipelines.events.producer import synthetic_population
from pipelines.events.validate import classify
from pipelines.profiles import state_local


def messages(n: int, seed: int = 1) -> tuple[list[bytes], int]:
    """``n`` producer messages (random types and customers) and a Kafka timestamp."""
    rng = random.Random(seed)
    pop = synthetic_population(1000, seed)
    now = time.time()
    msgs = [serialize(build_envelope(rng.choice(EVENT_TYPES), rng.choice(pop), rng, now - 10))
            for _ in range(n)]
    return msgs, int(now * 1000)


def _per_event_us(fn: Callable[[], Any], n: int, repeats: int) -> tuple[float, list[float]]:
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        runs.append(1e6 * (time.perf_counter() - t) / n)
    return statistics.median(runs), runs


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    pp = ParseParams.from_conf(load_conf("test"))
    msgs, ts = messages(args.events)
    n = len(msgs)
    # A few are invalid (the producer also uses currencies the test conf has no rate for).
    evs = [e for e, _ in (classify(m, ts, pp, "t/0/1") for m in msgs) if e is not None]
    units = [state_local.unit_state(e) for e in evs]
    wires = [state_local.to_json(u) for u in units]
    dumps = json.dumps
    stages = {
        "classify": lambda: [classify(m, ts, pp, "t/0/1") for m in msgs],
        "unit_state": lambda: [state_local.unit_state(e) for e in evs],
        "to_json": lambda: [state_local.to_json(u) for u in units],
        "json_dumps": lambda: [dumps(w, separators=(",", ":")) for w in wires],
        "unit+json": lambda: [
            dumps(state_local.to_json(state_local.unit_state(e)), separators=(",", ":"))
            for e in evs
        ],
    }
    out: dict[str, Any] = {"events": n, "valid": len(evs), "repeats": args.repeats,
                           "us_per_event": {}, "runs": {}}
    for name, fn in stages.items():
        median, runs = _per_event_us(fn, n, args.repeats)
        out["us_per_event"][name] = round(median, 2)
        out["runs"][name] = [round(r, 2) for r in runs]
    out["us_per_event"]["total"] = round(
        out["us_per_event"]["classify"] + out["us_per_event"]["unit+json"], 2)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
