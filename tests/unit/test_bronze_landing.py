"""Reading CSV landing files whose header changed (docs/sources.md, "Schema evolution"): real
files on disk, expected rows written out by hand. The bronze table taking the new column is
tested on the ingest job's lakehouse (tests/integration/test_ingest_job.py)."""

from __future__ import annotations

from pipelines.ingest.landing import read_csv_files

HEADER = '"order_id","email","order_ts","total_amount_minor"'
# The export gains a column in the middle ("coupon"), and in another file one at the end.
FILES = {
    "a.csv": f'{HEADER}\n"ORD-1","a@example.com","2026-08-07T18:31:13+02:00",8299\n',
    "b.csv": '"order_id","coupon","email","order_ts","total_amount_minor"\n'
    '"ORD-2","SPRING","c@example.com","2026-08-08T10:00:00Z",100\n',
    "c.csv": f'{HEADER},"Gift Wrap"\n"ORD-3","e@example.com","2026-08-09T10:00:00Z",250,"yes"\n',
}
EXPECTED = {  # order_id -> (coupon, email, order_ts, total_amount_minor, gift_wrap)
    "ORD-1": (None, "a@example.com", "2026-08-07T18:31:13+02:00", "8299", None),
    "ORD-2": ("SPRING", "c@example.com", "2026-08-08T10:00:00Z", "100", None),
    "ORD-3": (None, "e@example.com", "2026-08-09T10:00:00Z", "250", "yes"),
}


def test_csv_files_with_a_column_added_keep_every_value_under_its_own_name(spark, tmp_path):
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    rows = read_csv_files(spark, [str(tmp_path / name) for name in FILES]).collect()
    got = {
        r.order_id: (r.coupon, r.email, r.order_ts, r.total_amount_minor, r.gift_wrap)
        for r in rows
    }
    assert got == EXPECTED
    assert {r._source_file.rsplit("/", 1)[1] for r in rows} == set(FILES)
