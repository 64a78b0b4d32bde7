"""Erasure of a person (GDPR art. 17) from tables, files, Redis and Kafka."""
