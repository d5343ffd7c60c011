"""The Lua scripts that change routing state in Redis (pure text; see ``live/routing.py``).

Every change to calls, agents and reservations is one script, so Redis runs it whole and
alone: no other process sees half of it, and two processes can never both take the same
call or the same agent. Every script gets ``ARGV[1]`` = key prefix, ``ARGV[2]`` = journal
length (``0``: no journal), ``ARGV[3]`` = now (epoch seconds, the caller's clock); the rest
is per script. Keys are built from the prefix inside the scripts (one Redis, not a cluster).

Keys (``P`` = prefix)::

    P call:<id>     hash  st (w waiting | r reserved), q, lane, score, m (member), rec, ag, n
    P queue:<q>     zset  every call waiting in queue q (offered ones too: positions)
    P lane:<lane>   zset  the lane's calls that are free to offer, in service order
    P lanes         set   lanes that have such calls
    P agent:<id>    hash  st, since, reason, wu (wrap-up until), call, cq, cs, profile, seq
    P available     set   agents free for an offer
    P res:<call>    str   the agent a call is reserved for; expires after the offer's TTL
    P res-due       zset  call -> reservation deadline (the sweep returns expired ones)
    P timers        zset  "kind|ident" -> when
    P changes, P seq  counters;  P journal  stream of every change (tests, audit)
"""

from __future__ import annotations

__all__ = [
    "ACCEPT",
    "ADD_CALL",
    "AGENT",
    "EXPIRE",
    "POP_TIMERS",
    "REGISTER",
    "RELEASE",
    "REMOVE_CALL",
    "RESERVE",
    "RESERVE_BEST",
    "RESERVE_HEAD",
    "UPDATE_CALL",
]

_PRELUDE = """
local P, JLEN, NOW = ARGV[1], ARGV[2], ARGV[3]
local function journal(...)
  if JLEN ~= '0' then redis.call('XADD', P .. 'journal', 'MAXLEN', '~', JLEN, '*', ...) end
end
local function changed() redis.call('INCR', P .. 'changes') end
local function agent_to(id, st, reason, wu)
  local key = P .. 'agent:' .. id
  redis.call('HSET', key, 'st', st, 'since', NOW)
  if st == 'available' then redis.call('SADD', P .. 'available', id)
  else redis.call('SREM', P .. 'available', id) end
  if st == 'paused' then redis.call('HSET', key, 'reason', reason)
  else redis.call('HDEL', key, 'reason') end
  if st == 'wrap_up' then redis.call('HSET', key, 'wu', wu) else redis.call('HDEL', key, 'wu') end
  if st ~= 'reserved' and st ~= 'on_call' and st ~= 'wrap_up' then
    redis.call('HDEL', key, 'call', 'cq', 'cs')
  end
end
local function unreserve(id, lane, score, m)
  local key = P .. 'call:' .. id
  redis.call('HSET', key, 'st', 'w')
  redis.call('HDEL', key, 'ag')
  redis.call('ZADD', P .. 'lane:' .. lane, score, m)
  redis.call('SADD', P .. 'lanes', lane)
  redis.call('DEL', P .. 'res:' .. id)
  redis.call('ZREM', P .. 'res-due', id)
end
local function take(id, agent, c, ttl, deadline)
  -- c = {st, lane, m, q, score}; the caller checked both are free
  local lkey = P .. 'lane:' .. c[2]
  redis.call('ZREM', lkey, c[3])
  if redis.call('EXISTS', lkey) == 0 then redis.call('SREM', P .. 'lanes', c[2]) end
  redis.call('HSET', P .. 'call:' .. id, 'st', 'r', 'ag', agent)
  redis.call('HINCRBY', P .. 'call:' .. id, 'n', 1)
  agent_to(agent, 'reserved', '', '')
  redis.call('HSET', P .. 'agent:' .. agent, 'call', id, 'cq', c[4])
  redis.call('SET', P .. 'res:' .. id, agent, 'PX', ttl)
  redis.call('ZADD', P .. 'res-due', deadline, id)
  changed()
  journal('op', 'reserve', 'call', id, 'agent', agent, 'q', c[4], 'score', c[5], 'm', c[3])
  return {1, id, agent, c[4]}
end
local FIELDS = {'st', 'lane', 'm', 'q', 'score', 'ag'}
"""

RESERVE = (
    _PRELUDE
    + """
-- ARGV: 4 call, 5 agent, 6 ttl ms, 7 deadline, 8 in_order (1: only the head of its lane)
local id, agent = ARGV[4], ARGV[5]
local c = redis.call('HMGET', P .. 'call:' .. id, unpack(FIELDS))
if not c[1] then return {0, 'no-call'} end
if c[1] ~= 'w' then return {0, 'call-taken'} end
if redis.call('SISMEMBER', P .. 'available', agent) == 0 then return {0, 'agent-busy'} end
if ARGV[8] == '1' then
  local head = redis.call('ZRANGE', P .. 'lane:' .. c[2], 0, 0)
  if head[1] ~= c[3] then return {0, 'not-first'} end
end
return take(id, agent, c, ARGV[6], ARGV[7])
"""
)

