"""The chatbot export's field names, shared by the Spark export (export.py) and its plain-Python
twin (export_row.py); no pyspark here, the API and the hot lane import it."""

from __future__ import annotations

# Always published, in this order (profile_id first: Delta keeps file statistics on the
# leading columns, which is what makes a point lookup read one file).
KEY_FIELDS = (
    "profile_id",
    "profile_version",
    "as_of",
    "updated_at",
    "exported_at",
    "personalization_allowed",
    "lookup_ids",
)

# Fields an allow-list may publish, with what they mean (docs/serving.md lists the same).
OPTIONAL_FIELDS: dict[str, str] = {
    "display_name": "first and last name as one string",
    "first_name": "first name, for greetings",
    "language": "preferred language (ISO 639-1)",
    "country": "country (ISO-3166 alpha-2)",
    "account_tier": "free, standard or premium",
    "primary_segment": "the highest-priority rule segment (nightly)",
    "rule_segments": "names of the rule segments the profile is in (nightly)",
    "cluster_name": "behavioural cluster (nightly)",
    "churn_score": "churn probability 0..1 (nightly)",
    "churn_band": "low, medium or high churn risk (nightly)",
    "churn_reasons": "the churn score's top three reasons, in plain words (nightly)",
    "segment_reasons": "per rule segment: segment, the condition that put the profile there, "
    "kept (held by hysteresis) (nightly)",
    "rfm_label": "RFM label (nightly)",
    "segments_as_of": "when the segments were computed",
    "net_spend": "lifetime gross orders minus refunds, base currency",
    "orders_30d": "orders in the last 30 days",
    "last_order_id": "latest order id",
    "last_order_at": "latest order time",
    "cart": "current cart lines: sku, category, quantity, unit_price, added_at",
    "cart_value": "current cart value, base currency",
    "intent": "checkout, cart, browsing or null",
    "intent_at": "when the intent was last evidenced",
    "complementary_category": "category to suggest after the latest cart add",
    "open_tickets": "number of open support tickets",
    "open_ticket_ids": "ids of the open tickets",
    "last_ticket": "latest ticket: ticket_id, status, category, priority, channel, at",
    "last_contact_at": "latest support or chat contact",
    "avg_csat": "average CSAT 1..5",
    "recent_categories": "up to 5 categories seen most recently",
    "probable_recent_categories": "up to 5 categories the profile's probable links browsed, "
    "newest first (ingest)",
    "probable_last_viewed": "the probable links' newest product view: sku, category, at (ingest)",
    "probable_confidence": "the highest confidence of the profile's served probable links",
    "next_best_actions": "hints from conf rules: name, hint, priority (1 = most urgent)",
}

SEGMENT_COLUMNS: dict[str, str] = {
    "primary_segment": "string",
    "rule_segments": "array<string>",
    "cluster_name": "string",
    "churn_score": "double",
    "churn_band": "string",
    "rfm_label": "string",
    "churn_reasons": "array<string>",
    "segment_reasons": "array<struct<segment:string,condition:string,kept:boolean>>",
}

# The probable tier's fields, from the probable_activity table (as segments, from the base).
PROBABLE_COLUMNS: dict[str, str] = {
    "probable_recent_categories": "array<string>",
    "probable_last_viewed": "struct<sku:string,category:string,at:timestamp>",
    "probable_confidence": "double",
}
