"""Unified profiles: the fold of each person's deduplicated event history."""