RESERVE_HEAD = (
    _PRELUDE
    + """
-- ARGV: 4 lane, 5 ttl ms, 6 deadline, 7.. candidate agents in order of preference
local head = redis.call('ZRANGE', P .. 'lane:' .. ARGV[4], 0, 0)
if not head[1] then return {0, 'empty'} end
local agent = nil
for i = 7, #ARGV do
  if redis.call('SISMEMBER', P .. 'available', ARGV[i]) == 1 then agent = ARGV[i]; break end
end
if not agent then return {0, 'agent-busy'} end
local id = string.sub(head[1], 18)
local c = redis.call('HMGET', P .. 'call:' .. id, unpack(FIELDS))
if c[1] ~= 'w' then return {0, 'call-taken'} end
return take(id, agent, c, ARGV[5], ARGV[6])
"""
)

RESERVE_BEST = (
    _PRELUDE
    + """
-- ARGV: 4 agent, 5 ttl ms, 6 deadline, 7.. lanes the agent may serve.  An agent frees up:
-- give it the call first in service order (lowest score, then seq) among those lanes' heads.
local agent = ARGV[4]
if redis.call('SISMEMBER', P .. 'available', agent) == 0 then return {0, 'agent-busy'} end
local best, best_score = nil, nil
for i = 7, #ARGV do
  local head = redis.call('ZRANGE', P .. 'lane:' .. ARGV[i], 0, 0, 'WITHSCORES')
  if head[1] then
    local score = tonumber(head[2])
    if not best or score < best_score or (score == best_score and head[1] < best) then
      best, best_score = head[1], score
    end
  end
end
if not best then return {0, 'empty'} end
local id = string.sub(best, 18)
local c = redis.call('HMGET', P .. 'call:' .. id, unpack(FIELDS))
if c[1] ~= 'w' then return {0, 'call-taken'} end
return take(id, agent, c, ARGV[5], ARGV[6])
"""
)

ACCEPT = (
    _PRELUDE
    + """
-- ARGV: 4 call, 5 agent.  The reservation must still be live (its key not expired).
local id, agent = ARGV[4], ARGV[5]
local ckey = P .. 'call:' .. id
local c = redis.call('HMGET', ckey, unpack(FIELDS))
if not c[1] then return {0, 'no-call'} end
if c[1] ~= 'r' or c[6] ~= agent then return {0, 'not-reserved'} end
if redis.call('GET', P .. 'res:' .. id) ~= agent then return {0, 'expired'} end
local rec = redis.call('HGET', ckey, 'rec')
local n = redis.call('HGET', ckey, 'n')
redis.call('ZREM', P .. 'queue:' .. c[4], c[3])
redis.call('DEL', ckey, P .. 'res:' .. id)
redis.call('ZREM', P .. 'res-due', id)
agent_to(agent, 'on_call', '', '')
redis.call('HSET', P .. 'agent:' .. agent, 'cs', NOW)
changed()
journal('op', 'accept', 'call', id, 'agent', agent)
return {1, rec, n}
"""
)

RELEASE = (
    _PRELUDE
    + """
-- ARGV: 4 call, 5 agent, 6 agent's next state, 7 pause reason, 8 op (reject|timeout|...)
local id, agent = ARGV[4], ARGV[5]
local c = redis.call('HMGET', P .. 'call:' .. id, unpack(FIELDS))
if not c[1] then return {0, 'no-call'} end
if c[1] ~= 'r' or c[6] ~= agent then return {0, 'not-reserved'} end
unreserve(id, c[2], c[5], c[3])
agent_to(agent, ARGV[6], ARGV[7], '')
changed()
journal('op', ARGV[8], 'call', id, 'agent', agent, 'q', c[4], 'score', c[5], 'm', c[3])
return {1}
"""
)

EXPIRE = (
    _PRELUDE
    + """
-- ARGV: 4 limit.  Offers whose deadline passed: the call back in its place, agent free.
local due = redis.call('ZRANGEBYSCORE', P .. 'res-due', '-inf', NOW, 'LIMIT', 0, ARGV[4])
local out = {}
for _, id in ipairs(due) do
  local c = redis.call('HMGET', P .. 'call:' .. id, unpack(FIELDS))
  redis.call('ZREM', P .. 'res-due', id)
  if c[1] == 'r' then
    unreserve(id, c[2], c[5], c[3])
    if redis.call('HGET', P .. 'agent:' .. c[6], 'call') == id then
      agent_to(c[6], 'available', '', '')
    end
    changed()
    journal('op', 'expire', 'call', id, 'agent', c[6], 'q', c[4], 'score', c[5], 'm', c[3])
    table.insert(out, id)
    table.insert(out, c[6])
  end
end
return out
"""
)

