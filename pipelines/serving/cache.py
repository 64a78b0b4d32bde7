"""The Redis cache of the chatbot export.

Layout (``P`` = ``cache.prefix``, ``G`` = a generation number):

- ``P:ptr:gen`` (string): the generation readers use;
- ``P:ptr:next`` (string): the generation a full refresh is building (absent otherwise);
- ``P:ptr:seq`` (string): generation counter;
- ``P:gG:p:{profile_id}`` (hash): ``j`` the export row as JSON, ``v`` profile_version,
  ``a`` as_of (epoch ms), ``u`` updated_at (epoch s), ``ids`` its identifier keys;
- ``P:gG:i:{id_type}:{value}`` (string): profile_id (``value`` is the HMAC hex for emails
  and phones);
- ``P:m:{merged_profile_id}`` (string): the survivor's profile_id (until ``unredirect``: an
  undone merge, ``profilake-unmerge``).

Consistency rules, all enforced inside Lua scripts (atomic in Redis):
- A row is written only if its ``(profile_version, as_of)`` is ≥ the cached one: a late or
  replayed older write never overwrites a newer one.
- A row of a profile merged away is never written again; its identifier keys point to the
  survivor and reads of its id follow the redirect.
- A full refresh fills a new generation while readers keep using the current one; live pushes
  meanwhile go to both. Switching ``P:ptr:gen`` is one atomic SET; the old generation is
  deleted afterwards. Profiles absent from the refresh disappear with the old generation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from pipelines.config import Conf
from pipelines.serving.records import BASE, COVERED, epoch_s, ident_suffixes, payload

DEFAULT_PREFIX = "pl"
BATCH = 500

_WRITE = """
local p, mode, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local gens = {}
if mode == 'live' then
  local cur = redis.call('GET', p .. ':ptr:gen')
  if not cur then
    cur = tostring(redis.call('INCR', p .. ':ptr:seq'))
    redis.call('SET', p .. ':ptr:gen', cur)
  end
  gens[1] = cur
  local nxt = redis.call('GET', p .. ':ptr:next')
  if nxt and nxt ~= cur then gens[2] = nxt end
else
  gens[1] = string.sub(mode, 5)
