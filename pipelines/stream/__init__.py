"""Real-time profiles: Kafka → parse/validate → dedupe → identity → profile MERGE, exactly once
(ARCHITECTURE §4, docs/streaming.md).

``parse`` is pure; ``microbatch.process_batch`` is the foreachBatch body; ``runner`` holds the
readStream/writeStream plumbing; ``history`` reads a profile's change feed.
"""
