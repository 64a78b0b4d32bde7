"""Send envelope events for a customer population to Kafka at a target rate.

Business rules:
- every message is keyed by one identifier of its person (``Customer.key``), so a person's
  events stay in one partition and in send order there;
- of every block of ``KindSchedule.BLOCK`` messages (or of the whole run when its size is
  known), exactly round(share × size) are late, duplicated and malformed, at random positions;
  the rest are valid and on time;
- the rate is paced against a schedule (message *i* is due at start + i / rate), so the achieved
  rate matches the target over any second; paced, a duration means rate × duration messages;
  ``rate <= 0`` sends as fast as the broker acks until the count or duration is reached;
- delivery is ``acks=all`` with the idempotent producer; a message that fails delivery is
  counted in ``errors``, never retried by hand (that would be a duplicate we did not plan).
"""

from __future__ import annotations

import importlib.util
import random
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

from pipelines.config import Conf
from pipelines.events.envelope import (
    COUNTRIES,
    ON_TIME_LAG_S,
    SOCIAL_PLATFORMS,
    Customer,
    Message,
    build_envelope,
    duplicate,
    make_late,
    malformed,
    new_event_id,
    serialize,
)
from pipelines.schemas.events import EVENT_TYPES

# Throughput tuning. Batches of up to 256 KiB that wait at most 20 ms: the pure-Python client
# spends its time per request, not per byte, so fewer, fuller requests are faster. Overridable
# from conf (producer.linger_ms / producer.batch_size) when an environment declares them.
DEFAULT_LINGER_MS = 20
DEFAULT_BATCH_SIZE = 256 * 1024
# kafka-python checksums every record batch (CRC-32C). Without the ``crc32c`` C extension that
# checksum runs in pure Python and costs more than gzip-compressing the batch first, which
# shrinks the bytes to checksum ~5x (measured: 10.8k → 13.8k events/s). With the extension,
# uncompressed is fastest (18.7k events/s). Loopback bandwidth is never the limit here.
DEFAULT_COMPRESSION = None if importlib.util.find_spec("crc32c") else "gzip"
MAX_BURST = 500  # messages built between clock checks at max rate
MAX_BACKLOG_S = 1.0  # behind schedule by more than this: give up the backlog, don't burst

# Relative frequency of each event type: browsing dominates, money and support are rarer.
EVENT_WEIGHTS: dict[str, float] = {
    "page_view": 30, "product_view": 20, "add_to_cart": 8, "remove_from_cart": 2,
    "checkout_started": 3, "order_placed": 3, "order_refunded": 0.5,
    "ticket_opened": 1.5, "ticket_updated": 1.5, "ticket_closed": 1.2, "csat_submitted": 0.8,
    "chat_message": 12, "profile_updated": 1.5, "consent_updated": 0.5, "social_mention": 1.5,
}
_EVENT_CUM = list(accumulate(EVENT_WEIGHTS[t] for t in EVENT_TYPES))


@dataclass(frozen=True)
class Shares:
    """Shares of messy messages; the rest are valid. Duplicates re-send earlier messages."""

    late: float = 0.0
    duplicate: float = 0.0
    malformed: float = 0.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} share must be within [0, 1], got {value}")
        if self.late + self.duplicate + self.malformed > 1.0:
            raise ValueError("late + duplicate + malformed shares exceed 1")
        if self.duplicate > 0.5:
            raise ValueError("duplicate share above 0.5: duplicates need originals to repeat")


# ---------------------------------------------------------------- customers

FIRST_NAMES = ("Anna", "Lukas", "Emma", "Noah", "Mia", "Léa", "José", "Sofia", "Oliver", "Olivia",
               "Liam", "Chloé", "Mateo", "Giulia", "Lars", "Zoë", "Jan", "Ewa", "Sven", "Amelia",
               "Jack", "Marta", "Hugo", "Isabel")
LAST_NAMES = ("Müller", "Schmidt", "Martin", "García", "Rossi", "de Vries", "Smith", "Jones",
              "Johansson", "Nowak", "Bernard", "López", "Bianchi", "Jansen", "Williams",
              "Andersson", "Kowalski", "Dubois", "Fernández", "Weber")
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example")
COUNTRY_WEIGHTS = {"DE": 30, "FR": 12, "ES": 8, "IT": 8, "NL": 6, "GB": 12, "US": 12,
                   "CH": 4, "SE": 4, "PL": 4}
