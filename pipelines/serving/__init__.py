"""Serving: the chatbot export (Delta), its Redis cache and the read API (docs/serving.md)."""
