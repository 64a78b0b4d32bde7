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

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.config import Conf
from pipelines.serving.hashing import hmac_hex

# Lookup order: the strongest identifiers first; device ids last (see the module docstring).
ID_ORDER = ("customer_id", "email", "phone", "social_handle", "anonymous_id", "device_id")


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

    def keys(self, identifiers: Mapping[str, Any]) -> list[str]:
        """The event's lookup keys (``type:value``, hashed where published hashed), in
        ``ID_ORDER``; deny-listed values left out."""
        out = []
        for id_type in ID_ORDER:
            value = identifiers.get(id_type)
            if value is None or value in self.deny_list:
                continue
            if any(p.search(value) for p in self.deny_patterns):
                continue
            if id_type in self.hashed:
                value = hmac_hex(self.pepper, value)
            out.append(f"{id_type}:{value}")
        return out

    def provisional_id(self, keys: Sequence[str]) -> str:
        digest = hashlib.sha256(f"provisional\n{min(keys)}".encode()).hexdigest()
        return f"{self.profile_id_prefix}{digest[:16]}"

    def resolve(self, client: Any, batch: Sequence[Sequence[str]]) -> list[tuple[str | None, str]]:
        """For each event's keys: ``(profile_id, outcome)`` with outcome ``known``,
        ``provisional`` (new or existing), ``conflict`` or ``no_identifier``."""
        wanted = sorted({k for keys in batch for k in keys})
        generation = client.get(f"{self.prefix}:ptr:gen")
        pipe = client.pipeline(transaction=False)
        for key in wanted:
            if generation is not None:
                pipe.get(f"{self.prefix}:g{generation.decode()}:i:{key}")
            else:
                pipe.get(f"{self.prefix}:__none__")
            pipe.get(f"{self.prefix}:h:i:{key}")
        answers = pipe.execute() if wanted else []
        known: dict[str, str] = {}
        for i, key in enumerate(wanted):
            pid = answers[2 * i] or answers[2 * i + 1]
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