TIER_WEIGHTS = {"bronze": 50, "silver": 30, "gold": 15, "platinum": 5}


def _ascii(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return plain.lower().replace(" ", "")


def synthetic_population(n: int, seed: int) -> list[Customer]:
    """``n`` people with customer_id ``C%07d`` (1-based), email, device, anonymous id; most
    have a phone, some a social handle. The same seed gives the same people."""
    if n < 1:
        raise ValueError("a population needs at least one customer")
    rng = random.Random(seed)
    countries, cweights = zip(*COUNTRY_WEIGHTS.items(), strict=True)
    tiers, tweights = zip(*TIER_WEIGHTS.items(), strict=True)
    people = []
    for i in range(1, n + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        country = rng.choices(countries, cweights)[0]
        handle = phone = None
        if rng.random() < 0.8:
            phone = f"+{COUNTRIES[country][2]}{rng.randrange(10**9, 10**10)}"
        if rng.random() < 0.4:
            handle = f"{rng.choice(SOCIAL_PLATFORMS)}:@{_ascii(first)}{_ascii(last)[0]}_{i}"
        people.append(Customer(
            customer_id=f"C{i:07d}",
            email=f"{_ascii(first)}.{_ascii(last)}{i}@{rng.choice(EMAIL_DOMAINS)}",
            phone=phone,
            device_id=f"dev-{rng.getrandbits(64):016x}",
            anonymous_id=f"anon-{rng.getrandbits(80):020x}",
            social_handle=handle,
            first_name=first,
            last_name=last,
            country=country,
            language=COUNTRIES[country][0],
            account_tier=rng.choices(tiers, tweights)[0],
        ))
    return people


def _first(row: dict[str, Any], *names: str) -> str | None:
    # Ground-truth tables may hold one value or a list (several devices per person).
    for name in names:
        value = row.get(name)
        if isinstance(value, (list, tuple)):
            value = next((v for v in value if v), None)
        if value:
            return str(value)
    return None


def load_customers(path: str | Path) -> list[Customer]:
    """People from a ground-truth table (parquet: customer_id, email, phone, device ids…).

    Columns are matched by name and any may be missing; ``person_id`` is ground truth and never
    becomes an identifier. Rows without any identifier are skipped.
    """
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    people = []
    for row in table.to_pylist():
        country = _first(row, "country", "country_code") or "DE"
        customer = Customer(
            customer_id=_first(row, "customer_id"),
            email=_first(row, "email", "emails"),
            phone=_first(row, "phone", "phones"),
            device_id=_first(row, "device_id", "device_ids"),
            anonymous_id=_first(row, "anonymous_id", "anonymous_ids"),
            social_handle=_first(row, "social_handle", "social_handles"),
            first_name=_first(row, "first_name"),
            last_name=_first(row, "last_name"),
            country=country.upper(),
            language=_first(row, "language"),
            account_tier=_first(row, "account_tier", "tier") or "bronze",
        )
        if any((customer.customer_id, customer.email, customer.phone, customer.device_id,
                customer.anonymous_id, customer.social_handle)):
            people.append(customer)
    if not people:
        raise ValueError(f"{path}: no row has an identifier column set "
                         f"(columns: {', '.join(table.column_names)})")
    return people


# ---------------------------------------------------------------- the message stream


class KindSchedule:
    """Which kind each successive message is: exact shares per block, random positions.

    Each messy kind gets floor(carry + share × block) slots, the remainder carried to the next
    block (starting at 0.5), so after any whole number of blocks the count is round(share × n).
    """

    BLOCK = 1000

    def __init__(self, shares: Shares, rng: random.Random, total: int | None = None) -> None:
        self._shares = {"late": shares.late, "duplicate": shares.duplicate,
                        "malformed": shares.malformed}
        self._carry = dict.fromkeys(self._shares, 0.5)
        self._rng = rng
        self._remaining = total
        self._queue: list[str] = []

    def _fill(self) -> None:
        size = self.BLOCK if self._remaining is None else max(1, min(self.BLOCK, self._remaining))
        if self._remaining is not None:
            self._remaining -= size
        block: list[str] = []
        for kind, share in self._shares.items():
            exact = self._carry[kind] + share * size
            n = int(exact)
            self._carry[kind] = exact - n
            block += [kind] * n
        block += ["valid"] * (size - len(block))
        self._rng.shuffle(block)
        self._queue = block[::-1]  # pop() from the end walks the shuffled block in order

    def next(self, can_duplicate: bool = True) -> str:
        if not self._queue:
            self._fill()
        kind = self._queue.pop()
        if kind == "duplicate" and not can_duplicate:
            # Nothing sent yet to repeat: swap with the next slot that is not a duplicate.
            for j in range(len(self._queue) - 1, -1, -1):
                if self._queue[j] != "duplicate":
                    kind, self._queue[j] = self._queue[j], kind
                    break
            else:
                kind = "valid"
        return kind


class EventStream(Iterator[Message]):
    """Endless messages for a population: who acts is skewed (a few people are very active),
    what they do follows ``EVENT_WEIGHTS``, and the kind follows ``KindSchedule``."""

    RECENT = 1000  # duplicates repeat one of the last RECENT well-formed messages

    def __init__(
        self,
        customers: Sequence[Customer],
        shares: Shares,
        max_lateness_s: float,
        seed: int,
        total: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not customers:
            raise ValueError("no customers to produce events for")
        self._rng = random.Random(seed)
        # event_ids come from the OS: two runs with the same seed must not collide on the
        # idempotency key, or the second run would be deduplicated away entirely.
        self._ids = random.Random()
        self._customers = list(customers)
        weights = [min(self._rng.paretovariate(1.2), 50.0) for _ in self._customers]
        self._cum = list(accumulate(weights))
        self._kinds = KindSchedule(shares, self._rng, total)
        self._max_lateness_s = max_lateness_s
        self._clock = clock
        self._recent: list[Message] = []
        self._next_slot = 0
        self._last_order: dict[str, tuple[str, float]] = {}

    def __next__(self) -> Message:
        rng = self._rng
        kind = self._kinds.next(can_duplicate=bool(self._recent))
        if kind == "duplicate":
            return duplicate(self._recent[rng.randrange(len(self._recent))])
        customer = rng.choices(self._customers, cum_weights=self._cum)[0]
        event_type = rng.choices(EVENT_TYPES, cum_weights=_EVENT_CUM)[0]
        if event_type == "social_mention" and not customer.social_handle:
            event_type = "page_view"  # no social account: nothing to mention
        now = self._clock()
        env = build_envelope(event_type, customer, rng, now - rng.uniform(0, ON_TIME_LAG_S),
                             new_event_id(self._ids), refund_of=self._last_order.get(customer.key))
        key = customer.key.encode("utf-8")
        if kind == "malformed":
            payload, bad, flaw = malformed(env, now, rng)
            event_id = bad.get("event_id") if bad else None
            return Message(key, payload, kind, event_id if isinstance(event_id, str) else None,
                           bad, flaw)
        if kind == "late":
            env = make_late(env, now, self._max_lateness_s, rng)
        if event_type == "order_placed":
            self._last_order[customer.key] = (env["properties"]["order_id"],
                                              env["properties"]["amount"])
        msg = Message(key, serialize(env), kind, env["event_id"], env)
        self._remember(msg)
        return msg

    def _remember(self, msg: Message) -> None:
        if len(self._recent) < self.RECENT:
            self._recent.append(msg)
        else:
            self._recent[self._next_slot] = msg
            self._next_slot = (self._next_slot + 1) % self.RECENT


# ---------------------------------------------------------------- sending


@dataclass(frozen=True)
class ProducerSettings:
    """Where and how fast to send; ``count`` or ``duration_s`` ends the run (whichever first)."""

    bootstrap_servers: str
    topic: str
    rate: float  # events per second; <= 0 means as fast as possible
    shares: Shares
    max_lateness_s: float
    seed: int
    duration_s: float | None = None
    count: int | None = None
    linger_ms: int = DEFAULT_LINGER_MS
    batch_size: int = DEFAULT_BATCH_SIZE
    compression: str | None = DEFAULT_COMPRESSION

    def planned_total(self) -> int | None:
        """Messages the run will send if it keeps up: count, or rate × duration when paced."""
        paced = int(self.duration_s * self.rate) if self.duration_s and self.rate > 0 else None
        if self.count is not None and paced is not None:
            return min(self.count, paced)
        return self.count if self.count is not None else paced


def settings_from_conf(
    conf: Conf,
    *,
    topic: str | None = None,
    bootstrap_servers: str | None = None,
    rate: float | None = None,
    duration_s: float | None = None,
    count: int | None = None,
    late_share: float | None = None,
    duplicate_share: float | None = None,
    malformed_share: float | None = None,
    seed: int | None = None,
) -> ProducerSettings:
    """Settings from ``kafka.*`` and ``producer.*``; arguments given override conf. Without a
    count the run lasts ``producer.duration_s``; with a count and no duration, until sent."""
    p = conf.get("producer")

    def pick(value: Any, key: str) -> Any:
        return p[key] if value is None else value

    if count is not None and count < 1:
        raise ValueError("count must be at least 1")
    return ProducerSettings(
        bootstrap_servers=bootstrap_servers or str(conf.get("kafka.bootstrap_servers")),
        topic=topic or str(conf.get("kafka.topics.events.name")),
        rate=float(pick(rate, "rate")),
        shares=Shares(float(pick(late_share, "late_share")),
                      float(pick(duplicate_share, "duplicate_share")),
                      float(pick(malformed_share, "malformed_share"))),
        max_lateness_s=float(p["max_lateness_s"]),
        seed=int(conf.get("generator.seed") if seed is None else seed),
        duration_s=duration_s if duration_s is not None or count is not None
        else float(p["duration_s"]),
        count=count,
        linger_ms=int(p["linger_ms"]),
        batch_size=int(p["batch_size"]),
        compression=DEFAULT_COMPRESSION if p["compression"] == "auto" else p["compression"],
    )


@dataclass
class ProduceReport:
    """What a run sent: counts by kind and malformed flaw, elapsed seconds (including the final
    flush, so every counted message was acknowledged or failed), achieved rate and errors."""

    topic: str
    target_rate: float
    sent: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("valid", "late", "duplicate", "malformed"), 0))
    by_flaw: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def shares(self) -> dict[str, float]:
        return {k: (v / self.sent if self.sent else 0.0) for k, v in self.by_kind.items()}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rate": round(self.rate, 1),
                "shares": {k: round(v, 4) for k, v in self.shares().items()}}

    def summary(self) -> str:
        target = "max" if self.target_rate <= 0 else f"{self.target_rate:g}/s"
        kinds = ", ".join(f"{k} {v} ({self.shares()[k]:.1%})" for k, v in self.by_kind.items())
        return (f"sent {self.sent} events to {self.topic} in {self.seconds:.2f}s: "
                f"{self.rate:,.0f} events/s (target {target}); {kinds}; errors {self.errors}")


