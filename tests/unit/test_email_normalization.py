"""E-mail normalization (docs/sources.md, "Identifiers"): trimmed, lower-cased with Unicode
case mapping, kept when it is local@domain.tld with internationalized characters allowed.

The same rule runs in four places: the Spark normalizer (batch ingest and the Delta lane,
pipelines/normalize/identifiers.py), the hot lane's Python twin (pipelines/events/validate.py),
the read API's look-up normalization (pipelines/serving/identifiers.py) and the export's keyed
hash. Expected values are written by hand from the rule; the last tests check that the engines
agree on every character of the Basic Multilingual Plane.
"""

from __future__ import annotations

import unicodedata

import pytest
from pyspark.sql import functions as F

from pipelines.events.validate import _email as hot_lane_email
from pipelines.normalize import identifiers as ids
from pipelines.serving.hashing import hmac_column, hmac_hex
from pipelines.serving.identifiers import normalize as lookup_normalize

CASES = [
    # internationalized addresses are kept, lower-cased character by character
    (" ZOË.FISCHER.507@MAILBOX.EXAMPLE ", "zoë.fischer.507@mailbox.example"),
    ("Jürgen.Weiß@Müller.DE", "jürgen.weiß@müller.de"),
    ("ÅSA@EXEMPEL.SE", "åsa@exempel.se"),
    ("ΝΊΚΟΣ@ΠΑΡΆΔΕΙΓΜΑ.ΕΛ", "νίκος@παράδειγμα.ελ"),  # final sigma before "@" is ς
    ("ПОЧТА@ПРИМЕР.РФ", "почта@пример.рф"),
    ("用户@例子.广告", "用户@例子.广告"),  # no case: unchanged
    ("DÉJÀ+VU@EXAMPLE.COM", "déjà+vu@example.com"),
    # ASCII as before
    ("  Ada.Lovelace@Example.COM ", "ada.lovelace@example.com"),
    ("o'brien@example.ie", "o'brien@example.ie"),
    # still not addresses
    ("zoë@mailbox", None),  # no top-level domain
    ("zoë@mailbox.e", None),  # one-letter top-level domain
    ("zoë.fischer.example", None),  # no @
    ("zoë@@mailbox.example", None),
    ("zoë fischer@mailbox.example", None),  # space inside
    ("zoë\u00a0fischer@mailbox.example", None),  # no-break space inside
    ("zoë@mailbox.ex1", None),  # digit in the top-level domain
]


def test_the_spark_normalizer_keeps_internationalized_addresses(spark):
    df = spark.createDataFrame([(raw,) for raw, _ in CASES], "raw string")
    got = [r[0] for r in df.select(ids.email(F.col("raw"))).collect()]
    assert got == [expected for _, expected in CASES]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_the_hot_lane_and_the_api_normalize_alike(raw, expected):
    assert hot_lane_email(raw) == expected
    assert lookup_normalize("email", raw) == expected


def test_only_the_api_strips_unicode_spaces_around_a_lookup_value():
    """The pipeline trims spaces only; a chatbot's look-up value may carry pasted Unicode
    spaces, which the API strips, so it still finds the address the pipeline kept."""
    raw = "zoë@mailbox.example\u3000"
    assert hot_lane_email(raw) is None
    assert lookup_normalize("email", raw) == "zoë@mailbox.example"


def test_a_lookup_by_an_internationalized_address_finds_the_exported_hash(spark):
    """The export hashes the Spark-normalized value; the API hashes its own normalization of
    what the chatbot sends: the same key for any spelling of the same address."""
    raw = " ZOË.FISCHER.507@MAILBOX.EXAMPLE "
    df = spark.createDataFrame([(raw,)], "raw string")
    exported = df.select(hmac_column(ids.email(F.col("raw")), "pepper")).first()[0]
    typed = lookup_normalize("email", "Zoë.Fischer.507@mailbox.example")
    assert exported == hmac_hex("pepper", typed) == hmac_hex(
        "pepper", "zoë.fischer.507@mailbox.example"
    )


def _bmp_probes() -> list[tuple[str, str]]:
    """(character, address) for every BMP character but surrogates: in the local part and the
    domain (between upper-case letters), and at the end of the top-level domain."""
    probes = []
    for cp in range(0x10000):
        if 0xD800 <= cp < 0xE000:
            continue
        c = chr(cp)
        probes += [(c, f"Ab{c}@x{c}.example"), (c, f"ab@example.c{c}")]
    return probes


def test_spark_and_python_normalizers_agree_on_every_assigned_bmp_character(spark):
    """Spark lower-cases with a newer Unicode database (ICU) than Python 3.11's (Unicode 14):
    the engines may differ only on characters Unicode 14 has not assigned (category Cn)."""
    probes = _bmp_probes()
    df = spark.createDataFrame([(address,) for _, address in probes], "raw string")
    spark_side = [r[0] for r in df.select(ids.email(F.col("raw"))).collect()]
    differ = {
        c
        for (c, address), s in zip(probes, spark_side, strict=True)
        if not s == hot_lane_email(address) == lookup_normalize("email", address)
    }
    assert {c for c in differ if unicodedata.category(c) != "Cn"} == set()
    assert len(differ) < 20  # a handful of recent additions, not a rule that drifted apart
