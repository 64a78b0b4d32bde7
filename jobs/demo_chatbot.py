"""Chatbot demo: export → Redis → read API (child process) → two customers, two answers.

    python -m jobs.demo_chatbot [--env local]

Uses the lakehouse's profiles table when there is one (run after the pipeline), else 200
sample profiles (pipelines/serving/samples.py). Starts Redis if needed, exports, starts the API
on ``api.port`` with a one-off key, then sends the same messages as two customers: a premium
customer with a cart and an at-risk customer with an open ticket get different answers.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pipelines.config import Conf, load_conf

MESSAGES = ("hi, where is my order?", "can you help me with my cart?")


def _pick_customers(export) -> list[str]:
    """Customer ids of a premium customer with a cart and of an at-risk one with a ticket."""
    from pyspark.sql import functions as F

    cid = F.col("lookup_ids")["customer_id"][0]
    usable = export.where(F.col("personalization_allowed") & cid.isNotNull())
    with_cart = usable.where(F.size("cart") > 0).orderBy(
        (F.col("account_tier") != "premium").cast("int"), "profile_id"
    )
    at_risk = usable.where("open_tickets > 0").orderBy(
        (~F.exists("next_best_actions", lambda a: a["name"] == "escalate_at_risk_high_value")).cast(
            "int"
        ),
        "profile_id",
    )
    picked = [r[0] for df in (with_cart, at_risk) for r in df.select(cid).limit(1).collect()]
    if len(picked) < 2:
        picked = [r[0] for r in usable.select(cid).orderBy(cid).limit(2).collect()]
    return picked


def demo(conf: Conf | None = None, out: Callable[[str], Any] = print) -> list[dict[str, Any]]:
    """Run the demo on ``conf`` (default: PROFILAKE_ENV's); returns the exchanges."""
    from delta.tables import DeltaTable

    from jobs.export_chatbot import run_export
    from pipelines.catalog import Catalog
    from pipelines.chatbot.bot import ApiClient, ChatBot, converse
    from pipelines.services import redis_server
    from pipelines.serving import cache
    from pipelines.serving.export import build_export
    from pipelines.serving.params import ExportParams
    from pipelines.serving.publish import write_export
    from pipelines.serving.records import export_records
    from pipelines.serving.samples import sample_profiles, sample_segments
    from pipelines.serving.server import api_process
    from pipelines.session import get_spark

    conf = conf or load_conf()
    redis_server.start(conf)
    spark = get_spark(conf, "profilake-demo-chatbot")
    catalog = Catalog(conf)
    now = datetime.now(UTC)
    if DeltaTable.isDeltaTable(spark, catalog.path("profiles")):
        out("exporting the lakehouse's profiles …")
        out(f"  {run_export(spark, conf, now)}")
    else:
        out("no profiles table yet: exporting 200 sample profiles …")
        naive = now.replace(tzinfo=None)
        params = ExportParams.from_conf(conf)
        export = build_export(
            sample_profiles(spark, 200, naive),
            sample_segments(spark, 200, naive),
            params,
            exported_at=now,
        )
        write_export(
            catalog,
            export,
            rows_per_file=params.rows_per_file,
            row_group_bytes=params.row_group_bytes,
        )
        written = spark.read.format("delta").load(catalog.path("chatbot_export"))
        cache.full_refresh(conf, export_records(written))
    customers = _pick_customers(spark.read.format("delta").load(catalog.path("chatbot_export")))
    key = secrets.token_urlsafe(24)
    exchanges = []
    with api_process(conf, key) as handle:
        url = handle.url
        out(f"read API up at {url} (docs: {url}/docs, chat page: {url}/chat)")
        api = ApiClient.connect(url, key)
        bot = ChatBot(str(conf.get("chatbot.default_language")))
        for customer in customers:
            profile = api.lookup("customer_id", customer) or {}
            out(
                f"\n── customer {customer}: tier={profile.get('account_tier')} "
                f"language={profile.get('language')} churn={profile.get('churn_band')} "
                f"open_tickets={profile.get('open_tickets')} "
                f"cart_value={profile.get('cart_value')} "
                f"(v{profile.get('profile_version')}, {profile.get('source')}, "
                f"staleness {profile.get('staleness_s')}s)"
            )
            for message in MESSAGES:
                reply = converse(api, bot, "customer_id", customer, message)
                out(f"  customer: {message}")
                out(f"  bot:      {reply.text}")
                out(f"            [intent={reply.intent} handover={reply.handover} "
                    f"actions={','.join(reply.actions) or '-'}]")  # fmt: skip
                exchanges.append({"customer_id": customer, "message": message, **reply.as_dict()})
    return exchanges


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="profilake-demo-chatbot", description=__doc__.split("\n")[0])
    p.add_argument("--env")
    args = p.parse_args(argv)
    demo(load_conf(args.env))
    return 0


if __name__ == "__main__":
    sys.exit(main())
