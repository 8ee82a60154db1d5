"""What travels between a process and Redis, apart from keys (`hub.bus.keys`): the body
of a pub/sub message carrying several payloads, and the Lua scripts that change shared
counters atomically."""

from __future__ import annotations

import logging

__all__ = ["CLAIM_SCRIPT", "OPEN_STREAM_SCRIPT", "TAKE_SCRIPT", "unwire", "wire"]

log = logging.getLogger("hub.bus.redis")

# A token bucket: refilled for the time since its stamp (Redis's clock, the same for
# every process), then spent if a whole token is there (a negative cost gives tokens
# back, up to the burst). Returns the seconds to wait (0 if spent) as a string, since
# Redis would truncate a Lua number to an integer.
TAKE_SCRIPT = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1]) or burst
local stamp = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if cost < 0 then
  tokens = math.min(burst, tokens - cost)
elseif tokens >= 1 then
  tokens = math.max(0, tokens - cost)
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'stamp', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""

# A connection slot: drop lapsed slots, then take one if fewer than the limit are held.
CLAIM_SCRIPT = """
local now, limit, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(ttl * 1000))
return 1
"""

# An open stream: drop the session's lapsed streams, then record this one unless its id
# is taken (-1) or its author holds the limit already (0). KEYS: the session's index
# (stream id -> expiry), its infos (stream id -> info), the author's index, the text,
# the mark of an earlier stream of that id that ended (gone: the id is this one's now).
# ARGV: stream id, info, now, expiry, limit, ttl in ms.
OPEN_STREAM_SCRIPT = """
local now = tonumber(ARGV[3])
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(lapsed) do
  redis.call('HDEL', KEYS[2], id)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return -1
end
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[5]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('DEL', KEYS[4], KEYS[5])
for i = 1, 3 do
  redis.call('PEXPIRE', KEYS[i], ARGV[6])
end
return 1
"""


def wire(payloads: list[bytes]) -> bytes:
    """Several payloads of one session as one Redis message (`<length>:<payload>`
    each): a commit of hundreds of messages costs a PUBLISH per session, not per message,
    on the publishing process and on every receiving one."""
    return b"".join(b"%d:%s" % (len(payload), payload) for payload in payloads)


def unwire(body: bytes) -> list[bytes]:
    """The payloads in a Redis message; what cannot be parsed is logged and dropped."""
    payloads: list[bytes] = []
    pos = 0
    while pos < len(body):
        colon = body.find(b":", pos, pos + 12)
        length = body[pos:colon]
        if colon < 0 or not length.isdigit() or colon + 1 + int(length) > len(body):
            log.warning("dropped a malformed bus message: %r", body[pos : pos + 80])
            break
        pos = colon + 1 + int(length)
        payloads.append(body[colon + 1 : pos])
    return payloads
