"""The five batch sources and where their files land (formats: docs/sources.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    name: str  # also the landing sub-folder and the event `source` label
    bronze_table: str  # catalog name
    file_format: str  # csv: header row, one record a line; jsonl: one JSON object a line;
    #                    json: one JSON document a file ({"data": [...]} or [...])
    glob: str
    event_source: str  # envelope `source` value (ARCHITECTURE §3.1)


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("crm", "bronze_crm_customers", "csv", "*.csv", "crm"),
        Source("orders", "bronze_orders", "csv", "*.csv", "orders"),
        Source("tickets", "bronze_support_tickets", "jsonl", "*.jsonl", "support"),
        Source("web", "bronze_web_events", "jsonl", "*.jsonl", "web"),
        Source("social", "bronze_social_mentions", "json", "*.json", "social"),
    )
}