end
local out = {}
for i = 0, n - 1 do
  local b = 4 + i * 8
  local pid, sver, sasof = ARGV[b], ARGV[b+1], ARGV[b+2]
  local upd, doc, ids = ARGV[b+3], ARGV[b+4], ARGV[b+5]
  local base, offs = ARGV[b+6], ARGV[b+7]
  local ver, asof = tonumber(sver), tonumber(sasof)
  local result = 0
  if redis.call('EXISTS', p .. ':m:' .. pid) == 1 then
    result = -1
  else
    for _, g in ipairs(gens) do
      local gbase = p .. ':g' .. g
      local key = gbase .. ':p:' .. pid
      local old = redis.call('HMGET', key, 'v', 'a', 'ids')
      local ov, oa = tonumber(old[1]), tonumber(old[2])
      if (not ov) or ver > ov or (ver == ov and asof >= (oa or 0)) then
        redis.call('HSET', key, 'j', doc, 'v', sver, 'a', sasof, 'u', upd, 'ids', ids,
                   'b', base, 'o', offs)
        local keep = {}
        for id in string.gmatch(ids, '[^\\n]+') do
          keep[id] = true
          redis.call('SET', gbase .. ':i:' .. id, pid)
        end
        if old[3] then
          for id in string.gmatch(old[3], '[^\\n]+') do
            if not keep[id] then
              local ik = gbase .. ':i:' .. id
              if redis.call('GET', ik) == pid then redis.call('DEL', ik) end
            end
          end
        end
        result = 1
      end
    end
  end
  if result == 1 then
    -- The hot lane's overlay (pipelines/hot/overlay.py): provisional profiles holding one of
    -- these identifiers join this profile, then what this base covers leaves the overlay.
    local okey = p .. ':o:' .. pid
    for id in string.gmatch(ids, '[^\\n]+') do
      local q = redis.call('GET', p .. ':h:i:' .. id)
      if q and q ~= pid then
        local qkey = p .. ':o:' .. q
        local entries = redis.call('HGETALL', qkey)
        for j = 1, #entries, 2 do
          if string.sub(entries[j], 1, 2) == 'e:' then
            redis.call('HSET', okey, entries[j], entries[j + 1])
          elseif entries[j] == '_t' then
            local t = tonumber(redis.call('HGET', okey, '_t') or '0')
            if tonumber(entries[j + 1]) > t then redis.call('HSET', okey, '_t', entries[j + 1]) end
          end
        end
        for _, qid in ipairs(redis.call('SMEMBERS', p .. ':h:q:' .. q)) do
          redis.call('DEL', p .. ':h:i:' .. qid)
        end
        redis.call('DEL', qkey, p .. ':h:q:' .. q)
        redis.call('SET', p .. ':m:' .. q, pid)
      end
    end
    if redis.call('EXISTS', okey) == 1 then
      local floor = {}
      for k, v in string.gmatch(offs, '([^\\n=]+)=(%d+)') do floor[k] = tonumber(v) end
      local entries = redis.call('HGETALL', okey)
      for j = 1, #entries, 2 do
        if string.sub(entries[j], 1, 2) == 'e:' then
          local pk, off = string.match(entries[j + 1], '^([^\\t]+)\\t(%d+)')
          if floor[pk] and tonumber(off) < floor[pk] then redis.call('HDEL', okey, entries[j]) end
        end
      end
      local v = tonumber(redis.call('HGET', okey, '_v') or '0')
      if ver > v then redis.call('HSET', okey, '_v', ver) end
      if redis.call('HGET', okey, '_t') == false then redis.call('HSET', okey, '_t', 0) end
    end
  end
  out[#out + 1] = result
end
return out
"""

# Answers {doc, updated, profile_id, base version, overlay _v, overlay _t} when the hot lane's
# overlay holds no entry, else also {base state, base offsets, overlay entries, Delta frontier}.
# A profile only the overlay knows (provisional) answers with an empty doc.
_READ = """
local p, kind, key, hops = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local g = redis.call('GET', p .. ':ptr:gen')
local base = g and (p .. ':g' .. g) or nil
local pid = key
if kind == 'i' then
  pid = base and redis.call('GET', base .. ':i:' .. key) or false
  if not pid then pid = redis.call('GET', p .. ':h:i:' .. key) end
  if not pid then return {} end
end
local r = {false, false, false, false, false}
if base then r = redis.call('HMGET', base .. ':p:' .. pid, 'j', 'u', 'v', 'b', 'o') end
while (not r[1]) and hops > 0 do
  local s = redis.call('GET', p .. ':m:' .. pid)
  if not s then break end
  pid = s
  hops = hops - 1
  if base then r = redis.call('HMGET', base .. ':p:' .. pid, 'j', 'u', 'v', 'b', 'o') end
end
local okey = p .. ':o:' .. pid
local n = redis.call('HLEN', okey)
local meta = redis.call('HMGET', okey, '_v', '_t')
if n <= 2 then
  if not r[1] then return {} end
  return {r[1], r[2], pid, r[3] or '0', meta[1] or '0', meta[2] or '0'}
end
return {r[1] or '', r[2] or '0', pid, r[3] or '0', meta[1] or '0', meta[2] or '0',
        r[4] or '', r[5] or '', redis.call('HGETALL', okey), redis.call('HGETALL', p .. ':d:off')}
"""

_REDIRECT = """
local p, n = ARGV[1], tonumber(ARGV[2])
local gens = {}
for _, ptr in ipairs({'gen', 'next'}) do
  local g = redis.call('GET', p .. ':ptr:' .. ptr)
  if g then gens[#gens + 1] = g end
end
for i = 0, n - 1 do
  local survivor, merged = ARGV[3 + i * 2], ARGV[4 + i * 2]
  redis.call('SET', p .. ':m:' .. merged, survivor)
  for _, g in ipairs(gens) do
    local base = p .. ':g' .. g
    local key = base .. ':p:' .. merged
    local ids = redis.call('HGET', key, 'ids')
    if ids then
      for id in string.gmatch(ids, '[^\\n]+') do
        local ik = base .. ':i:' .. id
        if redis.call('GET', ik) == merged then redis.call('SET', ik, survivor) end
      end
    end
    redis.call('DEL', key)
  end
end
return n
"""

_SWAP = """
local p, g = ARGV[1], ARGV[2]
local old = redis.call('GET', p .. ':ptr:gen')
redis.call('SET', p .. ':ptr:gen', g)
if redis.call('GET', p .. ':ptr:next') == g then redis.call('DEL', p .. ':ptr:next') end
return old
"""


@dataclass
class PushReport:
    written: int = 0
    skipped_older: int = 0
    skipped_merged: int = 0

    def add(self, results: Sequence[int]) -> None:
        for r in results:
            if r == 1:
                self.written += 1
            elif r == 0:
                self.skipped_older += 1
            else:
                self.skipped_merged += 1


@dataclass
class RefreshReport(PushReport):
    generation: int = 0
    previous_generation: int | None = None
    keys_deleted: int = 0


def _client_and_prefix(target: Any, prefix: str | None) -> tuple[Any, str]:
    if isinstance(target, Conf):
        from pipelines.services.redis_server import client

        return client(target), prefix or str(target.get("cache.prefix"))
    return target, prefix or DEFAULT_PREFIX


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _row_args(record: Mapping[str, Any]) -> list[str]:
    as_of = epoch_s(record.get("as_of"))
    updated = epoch_s(record.get("updated_at"))
    return [
        str(record["profile_id"]),
        str(int(record.get("profile_version") or 0)),
        str(int(round((as_of or 0.0) * 1000))),
        repr(updated if updated is not None else 0.0),
        payload(record).decode("utf-8"),
        "\n".join(ident_suffixes(record)),
        str(record.get(BASE) or ""),
        str(record.get(COVERED) or ""),
    ]


def _write(client: Any, prefix: str, mode: str, rows: Iterable[Mapping[str, Any]], batch: int):
    script = client.register_script(_WRITE)
    report = PushReport()
    for chunk in _chunks(rows, batch):
        args: list[str] = [prefix, mode, str(len(chunk))]
        for record in chunk:
            args += _row_args(record)
        report.add(script(args=args))
    return report


def push_rows(
    target: Conf | Any,
    rows: Iterable[Mapping[str, Any]],
    *,
    prefix: str | None = None,
    batch: int = BATCH,
) -> PushReport:
    """Push changed export rows (dicts, as ``records.export_records`` yields) to the cache.

    Used by the stream for the profiles a micro-batch touched. Each row lands only if its
    ``(profile_version, as_of)`` is ≥ the cached one, in the current generation and in the one
    a running full refresh is building; rows of merged-away profiles are dropped.

    Args:
        target: a ``Conf`` (client and ``cache.prefix`` from it) or a ``redis.Redis``.
        prefix: key prefix (default: ``cache.prefix`` from conf, else ``pl``).
    Returns:
        Rows written, skipped as older, skipped as merged away.
    """
    client, prefix = _client_and_prefix(target, prefix)
    return _write(client, prefix, "live", rows, batch)


def redirect_merged(
    target: Conf | Any,
    merges: Iterable[tuple[str, str] | Mapping[str, Any]],
    *,
    prefix: str | None = None,
) -> int:
    """Point merged profiles to their survivors: ``(survivor_profile_id, merged_profile_id)``
    pairs or identity_merges rows. The merged profile's identifier keys move to the survivor,
    its row is deleted and a read of its id answers with the survivor. Idempotent."""
    client, prefix = _client_and_prefix(target, prefix)
    script = client.register_script(_REDIRECT)
    total = 0
    pairs = (
        (m["survivor_profile_id"], m["merged_profile_id"]) if isinstance(m, Mapping) else m
        for m in merges
    )
    for chunk in _chunks(pairs, BATCH):
        args = [prefix, str(len(chunk))] + [str(x) for pair in chunk for x in pair]
        total += int(script(args=args))
    return total


def unredirect(
    target: Conf | Any, merged_ids: Iterable[str], *, prefix: str | None = None
) -> int:
    """Remove the redirects of profiles whose merge was undone, so their rows are written
    again (the push that follows re-points their identifier keys). Returns keys removed."""
    client, prefix = _client_and_prefix(target, prefix)
    keys = [f"{prefix}:m:{m}" for m in merged_ids]
    return int(client.delete(*keys)) if keys else 0


def full_refresh(
    target: Conf | Any,
    rows_iter: Iterable[Mapping[str, Any]],
    *,
    merges: Iterable[tuple[str, str] | Mapping[str, Any]] = (),
    prefix: str | None = None,
    batch: int = BATCH,
) -> RefreshReport:
    """Load a whole export into a new generation, then switch readers to it atomically.

    Readers see the old generation until the switch and the complete new one after it; live
    pushes during the load go to both. Generations other than the new current one (and a
    refresh still being built elsewhere) are deleted afterwards.
    """
    client, prefix = _client_and_prefix(target, prefix)
    generation = int(client.incr(f"{prefix}:ptr:seq"))
    client.set(f"{prefix}:ptr:next", generation)
    pushed = _write(client, prefix, f"gen:{generation}", rows_iter, batch)
    pairs = [
        (m["survivor_profile_id"], m["merged_profile_id"]) if isinstance(m, Mapping) else m
        for m in merges
    ]
    if pairs:
        redirect_merged(client, pairs, prefix=prefix)
    previous = client.register_script(_SWAP)(args=[prefix, str(generation)])
    report = RefreshReport(
        written=pushed.written,
        skipped_older=pushed.skipped_older,
        skipped_merged=pushed.skipped_merged,
        generation=generation,
        previous_generation=int(previous) if previous is not None else None,
    )
    report.keys_deleted = drop_stale_generations(client, prefix)
    return report


def drop_stale_generations(client: Any, prefix: str) -> int:
    """Delete every generation that is neither current nor being built."""
    keep = {
        v.decode() if isinstance(v, bytes) else str(v)
        for v in client.mget(f"{prefix}:ptr:gen", f"{prefix}:ptr:next")
        if v is not None
    }
    return _unlink_all(client, (
        key for key in client.scan_iter(match=f"{prefix}:g[0-9]*", count=1000)
        if key.decode().removeprefix(f"{prefix}:g").split(":", 1)[0] not in keep
    ))


def drop_prefix(client: Any, prefix: str) -> int:
    """Delete every key under ``prefix``: the cache, the hot lane's state and the frontier of
    one deployment (benchmarks leave a shared Redis as they found it)."""
    return _unlink_all(client, client.scan_iter(match=f"{prefix}:*", count=1000))


def _unlink_all(client: Any, keys: Iterable[bytes]) -> int:
    deleted = 0
    for chunk in _chunks(keys, 1000):
        deleted += client.unlink(*chunk)
    return deleted


READ_SCRIPT = _READ


def read(client: Any, kind: str, key: str, *, prefix: str = DEFAULT_PREFIX, hops: int = 5):
    """Synchronous read (tests, tools): ``(json_bytes, updated_s, profile_id)`` or None.
    ``kind`` is ``p`` (key = profile_id) or ``i`` (key = ``id_type:value``)."""
    result = client.register_script(_READ)(args=[prefix, kind, key, hops])
    if not result or not result[0]:
        return None
    doc, updated, pid = result[:3]
    return doc, float(updated), pid.decode() if isinstance(pid, bytes) else pid
