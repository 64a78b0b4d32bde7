"""The hot lane's state in Redis: per-profile overlays and the offsets they were applied at.

Layout (``P`` = ``cache.prefix``; the base rows are the cache's, pipelines/serving/cache.py):

- ``P:o:{profile_id}`` (hash): the overlay. ``e:{event_id}`` → ``pk \\t offset \\t arrival_ms
  \\t record`` per applied event (``pk`` = ``topic:partition``, ``record`` = the Kafka record
  value as read); ``_v`` the served version, ``_t`` the newest applied event's arrival (epoch
  ms).
- ``P:h:off`` (hash): ``pk`` → the last offset the hot lane applied (exactly-once marker).
- ``P:h:epoch`` (string): the running hot lane's token; gone = Redis lost its data.
- ``P:h:seen:{event_id}`` (string, expires after ``hot.dedupe_window_s``): re-delivery guard.
- ``P:h:i:{id_type}:{value}`` (string) → a provisional profile id; ``P:h:q:{profile_id}`` (set)
  the identifier keys of a provisional profile.
- ``P:h:stats`` (hash): counters (applied, duplicate, covered, replayed, ...).
- ``P:d:off`` (hash): ``pk`` → the Delta lane's frontier: every offset below it is in a base.

An overlay entry is *pending* — shown on top of the base — while its offset is at or past both
the Delta frontier and its profile's base offsets (``o`` on the base row) on its partition.
Everything below is already in some base, so it is skipped on apply, ignored on read and
trimmed when a base lands (atomically with the base, in the cache's write script).
"""

from __future__ import annotations

# One call per polled batch: atomic, so the offsets move with the state they produced.
# ARGV: prefix, epoch token, dedupe window, n, n × (pk, offset, event_id, profile_id,
# arrival_ms, record value, provisional keys), m, m × (pk, last offset read in the batch).
APPLY = """
local p, token, window, n = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('GET', p .. ':h:epoch') ~= token then return {-1} end
local gen = redis.call('GET', p .. ':ptr:gen')
local applied, dup, covered, old = 0, 0, 0, 0
-- Per batch, not per event: each partition's applied offset and Delta frontier, and each
-- touched overlay's (_v, _t) once read. Redis time per event bounds the lane's rate.
local last, front, meta = {}, {}, {}
for i = 0, n - 1 do
  local b = 5 + i * 7
  local pk, off, eid, pid = ARGV[b], tonumber(ARGV[b + 1]), ARGV[b + 2], ARGV[b + 3]
  local arrival, record, prov = ARGV[b + 4], ARGV[b + 5], ARGV[b + 6]
  if last[pk] == nil then
    last[pk] = tonumber(redis.call('HGET', p .. ':h:off', pk) or '-1')
    front[pk] = tonumber(redis.call('HGET', p .. ':d:off', pk) or '0')
  end
  if off <= last[pk] then
    old = old + 1
  else
    last[pk] = off
    local floor, bv = front[pk], 0
    if gen then
      local base = redis.call('HMGET', p .. ':g' .. gen .. ':p:' .. pid, 'o', 'v')
      if base[1] then
        for k, v in string.gmatch(base[1], '([^\\n=]+)=(%d+)') do
          if k == pk and tonumber(v) > floor then floor = tonumber(v) end
        end
      end
      bv = tonumber(base[2] or '0')
    end
    -- Seen also when covered: a later re-send of the same event must not count again.
    local fresh = redis.call('SET', p .. ':h:seen:' .. eid, '1', 'NX', 'EX', window)
    if off < floor then
      covered = covered + 1
    elseif not fresh then
      dup = dup + 1
    else
      local key = p .. ':o:' .. pid
      local m = meta[pid]
      if m == nil then
        local vt = redis.call('HMGET', key, '_v', '_t')
        m = {tonumber(vt[1] or '0'), tonumber(vt[2] or '0')}
        meta[pid] = m
      end
      if bv > m[1] then m[1] = bv end
      m[1] = m[1] + 1
      if tonumber(arrival) > m[2] then m[2] = tonumber(arrival) end
      local entry = pk .. '\\t' .. off .. '\\t' .. arrival .. '\\t' .. record
      redis.call('HSET', key, 'e:' .. eid, entry, '_v', m[1], '_t', m[2])
      for id in string.gmatch(prov, '[^\\n]+') do
        if redis.call('SET', p .. ':h:i:' .. id, pid, 'NX') then
          redis.call('SADD', p .. ':h:q:' .. pid, id)
        end
      end
      applied = applied + 1
    end
  end
end
-- Every record read moves its partition's offset, also those that changed nothing (invalid,
-- unresolvable): a restart must not read them again, and "drained" must be observable.
local m = tonumber(ARGV[5 + n * 7])
for i = 0, m - 1 do
  local pk, off = ARGV[6 + n * 7 + i * 2], tonumber(ARGV[7 + n * 7 + i * 2])
  if last[pk] == nil then
    last[pk] = tonumber(redis.call('HGET', p .. ':h:off', pk) or '-1')
  end
  if off > last[pk] then last[pk] = off end
end
for pk, off in pairs(last) do
  if off >= 0 then redis.call('HSET', p .. ':h:off', pk, off) end
end
redis.call('HINCRBY', p .. ':h:stats', 'applied', applied)
redis.call('HINCRBY', p .. ':h:stats', 'duplicate', dup)
redis.call('HINCRBY', p .. ':h:stats', 'covered', covered)
redis.call('HINCRBY', p .. ':h:stats', 'replayed', old)
return {applied, dup, covered, old}
"""

# Trim given overlays to what is still pending under the Delta frontier (the sweep for
# entries no base will ever trim: events the Delta lane gave to another profile).
SWEEP = """
local p, n = ARGV[1], tonumber(ARGV[2])
local front = {}
local flat = redis.call('HGETALL', p .. ':d:off')
for i = 1, #flat, 2 do front[flat[i]] = tonumber(flat[i + 1]) end
local removed = 0
for i = 1, n do
  local key = p .. ':o:' .. ARGV[2 + i]
  local entries = redis.call('HGETALL', key)
  for j = 1, #entries, 2 do
    local f = entries[j]
    if string.sub(f, 1, 2) == 'e:' then
      local pk, off = string.match(entries[j + 1], '^([^\\t]+)\\t(%d+)')
      if front[pk] and tonumber(off) < front[pk] then
        redis.call('HDEL', key, f)
        removed = removed + 1
      end
    end
  end
end
return removed
"""
