"""Value ranges of the event properties, one rule for the batch sources and the stream.

The stream (pipelines/stream/parse.py) applies ``out_of_range`` to the envelope's properties
and the batch normalizers (pipelines/ingest/normalize/) to the canonical properties they build
from a source row, so a sentiment of 3.5 or a CSAT of 7 is rejected with the same reason
whichever way it arrives. The hot lane's Spark-free check (pipelines/events/validate.py,
``_out_of_range``) mirrors these bounds and is tested against the Spark lane.
"""

from __future__ import annotations

import sys

from pyspark.sql import Column
from pyspark.sql import functions as F


def _finite(x: Column) -> Column:
    """Null or a finite double (Spark orders NaN above +Infinity, so both fail ``<= MAX``)."""
    return x.isNull() | (x <= F.lit(sys.float_info.max))


def out_of_range(props: Column) -> Column:
    """The first property outside its range, as ``out_of_range: properties.<p> (<range>)``;
    null when every present property is in range (an absent property is not judged here).

    Business rule: a CSAT score is 1–5, a sentiment −1..1, a quantity at least 1 (on the
    event and on every order item), and amounts and unit prices are never negative; an
    amount, unit price or cart value must be a finite number (JSON's NaN and Infinity tokens
    parse as doubles, and one of them would poison every sum it enters).

    Args:
        props: a struct column with the envelope's ``PROPERTIES`` fields.
    """
    return (
        F.when(props["score"].isNotNull() & ~props["score"].between(1, 5),
               F.lit("out_of_range: properties.score (1-5)"))
        .when(props["sentiment"].isNotNull() & ~props["sentiment"].between(-1.0, 1.0),
              F.lit("out_of_range: properties.sentiment (-1..1)"))
        .when(props["quantity"].isNotNull() & (props["quantity"] < 1),
              F.lit("out_of_range: properties.quantity (>= 1)"))
        .when(props["amount"] < 0, F.lit("out_of_range: properties.amount (>= 0)"))
        .when(props["unit_price"] < 0, F.lit("out_of_range: properties.unit_price (>= 0)"))
        .when(~_finite(props["amount"]), F.lit("out_of_range: properties.amount (finite)"))
        .when(~_finite(props["unit_price"]),
              F.lit("out_of_range: properties.unit_price (finite)"))
        .when(~_finite(props["cart_value"]),
              F.lit("out_of_range: properties.cart_value (finite)"))
        .when(F.exists(props["items"], lambda i: (i["quantity"] < 1) | (i["unit_price"] < 0)
                       | ~_finite(i["unit_price"])),
              F.lit("out_of_range: properties.items"))
    )
