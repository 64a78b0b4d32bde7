"""Lookup values normalized exactly as identity resolution stores them (pipelines/normalize),
in plain Python for the read API, plus the keyed hash of the types published hashed."""

from __future__ import annotations

import re

from pipelines.schemas.contract import EMAIL_PATTERN  # the pipeline's, without pyspark

ID_TYPES = ("customer_id", "email", "phone", "device_id", "anonymous_id", "social_handle")
PROFILE_ID_PATTERN = r"^p_[0-9a-f]{16}$"

_EMAIL = re.compile(EMAIL_PATTERN)
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")


def normalize(id_type: str, value: str) -> str | None:
    """The normalized form of ``value``, or None when it cannot be one of ``id_type``.

    Phones must be international (``+…`` or ``00…``): without the record's country a national
    number cannot be placed, exactly as in the pipeline.
    """
    raw = value.strip()
    if not raw:
        return None
    if id_type == "email":
        email = raw.lower()
        return email if _EMAIL.match(email) else None
    if id_type == "phone":
        digits = re.sub(r"[^0-9]", "", raw)
        if raw.startswith("+"):
            e164 = "+" + digits
        elif digits.startswith("00"):
            e164 = "+" + digits[2:]
        else:
            return None
        return e164 if _E164.match(e164) else None
    if id_type == "social_handle":
        platform, sep, handle = raw.partition(":")
        platform, handle = platform.strip().lower(), handle.strip().lstrip("@").lower()
        return f"{platform}:{handle}" if sep and platform and handle else None
    if id_type in ID_TYPES:
        return raw
    return None
