"""The daily batch schedule as plain data: which commands run, in which order, with how many
retries and what time limits. ``profilake_dag.py`` builds the Airflow DAGs from it, the cron
example (conf/cron/profilake.cron) follows it, and tests/unit/test_schedule.py checks every
command against the project's console scripts. No imports beyond the standard library, so an
Airflow installation that lacks the project's packages can still parse it.

Business rule: the nightly of a day runs after that day's files are ingested, the chatbot export
after the nightly (segments and churn risk it serves), table maintenance after them (it takes the
nightly's lock and compacts what the others wrote), and the monitor's daily checks last (they
read the nightly's runs and tables). The lane checks run every few minutes on their own.
"""

from __future__ import annotations

from dataclasses import dataclass

DAG_ID = "profilake_daily"
BACKFILL_DAG_ID = "profilake_backfill"
LANES_DAG_ID = "profilake_lane_checks"
# 02:00 UTC daily. Each run covers the day before (Airflow's data interval [D-1 02:00, D 02:00)),
# so ``{ds}`` (the interval's start date) is the nightly's as-of date: the same "yesterday"
# the nightly picks when run by hand.
CRON = "0 2 * * *"
START_DATE = "2026-09-01"
# The whole run must end within this many seconds of being queued, or the deadline callback
# reports it (Airflow 3's DeadlineAlert, which replaced task SLAs).
DEADLINE_S = 8 * 3600


@dataclass(frozen=True)
class Step:
    task_id: str
    # A shell command; ``{ds}`` is the run's as-of date (YYYY-MM-DD). The first word is a
    # console script of pyproject.toml.
    command: str
    retries: int
    retry_delay_s: int
    timeout_s: int  # the attempt is killed (and retried) after this


# Replaces the date's feature and segment partitions: a retry gives the same rows.
NIGHTLY = Step("nightly", "profilake-nightly --as-of {ds}", 1, retry_delay_s=900, timeout_s=14400)
EXPORT = Step("export", "profilake-export-chatbot", retries=3, retry_delay_s=300, timeout_s=3600)

STEPS: tuple[Step, ...] = (
    # Incremental and idempotent: new landing files only; a retry re-does what did not commit.
    Step("ingest", "profilake-ingest", retries=2, retry_delay_s=600, timeout_s=3 * 3600),
    NIGHTLY,
    EXPORT,
    # Exit 1 when a table failed (the others were maintained): retried once, then the next
    # night compacts it.
    Step("maintenance", "profilake-maintain", retries=1, retry_delay_s=1800, timeout_s=2 * 3600),
    # Every check; --as-of is the day the volume check compares with its baseline. Exit 1 means
    # a check could not measure or an alert post failed: worth a retry.
    Step("monitor", "profilake-monitor --as-of {ds}", retries=2, retry_delay_s=300, timeout_s=3600),
)

# The lanes' checks beside the stream and the hot lane (docs/operations.md, "Monitoring and
# alerts"): every 10 minutes, each attempt shorter than the interval.
LANES_CRON = "*/10 * * * *"
LANE_CHECKS = Step(
    "lane_checks",
    "profilake-monitor --check stream_lag --check freshness --check quarantine_rate",
    retries=1,
    retry_delay_s=60,
    timeout_s=540,
)

# Backfill of a date range: one nightly process over the range, oldest first (the nightly's
# ``--from``/``--to``; hysteresis reads the previous date's segments), then one export. A
# range may take many times a day's nightly: 24 h per attempt.
BACKFILL_STEPS: tuple[Step, ...] = (
    Step("nightly_range", "profilake-nightly --from {start} --to {end}", 1, 900, 24 * 3600),
    EXPORT,
)
