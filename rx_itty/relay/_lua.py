"""The Lua scripts the Redis backplane runs: every change to shared state is one of them.

Each script is atomic in Redis, so a membership change and the event announcing
it are published together, and every node sees joins and leaves in the order
whose ``total`` they carry.

Keys, with ``P`` the configured prefix (``rxi`` by default) and ``ch`` a channel:

==================  =========================================================
``P:m:ch``          hash uid -> ``[node, seq, announce, alias]`` (JSON): the roster
``P:k:ch``          hash ``j``/``s`` -> digests of the channel's ephemeral keys
``P:seq``           counter giving every join and leave its place
``P:nodes``         sorted set node -> heartbeat deadline (ms, Redis clock)
``P:u:node``        set of ``uid NUL channel``: a node's members, for sweeping it
``P:config``        hash node -> digest of its reserved namespaces (all must agree)
``P:c:ch``          pub/sub: messages, joins and leaves of a channel
``P:n:node``        pub/sub: direct messages for members on that node
==================  =========================================================

Event payloads start with one letter and the 12-character node id of the node
that caused them: ``M`` a frame to deliver as is; ``B`` several frames, each as
``<length in characters>:<frame>``; ``J``/``L`` a JSON array
``[uid, seq, total, date, announce, alias, ...]``; ``D`` a JSON
``[channel, uid]`` line, then the frame.
"""

from __future__ import annotations

__all__ = ["SCRIPTS"]

_HELPERS = r"""
local P = ARGV[1]

-- Compare two digests in constant time: every byte is looked at, whatever differs.
local function same(a, b)
  if #a ~= #b then return false end
  local diff = 0
  for i = 1, #a do
    diff = bit.bor(diff, bit.bxor(string.byte(a, i), string.byte(b, i)))
  end
  return diff == 0
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Remove one member, announce its leave; drop the channel's keys with its last member.
local function leave(channel, uid, date)
  local m = P .. ':m:' .. channel
  local record = redis.call('HGET', m, uid)
  if not record then return 0 end
  local entry = cjson.decode(record)
  redis.call('HDEL', m, uid)
  redis.call('SREM', P .. ':u:' .. entry[1], uid .. '\0' .. channel)
  local seq = redis.call('INCR', P .. ':seq')
  local total = redis.call('HLEN', m)
  if total == 0 then redis.call('DEL', P .. ':k:' .. channel) end
  redis.call('PUBLISH', P .. ':c:' .. channel,
    'L' .. entry[1] .. cjson.encode({uid, seq, total, date, entry[3], entry[4]}))
  return 1
end

-- Every member of a node leaves, and the node leaves the registry.
local function purge(node, date)
  local index = P .. ':u:' .. node
  local entries = redis.call('SMEMBERS', index)
  for _, e in ipairs(entries) do
    local cut = string.find(e, '\0', 1, true)
    leave(string.sub(e, cut + 1), string.sub(e, 1, cut - 1), date)
  end
  redis.call('DEL', index)
  redis.call('ZREM', P .. ':nodes', node)
  redis.call('HDEL', P .. ':config', node)
  return #entries
end
"""

# ARGV: prefix, channel, node, reserved ("1": keys come from the nodes' config),
# join digest, send digest ("" for none), announce ("1"/"0"), alias, date, token,
# then candidate uids. Returns {"ok", uid} | {"key"} | {"uid"} | {"gone"}.
_JOIN = r"""
local channel, node = ARGV[2], ARGV[3]
local m, k = P .. ':m:' .. channel, P .. ':k:' .. channel
if not redis.call('ZSCORE', P .. ':nodes', node) then return {'gone'} end
local created = redis.call('EXISTS', m) == 0
if created then
  redis.call('DEL', k)
  if ARGV[4] == '0' then
    if ARGV[5] ~= '' then redis.call('HSET', k, 'j', ARGV[5]) end
    if ARGV[6] ~= '' then redis.call('HSET', k, 's', ARGV[6]) end
  end
elseif ARGV[4] == '0' then
  local expected = redis.call('HGET', k, 'j')
  if expected and not same(expected, ARGV[5]) then return {'key'} end
end
local seq = redis.call('INCR', P .. ':seq')
local record = cjson.encode({node, seq, tonumber(ARGV[7]), ARGV[8]})
local uid = false
for i = 11, #ARGV do
  if redis.call('HSETNX', m, ARGV[i], record) == 1 then uid = ARGV[i]; break end
end
if not uid then return {'uid'} end
redis.call('SADD', P .. ':u:' .. node, uid .. '\0' .. channel)
local total = redis.call('HLEN', m)
local event = {uid, seq, total, tonumber(ARGV[9]), tonumber(ARGV[7]), ARGV[8], ARGV[10]}
if created then
  event[8] = redis.call('HGET', k, 'j') or ''
  event[9] = redis.call('HGET', k, 's') or ''
end
redis.call('PUBLISH', P .. ':c:' .. channel, 'J' .. node .. cjson.encode(event))
return {'ok', uid}
"""

