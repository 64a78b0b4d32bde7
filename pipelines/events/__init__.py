"""Kafka events: build envelopes (ARCHITECTURE §3.1), spoil some on purpose, and send them.

``envelope`` holds the pure builders and the messiness transforms; ``producer`` holds the
customer population, the message stream and the rate-limited Kafka sending loop.
"""
