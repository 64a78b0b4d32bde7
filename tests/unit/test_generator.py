"""The data generator: layout, determinism, documented formats, messiness and ground truth.

Expected values come from the generator's documented rules (docs/sources.md): the record
keys, formats and shares are re-derived here, never read back from the generator's code.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import re
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from jobs.generate_data import main
from pipelines.synth import GeneratorSpec, Shares, pairwise_scores

CUSTOMERS, DAYS, SEED = 2400, 20, 11
BLOCK = 400  # 6 blocks -> 2 part files per source (5 blocks per part)
START = date(2026, 8, 1)  # conf generator.start_date
SHARES = Shares()  # conf generator.* defaults (base.yaml)
EXT = {"crm": "csv", "orders": "csv", "tickets": "jsonl", "web": "jsonl", "social": "json"}
CRM_HEADER = [
    "CustomerID",
    "First Name",
    "Last Name",
    "E-mail",
    "Phone",
    "Country",
    "Preferred Language",
    "Tier",
    "Created",
    "Last Modified",
]
ORDERS_HEADER = [
    "order_id",
    "customer_ref",
    "email",
    "order_ts",
    "status",
    "currency",
    "total_amount_minor",
    "items",
]
TICKET_FIELDS = [
    "ticket",
    "requester",
    "channel",
    "priority",
    "category",
    "status",
    "created_at",
    "updated_at",
    "csat",
]
WEB_FIELDS = [
    "event_id",
    "ts",
    "event",
    "anon_id",
    "user_id",
    "device_id",
    "session_id",
    "url",
    "sku",
    "category",
    "qty",
    "price",
    "currency",
]
SOCIAL_FIELDS = ["id", "platform", "handle", "created_time", "text", "sentiment", "profile_email"]
# How docs/examples was generated (docs/sources.md): customers, days, seed.
EXAMPLE_RUN = (200, 14, 7)
DOCS = Path(__file__).resolve().parents[2] / "docs"


def run(
    out: Path | str,
    truth: Path,
    *extra: str,
    customers: int = CUSTOMERS,
    days: int = DAYS,
    seed: int = SEED,
) -> str:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(
            [
                "--customers",
                str(customers),
                "--days",
                str(days),
                "--seed",
                str(seed),
                "--out",
                str(out),
                "--truth",
                str(truth),
                "--quiet",
                *extra,
            ]
        )
    assert code == 0
    return stdout.getvalue()


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("gen")
    out, truth = root / "landing", root / "truth"
    stdout = run(out, truth, "--block-size", str(BLOCK))
    records = pd.read_parquet(truth / "record_person" / "batch-0001.parquet")
    people = pd.read_parquet(truth / "people.parquet")
    return {
        "out": out,
        "truth": truth,
        "stdout": stdout,
        "people": people,
        "person": {p["person_id"]: p for p in people.to_dict("records")},
        "ids": pd.read_parquet(truth / "identifier_person.parquet"),
        "records": records,
        # source -> record_key -> (person_id, invalid_reason)
        "owner": {
            s: dict(
                zip(
                    g["record_key"],
                    zip(g["person_id"], g["invalid_reason"], strict=True),
                    strict=True,
                )
            )
            for s, g in records.groupby("source")
        },
        "rows": {s: read_rows(out, s) for s in EXT},
    }


# ------------------------------------------------------------------ reading the native files


def files(out: Path, source: str, batch_name: str = "batch-0001") -> list[Path]:
    return sorted((out / source).glob(f"{batch_name}-part-*.{EXT[source]}"))


def read_rows(out: Path, source: str, batch_name: str = "batch-0001") -> list[dict]:
    """Every physical row of a source, parsed per the documented format, with its key."""
    rows = []
    for path in files(out, source, batch_name):
        text = path.read_text(encoding="utf-8")
        if EXT[source] == "csv":
            parsed = list(csv.DictReader(io.StringIO(text)))
        elif EXT[source] == "jsonl":
            parsed = [json.loads(line) for line in text.splitlines()]
        else:
            doc = json.loads(text)
            assert doc["meta"]["result_count"] == len(doc["data"])
            parsed = doc["data"]
        for row in parsed:
            row["_key"] = key_of(source, row)
            row["_file"] = f"{source}/{path.name}"
        rows += parsed
    return rows


def key_of(source: str, row: dict) -> str:
    """Record keys as documented in docs/sources.md."""
    if source == "crm":
        return f"{row['CustomerID']}|{row['Last Modified']}"
    if source == "orders":
        return f"{row['order_id']}|{row['status']}"
    if source == "tickets":
        return f"{row['ticket']}|{row['status'].lower()}"
    return row["event_id"] if source == "web" else row["id"]


def truth_of(batch: dict, source: str) -> pd.DataFrame:
    r = batch["records"]
    return r[r["source"] == source].set_index("record_key")


def valid_rows(batch: dict, source: str) -> list[dict]:
    owner = batch["owner"][source]
    return [r for r in batch["rows"][source] if owner[r["_key"]][1] is None]


def invalid_rows(batch: dict, source: str, reason: str) -> list[dict]:
    owner = batch["owner"][source]
    return [r for r in batch["rows"][source] if owner[r["_key"]][1] == reason]


def norm_email(value: str) -> str:
    return value.strip().lower()


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ------------------------------------------------------------------ layout and determinism


def test_writes_every_source_in_the_documented_layout(batch: dict) -> None:
    out, truth = batch["out"], batch["truth"]
    for source, ext in EXT.items():
        names = [p.name for p in files(out, source)]
        # 2,400 people in blocks of 400, five blocks per part file -> two parts.
        assert names == [f"batch-0001-part-00000.{ext}", f"batch-0001-part-00001.{ext}"]
        assert source in batch["stdout"]
    assert not [p for p in out.rglob(".*")], "temporary part files left behind"
    for name in (
        "people.parquet",
        "identifier_person.parquet",
        "record_person/batch-0001.parquet",
        "manifests/batch-0001.json",
    ):
        assert (truth / name).is_file()


def test_same_arguments_give_the_same_bytes_serial_or_parallel(batch: dict, tmp_path: Path) -> None:
    run(tmp_path / "a", tmp_path / "at", "--block-size", str(BLOCK), "--workers", "2")
    assert digest(tmp_path / "a") == digest(batch["out"])
    truth = digest(batch["truth"])
    truth.pop("manifests/batch-0001.json")  # names the output folder, which differs here
    other = digest(tmp_path / "at")
    other.pop("manifests/batch-0001.json")
    assert other == truth


def test_another_seed_gives_other_data(tmp_path: Path) -> None:
    run(tmp_path / "a", tmp_path / "at", customers=300, days=5, seed=1)
    run(tmp_path / "b", tmp_path / "bt", customers=300, days=5, seed=2)
    a, b = digest(tmp_path / "a"), digest(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(a[k] != b[k] for k in a)


def test_second_batch_adds_new_files_for_the_same_people(tmp_path: Path) -> None:
    out, truth = tmp_path / "landing", tmp_path / "truth"
    run(out, truth, customers=500, days=10)
    first = digest(out)
    people_before = pd.read_parquet(truth / "people.parquet")
    run(
        out,
        truth,
        "--start-date",
        "2026-08-11",
        "--batch-name",
        "batch-0002",
        customers=500,
        days=2,
    )
    after = digest(out)
    assert {k: v for k, v in after.items() if "batch-0001" in k} == first
    assert {k for k in after if "batch-0002" in k} == {
        f"{s}/batch-0002-part-00000.{e}" for s, e in EXT.items()
    }
    pd.testing.assert_frame_equal(pd.read_parquet(truth / "people.parquet"), people_before)
    for source in ("orders", "tickets", "web", "social"):  # new activity, new record ids
        keys1 = {r["_key"] for r in read_rows(out, source, "batch-0001")}
        keys2 = {r["_key"] for r in read_rows(out, source, "batch-0002")}
        assert keys2 and not keys1 & keys2
    # The CRM export is a full snapshot: the same customers again.
    crm1 = {r["CustomerID"] for r in read_rows(out, "crm", "batch-0001")} - {""}
    crm2 = {r["CustomerID"] for r in read_rows(out, "crm", "batch-0002")} - {""}
    assert crm1 <= crm2
    assert (truth / "record_person" / "batch-0002.parquet").is_file()


# ------------------------------------------------------------------ documented formats


def test_crm_rows_follow_the_documented_format(batch: dict) -> None:
    for path in files(batch["out"], "crm"):
        assert next(csv.reader(io.StringIO(path.read_text()))) == CRM_HEADER
    rows = valid_rows(batch, "crm")
    for r in rows:
        for col in ("Created", "Last Modified"):
            datetime.strptime(r[col], "%m/%d/%Y %H:%M")
        assert r["Tier"] in {"Free", "Standard", "Premium"}
        assert re.fullmatch(r"C\d{7}", r["CustomerID"])
    for r in invalid_rows(batch, "crm", "impossible_date"):
        assert r["Created"].startswith("02/30/")
    for r in invalid_rows(batch, "crm", "unparseable_timestamp"):
        with pytest.raises(ValueError):
            datetime.strptime(r["Last Modified"], "%m/%d/%Y %H:%M")
    # Profile history: some customers have two versions with different Last Modified.
    versions = Counter(r["CustomerID"] for r in {r["_key"]: r for r in rows}.values())
    assert max(versions.values()) == 2


def test_orders_follow_the_documented_format(batch: dict) -> None:
    for path in files(batch["out"], "orders"):
        assert next(csv.reader(io.StringIO(path.read_text()))) == ORDERS_HEADER
    rows = valid_rows(batch, "orders")
    placed = {r["order_id"] for r in rows if r["status"] == "placed"}
    for r in rows:
        ts = datetime.fromisoformat(r["order_ts"])
        assert ts.tzinfo is not None
        assert r["currency"] in {"USD", "EUR", "GBP", "CAD", "JPY"}
        items = json.loads(r["items"])
        if r["status"] == "placed":
            assert items and all(i["qty"] > 0 for i in items)
            assert int(r["total_amount_minor"]) == sum(
                i["qty"] * i["unit_price_minor"] for i in items
            )
        else:
            assert r["status"] == "refunded" and items == []
            assert r["order_id"] in placed
            assert int(r["total_amount_minor"]) > 0
    assert len({r["currency"] for r in rows}) == 5
    assert any(r["customer_ref"] == "" and r["email"] for r in rows), "no guest checkout"
    assert any(r["order_ts"].endswith("Z") for r in rows)
    assert any(re.search(r"[+-]\d{2}:\d{2}$", r["order_ts"]) for r in rows)
    assert {r["currency"] for r in invalid_rows(batch, "orders", "unknown_currency")} == {"XYZ"}
    for r in invalid_rows(batch, "orders", "negative_quantity"):
        assert any(i["qty"] < 0 for i in json.loads(r["items"]))


def test_tickets_follow_the_documented_format(batch: dict) -> None:
    rows = batch["rows"]["tickets"]
    assert all(list(r)[:-2] == TICKET_FIELDS for r in rows)
    valid = valid_rows(batch, "tickets")
    for r in valid:
        for col in ("created_at", "updated_at"):
            datetime.strptime(r[col], "%Y-%m-%d %H:%M:%S UTC")
        assert r["csat"] is None or 1 <= r["csat"] <= 5
        assert r["status"].lower() in {"new", "open", "pending", "solved", "closed"}
        assert r["priority"].lower() in {"p1", "p2", "p3", "p4", "urgent", "high", "normal", "low"}
    # Labels as different agents typed them: the same value in several casings.
    spellings = Counter(r["channel"].lower() for r in {r["channel"]: r for r in valid}.values())
    assert max(spellings.values()) >= 2
    # A ticket's lines are snapshots of one ticket: created_at never changes, updated_at grows.
    by_ticket: dict[str, list[dict]] = {}
    for r in valid:
        by_ticket.setdefault(r["ticket"], []).append(r)
    for lines in by_ticket.values():
        assert len({r["created_at"] for r in lines}) == 1
        assert all(r["updated_at"] >= r["created_at"] for r in lines)


def test_web_events_follow_the_documented_format(batch: dict) -> None:
    rows = batch["rows"]["web"]
    assert all(list(r)[:-2] == WEB_FIELDS for r in rows)
    start_ms = int(datetime(2026, 8, 1, tzinfo=UTC).timestamp()) * 1000
    end_ms = start_ms + DAYS * 86_400_000
    valid = valid_rows(batch, "web")
    for r in valid:
        assert isinstance(r["ts"], int) and start_ms <= r["ts"] < end_ms
        assert r["anon_id"].startswith("a-") and r["device_id"].startswith("d-")
        assert r["event"] in {
            "pageview",
            "product_view",
            "add_to_cart",
            "remove_from_cart",
            "checkout",
        }
        if r["event"] in ("add_to_cart", "remove_from_cart"):
            assert r["qty"] >= 1 and r["price"] > 0 and r["sku"]
    logged = [r for r in valid if r["user_id"] is not None]
    assert 0.3 < len(logged) / len(valid) < 0.9  # both anonymous and logged-in browsing
    for r in invalid_rows(batch, "web", "future_timestamp"):
        assert r["ts"] > end_ms + 10 * 365 * 86_400_000


def test_social_mentions_follow_the_documented_format(batch: dict) -> None:
    rows = batch["rows"]["social"]
    assert all(list(r)[:-2] == SOCIAL_FIELDS for r in rows)
    for r in valid_rows(batch, "social"):
        datetime.strptime(r["created_time"], "%a %b %d %H:%M:%S %z %Y")
        assert -1 <= r["sentiment"] <= 1
        assert r["handle"].startswith("@")
        assert r["platform"] in {"twitter", "instagram", "facebook", "tiktok"}


# ------------------------------------------------------------------ messiness


def test_messy_emails_phones_and_labels_are_present(batch: dict) -> None:
    emails = [r["E-mail"] for r in valid_rows(batch, "crm")]
    messy = [e for e in emails if e != e.strip().lower()]
    assert abs(len(messy) / len(emails) - SHARES.messy_email_share) < 0.05
    assert any(e != e.strip() for e in messy) and any(e.isupper() for e in messy)
    shapes = {re.sub(r"\d", "9", r["Phone"]) for r in valid_rows(batch, "crm") if r["Phone"]}
    assert len(shapes) >= 10  # "(415) 555-0134", "+44 20 7946 0958", "0049 30 1234567", ...
    assert {"US", "United States", "us"} <= {r["Country"] for r in valid_rows(batch, "crm")}


def test_duplicates_and_invalid_rows_at_the_configured_shares(batch: dict) -> None:
    for source in EXT:
        rows = batch["rows"][source]
        truth = truth_of(batch, source)
        physical = Counter(r["_key"] for r in rows)
        assert set(physical) == set(truth.index)  # every record is in the truth, once
        assert (truth["copies"] == truth.index.map(physical)).all()
        extra = len(rows) - len(truth)
        invalid = truth["invalid_reason"].notna().sum()
        assert extra >= 1 and invalid >= 1, source
        if source == "web":  # large enough for the shares to show exactly
            assert abs(extra / len(truth) - SHARES.duplicate_share) < 0.002
            assert abs(invalid / len(truth) - SHARES.invalid_share) < 0.002
        # Exact duplicates: the repeated line is byte-identical.
        lines = []
        for path in files(batch["out"], source):
            body = path.read_text().splitlines()
            # Without the CSV header / the JSON document's first and last line.
            body = body[1:] if EXT[source] == "csv" else body
            body = [ln.rstrip(",") for ln in body[1:-1]] if EXT[source] == "json" else body
            lines += body
        assert len(lines) - len(set(lines)) == extra


def test_web_volume_follows_the_configured_rate(batch: dict) -> None:
    web = truth_of(batch, "web")
    expected = SHARES.web_events_per_customer_per_day * CUSTOMERS * DAYS
    assert abs(len(web) / expected - 1) < 0.05


# ------------------------------------------------------------------ ground truth


def test_people_truth(batch: dict) -> None:
    people = batch["people"]
    assert len(people) == CUSTOMERS
    assert people["person_id"].is_unique
    registered = people[people["registered"]]
    assert registered["customer_id"].notna().all() and registered["customer_id"].is_unique
    assert people.loc[~people["registered"], "customer_id"].isna().all()
    assert set(people["archetype"]) == {
        "champion",
        "loyal",
        "occasional",
        "at_risk",
        "churned",
        "support_heavy",
        "browser",
    }
    assert (people["churned"] == (people["archetype"] == "churned")).all()
    assert people.loc[people["churned"], "churn_at"].notna().all()
    assert people["email"].str.fullmatch(r"[a-z0-9._]+@[a-z0-9.-]+").all()
    phones = people["phone"].dropna()
    assert phones.str.fullmatch(r"\+\d{8,15}").all()
    handles = people["social_handle"].dropna()
    assert handles.str.fullmatch(r"(twitter|instagram|facebook|tiktok):[a-z0-9._]+").all()
    assert people["device_ids"].map(len).min() >= 1


def test_identifier_truth(batch: dict) -> None:
    ids = batch["ids"]
    per_value = ids.groupby(["id_type", "id_value"])["person_id"].nunique()
    own = ids[~ids["shared"]]
    assert (per_value.loc[list(zip(own["id_type"], own["id_value"], strict=True))] == 1).all()
    shared = ids[ids["shared"]]
    assert (shared["n_persons"] >= 2).all()
    devices = shared[shared["id_type"] == "device_id"]
    assert devices.groupby("id_value")["person_id"].nunique().between(2, 6).all()
    test_email = ids[(ids["id_type"] == "email") & (ids["id_value"] == "test@example.com")]
    assert test_email["deny_listed"].all() and test_email["person_id"].nunique() >= 2
    inboxes = shared[shared["id_value"].str.startswith("support@", na=False)]
    assert len(inboxes) and (inboxes["n_persons"] >= 2).all()
    # Every identifier a person holds in people.parquet is listed for that person.
    people = batch["people"].set_index("person_id")
    listed = set(zip(ids["id_type"], ids["id_value"], ids["person_id"], strict=True))
    for pid, row in people.sample(200, random_state=0).iterrows():
        assert ("email", row["email"], pid) in listed
        for device in row["device_ids"]:
            assert ("device_id", device, pid) in listed


def test_record_truth_points_at_real_people(batch: dict) -> None:
    records = batch["records"]
    owned = records["person_id"].dropna()
    assert owned.isin(batch["people"]["person_id"]).all()
    # Only rows stripped of every identifier have no owner.
    unowned = records[records["person_id"].isna()]
    assert len(unowned) and (unowned["invalid_reason"] == "no_identifier").all()
    assert (
        records["file"].str.match(r"(crm|orders|tickets|web|social)/batch-0001-part-\d{5}")
    ).all()


def test_identifiers_in_records_belong_to_the_true_person(batch: dict) -> None:
    def person(source: str, row: dict) -> dict:
        return batch["person"][batch["owner"][source][row["_key"]][0]]

    for r in valid_rows(batch, "web"):
        p = person("web", r)
        assert r["device_id"] in p["device_ids"] and r["anon_id"] in p["anonymous_ids"]
        assert r["user_id"] in (None, p["customer_id"])
    for r in valid_rows(batch, "orders"):
        p = person("orders", r)
        assert r["customer_ref"] in ("", p["customer_id"])
        assert norm_email(r["email"]) in {p["email"], p["alt_email"], "test@example.com"}
    for r in valid_rows(batch, "tickets"):
        p = person("tickets", r)
        assert r["requester"]["customer_number"] in (None, p["customer_id"])
        assert norm_email(r["requester"]["email"]) in {
            p["email"],
            p["alt_email"],
            p["company_inbox"],
        }
    for r in valid_rows(batch, "social"):
        p = person("social", r)
        assert f"{r['platform']}:{r['handle'][1:].lower()}" == p["social_handle"]
        if r["profile_email"] is not None:
            assert norm_email(r["profile_email"]) in {p["email"], p["alt_email"]}
    for r in valid_rows(batch, "crm"):
        assert person("crm", r)["customer_id"] == r["CustomerID"]


def test_shared_identifiers_span_several_people_in_the_records(batch: dict) -> None:
    owner = batch["owner"]["orders"]
    test_users = {
        owner[r["_key"]][0]
        for r in valid_rows(batch, "orders")
        if norm_email(r["email"]) == "test@example.com"
    }
    assert len(test_users) >= 2
    users_per_device: dict[str, set[str]] = {}
    for r in valid_rows(batch, "web"):
        if r["user_id"]:
            users_per_device.setdefault(r["device_id"], set()).add(r["user_id"])
    family = {d for d, users in users_per_device.items() if len(users) >= 2}
    assert family
    ids = batch["ids"]
    flagged = set(ids.loc[(ids["id_type"] == "device_id") & ids["shared"], "id_value"])
    assert family <= flagged  # several customers on one device only where truly shared


def test_churned_people_stop_buying_and_browsing(batch: dict) -> None:
    people = batch["people"].set_index("person_id")
    churn = people.loc[people["churned"], "churn_at"]
    records = batch["records"]
    # Refunds and ticket updates after churn are the shop's doing; what the person does stops.
    key = records["record_key"]
    did = (
        records["source"].isin(["web", "social"])
        | ((records["source"] == "orders") & key.str.endswith("|placed"))
        | ((records["source"] == "tickets") & key.str.endswith("|new"))
    )
    active = records[did & records["person_id"].isin(churn.index)]
    assert len(active)
    assert (active["event_time"].values < churn.loc[active["person_id"]].values).all()
    ts = {r["_key"]: datetime.fromisoformat(r["order_ts"]) for r in valid_rows(batch, "orders")}
    orders = active[active["source"] == "orders"]
    for key, pid in zip(orders["record_key"], orders["person_id"], strict=True):
        if key in ts:
            assert ts[key] < churn[pid]


def test_pairwise_scores_count_same_person_pairs() -> None:
    # items a,b,c are person 1, d,e person 2; prediction merges c with d,e.
    actual = pd.Series(["p1", "p1", "p1", "p2", "p2"])
    predicted = pd.Series(["x", "x", "y", "y", "y"])
    s = pairwise_scores(predicted, actual)
    assert (s.true_pairs, s.predicted_pairs, s.correct_pairs) == (4, 4, 2)
    assert s.precision == 0.5 and s.recall == 0.5


# ------------------------------------------------------------------ docs and negative cases


def test_docs_examples_are_real_generator_output(tmp_path: Path) -> None:
    customers, days, seed = EXAMPLE_RUN
    run(tmp_path / "l", tmp_path / "t", customers=customers, days=days, seed=seed)
    for source, ext in EXT.items():
        example = DOCS / "examples" / f"{source}.{ext}"
        lines = example.read_text(encoding="utf-8").splitlines()
        generated = set(
            (tmp_path / "l" / source / f"batch-0001-part-00000.{ext}")
            .read_text(encoding="utf-8")
            .splitlines()
        )
        if ext == "json":
            doc = json.loads(example.read_text(encoding="utf-8"))
            assert 5 <= len(doc["data"]) <= 20
            lines = lines[1:-1]
            generated = {g.rstrip(",") for g in generated}
            lines = [ln.rstrip(",") for ln in lines]
        else:
            assert 5 <= len(lines) <= 21
        assert set(lines) <= generated, f"{example} is not current generator output"
        assert f"examples/{source}.{ext}" in (DOCS / "sources.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customers": 0}, "customers"),
        ({"days": 0}, "days"),
    ],
)
def test_spec_rejects_impossible_runs(kwargs: dict, message: str) -> None:
    args = {"seed": 1, "customers": 10, "start": START, "days": 1} | kwargs
    with pytest.raises(ValueError, match=message):
        GeneratorSpec(**args)


def test_shares_must_be_shares() -> None:
    with pytest.raises(ValueError, match="duplicate_share"):
        Shares.from_mapping({"duplicate_share": 1.5})
    assert Shares.from_mapping({"seed": 3, "invalid_share": 0.1}).invalid_share == 0.1


def test_object_storage_landing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="local files only"):
        run("s3a://bucket/landing", tmp_path / "t", customers=10, days=1)