REMOVE_CALL = (
    _PRELUDE
    + """
-- ARGV: 4 call.  The call leaves (abandon, max wait, callback cancelled); a ringing offer
-- is cancelled and its agent is free again.  Returns {1, rec, n, agent or ''}.
local id = ARGV[4]
local ckey = P .. 'call:' .. id
local c = redis.call('HMGET', ckey, unpack(FIELDS))
if not c[1] then return {0} end
local rec, n = redis.call('HGET', ckey, 'rec'), redis.call('HGET', ckey, 'n')
local agent = ''
if c[1] == 'r' then
  agent = c[6]
  if redis.call('HGET', P .. 'agent:' .. agent, 'call') == id then
    agent_to(agent, 'available', '', '')
  end
end
redis.call('ZREM', P .. 'queue:' .. c[4], c[3])
local lkey = P .. 'lane:' .. c[2]
redis.call('ZREM', lkey, c[3])
if redis.call('EXISTS', lkey) == 0 then redis.call('SREM', P .. 'lanes', c[2]) end
redis.call('DEL', ckey, P .. 'res:' .. id)
redis.call('ZREM', P .. 'res-due', id)
changed()
journal('op', 'remove', 'call', id, 'agent', agent, 'q', c[4], 'm', c[3])
return {1, rec, n, agent}
"""
)

ADD_CALL = (
    _PRELUDE
    + """
-- ARGV: 4 call, 5 queue, 6 lane, 7 score, 8 member, 9 record
local id = ARGV[4]
local ckey = P .. 'call:' .. id
if redis.call('EXISTS', ckey) == 1 then return 0 end
redis.call('HSET', ckey, 'st', 'w', 'q', ARGV[5], 'lane', ARGV[6], 'score', ARGV[7],
  'm', ARGV[8], 'rec', ARGV[9], 'n', 0)
redis.call('ZADD', P .. 'queue:' .. ARGV[5], ARGV[7], ARGV[8])
redis.call('ZADD', P .. 'lane:' .. ARGV[6], ARGV[7], ARGV[8])
redis.call('SADD', P .. 'lanes', ARGV[6])
changed()
journal('op', 'add', 'call', id, 'q', ARGV[5], 'score', ARGV[7], 'm', ARGV[8])
return 1
"""
)

UPDATE_CALL = (
    _PRELUDE
    + """
-- ARGV: 4 call, 5 new lane, 6 record.  Its place (queue, score, member) never changes.
local id = ARGV[4]
local ckey = P .. 'call:' .. id
local c = redis.call('HMGET', ckey, unpack(FIELDS))
if not c[1] then return 0 end
if c[2] ~= ARGV[5] and c[1] == 'w' then
  local old = P .. 'lane:' .. c[2]
  redis.call('ZREM', old, c[3])
  if redis.call('EXISTS', old) == 0 then redis.call('SREM', P .. 'lanes', c[2]) end
  redis.call('ZADD', P .. 'lane:' .. ARGV[5], c[5], c[3])
  redis.call('SADD', P .. 'lanes', ARGV[5])
end
redis.call('HSET', ckey, 'lane', ARGV[5], 'rec', ARGV[6])
changed()
return 1
"""
)

REGISTER = (
    _PRELUDE
    + """
-- ARGV: 4 agent, 5 profile JSON, 6 seq.  A new agent starts logged out.
local key = P .. 'agent:' .. ARGV[4]
if redis.call('HSETNX', key, 'st', 'logged_out') == 1 then
  redis.call('HSET', key, 'since', NOW, 'seq', ARGV[6])
end
redis.call('HSET', key, 'profile', ARGV[5])
changed()
return 1
"""
)

AGENT = (
    _PRELUDE
    + """
-- ARGV: 4 agent, 5 next state, 6 pause reason, 7 wrap-up until, 8.. states it may come from.
-- Returns {1, previous state, call put back ('' if none)} or {0, current state}.
local id = ARGV[4]
local key = P .. 'agent:' .. id
local st = redis.call('HGET', key, 'st')
if not st then return {0, 'unknown'} end
local ok = false
for i = 8, #ARGV do if ARGV[i] == st then ok = true; break end end
if not ok then return {0, st} end
local back = ''
if st == 'reserved' then
  back = redis.call('HGET', key, 'call')
  local c = redis.call('HMGET', P .. 'call:' .. back, unpack(FIELDS))
  if c[1] == 'r' and c[6] == id then
    unreserve(back, c[2], c[5], c[3])
    journal('op', 'cancel', 'call', back, 'agent', id, 'q', c[4], 'score', c[5], 'm', c[3])
  else
    back = ''
  end
end
if st == 'on_call' then redis.call('HINCRBY', key, 'handled', 1) end
if st == 'logged_out' then redis.call('HSET', key, 'handled', 0) end
agent_to(id, ARGV[5], ARGV[6], ARGV[7])
changed()
journal('op', 'agent', 'agent', id, 'from', st, 'to', ARGV[5])
return {1, st, back}
"""
)

POP_TIMERS = (
    _PRELUDE
    + """
-- ARGV: 4 limit.  Due timers, each handed to exactly one caller.
local due = redis.call('ZRANGEBYSCORE', P .. 'timers', '-inf', NOW, 'LIMIT', 0, ARGV[4],
  'WITHSCORES')
for i = 1, #due, 2 do redis.call('ZREM', P .. 'timers', due[i]) end
return due
"""
)
