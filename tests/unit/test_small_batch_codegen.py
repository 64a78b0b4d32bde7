"""A small micro-batch evaluates its expressions interpreted (pipelines/stream/microbatch.py,
``streaming.interpreted_max_records``): its size comes from the checkpoint's offsets files
before anything is read; a batch of unknown size, or larger, keeps the session's own code
generation settings."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.config import overridden
from pipelines.stream.microbatch import CODEGEN_KEYS, StreamContext, _choose_codegen
from pipelines.stream.offsets import checkpoint_end_offsets, records_in_batch


def _offsets(checkpoint: Path, batch_id: int, ends: dict[str, dict[str, int]]) -> None:
    """An offsets file as Structured Streaming writes it: version, metadata, one source."""
    folder = checkpoint / "offsets"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(batch_id)).write_text(
        "v1\n" + json.dumps({"batchWatermarkMs": 0, "batchTimestampMs": 0}) + "\n"
        + json.dumps(ends) + "\n", encoding="utf-8")


def test_the_batch_size_is_the_offsets_it_adds_over_the_batch_before(spark, tmp_path):
    checkpoint = tmp_path / "cp"
    _offsets(checkpoint, 0, {"t": {"0": 10, "1": 5}})
    _offsets(checkpoint, 1, {"t": {"0": 13, "1": 5, "2": 4}})  # partition 2 added: from 0
    def size(batch_id: int) -> int | None:
        end = checkpoint_end_offsets(spark, str(checkpoint), batch_id)
        return records_in_batch(spark, str(checkpoint), batch_id, end)

    assert size(1) == 3 + 0 + 4
    assert size(0) is None  # nothing before it
    assert size(2) is None  # not planned yet


def test_small_batches_interpreted_others_as_the_session_has_it(spark, conf):
    session = spark.newSession()
    own = ("true", "FALLBACK")  # production's; the test env itself runs interpreted
    for key, value in zip(CODEGEN_KEYS, own, strict=True):
        session.conf.set(key, value)
    ctx = StreamContext.from_conf(overridden(conf, {"streaming.interpreted_max_records": 100}))

    def settings() -> tuple[str, ...]:
        return tuple(session.conf.get(k) for k in CODEGEN_KEYS)

    _choose_codegen(session, ctx, 100)
    assert settings() == ("false", "NO_CODEGEN")
    _choose_codegen(session, ctx, 101)
    assert settings() == own
    _choose_codegen(session, ctx, 1)
    _choose_codegen(session, ctx, None)  # size unknown: a query's first batch
    assert settings() == own
