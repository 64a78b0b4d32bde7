"""The erasure's pure rules: request normalization, whole-token matching, landing and
validation file filters, merge closure and the Kafka cut plan."""

from __future__ import annotations

import json

import pytest

from pipelines.privacy.files import (
    ERASED,
    filter_csv,
    filter_json_document,
    filter_lines,
    scrub_json,
)
from pipelines.privacy.kafka_erase import plan_cuts, safe_offsets
from pipelines.privacy.subject import (
    ErasureRequestError,
    close_over_merges,
    normalize_request,
    python_matcher,
    subject_hash,
)


def test_requests_are_normalized_like_ingestion_and_bad_ones_refused():
    assert normalize_request("email", "  Ann@X.COM ") == "ann@x.com"
    assert normalize_request("customer_id", " C0000606 ") == "C0000606"
    for id_type, value in (("email", "not-an-email"), ("customer_id", "  "), ("phone", "1")):
        with pytest.raises(ErasureRequestError):
            normalize_request(id_type, value)


def test_the_log_key_is_a_keyed_hash_of_type_and_value():
    key = subject_hash("pepper", "email", "ann@x.com")
    assert len(key) == 64 and "ann" not in key
    assert key != subject_hash("other", "email", "ann@x.com")
    assert key != subject_hash("pepper", "customer_id", "ann@x.com")


@pytest.mark.parametrize("text, found", [
    ("C0000606", True),
    ('{"id":"c0000606"}', True),
    ("C00006061", False),       # another customer
    ("XC0000606", False),
    ("ANN@X.COM,1", True),
    ("joann@x.com", False),     # another address ending in the same letters
    ("ann@x.com.au", False),
    ("x.ann@x.com", False),
])
def test_values_match_as_whole_tokens_in_any_case(text, found):
    assert bool(python_matcher(["C0000606", "ann@x.com"]).search(text)) is found


def test_landing_filters_drop_only_the_persons_records():
    pattern = python_matcher(["ann@x.com"])
    csv_text = '"id","email"\n"1","  ANN@x.com"\n"2","bob@x.com"\n'
    assert filter_csv(csv_text, pattern) == ('id,email\n2,bob@x.com\n', 1)
    lines = '{"e":"ann@x.com"}\n{"e":"bob@x.com"}\n'
    assert filter_lines(lines, pattern) == ('{"e":"bob@x.com"}\n', 1)
    doc = json.dumps({"data": [{"e": "ann@x.com"}, {"e": "bob@x.com"}]})
    out, removed = filter_json_document(doc, pattern)
    assert removed == 1 and json.loads(out) == {"data": [{"e": "bob@x.com"}]}
    assert filter_lines('{"e":"bob@x.com"}\n', pattern) == ('{"e":"bob@x.com"}\n', 0)


def test_validation_results_keep_their_shape_without_the_values():
    doc = {"results": [{"partial_unexpected_list": ["ann@x.com", "bob@x.com"], "n": 2}],
           "ann@x.com": 1}
    scrubbed, n = scrub_json(doc, python_matcher(["ann@x.com"]))
    assert n == 2
    assert scrubbed == {"results": [{"partial_unexpected_list": [ERASED, "bob@x.com"], "n": 2}],
                        ERASED: 1}


def test_merged_profiles_are_followed_both_ways():
    pairs = [("p1", "p2"), ("p3", "p1"), ("p9", "p8")]
    assert close_over_merges({"p2"}, pairs) == {"p1", "p2", "p3"}
    assert close_over_merges({"p5"}, pairs) == {"p5"}


def test_kafka_is_cut_only_below_what_both_lanes_have_passed():
    safe = safe_offsets({"t:0": 10, "t:1": 5}, {"t:0": 7}, {"t:1": 6})
    assert safe == {"t:0": 7, "t:1": 5}
    cuts, pending, deleted = plan_cuts({"t:0": [2, 6, 8], "t:1": [1], "t:2": [0]}, safe)
    assert cuts == {"t:0": 7, "t:1": 2}
    assert pending == {"t:0": 1, "t:2": 1}  # t:2 has no committed Delta offset yet
    assert deleted == 3
