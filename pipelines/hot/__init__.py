"""The hot lane: each event folded into the served profile in Redis within milliseconds
(ARCHITECTURE §6, docs/streaming.md). It imports the shared core (events, profiles, serving),
never the Delta lane (pipelines.stream)."""
