"""The hot lane's state in Redis: per-profile overlays and the offsets they were applied at.

Layout (``P`` = ``cache.prefix``; the base rows are the cache's, pipelines/serving/cache.py):

- ``P:o:{profile_id}`` (hash): the overlay. ``e:{event_id}`` → ``pk \\t offset \\t arrival_ms
  \\t record`` per applied event (``pk`` = ``topic:partition``, ``record`` = the Kafka record
  value as read); ``_v`` the served version, ``_t`` the newest applied event's arrival (epoch
  ms).
- ``P:h:off`` (hash): ``pk`` → the last offset the hot lane applied (exactly-once marker).
- ``P:h:epoch`` (string): the running hot lane's token; gone = Redis lost its data.
- ``P:h:seen:{bucket}`` (set of event ids, one per ``hot.dedupe_window_s / SEEN_BUCKETS``
  seconds of Redis time, expiring one window after its bucket ends): the re-delivery guard.
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

# The re-delivery guard's time buckets per hot.dedupe_window_s: a guard lives between one window
# and 1 + 1/SEEN_BUCKETS windows; SEEN_BUCKETS + 1 sets are asked per batch.
SEEN_BUCKETS = 6

# One call per polled batch: atomic, so the offsets move with the state they produced.
# ARGV: prefix, epoch token, dedupe window, g, then g partition groups, each: pk, the last
# offset read from it in the batch, n, and n × (offset, event_id, profile_id, arrival_ms,
# entry, provisional keys) in offset order; ``entry`` is the overlay value, built by the lane.
APPLY = """
local p, token, window, g = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('GET', p .. ':h:epoch') ~= token then return {-1} end
local gen = redis.call('GET', p .. ':ptr:gen')
local base_prefix = gen and (p .. ':g' .. gen .. ':p:')
local overlay_prefix = p .. ':o:'
local applied, dup, covered, old = 0, 0, 0, 0
-- The re-delivery guard: event ids in one set per time bucket (window / SEEN_BUCKETS wide),
-- each set expiring a window after its bucket ends; the live buckets are asked once per batch.
local width = math.ceil(window / SEEN_BUCKETS)
local now = tonumber(redis.call('TIME')[1])
local bucket = math.floor(now / width)
local ids = {}
do
  local b = 5
  for _ = 1, g do
    local n = tonumber(ARGV[b + 2])
    b = b + 3
    for _ = 1, n do ids[#ids + 1] = ARGV[b + 1]; b = b + 6 end
  end
end
local seen = {}
for k = bucket - SEEN_BUCKETS, bucket do
  for i = 1, #ids, 1000 do
    local chunk = {unpack(ids, i, math.min(i + 999, #ids))}
    local found = redis.call('SMISMEMBER', p .. ':h:seen:' .. k, unpack(chunk))
    for j = 1, #chunk do
      if found[j] == 1 then seen[chunk[j]] = true end
    end
  end
end
local fresh_ids = {}
local meta = {}
local b = 5
for _ = 1, g do
  local pk, read, n = ARGV[b], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
  b = b + 3
  local last = tonumber(redis.call('HGET', p .. ':h:off', pk) or '-1')
  local front = tonumber(redis.call('HGET', p .. ':d:off', pk) or '0')
  local pattern = '([^\\n=]+)=(%d+)'
  for _ = 1, n do
    local off, eid, pid = tonumber(ARGV[b]), ARGV[b + 1], ARGV[b + 2]
    local arrival, entry, prov = tonumber(ARGV[b + 3]), ARGV[b + 4], ARGV[b + 5]
    b = b + 6
    if off <= last then
      old = old + 1
    else
      last = off
      local floor, bv = front, 0
      if base_prefix then
        local base = redis.call('HMGET', base_prefix .. pid, 'o', 'v')
        if base[1] then
          for k, v in string.gmatch(base[1], pattern) do
            if k == pk and tonumber(v) > floor then floor = tonumber(v) end
          end
        end
        bv = tonumber(base[2] or '0')
      end
      -- Seen also when covered: a later re-send of the same event must not count again.
      local fresh = not seen[eid]
      if fresh then
        seen[eid] = true
        fresh_ids[#fresh_ids + 1] = eid
      end
      if off < floor then
        covered = covered + 1
      elseif not fresh then
        dup = dup + 1
      else
        local key = overlay_prefix .. pid
        local m = meta[pid]
        if m == nil then
          local vt = redis.call('HMGET', key, '_v', '_t')
          m = {tonumber(vt[1] or '0'), tonumber(vt[2] or '0')}
          meta[pid] = m
        end
        if bv > m[1] then m[1] = bv end
        m[1] = m[1] + 1
        if arrival > m[2] then m[2] = arrival end
        redis.call('HSET', key, 'e:' .. eid, entry, '_v', m[1], '_t', m[2])
        if prov ~= '' then
          for id in string.gmatch(prov, '[^\\n]+') do
            if redis.call('SET', p .. ':h:i:' .. id, pid, 'NX') then
              redis.call('SADD', p .. ':h:q:' .. pid, id)
            end
          end
        end
        applied = applied + 1
      end
    end
  end
  -- Every record read moves its partition's offset, also those that changed nothing
  -- (invalid, unresolvable): a restart must not read them again, and "drained" must be
  -- observable.
  if read > last then last = read end
  if last >= 0 then redis.call('HSET', p .. ':h:off', pk, last) end
end
if #fresh_ids > 0 then
  local key = p .. ':h:seen:' .. bucket
  for i = 1, #fresh_ids, 1000 do
    redis.call('SADD', key, unpack(fresh_ids, i, math.min(i + 999, #fresh_ids)))
  end
  redis.call('EXPIREAT', key, (bucket + 1) * width + window)
end
redis.call('HINCRBY', p .. ':h:stats', 'applied', applied)
redis.call('HINCRBY', p .. ':h:stats', 'duplicate', dup)
redis.call('HINCRBY', p .. ':h:stats', 'covered', covered)
redis.call('HINCRBY', p .. ':h:stats', 'replayed', old)
return {applied, dup, covered, old}
""".replace("SEEN_BUCKETS", str(SEEN_BUCKETS))

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