class Pacer:
    """How many messages may go now so that message *i* leaves at origin + i / rate.

    At ``rate <= 0`` every call allows a burst of ``MAX_BURST``. A sender more than
    ``MAX_BACKLOG_S`` behind schedule restarts the schedule instead of bursting to catch up.
    """

    def __init__(self, rate: float, origin: float) -> None:
        self.rate = rate
        self.origin = origin

    def allowance(self, now: float, sent: int) -> int:
        if self.rate <= 0:
            return MAX_BURST
        due = int((now - self.origin) * self.rate) + 1
        if due - sent > max(1.0, self.rate * MAX_BACKLOG_S):
            # Far behind (a GC pause, a stalled broker): catching up in one burst would spike
            # the rate downstream, so give up the backlog.
            self.origin = now - sent / self.rate
            due = sent + 1
        return max(0, min(due - sent, MAX_BURST))

    def wait(self, now: float, sent: int) -> float:
        """Seconds until message number ``sent`` is due (0 at max rate)."""
        return max(0.0, sent / self.rate - (now - self.origin)) if self.rate > 0 else 0.0


class _Errors:
    """Collects delivery failures reported by the client's I/O thread."""

    def __init__(self, report: ProduceReport) -> None:
        self._report = report
        self._lock = threading.Lock()  # the I/O thread and the sending loop both report

    def __call__(self, exc: BaseException) -> None:
        with self._lock:
            self._report.errors += 1
            if len(self._report.error_samples) < 5:
                self._report.error_samples.append(repr(exc))


