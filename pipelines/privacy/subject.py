"""Who is being erased: the requested identifier, the person's profiles and every identifier
they hold, and the patterns that find their values in free text (raw rows, JSON, Redis).

Pure: plain values and DataFrame transforms, no I/O. Rules (docs/operations.md, "Erasing a
person"):

- The request names one identifier (``customer_id`` or ``email``), normalized as ingestion
  normalizes it, so ``" Ann@X.com "`` finds ``ann@x.com``.
- The person's profiles are the profile the identifier links to plus every profile ever
  merged into it or it into (``identity_merges``, followed both ways until nothing new): a
  merged-away profile is the same person.
- The person's identifiers are the identity links of those profiles that are not shared; a
  shared identifier (a family tablet) is not theirs and stays, minus their ids in its lists.
- The erasure log keys a request by ``HMAC(pepper, "<type>:<normalized value>")``: a rerun
  finds its earlier erasure, and the log never holds the identifier itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.schemas.contract import EMAIL_PATTERN
from pipelines.serving.hashing import hmac_hex

ID_TYPES = ("customer_id", "email")

# Characters that continue an identifier: a value counts as found only when none of these is
# right before or after it, so erasing customer C0000606 never touches C00006061 and erasing
# ann@x.com never touches joann@x.com.
_WORD = r"A-Za-z0-9_.%+\-@"


class ErasureRequestError(ValueError):
    """The request cannot be carried out as given (bad identifier, unknown person)."""


def normalize_request(id_type: str, value: str) -> str:
    """The identifier as the links store it: emails trimmed and lower-cased (and valid),
    customer ids trimmed. Raises ``ErasureRequestError`` on an empty or malformed value."""
    if id_type not in ID_TYPES:
        raise ErasureRequestError(
            f"unsupported identifier type '{id_type}' ({', '.join(ID_TYPES)})")
    text = (value or "").strip()
    if id_type == "email":
        text = text.lower()
        if not re.fullmatch(EMAIL_PATTERN, text):
            raise ErasureRequestError("the e-mail address given is not a valid address")
    if not text:
        raise ErasureRequestError(f"empty {id_type}")
    return text


def subject_hash(pepper: str, id_type: str, value: str) -> str:
    """The erasure log's key for a request: an HMAC, never the identifier."""
    return hmac_hex(pepper, f"{id_type}:{value}")


@dataclass(frozen=True)
class Subject:
    """Everything that identifies the person, gathered before anything is deleted."""

    id_type: str
    value: str
    profile_ids: frozenset[str] = frozenset()
    # id_type -> normalized values the person holds (their non-shared identity links)
    identifiers: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def values(self) -> set[str]:
        """Every clear value that points at the person: identifiers and profile ids."""
        out = {self.value, *self.profile_ids}
        for vals in self.identifiers.values():
            out |= set(vals)
        return out

    def of_type(self, id_type: str) -> frozenset[str]:
        found = set(self.identifiers.get(id_type, frozenset()))
        if id_type == self.id_type:
            found.add(self.value)
        return frozenset(found)

    def lookup_keys(self, pepper: str, hashed_types: Iterable[str]) -> set[str]:
        """``type:value`` keys as the export and the hot lane index them (hashed types as
        HMAC hex): the Redis identifier keys of the person."""
        hashed = set(hashed_types)
        keys = set()
        for id_type in {*self.identifiers, self.id_type}:
            for v in self.of_type(id_type):
                keys.add(f"{id_type}:{hmac_hex(pepper, v) if id_type in hashed else v}")
        return keys


def value_pattern(values: Iterable[str]) -> str:
    """A case-insensitive regex (Java and Python syntax alike) matching any of ``values`` as
    a whole token (see ``_WORD``). Longest first, so a value that prefixes another loses."""
    alternatives = "|".join(re.escape(v) for v in sorted(set(values), key=len, reverse=True) if v)
    if not alternatives:
        return r"(?!x)x"  # matches nothing
    return rf"(?<![{_WORD}])(?:{alternatives})(?![{_WORD}])"


def python_matcher(values: Iterable[str]) -> re.Pattern[str]:
    return re.compile(value_pattern(values), re.IGNORECASE)


def spark_matches(text: Column, values: Iterable[str]) -> Column:
    """Column: ``text`` contains one of ``values`` as a token, ignoring (Unicode) case."""
    return F.coalesce(text.rlike("(?iu)" + value_pattern(values)), F.lit(False))


def profiles_of(
    links: DataFrame, merges: DataFrame | None, id_type: str, value: str
) -> set[str]:
    """The profile the identifier links to, closed over merges in both directions."""
    found = {
        r.profile_id
        for r in links.where(
            (F.col("id_type") == id_type) & (F.col("id_value") == value)
            & F.col("profile_id").isNotNull()
        ).select("profile_id").collect()
    }
    if not found or merges is None:
        return found
    pairs = [(r.survivor_profile_id, r.merged_profile_id)
             for r in merges.select("survivor_profile_id", "merged_profile_id").collect()]
    return close_over_merges(found, pairs)


def close_over_merges(start: set[str], pairs: Iterable[tuple[str, str]]) -> set[str]:
    """``start`` plus every profile connected to it by a (survivor, merged) pair."""
    pairs = list(pairs)
    found = set(start)
    grew = True
    while grew:
        grew = False
        for survivor, merged in pairs:
            if (survivor in found) != (merged in found):
                found |= {survivor, merged}
                grew = True
    return found


def identifiers_of(links: DataFrame, profile_ids: set[str]) -> dict[str, frozenset[str]]:
    """The person's own identifiers: link rows of their profiles, shared ones excluded
    (a shared identifier has no profile, so it never matches)."""
    if not profile_ids:
        return {}
    rows = (
        links.where(F.col("profile_id").isin(sorted(profile_ids)))
        .where(~F.coalesce(F.col("shared"), F.lit(False)))
        .select("id_type", "id_value")
        .collect()
    )
    out: dict[str, set[str]] = {}
    for r in rows:
        out.setdefault(r.id_type, set()).add(r.id_value)
    return {k: frozenset(v) for k, v in out.items()}


def identifier_match(identifiers_col: str, subject: Subject, id_types: Iterable[str]) -> Column:
    """Column: an event's identifiers struct holds one of the person's identifiers."""
    cond = F.lit(False)
    for id_type in id_types:
        vals = sorted(subject.of_type(id_type))
        if vals:
            cond = cond | F.coalesce(F.col(f"{identifiers_col}.{id_type}").isin(vals), F.lit(False))
    return cond


def row_text(df: DataFrame) -> Column:
    """The whole row as JSON text, for token matching over tables of raw rows."""
    return F.to_json(F.struct(*[F.col(f"`{c}`") for c in df.columns]))
