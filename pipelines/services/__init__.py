"""Local services for the embedded profile: a Kafka broker, Redis and the MLflow store.

Each service has idempotent ``start``/``stop``/``status``; its data lives under
``paths.root`` (git-ignored) and it listens on loopback only. On a cluster these are existing
managed services and none of this runs.
"""