class ProducerError(RuntimeError):
    """The broker cannot be reached or the topic does not exist."""


def _connect(settings: ProducerSettings):
    from kafka import KafkaProducer
    from kafka.errors import KafkaError, KafkaTimeoutError

    try:
        producer = KafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            client_id="profilake-producer",
            acks="all",
            enable_idempotence=True,  # broker-side dedupe of the client's own retries
            linger_ms=settings.linger_ms,
            batch_size=settings.batch_size,
            compression_type=settings.compression,
            allow_auto_create_topics=False,
            # Fail fast on a wrong address or topic name instead of hanging half a minute.
            bootstrap_timeout_ms=10000,
            max_block_ms=5000,
            delivery_timeout_ms=60000,
            metrics_enabled=False,  # per-record metrics cost ~10% of throughput
        )
    except KafkaError as exc:
        raise ProducerError(f"no Kafka broker at {settings.bootstrap_servers}: {exc!r}") from exc
    try:
        producer.partitions_for(settings.topic)
    except KafkaTimeoutError as exc:
        producer.close(timeout=5)
        raise ProducerError(f"topic {settings.topic!r} not found on "
                            f"{settings.bootstrap_servers}") from exc
    return producer


def produce(
    settings: ProducerSettings,
    customers: Sequence[Customer],
    *,
    on_message: Callable[[Message], None] | None = None,
    on_progress: Callable[[ProduceReport], None] | None = None,
    progress_every_s: float = 1.0,
) -> ProduceReport:
    """Send messages until ``count`` are sent or ``duration_s`` has passed; flush; report.

    Args:
        on_message: called with every message handed to the client (a test's record of what
            was sent, including each malformed message's flaw).
        on_progress: called about every ``progress_every_s`` with the running report.
    Ctrl-C ends the run early; what was sent is still flushed and reported.
    """
    if settings.count is None and settings.duration_s is None:
        raise ValueError("give a count or a duration")
    stream = EventStream(customers, settings.shares, settings.max_lateness_s, settings.seed,
                         total=settings.planned_total())
    report = ProduceReport(settings.topic, settings.rate)
    on_error = _Errors(report)
    producer = _connect(settings)
    send, topic, kinds = producer.send, settings.topic, report.by_kind
    limit = settings.planned_total()
    deadline = settings.duration_s
    if deadline is not None and settings.rate > 0:
        # Paced, the duration fixes the count (rate × duration); a sender running slightly
        # behind may finish its last due messages within the grace, one further behind is cut.
        deadline += MAX_BACKLOG_S
    attempted = 0
    start = time.perf_counter()
    pacer = Pacer(settings.rate, start)
    next_progress = start + progress_every_s
    try:
        while limit is None or attempted < limit:
            now = time.perf_counter()
            if deadline is not None and now - start >= deadline:
                break
            burst = pacer.allowance(now, attempted)
            if burst == 0:
                time.sleep(min(pacer.wait(now, attempted), 0.05))
                continue
            if limit is not None:
                burst = min(burst, limit - attempted)
            for _ in range(burst):
                msg = next(stream)
                attempted += 1
                try:
                    future = send(topic, msg.value, msg.key)
                except Exception as exc:  # any refusal (buffer full, too large) is an error
                    on_error(exc)
                    continue
                future.add_errback(on_error)
                kinds[msg.kind] += 1
                if msg.flaw:
                    flaw = msg.flaw.partition(":")[0]
                    report.by_flaw[flaw] = report.by_flaw.get(flaw, 0) + 1
                if on_message is not None:
                    on_message(msg)
            if on_progress is not None and now >= next_progress:
                report.sent = sum(kinds.values())
                report.seconds = now - start
                on_progress(report)
                next_progress = now + progress_every_s
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        producer.flush()
        report.seconds = time.perf_counter() - start
        producer.close(timeout=10)
    report.sent = sum(kinds.values())
    return report
