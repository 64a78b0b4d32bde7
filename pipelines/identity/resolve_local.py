"""Identity resolution in plain Python, for batches small enough to hold on the driver.

The same rules as the Spark engine (graph.py, resolve.py, assign.py, never_link.py), re-stated
for rows in memory: a micro-batch of a few events pays ~0.25 s of fixed cost per Spark action,
and the Spark resolution takes dozens of them (summary, star rounds, checkpoints) for a graph of
a handful of nodes. Here the components are a union-find. A property test
(tests/unit/test_identity_engines.py) resolves random batches — shared and weak identifiers,
deny-lists, never-link rules, merges of profiles of different ages — with both engines and
compares every link and merge row.

Timestamps are integers (microseconds since the epoch, what ``unix_micros`` gives), so nothing
depends on the driver's time zone. An observation is ``(record_id, event_time, identifiers)``
with ``identifiers`` a mapping from identifier type to value (or None); a link is a dict with
the ``LINKS`` columns.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from pipelines.identity.graph import DEVICE_TYPES, PROFILE_NODE_PREFIX
from pipelines.identity.params import IdentityParams
from pipelines.identity.resolve import LINK_CONTENT
from pipelines.identity.union_find import UnionFind
from pipelines.schemas.events import IDENTIFIER_TYPES

Link = dict[str, Any]
Observation = tuple[str, int | None, Mapping[str, str | None]]


class IdentifierRow(NamedTuple):
    """One usable identifier of one record (graph.identifier_rows). A tuple: a batch makes
    one per identifier, and a tuple is built in half the time of a frozen dataclass."""

    record_id: str
    event_time: int | None
    key: tuple[str, str]
    record_customer_id: str | None
    record_anonymous_id: str | None


@dataclass(frozen=True)
class LocalResult:
    """Link upserts and merge rows (dicts with the ``LINKS`` / ``MERGES`` columns)."""

    links: list[Link]
    merges: list[dict[str, Any]]


class _Guards:
    """Deny-list, deny patterns and never-link rules of ``IdentityParams``, compiled once."""

    def __init__(self, params: IdentityParams) -> None:
        self.deny = frozenset(params.deny_list)
        # Spark's rlike finds the pattern anywhere in the value, like re.search.
        self.pattern = (re.compile("|".join(f"(?:{p})" for p in params.deny_patterns))
                        if params.deny_patterns else None)
        blocked: dict[str, set[str]] = defaultdict(set)
        for id_type, id_value, with_type, with_value in params.never_link:
            blocked[f"{id_type}:{id_value}"].add(f"{with_type}:{with_value}")
        self.blocked = dict(blocked)

    def usable(self, value: str | None) -> str | None:
        """graph.usable_identifier: non-null, not blank (Spark's trim strips spaces only),
        not denied."""
        if value is None or value.strip(" ") == "" or value in self.deny:
            return None
        if self.pattern is not None and self.pattern.search(value):
            return None
        return value

    def without_never_linked(self, identifiers: Mapping[str, str | None]) -> dict[str, Any]:
        """never_link.without_never_linked for one record."""
        if not self.blocked:
            return dict(identifiers)
        carried = {f"{t}:{identifiers.get(t)}" for t in IDENTIFIER_TYPES
                   if identifiers.get(t) is not None}
        kept = dict(identifiers)
        for t in IDENTIFIER_TYPES:
            value = identifiers.get(t)
            if value is not None and self.blocked.get(f"{t}:{value}", set()) & carried:
                kept[t] = None
        return kept


def identifier_rows(observations: Iterable[Observation], params: IdentityParams
                    ) -> list[IdentifierRow]:
    """Every usable identifier of every record: what ``resolve`` and ``assign_profiles``
    read. Computed once per batch by the caller that needs both."""
    guards = _Guards(params)
    rows = []
    for record_id, event_time, raw in observations:
        ids = guards.without_never_linked(raw)
        customer, anonymous = guards.usable(ids.get("customer_id")), guards.usable(
            ids.get("anonymous_id"))
        for t in IDENTIFIER_TYPES:
            value = guards.usable(ids.get(t))
            if value is not None:
                rows.append(IdentifierRow(str(record_id), event_time, (t, value), customer,
                                          anonymous))
    return rows


def _least(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _greatest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _summary(rows: Sequence[IdentifierRow], existing: Mapping[tuple[str, str], Link],
             params: IdentityParams) -> dict[tuple[str, str], dict[str, Any]]:
    """graph.identifier_summary: per identifier, what the batch saw and what the link knew."""
    n, k = params.max_customer_ids_per_identifier, params.max_anonymous_ids_per_device
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        s = seen.setdefault(r.key, {"first": None, "last": None, "cids": set(), "anons": set()})
        if r.event_time is not None:
            s["first"] = _least(s["first"], r.event_time)
            s["last"] = _greatest(s["last"], r.event_time)
        if r.record_customer_id is not None:
            s["cids"].add(r.record_customer_id)
        if r.record_anonymous_id is not None:
            s["anons"].add(r.record_anonymous_id)
    summary = {}
    for key, s in seen.items():
        id_type = key[0]
        e = existing.get(key)
        merged_ids = sorted(set(e.get("customer_ids") or []) | s["cids"]) if e else sorted(
            s["cids"])
        merged_anon = sorted(set(e.get("anonymous_ids") or []) | s["anons"]) if e else sorted(
            s["anons"])
        is_customer_id, is_device = id_type == "customer_id", id_type in DEVICE_TYPES
        shared = bool(e and e.get("shared")) or (not is_customer_id and len(merged_ids) > n)
        if shared:
            node = None
        elif e and e.get("profile_id") is not None:
            node = PROFILE_NODE_PREFIX + e["profile_id"]
        else:
            node = f"{id_type}:{key[1]}"
        summary[key] = {
            "seen_first": s["first"],
            "seen_last": s["last"],
            "customer_ids": None if is_customer_id else merged_ids[: n + 1],
            "anonymous_ids": merged_anon[: k + 1] if is_device else None,
            "shared": shared,
            "weak": is_device and (len(merged_ids) > 0 or len(merged_anon) > k),
            "node": node,
            "e": e,
        }
    return summary


def _survivor_key(created_at: int | None, profile_id: str) -> tuple:
    # Spark orders a null struct field first.
    return (created_at is not None, created_at or 0, profile_id)


def new_profile_id(smallest_key: str, prefix: str) -> str:
    """resolve.new_profile_id: prefix + first 16 hex digits of sha2-256 of the key."""
    return prefix + hashlib.sha256(smallest_key.encode("utf-8")).hexdigest()[:16]


def resolve(observations: Sequence[Observation], existing_links: Iterable[Link],
            params: IdentityParams, *, now: int,
            rows: Sequence[IdentifierRow] | None = None) -> LocalResult:
    """resolve.resolve on rows: the link upserts and merges of ``observations``.

    ``existing_links`` must hold every row of the batch's identifiers and every row of the
    profiles those reach (``resolve.links_reached``); ``now`` in microseconds. ``rows``:
    ``identifier_rows(observations, params)`` when the caller has them already.
    """
    existing = {(e["id_type"], e["id_value"]): e for e in existing_links}
    if rows is None:
        rows = identifier_rows(observations, params)
    summary = _summary(rows, existing, params)
    # (record, node, weak) per identifier row: graph.record_nodes.
    nodes = [(r, summary[r.key]["node"], summary[r.key]["weak"]) for r in rows]

    by_record: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for r, node, weak in nodes:
        if node is not None:
            by_record[r.record_id].append((node, weak))
    uf = UnionFind()
    vertices: set[str] = set()
    for carried in by_record.values():
        strong = sorted({node for node, weak in carried if not weak})
        linked = strong or sorted({node for node, _ in carried})
        vertices.update(linked)
        for other in linked[1:]:
            uf.union(linked[0], other)
        uf.find(linked[0])

    profile_of: dict[str, tuple[str, int | None]] = {}  # profile node → (id, created_at)
    for s in summary.values():
        node = s["node"]
        if node is not None and node.startswith(PROFILE_NODE_PREFIX) and node in vertices:
            pid, created = s["e"]["profile_id"], s["e"].get("profile_created_at")
            known = profile_of.get(node)
            profile_of[node] = (pid, _least(known[1], created) if known else created)

    members: dict[str, list[str]] = defaultdict(list)
    for node in vertices:
        members[uf.find(node)].append(node)
    resolved: dict[str, tuple[str, int]] = {}  # vertex → (c_profile_id, c_created_at)
    merged: dict[str, tuple[str, int | None, str, int]] = {}  # node → merged, its created, →
    for component in members.values():
        profiles = [profile_of[n] for n in component if n in profile_of]
        if profiles:
            pid, created = min(profiles, key=lambda p: _survivor_key(p[1], p[0]))
            target = (pid, created if created is not None else now)
        else:
            smallest = min(n for n in component if n not in profile_of)
            target = (new_profile_id(smallest, params.profile_id_prefix), now)
        for n in component:
            resolved[n] = target
            if n in profile_of and profile_of[n][0] != target[0]:
                merged[n] = (*profile_of[n], *target)

    weak_profiles = _weak_profiles(nodes, resolved)
    links = _touched_links(summary, {**resolved, **weak_profiles}, now)
    merges: list[dict[str, Any]] = []
    if merged:
        merges = _merge_rows(nodes, merged, now)
        links += _repointed_links(existing, merged, summary, now)
    return LocalResult(links=links, merges=merges)


def _weak_profiles(nodes, resolved: Mapping[str, tuple[str, int]]) -> dict[str, tuple[str, int]]:
    """resolve._weak_profiles: a weak identifier that linked nothing joins a profile only when
    every record carrying it resolved to that one profile."""
    record_profiles: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for r, node, _ in nodes:
        if node in resolved:
            record_profiles[r.record_id].add(resolved[node])
    candidates: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for r, node, weak in nodes:
        if weak and node is not None and node not in resolved:
            candidates[node] |= record_profiles.get(r.record_id, set())
    out = {}
    for node, profiles in candidates.items():
        if len({pid for pid, _ in profiles}) == 1:
            out[node] = min(profiles)
    return out


def _touched_links(summary, profile: Mapping[str, tuple[str, int]], now: int) -> list[Link]:
    """resolve._touched_links: the new state of every identifier the observations carry."""
    out = []
    for (id_type, id_value), s in summary.items():
        e = s["e"] or {}
        shared = s["shared"]
        target = profile.get(s["node"]) if s["node"] is not None else None
        pid, created = (None, None) if shared or target is None else target
        new = {
            "profile_id": pid,
            "profile_created_at": created,
            "first_seen": _least(e.get("first_seen"), s["seen_first"]),
            "last_seen": _greatest(e.get("last_seen"), s["seen_last"]),
            "shared": shared,
            "customer_ids": s["customer_ids"],
            "anonymous_ids": s["anonymous_ids"],
            "origin_profile_id": (e.get("origin_profile_id")
                                  if e.get("origin_profile_id") is not None
                                  else None if shared else pid),
        }
        unchanged = bool(s["e"]) and all(new[c] == _listed(e.get(c)) for c in LINK_CONTENT)
        out.append({
            "id_type": id_type,
            "id_value": id_value,
            **new,
            "updated_at": e.get("updated_at") if unchanged else now,
        })
    return out


def _listed(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _merge_rows(nodes, merged: Mapping[str, tuple], now: int) -> list[dict[str, Any]]:
    """resolve._merge_rows: per merged profile, the earliest (event_time, record_id, id_type,
    id_value) of a record carrying it and a node outside it."""
    of_record: dict[str, list[tuple[IdentifierRow, str | None]]] = defaultdict(list)
    for r, node, _ in nodes:
        of_record[r.record_id].append((r, node))
    best: dict[tuple, tuple] = {}
    for record_id, carried in of_record.items():
        for merged_node in {n for _, n in carried if n in merged}:
            m_pid, m_created, s_pid, _ = merged[merged_node]
            group = (s_pid, m_pid, m_created)
            for r, node in carried:
                if node is None or node == merged_node:
                    continue
                # Spark orders a null event_time first.
                key = (r.event_time is not None, r.event_time or 0, record_id, *r.key)
                if group not in best or key < best[group]:
                    best[group] = key
    return [
        {"survivor_profile_id": s_pid, "merged_profile_id": m_pid, "id_type": key[3],
         "id_value": key[4], "record_id": key[2], "merged_at": now,
         "merged_profile_created_at": m_created}
        for (s_pid, m_pid, m_created), key in best.items()
    ]


def _repointed_links(existing: Mapping[tuple[str, str], Link], merged: Mapping[str, tuple],
                     summary: Mapping, now: int) -> list[Link]:
    """resolve._repointed_links: rows of merged profiles the batch did not carry."""
    to = {m_pid: (s_pid, s_created) for m_pid, _, s_pid, s_created in merged.values()}
    out = []
    for key, e in existing.items():
        if e.get("profile_id") in to and key not in summary:
            s_pid, s_created = to[e["profile_id"]]
            out.append({**e, "profile_id": s_pid, "profile_created_at": s_created,
                        "updated_at": now})
    return out


def assign_profiles(observations: Sequence[Observation], links: Iterable[Link],
                    params: IdentityParams, *, rows: Sequence[IdentifierRow] | None = None
                    ) -> dict[str, str | None]:
    """assign.assign_profiles: record_id → profile_id (None: no usable identifier linked).
    Non-device identifiers decide (the smallest id should stale links disagree); the device
    only when none of them is linked. ``rows`` as for ``resolve``."""
    usable = {(link["id_type"], link["id_value"]): link["profile_id"] for link in links
              if link.get("profile_id") is not None and not link.get("shared")}
    strong: dict[str, str] = {}
    weak: dict[str, str] = {}
    for r in rows if rows is not None else identifier_rows(observations, params):
        pid = usable.get(r.key)
        if pid is None:
            continue
        pick = weak if r.key[0] in DEVICE_TYPES else strong
        pick[r.record_id] = min(pick.get(r.record_id, pid), pid)
    return {str(record_id): strong.get(str(record_id)) or weak.get(str(record_id))
            for record_id, _, _ in observations}
