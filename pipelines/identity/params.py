"""Identity-resolution settings (``identity:`` in conf/base.yaml) as one typed object."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.config import Conf, ConfigError

CHECKPOINT_MODES = ("local", "reliable")


@dataclass(frozen=True)
class IdentityParams:
    """The guards and knobs of identity resolution.

    Attributes:
        deny_list: normalized identifier values (of any type) that never link anyone, e.g.
            ``test@example.com`` or a placeholder phone ``+10000000000``.
        deny_patterns: Java regexes; a value matching any of them is denied (shared inboxes
            such as ``^(support|info|noreply)@``).
        max_customer_ids_per_identifier: fan-out limit N. A non-customer_id identifier seen in
            records with more than N distinct customer ids is *shared* and never links people.
        max_anonymous_ids_per_device: K. A device nobody logged in on, seen with at most K
            distinct anonymous ids, links like any identifier (K = 2 joins one visitor's
            reset cookies, and two strangers' on a library PC); with more, or once a customer
            logged in on it, it is weak (docs/identity.md).
        profile_id_prefix: prefix of newly minted profile ids (the rest is 16 hex digits).
        checkpoint: ``local`` (``localCheckpoint``: fast, executor storage) or ``reliable``
            (``checkpoint``: needs ``SparkContext.setCheckpointDir``, survives executor loss).
        checkpoint_every: cut the lineage of the components loop every this many iterations.
        max_iterations: the components loop fails loudly rather than run past this.
        local_max_records: a batch of at most this many records is resolved on the driver
            (``small_batch.resolve_small``); larger ones by Spark (``resolve``).
        never_link: (id_type, id_value, with_id_type, with_id_value) rules from the
            ``identity_never_link`` table (``never_link.py``; not in conf: the unmerge job
            adds them at run time). ``store.identity_params`` fills them in.
    """

    deny_list: tuple[str, ...] = ()
    deny_patterns: tuple[str, ...] = ()
    max_customer_ids_per_identifier: int = 1
    max_anonymous_ids_per_device: int = 1
    profile_id_prefix: str = "p_"
    checkpoint: str = "local"
    checkpoint_every: int = 2
    max_iterations: int = 60
    local_max_records: int = 0
    never_link: tuple[tuple[str, str, str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.max_customer_ids_per_identifier < 1:
            raise ConfigError("identity.max_customer_ids_per_identifier must be at least 1")
        if self.max_anonymous_ids_per_device < 0:
            raise ConfigError("identity.max_anonymous_ids_per_device must be at least 0")
        if self.local_max_records < 0:
            raise ConfigError("identity.local_max_records must be at least 0")
        if self.checkpoint_every < 1 or self.max_iterations < 1:
            raise ConfigError("identity.checkpoint_every and max_iterations must be at least 1")
        if self.checkpoint not in CHECKPOINT_MODES:
            raise ConfigError(
                f"identity.checkpoint is '{self.checkpoint}'; use one of {CHECKPOINT_MODES}"
            )

    @classmethod
    def from_conf(cls, conf: Conf) -> IdentityParams:
        section = conf.get("identity")
        return cls(
            deny_list=tuple(str(v) for v in section.get("deny_list", []) or []),
            deny_patterns=tuple(str(v) for v in section.get("deny_patterns", []) or []),
            max_customer_ids_per_identifier=int(section.get("max_customer_ids_per_identifier")),
            max_anonymous_ids_per_device=int(section.get("max_anonymous_ids_per_device")),
            profile_id_prefix=str(section.get("profile_id_prefix")),
            checkpoint=str(section.get("checkpoint", "local")),
            checkpoint_every=int(section.get("checkpoint_every")),
            max_iterations=int(section.get("max_iterations")),
            local_max_records=int(section.get("local_max_records")),
        )
