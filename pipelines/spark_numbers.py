"""How Spark (on the JVM) renders and rounds doubles, in plain Python: for the Python twins
of Spark code (events/validate.py, profiles/finalize_local.py, serving/sql_rules.py)."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal


def java_double(value: float) -> str:
    """Java's ``Double.toString`` (what Spark uses to cast a double to a string): plain
    notation for 1e-3 <= |x| < 1e7, else ``d.dddE±n``; digits are the shortest round-trip
    ones (JDK 19+; JDK 17 prints a longer form for a few values, e.g. 1e23)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    power = exponent + len(digits) - 1  # type: ignore[operator]
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{power}"


def spark_round(value: float | None, digits: int) -> float | None:
    """Spark's ``round``: HALF_UP on the double's shortest decimal form (not banker's)."""
    if value is None or not math.isfinite(value):
        return value
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP))
