"""The id of one merge (one ``identity_merges`` row): what ``profilake-unmerge --merge``, the
undo endpoint and the agent console name a merge by.

A merge is identified by who survived, who was merged away and the record that linked them:
``merge_id = sha256("<survivor>|<merged>|<record_id>")``, first 16 hex digits. The same row
always gets the same id (replays append no new merge rows), and a profile restored by an undo
and merged again later gets a new id, because a different record links it.
"""

from __future__ import annotations

import hashlib

MERGE_ID_LENGTH = 16


def merge_id(survivor_profile_id: str, merged_profile_id: str, record_id: str) -> str:
    text = f"{survivor_profile_id}|{merged_profile_id}|{record_id}"
    return hashlib.sha256(text.encode()).hexdigest()[:MERGE_ID_LENGTH]
