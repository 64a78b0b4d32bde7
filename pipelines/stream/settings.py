"""Streaming settings (``streaming:`` and ``currency:`` in conf/base.yaml) as typed objects."""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipelines.config import Conf, ConfigError
from pipelines.events.params import ParseParams


@dataclass(frozen=True)
class StreamSettings:
    query_name: str
    topics: tuple[str, ...]
    bootstrap_servers: str
    trigger_interval: str
    max_offsets_per_trigger: int
    starting_offsets: str
    fail_on_data_loss: bool
    checkpoint_dir: str
    parse: ParseParams
    last_event_ids_kept: int = 20
    retry_attempts: int = 5
    retry_backoff_s: float = 0.5
    interpreted_max_records: int = 0

    def __post_init__(self) -> None:
        if not self.query_name or "/" in self.query_name:
            raise ConfigError(f"streaming.query_name '{self.query_name}' must be set, no '/'")
        if not self.topics:
            raise ConfigError("streaming.topics names no topic")
        if self.max_offsets_per_trigger < 1 or self.retry_attempts < 1:
            raise ConfigError("streaming.max_offsets_per_trigger and retry.max_attempts >= 1")

    @property
    def checkpoint(self) -> str:
        """The query's checkpoint: one folder per query name."""
        return f"{self.checkpoint_dir.rstrip('/')}/{self.query_name}"

    def with_overrides(self, **changes) -> StreamSettings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_conf(cls, conf: Conf) -> StreamSettings:
        s = conf.get("streaming")
        return cls(
            query_name=str(s.get("query_name")),
            topics=tuple(str(t) for t in s.get("topics")),
            bootstrap_servers=str(conf.get("kafka.bootstrap_servers")),
            trigger_interval=str(s.get("trigger_interval")),
            max_offsets_per_trigger=int(s.get("max_offsets_per_trigger")),
            starting_offsets=str(s.get("starting_offsets")),
            fail_on_data_loss=bool(s.get("fail_on_data_loss")),
            checkpoint_dir=conf.path("paths.checkpoints"),
            parse=ParseParams.from_conf(conf),
            last_event_ids_kept=int(s.get("last_event_ids_kept")),
            retry_attempts=int(s.get("retry.max_attempts")),
            retry_backoff_s=float(s.get("retry.backoff_s")),
            interpreted_max_records=int(s.get("interpreted_max_records")),
        )


def stream_conf(conf: Conf) -> Conf:
    """``conf`` with ``streaming.spark_settings`` added to ``spark.settings``: the session the
    streaming job builds (see conf/base.yaml for why)."""
    extra = conf.get("streaming.spark_settings", default=None)
    if extra is None:
        return conf
    data = conf.to_dict()
    data["spark"]["settings"].update({k: str(v) for k, v in extra.items()})
    return Conf(data, conf.env, conf.files, conf.project_dir)


def fold_params(conf: Conf):
    """The profile fold's bounds from conf ``profiles`` (the batch build reads the same)."""
    from pipelines.profiles.rules import FoldParams

    return FoldParams.from_conf(conf)
