"""Identity in the hot lane: a lookup of what the Delta lane resolved, never a decision.

Rules (ARCHITECTURE §6, docs/streaming.md "Hot lane"):
- An event's identifiers are looked up in the identifier index the export keeps in Redis
  (``P:gG:i:{type}:{value}``, hashed values for hashed types), then in the hot lane's
  provisional index. Deny-listed values are never looked up (they link no one).
- Device ids are looked up only when no other identifier of the event resolves: a device may
  be shared, and the Delta lane decides what it links.
- All resolved identifiers point to one profile → the event applies to it.
- They point to two or more profiles → the event would link them: it applies to none until
  the Delta lane decides (counted as ``conflict``).
- None resolves → a *provisional* profile, its id derived from the event's smallest lookup
  key (so a replay derives the same id), registered under every usable identifier; the Delta
  lane's base folds it into the real profile (pipelines/serving/cache.py, write script).
"""

from __future__ import annotations

import functools
import hashlib
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.config import Conf
from pipelines.serving.hashing import hmac_hex

# Lookup order: the strongest identifiers first; device ids last (see the module docstring).
ID_ORDER = ("customer_id", "email", "phone", "social_handle", "anonymous_id", "device_id")
_in_order = operator.itemgetter(*ID_ORDER)


@dataclass(frozen=True)
class Resolver:
    prefix: str
    pepper: str
    hashed: frozenset[str]
    deny_list: frozenset[str]
    deny_patterns: tuple[re.Pattern[str], ...]
    profile_id_prefix: str = "p_"

    @classmethod
    def from_conf(cls, conf: Conf) -> Resolver:
        return cls(
            prefix=str(conf.get("cache.prefix")),
            pepper=str(conf.get("export.hash_pepper")),
            hashed=frozenset(conf.get("export.hashed_id_types")),
            deny_list=frozenset(str(v) for v in conf.get("identity.deny_list") or []),
            deny_patterns=tuple(
                re.compile(str(p)) for p in conf.get("identity.deny_patterns") or []
            ),
            profile_id_prefix=str(conf.get("identity.profile_id_prefix")),
        )

    def __post_init__(self) -> None:
        # A person's identifiers recur from event to event: the key of each identifier (an HMAC
        # for hashed types, the deny checks) and the keys of each identifier set are memoized.
        cache = functools.lru_cache(maxsize=1 << 17)
        object.__setattr__(self, "_key", cache(self._lookup_key))
        object.__setattr__(self, "_keys", cache(self._lookup_keys))

    def _lookup_key(self, id_type: str, value: str) -> str | None:
        if value in self.deny_list or any(p.search(value) for p in self.deny_patterns):
            return None
        if id_type in self.hashed:
            value = hmac_hex(self.pepper, value)
        return f"{id_type}:{value}"

    def _lookup_keys(self, values: tuple[str | None, ...]) -> tuple[str, ...]:
        keys = (self._key(t, v) for t, v in zip(ID_ORDER, values, strict=True)
                if v is not None)
        return tuple(k for k in keys if k is not None)

    def keys(self, identifiers: Mapping[str, Any]) -> tuple[str, ...]:
        """The event's lookup keys (``type:value``, hashed where published hashed), in
        ``ID_ORDER``; deny-listed values left out. ``identifiers`` has every type of ID_ORDER
        (None where absent), as the record check normalizes them."""
        return self._keys(_in_order(identifiers))

    def provisional_id(self, keys: Sequence[str]) -> str:
        digest = hashlib.sha256(f"provisional\n{min(keys)}".encode()).hexdigest()
        return f"{self.profile_id_prefix}{digest[:16]}"

    def resolve(self, client: Any, batch: Sequence[Sequence[str]]) -> list[tuple[str | None, str]]:
        """For each event's keys: ``(profile_id, outcome)`` with outcome ``known``,
        ``provisional`` (new or existing), ``conflict`` or ``no_identifier``."""
        wanted = sorted({k for keys in batch for k in keys})
        known: dict[str, str] = {}
        if wanted:
            generation = client.get(f"{self.prefix}:ptr:gen")
            # One MGET for the batch: the export's index first, then the provisional one.
            # (A pipeline of GETs costs the client more than the lookups cost Redis.)
            names = [f"{self.prefix}:h:i:{key}" for key in wanted]
            if generation is not None:
                names += [f"{self.prefix}:g{generation.decode()}:i:{key}" for key in wanted]
            answers = client.mget(names)
            n = len(wanted)
            for i, key in enumerate(wanted):
                pid = (answers[n + i] if generation is not None else None) or answers[i]
                if pid is not None:
                    known[key] = pid.decode()
        out: list[tuple[str | None, str]] = []
        for keys in batch:
            if not keys:
                out.append((None, "no_identifier"))
                continue
            strong = {known[k] for k in keys if k in known and not k.startswith("device_id:")}
            devices = {known[k] for k in keys if k in known and k.startswith("device_id:")}
            found = strong or devices
            if len(found) > 1:
                out.append((None, "conflict"))
            elif found:
                out.append((found.pop(), "known"))
            else:
                pid = self.provisional_id(keys)
                # Later events of this batch with one of these identifiers find it too.
                known.update({k: pid for k in keys})
                out.append((pid, "provisional"))
        return out
