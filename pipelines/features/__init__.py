"""Nightly point-in-time features: one row per profile per ``as_of`` (docs/features.md).

Every function here takes the event log with ``profile_id`` and an ``as_of`` date and first
keeps only events with ``event_time`` on or before the end of ``as_of`` (UTC): a feature can
never see the future of its snapshot.
"""

from pipelines.features.build import base_features, build_features, prune_events
from pipelines.features.params import FeatureParams
from pipelines.features.schema import features_schema

__all__ = ["FeatureParams", "base_features", "build_features", "features_schema", "prune_events"]