# ARGV: prefix, channel, uid, date.
_LEAVE = r"""
return leave(ARGV[2], ARGV[3], tonumber(ARGV[4]))
"""

# ARGV: prefix, channel. Returns {seq, join digest, send digest, {uid, record, ...}}.
_SNAPSHOT = r"""
local m, k = P .. ':m:' .. ARGV[2], P .. ':k:' .. ARGV[2]
local seq = redis.call('GET', P .. ':seq') or '0'
if redis.call('EXISTS', m) == 0 then return {seq, '', '', {}} end
return {seq, redis.call('HGET', k, 'j') or '', redis.call('HGET', k, 's') or '',
        redis.call('HGETALL', m)}
"""

# ARGV: prefix, channel. Returns {} for a channel with no members, else its key digests.
_KEYS = r"""
if redis.call('EXISTS', P .. ':m:' .. ARGV[2]) == 0 then return {} end
local k = P .. ':k:' .. ARGV[2]
return {redis.call('HGET', k, 'j') or '', redis.call('HGET', k, 's') or ''}
"""

# ARGV: prefix, node, ttl ms, register ("1" on (re)connecting). Returns 0 if the node
# was swept meanwhile (declared dead by another node), else 1.
_BEAT = r"""
local nodes = P .. ':nodes'
if ARGV[4] ~= '1' and not redis.call('ZSCORE', nodes, ARGV[2]) then return 0 end
redis.call('ZADD', nodes, now_ms() + tonumber(ARGV[3]), ARGV[2])
return 1
"""

# ARGV: prefix. Sweeps up to 8 dead nodes; returns how many members left.
_SWEEP = r"""
local now = now_ms()
local swept = 0
for _, node in ipairs(redis.call('ZRANGEBYSCORE', P .. ':nodes', '-inf', now, 'LIMIT', 0, 8)) do
  swept = swept + purge(node, now)
end
return swept
"""

# ARGV: prefix, node. This node's members leave (a clean stop, or entries left over
# from before an outage) and it leaves the registry.
_PURGE = r"""
return purge(ARGV[2], now_ms())
"""

# ARGV: prefix, node, digest of its namespaces. Records it, unless a live node has
# another: then returns that node's id (and records nothing).
_CONFIG = r"""
local now = now_ms()
local config = P .. ':config'
local entries = redis.call('HGETALL', config)
for i = 1, #entries, 2 do
  local other, digest = entries[i], entries[i + 1]
  local deadline = redis.call('ZSCORE', P .. ':nodes', other)
  if not deadline then
    redis.call('HDEL', config, other)
  elseif other ~= ARGV[2] and tonumber(deadline) > now and digest ~= ARGV[3] then
    return other
  end
end
redis.call('HSET', config, ARGV[2], ARGV[3])
return ''
"""

# ARGV: prefix, channel, payload. Publishes an HTTP push; returns the channel's members.
_PUSH = r"""
redis.call('PUBLISH', P .. ':c:' .. ARGV[2], ARGV[3])
return redis.call('HLEN', P .. ':m:' .. ARGV[2])
"""

SCRIPTS: dict[str, str] = {
    name: _HELPERS + body
    for name, body in {
        "join": _JOIN,
        "leave": _LEAVE,
        "snapshot": _SNAPSHOT,
        "keys": _KEYS,
        "beat": _BEAT,
        "sweep": _SWEEP,
        "purge": _PURGE,
        "config": _CONFIG,
        "push": _PUSH,
    }.items()
}
"""Script name -> Lua source; every script takes the key prefix as ``ARGV[1]``."""
