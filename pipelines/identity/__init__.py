"""Identity resolution: the identifier graph, its connected components, stable profile ids
and audited merges (ARCHITECTURE §3.4, docs/identity.md).

Pure DataFrame → DataFrame functions; only ``store.write_identity`` writes.
"""

from pipelines.identity.assign import assign_profiles, linked_profiles
from pipelines.identity.components import Components, connected_components
from pipelines.identity.graph import observations_from_events
from pipelines.identity.params import IdentityParams
from pipelines.identity.quality import pairwise_precision_recall
from pipelines.identity.resolve import IdentityResult, apply_links, resolve
from pipelines.identity.schemas import LINKS, MERGES, empty_links
from pipelines.identity.store import write_identity

__all__ = [
    "LINKS",
    "MERGES",
    "Components",
    "IdentityParams",
    "IdentityResult",
    "apply_links",
    "assign_profiles",
    "connected_components",
    "empty_links",
    "linked_profiles",
    "observations_from_events",
    "pairwise_precision_recall",
    "resolve",
    "write_identity",
]
