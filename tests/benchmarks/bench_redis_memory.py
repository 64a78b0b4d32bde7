"""Redis memory per served profile, per overlay entry, and Redis CPU per cached read.

No Spark: ``n`` synthetic people (``pipelines.events.producer.synthetic_population``) get
``EVENTS_PER_PROFILE`` producer events each, spread over 400 days; each event is checked
(``events/validate.classify``) and folded with the hot lane's Python fold
(``profiles/state_local``, property-tested against Spark's), finalized
(``profiles/finalize_local``) and rendered as its export document (``serving/export_row``),
with a ``base_state`` and ``covered_offsets`` shaped as ``serving/export.py`` writes them
(``covered_offsets`` lists every partition of the topic: ``PARTITIONS``). The rows are loaded
with the cache's own full refresh (``serving/cache.full_refresh``, the nightly's path) under a
scratch key prefix, then one overlay entry per profile is written in the hot lane's layout
(``P:o:<profile_id>``, ``e:<event_id>`` → ``pk \\t offset \\t arrival_ms \\t record``,
pipelines/hot/overlay.py) and every profile is read once through the cache's read script.

Figures: ``INFO memory`` ``used_memory`` before/after each step divided by the rows, the
``MEMORY USAGE`` of the keys of one profile, and Redis' ``evalsha`` µs per read
(``INFO commandstats``). Every key of the scratch prefix is deleted at the end.

Run: ``python -m tests.benchmarks.run --only bench_redis_memory`` (``full``: 20,000 profiles);
or ``python -m tests.benchmarks.bench_redis_memory [--profiles N] [--partitions P]`` for one
row as JSON. Redis must be idle for the deltas to mean anything (the local env's Redis).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pipelines.config import Conf, load_conf, overridden
from pipelines.events.envelope import EVENT_TYPES, build_envelope, serialize
from pipelines.events.params import ParseParams
from pipelines.events.producer import synthetic_population
from pipelines.events.validate import classify
from pipelines.profiles import finalize_local, state_local
from pipelines.profiles.rules import FoldParams
from pipelines.services.redis_server import client as redis_client
from pipelines.serving import cache
from pipelines.serving.export_row import export_document
from pipelines.serving.params import ExportParams
from pipelines.serving.records import BASE, COVERED

EVENTS_PER_PROFILE = 20  # the nightly benchmark's ~19.5 and the ingest's ~18.8 per customer
PARTITIONS = (4, 24)  # covered_offsets has one line per topic partition
TOPIC = "profilake.events"
SIZES = {"small": 2000, "full": 20000}


def _used(r: Any) -> int:
    return int(r.info("memory")["used_memory"])


def _evalsha_usec(r: Any) -> tuple[int, int]:
    stats = r.info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


def _records(conf: Conf, n: int, partitions: int, seed: int = 11) -> tuple[list[dict], list]:
    """Export records (as ``export_records`` yields them) and one Kafka record per profile."""
    parse, fold, params = (
        ParseParams.from_conf(conf),
        FoldParams.from_conf(conf),
        ExportParams.from_conf(conf),
    )
    rng = random.Random(seed)
    now = time.time()
    at = datetime.fromtimestamp(now, UTC)
    covered = "\n".join(f"{TOPIC}:{p}={rng.randrange(10**8, 10**9)}" for p in range(partitions))
    records, overlay = [], []
    for i, person in enumerate(synthetic_population(n, seed)):
        state = state_local.empty()
        identifiers: dict[str, set[str]] = {}
        for _ in range(EVENTS_PER_PROFILE):
            msg = serialize(
                build_envelope(
                    rng.choice(EVENT_TYPES), person, rng, now - rng.uniform(60, 400 * 86400)
                )
            )
            event, _ = classify(msg, int(now * 1000), parse, f"{TOPIC}/0/{i}")
            if event is None:
                continue
            state = state_local.merge(state, state_local.unit_state(event), fold)
            for kind, value in (event["identifiers"] or {}).items():
                if value:
                    identifiers.setdefault(kind, set()).add(value)
        profile = finalize_local.finalize(state, at)
        pid = f"p_{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}"
        profile.update(
            profile_id=pid,
            version=EVENTS_PER_PROFILE,
            updated_at=at,
            as_of=at,
            last_seen=state["last_seen"],
            last_contact_at=state["last_contact_at"],
            identifiers={k: sorted(v) for k, v in identifiers.items()},
        )
        segments = {
            "rule_segments": ["loyal", "high_value"],
            "cluster_name": "engaged buyers",
            "churn_score": round(rng.random(), 4),
            "churn_band": "low",
            "rfm_label": "champions",
            "as_of": at.isoformat(),
        }
        record = export_document(profile, params, at, segments)
        record[BASE] = json.dumps(
            {"state": state_local.to_json(state), "segments": segments},
            separators=(",", ":"),
            default=str,
        )
        record[COVERED] = covered
        records.append(record)
        live = serialize(build_envelope("add_to_cart", person, rng, now))
        overlay.append((pid, json.loads(live)["event_id"], live))
    return records, overlay


def measure(conf: Conf, n: int, partitions: int) -> dict[str, Any]:
    prefix = "bench-mem-" + uuid.uuid4().hex[:8]
    conf = overridden(conf, {"cache.prefix": prefix})
    r = redis_client(conf)
    records, overlay = _records(conf, n, partitions)
    try:
        before = _used(r)
        cache.full_refresh(conf, records)
        after_rows = _used(r)
        pid = records[0]["profile_id"]
        row_key = f"{prefix}:g{r.get(f'{prefix}:ptr:gen').decode()}:p:{pid}"
        id_keys = [k for k in r.scan_iter(match=f"{prefix}:g*:i:*", count=1000)]
        pipe = r.pipeline(transaction=False)
        for k in id_keys:
            pipe.memory_usage(k, samples=0)
        id_sizes = pipe.execute()
        pipe = r.pipeline(transaction=False)
        arrival = int(time.time() * 1000)
        for j, (opid, event_id, value) in enumerate(overlay):
            entry = f"{TOPIC}:{j % partitions}\t{10**9 + j}\t{arrival}\t".encode() + value
            pipe.hset(
                f"{prefix}:o:{opid}",
                mapping={f"e:{event_id}": entry, "_v": EVENTS_PER_PROFILE + 1, "_t": arrival},
            )
        pipe.execute()
        after_overlay = _used(r)
        calls0, usec0 = _evalsha_usec(r)
        script = r.register_script(cache.READ_SCRIPT)
        started = time.perf_counter()
        for record in records:
            script(args=[prefix, "p", record["profile_id"], 5])
        read_s = time.perf_counter() - started
        calls1, usec1 = _evalsha_usec(r)
        doc_bytes = [len(cache.payload(rec)) for rec in records]
        return {
            "name": f"redis_memory_{partitions}p",
            "profiles": n,
            "partitions_in_covered_offsets": partitions,
            "identifier_keys": len(id_keys),
            "bytes_per_profile_row_and_ids": round((after_rows - before) / n),
            "profile_row_key_bytes": r.memory_usage(row_key, samples=0),
            "identifier_key_bytes_median": int(statistics.median(id_sizes)) if id_sizes else 0,
            "document_bytes_median": int(statistics.median(doc_bytes)),
            "base_state_bytes_median": int(statistics.median(len(x[BASE]) for x in records)),
            "covered_offsets_bytes": len(records[0][COVERED]),
            "bytes_per_overlay_entry": round((after_overlay - after_rows) / n),
            "overlay_record_bytes_median": int(statistics.median(len(v) for _, _, v in overlay)),
            "redis_us_per_read": round((usec1 - usec0) / max(1, calls1 - calls0), 1),
            "client_ms_per_read": round(1000 * read_s / n, 3),
        }
    finally:
        cache.drop_prefix(r, prefix)


def run(ctx) -> list[dict]:
    n = SIZES.get(ctx.scale, SIZES["small"])
    return [measure(ctx.conf, n, p) for p in PARTITIONS]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default=None)
    ap.add_argument("--profiles", type=int, default=SIZES["small"])
    ap.add_argument("--partitions", type=int, nargs="*", default=list(PARTITIONS))
    args = ap.parse_args(argv)
    conf = load_conf(args.env)
    for p in args.partitions:
        print(json.dumps(measure(conf, args.profiles, p)))


if __name__ == "__main__":
    main()
