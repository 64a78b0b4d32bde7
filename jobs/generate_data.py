"""Generate a batch of realistic, messy source files plus the ground truth behind them.

    profilake-generate                                    # conf generator.* defaults
    profilake-generate --customers 100000 --days 90 --seed 7 --workers 2
    profilake-generate --start-date 2026-10-30 --days 1 --batch-name batch-0002   # next day

Writes <out>/<source>/<batch>-part-NNNNN.<ext> for crm, orders, tickets, web and social
(docs/sources.md describes each format) and Parquet truth under <truth> (people,
identifier_person, record_person/<batch>). Defaults come from conf ``generator.*``,
``paths.landing`` and ``paths.ground_truth``. The same arguments always give the same bytes;
people depend only on (seed, customers, population date), so a later window with a new batch
name shows the same people doing new things.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from collections.abc import Iterator
from datetime import date
from functools import partial

from tqdm import tqdm

from pipelines.config import load_conf
from pipelines.synth import (
    BLOCK_SIZE,
    BatchWriter,
    BlockOutput,
    GeneratorSpec,
    Shares,
    generate_block,
    write_examples,
)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="profilake-generate", description=__doc__.split("\n")[0])
    p.add_argument("--env", help="config environment (default: PROFILAKE_ENV or local)")
    p.add_argument("--customers", type=int, metavar="N", help="people (generator.customers)")
    p.add_argument("--days", type=int, metavar="D", help="window length (generator.days)")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (generator.seed)")
    p.add_argument("--start-date", type=date.fromisoformat, metavar="YYYY-MM-DD",
                   help="window start (generator.start_date)")
    p.add_argument("--population-date", type=date.fromisoformat, metavar="YYYY-MM-DD",
                   help="date signups and churn are anchored to (generator.start_date)")
    p.add_argument("--out", metavar="DIR", help="landing folder (paths.landing)")
    p.add_argument("--truth", metavar="DIR", help="ground-truth folder (paths.ground_truth)")
    p.add_argument("--batch-name", default="batch-0001", metavar="NAME",
                   help="file name stem of this batch (default: batch-0001)")
    p.add_argument("--workers", type=int, default=1, metavar="W",
                   help="processes generating blocks of 10,000 people (default: 1)")
    p.add_argument("--block-size", type=int, default=BLOCK_SIZE, metavar="N",
                   help="people per generation block (memory vs. overhead). People are drawn "
                        "per block, so keep the default for batches of one population "
                        f"(default: {BLOCK_SIZE})")
    p.add_argument("--examples", metavar="DIR",
                   help="also write a small curated sample of each source file to DIR "
                        "(how docs/examples is made)")
    p.add_argument("--mobile-app-share", type=float, metavar="S",
                   help="registered people whose main device is the shop's app "
                        "(generator.mobile_app_share)")
    p.add_argument("--library-pc-share", type=float, metavar="S",
                   help="library PCs per own device (generator.library_pc_share)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def _blocks(spec: GeneratorSpec, workers: int) -> Iterator[BlockOutput]:
    """Blocks in order; with several workers they are generated in parallel."""
    if workers <= 1 or spec.n_blocks == 1:
        yield from (generate_block(spec, b) for b in range(spec.n_blocks))
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(partial(generate_block, spec), range(spec.n_blocks))


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    conf = load_conf(args.env)
    g = conf.get("generator")
    start = date.fromisoformat(str(g.get("start_date")))
    spec = GeneratorSpec(
        seed=args.seed if args.seed is not None else int(g.get("seed")),
        customers=args.customers or int(g.get("customers")),
        start=args.start_date or start,
        days=args.days or int(g.get("days")),
        population_date=args.population_date or start,
        shares=Shares.from_mapping({**g.to_dict(), **{
            k: v for k, v in (("mobile_app_share", args.mobile_app_share),
                              ("library_pc_share", args.library_pc_share)) if v is not None}}),
        block_size=args.block_size,
    )
    landing = args.out or conf.path("paths.landing")
    truth = args.truth or conf.path("paths.ground_truth")

    began = time.perf_counter()
    with (
        BatchWriter(landing, truth, args.batch_name, spec) as writer,
        tqdm(total=spec.customers, unit="people", disable=args.quiet) as bar,
    ):
        for block in _blocks(spec, args.workers):
            writer.write(block)
            bar.update(block.people)
    manifest = writer.close()
    seconds = time.perf_counter() - began

    print(f"batch {args.batch_name}: {spec.customers:,} people, {spec.days} days from "
          f"{spec.start}, seed {spec.seed} -> {landing}")
    for source, s in manifest["sources"].items():
        print(f"  {source:<8} {s['rows']:>12,} rows  ({s['duplicates']:,} duplicates, "
              f"{s['invalid']:,} invalid)  {len(s['files'])} file(s)")
    total = sum(s["rows"] for s in manifest["sources"].values())
    print(f"  total    {total:>12,} rows in {seconds:.1f}s; truth in {truth}")
    if args.examples:
        for path in write_examples(landing, truth, args.batch_name, args.examples):
            print(f"  example  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
