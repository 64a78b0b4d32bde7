"""Wiring: the nightly export job and the CLI chatbot against a real API process."""

from __future__ import annotations

from datetime import datetime

import pytest

from jobs.export_chatbot import run_export
from pipelines.catalog import Catalog
from pipelines.config import Conf
from pipelines.profiles.build import with_identifiers
from pipelines.profiles.finalize import finalize
from pipelines.profiles.state import fold_events
from pipelines.profiles.store import write_profiles
from pipelines.serving import cache
from tests.events_factory import event, events_df, ts
from tests.helpers import free_port

PID = "p_00000000000000a1"


@pytest.mark.slow
def test_export_job_then_cli_chatbot_through_a_real_api(spark, conf, redis_conf, capsys):
    from jobs.chatbot import main as chatbot_cli
    from pipelines.serving.server import api_process

    data = conf.to_dict()
    data["cache"]["prefix"] = "tjob"
    conf = Conf(data, conf.env, conf.files, conf.project_dir)
    rows = [
        event("u1", "profile_updated", "2026-08-30T10:00:00", profile=PID,
              attributes={"first_name": "Lena", "language": "de", "account_tier": "premium"}),
        event("o1", "order_placed", "2026-08-31T10:00:00", profile=PID, order_id="O-77",
              amount=120.0, currency="EUR", items=[]),
    ]  # fmt: skip
    states = finalize(fold_events(events_df(spark, rows)), ts("2026-09-01T00:00:00"))
    idents = spark.createDataFrame(
        [(PID, {"customer_id": ["C0000077"]})],
        "profile_id string, identifiers map<string,array<string>>",
    )
    write_profiles(Catalog(conf), with_identifiers(states, idents), datetime(2026, 9, 1, 1))

    summary = run_export(spark, conf, datetime(2026, 9, 1, 2))
    assert summary["chatbot_export"] == 1 and summary["cache"]["written"] == 1
    try:
        with api_process(conf, "cli-key", port=free_port()) as api:
            assert chatbot_cli(["--api-url", api.url, "--api-key", "cli-key", "--customer-id",
                                "C0000077", "wo ist meine Bestellung?"]) == 0  # fmt: skip
    finally:
        from pipelines.services.redis_server import client as redis_client

        r = redis_client(conf)
        cache.drop_prefix(r, "tjob")
    out = capsys.readouterr().out
    assert "Willkommen zurück Lena!" in out
    assert "Ihre letzte Bestellung O-77 haben Sie am 2026-08-31 aufgegeben." in out
