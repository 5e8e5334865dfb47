"""The Lua scripts behind RedisStore: one per slot they run in, and both in one.

``RECORD`` runs on one session's slot: every check-and-write on its data hash
and meta record (load, save, create, take, delete, peek, revoke, fix) is atomic there,
which is what keeps a save racing a logout or a revocation from resurrecting it.
``INDEX`` runs on the indexes' slot and keeps the management indexes in step.
On a cluster the two are different slots (often different nodes), so nothing a
session needs ever waits on the indexes, and no script touches both.

``SESSION`` is the two in one script, for a single server, where one EVALSHA
may touch every key: a RECORD operation, then an INDEX one unless the record
found nothing for the index to learn (a load within the activity granularity, a
save that kept the user). ``ARGV[1]`` is where the INDEX arguments start
(``'0'``: there are none, as for a rotation's take of the old record). On a
single server every change to a live record is announced by a key written and
deleted beside it, ``<prefix>{<id>}:a<token>`` (``announce``), for the
client-side caches (``redis_cache.py``).

Sessions never depend on the indexes being well formed: an INDEX operation
that fails deletes any index key holding the wrong type (logged in the Redis
server's log) and runs once more; if it still fails, ``SESSION`` keeps the
record's change and returns its reply, and a lone ``INDEX`` call answers the
error, which a session operation logs and ignores (``redis_flows.roundtrip``).

Each operation takes its name and the caller's clock (float seconds, as
Python's ``repr`` wrote it) as its first two arguments. Times are passed as
those strings and never go through Lua's ``tostring`` (which keeps 14 digits):
the meta record keeps them as 8-byte doubles, read back with ``%.17g``, so a
record's ``expires_at`` and its index score are the very same float.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from .base import MARK_SECONDS


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script run with EVALSHA; ``source`` is loaded again after NOSCRIPT."""

    name: str
    source: str
    sha: str = field(init=False)  # computed once: every call names the script by it

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


_COMMON = r"""
-- The running call's keys and arguments (a script's KEYS and ARGV; a function's
-- parameters) and its state: set afresh by each entry point (begin, ...), since a
-- function library's locals outlive a call.
local K, A
local op, now  -- the running operation and the caller's clock
local at  -- the next argument to read
local function begin(keys, args)
  K, A, op, now, at = keys, args, nil, nil, 1
end
local function take(n)
  at = at + n
  return unpack(A, at - n, at - 1)
end
local function list()
  local n, items = tonumber(take(1)), {}
  for i = 1, n do items[i] = A[at + i - 1] end
  at = at + n
  return items
end
-- HSET/HDEL in slices: Lua's unpack() has a stack limit
local function chunked(command, key, items)
  for i = 1, #items, 256 do
    redis.call(command, key, unpack(items, i, math.min(i + 255, #items)))
  end
end
-- the server's own clock, in seconds, as a string (scripts replicate effects, so
-- TIME is allowed)
local function server_time()
  local t = redis.call('TIME')
  return t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
end
local index_wanted = true  -- false: the INDEX half of SESSION has nothing to learn
-- a write's deadline (its next argument): the server time ('': none) after which the
-- client has given up on it (it answered 503); one that arrives later must not apply
local function too_late()
  local deadline = take(1)
  if deadline == '' then return false end
  local t = redis.call('TIME')  -- (as a number: server_time()'s text is for replies)
  if tonumber(t[1]) + tonumber(t[2]) / 1000000 > tonumber(deadline) then
    index_wanted = false
    return true
  end
  return false
end
-- seconds (a string or a number) to whole ms, rounded up: a key never vanishes early
local function ms(seconds) return string.format('%.0f', math.ceil(tonumber(seconds) * 1000)) end
-- the sliding rule (stores/base.py slid_expiry): candidate capped by deadline; '' = none
local function capped(candidate, deadline)
  if not deadline or deadline == '' then return candidate end
  if candidate == '' or tonumber(deadline) < tonumber(candidate) then return deadline end
  return candidate
end
"""

_RECORD = (
    f"local MARK_MS = '{MARK_SECONDS * 1000}'\n"
    + r"""
-- K[1]: the data hash (one field per session key, plus MARK so that an empty
-- session still exists); K[2]: the meta record. The data hash expires with the
-- session, the meta `retention` seconds later: an expired session is a meta
-- without data, a tombstone that Redis removes on time.
local D, M  -- K[1], K[2] (see record_begin)
-- X: K[3] when a take or delete is given it (3 keys, or 6 with the indexes'), the key
-- where it marks why a live record left, for MARK_MS: 'moved' (a take, a login) or
-- 'logged out' (a delete); see stores/base.py MarkingStore
local X
local MARK = '\255'  -- no UTF-8 encoded key is this byte
-- MARK's value once the meta's size and count are the data's own, kept so by every
-- save since (a record of a previous version, whose saves wrote each request's own
-- view, has ''; see kept_size)
local KEPT = '1'
-- the meta fields in Meta's order (redis_flows.META_FIELDS), then the internal
-- `indexed_at`: when a load last refreshed the activity index; then `device` (Meta's
-- last field, read here last so that the positions above hold). New fields go last.
local FIELDS = {'created_at', 'updated_at', 'last_activity_at', 'expires_at', 'deadline',
  'sliding', 'app', 'user', 'email', 'size_bytes', 'max_size_bytes', 'attribute_count',
  'status', 'ended_at', 'revoked_by', 'indexed_at', 'device'}
local POSITION = {}
for i = 1, #FIELDS do POSITION[FIELDS[i]] = i end  -- (no ipairs while a library loads)
local NUMERIC = {1, 2, 3, 4, 5, 14, 16}  -- (the counts: countable, below)
-- true in SESSION (a single server): a change to a live record is announced
-- (announce); a cluster has no client-side cache
local announcing = false

-- Tell the store's client-side caches (redis_cache.py) that this record changes now,
-- and whose change it is: `token` names a save by a process that cached the record
-- (so that it keeps its own result), '' any other change. The announcement is a key
-- beside the record, `<prefix>{<id>}:a<token>`, written and deleted at once: Redis
-- names it in the same invalidation message as the record's own keys (one message
-- per event-loop pass, queued after every reply of the pass and so written before
-- them), where a PUBLISH could reach a cache after the writer's reply. A user whose
-- ACL refuses the key still saves (pcall): caches then take the change as unannounced.
local function announce(token)
  if announcing then
    local marker = string.match(D, '^(.*})') .. ':a' .. token
    redis.pcall('SET', marker, '')
    redis.pcall('DEL', marker)
  end
end

-- The meta record is one string, in two parts. The header, HEADER bytes: VERSION, a
-- flags byte (1: status is 'active'; 2: sliding; then one bit per HOT field that is
-- present: 4, 8, 16, 32; 64: updated_at is present), HOT's values and updated_at as
-- 8-byte IEEE doubles (big-endian; 0 when absent; read back as '%.17g', which is the
-- very same float, though not always the text Python wrote), then COUNTS' values as
-- 4-byte unsigned integers (0 when absent). The header holds every field that a load,
-- a save or a blind write changes in the common case: a write that changes no body
-- field rewrites the header alone (SETRANGE), never the rest (meta_set). Then the
-- body: each of COLD's values in order, each a length byte (0-250) and that many
-- bytes, or ABSENT, or LONG, a decimal length, ':' and the bytes, or SAME and the
-- FIELDS position of an earlier body field with the same value, or TIME and a time's
-- 8-byte double; trailing absent values are left out, and so is the app when it is
-- Meta's default, APP. Records written before it still read, and their next write
-- rewrites them in this form: V2 (a 34-byte header of HOT alone, the body over
-- V2_COLD), OLD_VERSION (no header, the body over every one of FIELDS) and, before
-- that, a hash, one field per FIELDS name. Parsed with string functions only: a
-- planted record costs at most one pass over its bytes.
local VERSION, V2, OLD_VERSION, HEADER, V2_HEADER = '\3', '\2', '\1', 54, 34
local TIMES_END = 42  -- the header's last byte of times; COUNTS follow
local TIME, SAME, ABSENT, LONG = 251, 252, 253, 254
local APP, DEFAULT_APP = 7, 'default'
local YEAR_10000 = 253402300800  -- a header's times are real: from the epoch to year 9999
local FOUR_GIB = 4294967296  -- COUNTS are below it
local HOT = {3, 4, 5, 16}  -- last_activity_at, expires_at, deadline, indexed_at
local COUNTS = {10, 11, 12}  -- size_bytes, max_size_bytes, attribute_count
local COLD = {1, 6, 7, 8, 9, 13, 14, 15, 17}
local V2_COLD = {1, 2, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17}
local IS_COUNT, IN_HEADER = {}, {[2] = true}  -- COUNTS; the header's: HOT, updated_at, COUNTS
for k = 1, #HOT do IN_HEADER[HOT[k]] = true end
for k = 1, #COUNTS do IS_COUNT[COUNTS[k]], IN_HEADER[COUNTS[k]] = true, true end
local ALL = {}
for i = 1, #FIELDS do ALL[i] = i end
local TIMES = {[1] = true, [2] = true, [3] = true, [4] = true, [5] = true, [14] = true,
  [16] = true}  -- FIELDS' times
local meta_now  -- the values fields() read (false: absent), which the writes below update
local meta_hash = false  -- true: M is a record in the old layout, a hash
local meta_current = false  -- true: M is a record in the current form, as fields() read it

-- the header's first TIMES_END bytes: the status is 'active', the session slides, and
-- HOT's values and updated_at as numbers (nil: absent)
local function header(active, sliding, la, ex, dl, ix, up)
  local flags = (active and 1 or 0) + (sliding and 2 or 0)
  flags = flags + (la and 4 or 0) + (ex and 8 or 0) + (dl and 16 or 0) + (ix and 32 or 0)
  flags = flags + (up and 64 or 0)
  return VERSION .. string.char(flags) .. struct.pack('>ddddd', la or 0, ex or 0, dl or 0,
    ix or 0, up or 0)
end

-- a time of FIELDS' `values` as a number (nil: absent)
local function hot(values, i)
  local v = values[i]
  if not v then return nil end
  local n = tonumber(v)
  if not n then error('sessionware: a non-numeric ' .. FIELDS[i] .. ' cannot be packed') end
  return n
end

-- whether `v` (a string, a number read from a header, or false: absent) is a count the
-- header can hold
local function countable(v)
  if type(v) == 'number' then return v >= 0 and v < FOUR_GIB and v % 1 == 0 end
  return not v or (#v <= 10 and string.match(v, '^%d+$') ~= nil and tonumber(v) < FOUR_GIB)
end

-- an error reply if the name, value `pairs` (a flat list) set a count the header cannot
-- hold; checked before an operation writes anything, so that it fails whole
local function uncountable(pairs)
  for i = 1, #pairs, 2 do
    local at_ = POSITION[pairs[i]]
    if IS_COUNT[at_] and not countable(pairs[i + 1]) then
      index_wanted = false
      return redis.error_reply('sessionware: ' .. pairs[i] .. ' must be a whole number below '
        .. '4 GiB, not ' .. tostring(pairs[i + 1]))
    end
  end
  return nil
end

-- the whole header of FIELDS' `values` (an error if a count is out of range: callers
-- check theirs first with uncountable())
local function header_of(values)
  local counts = {}
  for k = 1, 3 do
    local v = values[COUNTS[k]]
    if not countable(v) then
      error('sessionware: a ' .. FIELDS[COUNTS[k]] .. ' that is no whole number below 4 GiB '
        .. 'cannot be packed')
    end
    counts[k] = v and tonumber(v) or 0
  end
  return header(values[13] == 'active', values[6] ~= '0', hot(values, 3), hot(values, 4),
    hot(values, 5), hot(values, 16), hot(values, 2))
    .. struct.pack('>I4I4I4', counts[1], counts[2], counts[3])
end

local function packed(values)
  local parts, last = {header_of(values)}, 0
  for k = 1, #COLD do
    if values[COLD[k]] then last = k end
  end
  local seen = {}  -- kind .. value -> the first field written with it, where the kind
  -- ('t' a time, 's' text) keeps a text field from referring to a time: a time reads
  -- back as '%.17g', which is not always the text a text field held
  for k = 1, last do
    local i = COLD[k]
    local v, same = values[i], nil
    if i == APP and v == DEFAULT_APP then v = false end  -- written absent: never referred to
    if v then
      local kind = (TIMES[i] and 't' or 's') .. v
      same = #v > 2 and seen[kind]
      if not seen[kind] then seen[kind] = i end
    end
    if not v then parts[#parts + 1] = string.char(ABSENT)
    elseif same then parts[#parts + 1] = string.char(SAME, same)
    elseif TIMES[i] and string.match(v, '^%d+%.?%d*$') then
      parts[#parts + 1] = string.char(TIME) .. struct.pack('>d', tonumber(v))
    elseif #v < TIME then parts[#parts + 1] = string.char(#v) .. v
    else parts[#parts + 1] = string.char(LONG) .. #v .. ':' .. v end
  end
  return table.concat(parts)
end

-- read the body of `raw` from `pos` over the FIELDS positions `order` into `values`:
-- nil if it is malformed. Values past `order` (a newer version's fields) are ignored.
local function body(raw, pos, order, values)
  local size = #raw
  for k = 1, #order do
    local i, b = order[k], string.byte(raw, pos)
    if not b then values[i] = false
    elseif b == ABSENT then values[i], pos = false, pos + 1
    elseif b == TIME then
      if pos + 8 > size then return nil end
      local t = struct.unpack('>d', string.sub(raw, pos + 1, pos + 8))
      values[i], pos = string.format('%.17g', t), pos + 9
    elseif b == SAME then
      local j = string.byte(raw, pos + 1)
      if not j or j >= i or not values[j] then return nil end
      values[i], pos = values[j], pos + 2
    else
      local start, n = pos + 1, b
      if b == LONG then
        local colon = string.find(raw, ':', start, true)
        if not colon or colon - start > 9 then return nil end
        n = string.match(string.sub(raw, start, colon - 1), '^%d+$')
        if not n then return nil end
        start, n = colon + 1, tonumber(n)
      elseif b > LONG then return nil end
      if start + n - 1 > size then return nil end
      values[i], pos = string.sub(raw, start, start + n - 1), start + n
    end
  end
  values[APP] = values[APP] or DEFAULT_APP
  return values
end

-- the flags and times (numbers, nil where absent) of a header of `form` (VERSION or V2:
-- HOT's times, then updated_at in VERSION), or nil if it is malformed
local function read_header(raw, form)
  local size, last, times, layout = HEADER, 128, 5, '>ddddd'
  if form == V2 then size, last, times, layout = V2_HEADER, 64, 4, '>dddd' end
  if #raw < size or string.sub(raw, 1, 1) ~= form then return nil end
  local flags = string.byte(raw, 2)
  if flags >= last then return nil end
  local t = {struct.unpack(layout, string.sub(raw, 3, 2 + 8 * times))}
  for k = 1, times do
    local bit = 2 ^ (k + 1)
    if flags % (2 * bit) < bit then t[k] = nil  -- absent
    elseif not (t[k] >= 0 and t[k] < YEAR_10000) then return nil end  -- (NaN fails too)
  end
  if times == 4 then t[5] = nil end  -- (unpack's last value is where it stopped)
  return flags, t[1], t[2], t[3], t[4], t[5]
end

local function time_text(t)
  if t == nil then return false end
  return string.format('%.17g', t)
end

-- FIELDS' values of a packed record (false: absent), or nil if it is malformed. Values
-- read from a header are numbers, the others strings (every reader takes both:
-- formatting the header's eight numbers as text cost a save a third of its parse);
-- as_text() gives them all as text.
local function unpacked(raw)
  local first = string.sub(raw, 1, 1)
  if first == OLD_VERSION then return body(raw, 2, ALL, {}) end
  if first ~= VERSION and first ~= V2 then return nil end
  local flags, la, ex, dl, ix, up = read_header(raw, first)
  if not flags then return nil end
  local values  -- (no SAME refers to a header field)
  if first == V2 then
    values = body(raw, V2_HEADER + 1, V2_COLD, {})
  else
    values = body(raw, HEADER + 1, COLD, {})
    if values then
      local size, most, count = struct.unpack('>I4I4I4', string.sub(raw, TIMES_END + 1, HEADER))
      values[2], values[10], values[11], values[12] = up or false, size, most, count
    end
  end
  if not values then return nil end
  values[3], values[4], values[5], values[16] = la or false, ex or false, dl or false, ix or false
  return values
end

-- FIELDS' `values` as text, as Python reads them: a time as '%.17g', a count as digits
local function as_text(values)
  local texts = {}
  for i = 1, #FIELDS do
    local v = values[i]
    if type(v) == 'number' then v = string.format(TIMES[i] and '%.17g' or '%d', v) end
    texts[i] = v
  end
  return texts
end

-- the meta's FIELDS, positional, false where absent (an error reply if M is neither
-- a record of ours nor missing)
local function fields()
  local raw = redis.pcall('GET', M)
  meta_hash, meta_current = false, false
  if type(raw) == 'table' and raw.err then
    if redis.call('TYPE', M)['ok'] ~= 'hash' then return raw end
    meta_hash = true
    meta_now = redis.pcall('HMGET', M, unpack(FIELDS))
    return meta_now
  end
  if not raw then
    meta_now = {}
    for i = 1, #FIELDS do meta_now[i] = false end
    return meta_now
  end
  meta_now = unpacked(raw)
  if not meta_now then return {err = 'malformed meta record'} end
  meta_current = string.sub(raw, 1, 1) == VERSION
  return meta_now
end

-- Every write of meta fields: set the name, value `pairs` (a flat list), clear the
-- `cleared` names, and write the record in one command, keeping its expiry (a
-- record in an older form is replaced by the current one). A record in the current
-- form whose body fields all keep their values (a save that kept the user, a blind
-- write, a load's slide) has its header rewritten alone: repacking the body cost a
-- save about a third of its server time. Updates fields()' table.
local function meta_set(pairs, cleared)
  local whole = not meta_current
  for i = 1, #pairs, 2 do
    local at_ = POSITION[pairs[i]]
    if not at_ then error('sessionware: unknown meta field ' .. tostring(pairs[i])) end
    if not IN_HEADER[at_] and meta_now[at_] ~= pairs[i + 1] then whole = true end
    meta_now[at_] = pairs[i + 1]
  end
  for _, name in ipairs(cleared or {}) do
    local at_ = POSITION[name]
    if at_ then
      if not IN_HEADER[at_] and meta_now[at_] then whole = true end
      meta_now[at_] = false
    end
  end
  meta_current = true
  if not whole then
    redis.call('SETRANGE', M, 0, header_of(meta_now))
    return
  end
  if meta_hash then
    local until_ms = redis.call('PEXPIRETIME', M)
    redis.call('DEL', M)
    redis.call('SET', M, packed(meta_now))
    if until_ms > 0 then redis.call('PEXPIREAT', M, until_ms) end
    meta_hash = false
  else
    redis.call('SET', M, packed(meta_now), 'KEEPTTL')
  end
end

-- a new meta record (no expiry yet) from name, value `pairs`
local function meta_create(pairs)
  redis.call('DEL', M)
  meta_now, meta_hash, meta_current = {}, false, false
  for i = 1, #FIELDS do meta_now[i] = false end
  meta_set(pairs)
end

-- 1: live; 0: missing, ended or expired; -1: corrupt (a key of the wrong type, a
-- meta of the wrong shape); -2 (a save only): it came after its deadline.
-- `meta` is fields(), `n` the data hash's length (an error reply if D is not a
-- hash). Reads the keys again only to tell a missing
-- record from a corrupt one.
local function judge(meta, n)
  if meta.err or type(n) ~= 'number' then return -1 end
  if not meta[13] then  -- no status: no meta at all, or a corrupt one
    if n > 0 or redis.call('EXISTS', M) == 1 then return -1 end
    return 0
  end
  for _, i in ipairs(NUMERIC) do
    if meta[i] and not tonumber(meta[i]) then return -1 end
  end
  for _, i in ipairs(COUNTS) do  -- (the header holds them as 4-byte whole numbers)
    if not countable(meta[i]) then return -1 end
  end
  if not (meta[1] and meta[2] and meta[3]) then return -1 end
  if meta[13] ~= 'active' or n == 0 then return 0 end
  if meta[4] and tonumber(meta[4]) <= tonumber(now) then return 0 end
  return 1
end

local function state()
  local meta = fields()
  return judge(meta, redis.pcall('HLEN', D)), meta
end

-- the data expires at `expires` ('': never), the meta `retention` seconds later
local function expire(expires, retention)
  if expires == '' then
    redis.call('PERSIST', D)
    redis.call('PERSIST', M)
  else
    redis.call('PEXPIREAT', D, ms(expires))
    redis.call('PEXPIREAT', M, ms(tonumber(expires) + tonumber(retention)))
  end
end

-- activity at `now` on a live record whose FIELDS' values are `meta` (fields()' table):
-- slide its expiry to `candidate` (the sliding rule), decide whether the activity index
-- hears of it (once per `grain` seconds), and write that with the meta pairs in
-- `changed` in one write (meta then holds them); re-times the keys.
local function touch(meta, candidate, retention, grain, changed)
  local old, expires = meta[4] or '', meta[4] or ''
  if meta[6] ~= '0' then expires = capped(candidate, meta[5]) end  -- sliding
  local indexed = meta[16]
  index_wanted = not indexed or tonumber(now) - tonumber(indexed) >= tonumber(grain)
  local cleared = {}
  changed[#changed + 1], changed[#changed + 2] = 'last_activity_at', now
  if index_wanted then
    changed[#changed + 1], changed[#changed + 2] = 'indexed_at', now
  end
  if expires ~= old then
    if expires == '' then
      cleared[1] = 'expires_at'
    else
      changed[#changed + 1], changed[#changed + 2] = 'expires_at', expires
    end
  end
  meta_set(changed, cleared)
  if expires ~= old then expire(expires, retention) end
end

-- A load of a record in the current form (`raw`): it reads the header alone, and
-- writes back only the header and the expiry, as touch() does for the whole record.
-- The body is the caller's to check (the reply carries the record).
local function quick_load(raw)
  index_wanted = false
  local flags, la, ex, dl, ix, up = read_header(raw, VERSION)
  if not flags or not la or not up then return -1 end
  local count = redis.pcall('HLEN', D)
  if type(count) ~= 'number' then return -1 end
  local clock = tonumber(now)
  if flags % 2 == 0 or count == 0 or (ex and ex <= clock) then return 0 end
  local candidate, retention, grain, quiet = take(4)
  if quiet ~= '' and clock - la < tonumber(quiet) then return {1, raw, server_time()} end
  local sliding, expires = flags % 4 >= 2, ex
  if sliding then
    expires = capped(candidate, dl and time_text(dl) or '')
    expires = expires ~= '' and tonumber(expires) or nil
  end
  index_wanted = not ix or clock - ix >= tonumber(grain)
  if index_wanted then ix = clock end
  local top = header(true, sliding, clock, expires, dl, ix, up)  -- (COUNTS stay as they are)
  redis.call('SETRANGE', M, 0, top)
  if expires ~= ex then expire(expires and time_text(expires) or '', retention) end
  return {1, top .. string.sub(raw, TIMES_END + 1), server_time()}
end

-- The record's size and attribute count before a save (`meta`: fields()), and whether
-- they were measured here: trusted from the meta when MARK says a save of this version
-- kept them; else (a previous version's record) measured from the data hash, once:
-- O(keys) that one time, O(changed keys) after
local function kept_size(meta, uncounted)
  if redis.call('HGET', D, MARK) == KEPT then
    return tonumber(meta[10] or 0), tonumber(meta[12] or 0), false
  end
  local size, count = 0, 0
  for _, key in ipairs(redis.call('HKEYS', D)) do
    if key ~= MARK then
      size = size + #key + redis.call('HSTRLEN', D, key)
      if not uncounted[key] then count = count + 1 end
    end
  end
  return size, count, true
end

-- a RECORD call's fresh state (after begin)
local function record_begin()
  D, M, index_wanted, meta_now, meta_hash, meta_current = K[1], K[2], true, nil, false, false
  X = (#K == 3 or #K == 6) and K[3] or nil
end

local function record(base)
  op, now, at = A[base], A[base + 1], base + 2

  if op == 'load' then  -- candidate expiry ('': none), retention, index granularity (s),
    -- quiet (s; '': never): a load within it of the last activity writes nothing, so that
    -- a client-side cache is not invalidated by its own loads (redis_cache.py)
    -- returns {1, the packed meta record as now stored, server time}, or a state. The
    -- data is not read here: the caller's HGETALL follows in the same round trip (a value
    -- pulled into Lua costs the server ~80 us per 60 KB, an HGETALL ~3 us)
    local raw = redis.pcall('GET', M)
    if type(raw) == 'string' and string.sub(raw, 1, 1) == VERSION then return quick_load(raw) end
    local meta = fields()
    local s = judge(meta, redis.pcall('HLEN', D))
    index_wanted = s == 1
    if s ~= 1 then return s end
    local candidate, retention, grain, quiet = take(4)
    if quiet ~= '' and tonumber(now) - tonumber(meta[3]) < tonumber(quiet) then
      index_wanted = false
      return {1, packed(meta), server_time()}
    end
    touch(meta, candidate, retention, grain, {})
    return {1, packed(meta), server_time()}

  elseif op == 'save' then
    -- deadline, size cap ('': none), uncounted keys, data pairs, removed keys, meta pairs,
    -- meta fields to clear. 1 saved; a state; -3: the record would grow past the cap
    -- (nothing written). deadline: the server time ('': none) after which the client has
    -- given up on this save (it answered 503): a save that arrives later must not apply
    if too_late() then return -2 end
    local s, old = state()
    if s ~= 1 then
      index_wanted = false
      return s
    end
    local cap = take(1)
    local uncounted, gone = {}, {}
    for _, name in ipairs(list()) do uncounted[name] = true end
    local set = list()
    local removed = list()
    local meta = list()
    local cleared, present = list(), {}
    local own = take(1)  -- the cache's token of this save ('' or absent: none)
    for _, name in ipairs(removed) do gone[name] = true end
    -- the size and count from what the record holds, moved by the changed keys' stored
    -- lengths (stores/base.py resized): concurrent saves each see only their own keys
    local size, count, measured = kept_size(old, uncounted)
    local before = size
    for i = 1, #set, 2 do
      local key = set[i]
      if not gone[key] then
        local length = redis.call('HSTRLEN', D, key)
        if length > 0 or redis.call('HEXISTS', D, key) == 1 then size = size - #key - length
        elseif not uncounted[key] then count = count + 1 end
        size = size + #key + #set[i + 1]
      end
    end
    for key in pairs(gone) do
      local length = redis.call('HSTRLEN', D, key)
      if length > 0 or redis.call('HEXISTS', D, key) == 1 then
        size = size - #key - length
        if not uncounted[key] then count = count - 1 end
      end
    end
    if cap ~= '' and size > tonumber(cap) and size > before then
      index_wanted = false
      return -3
    end
    size = string.format('%d', math.max(size, 0))  -- (a meta that undercounted its data)
    meta[#meta + 1], meta[#meta + 2] = 'size_bytes', size
    meta[#meta + 1], meta[#meta + 2] = 'attribute_count', string.format('%d', math.max(count, 0))
    if tonumber(old[11] or 0) < tonumber(size) then
      meta[#meta + 1], meta[#meta + 2] = 'max_size_bytes', size
    end
    local bad = uncountable(meta)
    if bad then return bad end
    local user = false  -- the index keeps the user: only a new one is news
    for i = 1, #meta, 2 do
      if meta[i] == 'user' then user = meta[i + 1] end
    end
    for _, name in ipairs(cleared) do
      if (name == 'user' and old[8]) or (name == 'email' and old[9]) then
        present[#present + 1] = name
      end
    end
    index_wanted = user ~= old[8]
    announce(own or '')
    chunked('HSET', D, set)
    chunked('HDEL', D, removed)
    if measured then  -- (a previous version's record: its data hash may have been
      -- emptied, so deleted, by the HDEL, or never made; MARK makes it again, timed)
      redis.call('HSET', D, MARK, KEPT)
      if old[4] and old[4] ~= '' then redis.call('PEXPIREAT', D, ms(old[4])) end
    end
    meta_set(meta, present)
    return 1

  elseif op == 'write' then
    -- a blind write (stores/base.py BlindWrite): deadline, candidate expiry ('': none),
    -- retention, index granularity (s), size cap, app ('': any), data pairs. 1 written; a
    -- state (a live record of another app counts as not live: 0); -3: the record would
    -- grow past the cap (nothing written)
    if too_late() then return -2 end
    local s, meta = state()
    local candidate, retention, grain, cap, app = take(5)
    if s == 1 and app ~= '' and (meta[APP] or DEFAULT_APP) ~= app then s = 0 end
    if s ~= 1 then
      index_wanted = false
      return s
    end
    local set = list()
    local was = tonumber(meta[10] or 0)
    local size, count = was, tonumber(meta[12] or 0)
    for i = 1, #set, 2 do
      local length = redis.call('HSTRLEN', D, set[i])  -- a stored value is never empty
      if length > 0 then size = size - #set[i] - length else count = count + 1 end
      size = size + #set[i] + #set[i + 1]
    end
    if size > tonumber(cap) and size > was then
      index_wanted = false
      return -3
    end
    if size < 0 then size = 0 end  -- a meta that undercounted its data (sizes are advisory)
    size, count = string.format('%d', size), string.format('%d', count)
    local changed = {'updated_at', now, 'size_bytes', size, 'attribute_count', count}
    if tonumber(meta[11] or 0) < tonumber(size) then
      changed[#changed + 1], changed[#changed + 2] = 'max_size_bytes', size
    end
    local bad = uncountable(changed)
    if bad then return bad end
    announce('')
    chunked('HSET', D, set)
    touch(meta, candidate, retention, grain, changed)
    return 1

  elseif op == 'create' then  -- deadline (too_late), expiry ('': none), retention, data
    -- pairs, meta pairs. Its id is new (drawn at random): only where no record is, else
    -- nothing written and 2 (a live one) or 0: a create or rotation sent again after its
    -- reply was lost must not write over what became of the first run's record; -2 late
    if redis.call('EXISTS', M) == 1 then
      index_wanted = false
      return state() == 1 and 2 or 0
    end
    if too_late() then return -2 end
    local expires, retention = take(2)
    local data = list()
    local meta = list()
    local bad = uncountable(meta)
    if bad then return bad end
    announce('')
    redis.call('DEL', D)
    redis.call('HSET', D, MARK, KEPT)  -- the caller's meta measured its data
    chunked('HSET', D, data)
    meta_create(meta)
    expire(expires, retention)
    return 1

  elseif op == 'take' or op == 'delete' then  -- a live record goes; a tombstone stays
    -- deadline (too_late: -2, nothing done); a take: the updated_at its caller loaded
    -- ('': none), then the id it moves to
    local s, meta = state()
    local late = too_late()
    local since, into = op == 'take' and A[at], op == 'take' and A[at + 1]
    if s == 1 and late then return -2 end
    if s == 1 and since and since ~= '' and tonumber(meta[2]) ~= tonumber(since) then
      index_wanted = false
      return 2  -- written since the caller loaded it: left as it is
    end
    -- a take that carries the data (a login: into names the new id) moved it; one that
    -- does not (into: '', a logout that then set keys) and a delete logged it out
    local mark = (into and into ~= '') and 'moved ' .. into or 'logged out'
    if s == 1 then
      announce('')
      redis.call('DEL', D, M)
      if X then redis.call('SET', X, mark, 'PX', MARK_MS) end
    elseif op == 'take' and X and into and into ~= '' and redis.call('GET', X) == mark then
      index_wanted = false
      return 3  -- this very move, sent again after its reply was lost: taken already
    elseif op == 'delete' then index_wanted = false end  -- a tombstone stays listed too
    return s

  elseif op == 'peek' then  -- want data ('1'/'0'); no activity. {state, FIELDS' values, data}
    local s, meta = state()
    if s == -1 then return -1 end
    if not meta[13] then return {s, {}, {}} end
    local data = {}
    if s == 1 and take(1) == '1' then data = redis.call('HGETALL', D) end
    return {s, as_text(meta), data}

  elseif op == 'revoke' then  -- actor, retention
    local s = state()
    if s ~= 1 then return s end
    local actor, retention = take(2)
    announce('')
    redis.call('DEL', D)
    meta_set({'status', 'revoked', 'ended_at', now, 'revoked_by', actor})
    redis.call('PEXPIREAT', M, ms(tonumber(now) + tonumber(retention)))
    return 1

  elseif op == 'fix' then  -- expiry ('': durable), retention; sliding stops
    local s = state()
    if s ~= 1 then
      index_wanted = false  -- an ended session's index entry keeps its end
      return s
    end
    local expires, retention = take(2)
    announce('')
    if expires == '' then meta_set({'sliding', '0'}, {'deadline', 'expires_at'})
    else meta_set({'sliding', '0', 'deadline', expires, 'expires_at', expires}) end
    expire(expires, retention)
    return 1
  end
  return redis.error_reply('sessionware: unknown record operation ' .. tostring(op))
end
"""
)

_INDEX = r"""
-- The last three keys (K): ACT, END and INFO.
-- ACT: session ids by last activity (the operator's listing); a load refreshes
--   it at most once per granularity (see redis_flows.ACTIVITY_GRANULARITY).
-- END: the same ids by when each stops being live: its expiry, or when it was
--   revoked; 'inf' when durable. Never earlier than the record's own end (a
--   load's refresh adds the granularity that later loads may slide it by), so
--   that no live session is ever missing from a listing of live ones, and
--   at most that much later: a session's tombstone leaves every index
--   `retention` seconds after its end, as its meta does, give or take that.
-- INFO: id -> "<sliding 1|0>|<deadline or ''>|<+user or ->", so that a
--   load slides END here by the same rule as the record's own script.
-- USERS .. user: that user's ids by end, a sorted set per user.
-- Every index keeps a public id (32 hex digits) as '\255' and its 16 bytes
-- (redis_flows._member), other ids as they are; see resolve() for the entries of
-- older versions, which kept the hex digits.
local ACT, END, INFO  -- see index_begin
local retention, USERS
local users_met = {}  -- the user keys this operation touched, for repair()

-- an INDEX call's fresh state (after begin)
local function index_begin()
  ACT, END, INFO, users_met = K[#K - 2], K[#K - 1], K[#K], {}
end

local function user_key(token)
  if token and string.sub(token, 1, 1) == '+' then
    local key = USERS .. string.sub(token, 2)
    users_met[key] = true
    return key
  end
  return nil
end

-- Delete every index key of ours that holds the wrong type (a stray SET, say):
-- indexes are derived data, and sessions must never wait on them. True if any.
local function repair()
  local wanted, fixed = {[ACT] = 'zset', [END] = 'zset', [INFO] = 'hash'}, false
  for key in pairs(users_met) do wanted[key] = 'zset' end
  for key, kind in pairs(wanted) do
    local found = redis.call('TYPE', key)['ok']
    if found ~= 'none' and found ~= kind then
      redis.call('DEL', key)
      redis.log(redis.LOG_WARNING, 'sessionware: deleted index key ' .. key .. ', a ' .. found
        .. ' where a ' .. kind .. ' belongs')
      fixed = true
    end
  end
  return fixed
end

-- sliding flag, deadline, user token of a session (nil when not indexed)
local function info(id)
  local value = redis.call('HGET', INFO, id)
  if not value then return nil end
  return string.match(value, '^([01])|([^|]*)|(.*)$')
end

-- `id` (an index member as the caller gave it), after moving an entry that an
-- older version made under the id's hex digits to the packed form
local function resolve(id)
  if #id ~= 17 or string.byte(id, 1) ~= 255 or redis.call('ZSCORE', END, id) then return id end
  local hex = string.gsub(string.sub(id, 2), '.',
    function(c) return string.format('%02x', string.byte(c)) end)
  local e = redis.call('ZSCORE', END, hex)
  if not e then return id end
  redis.call('ZREM', END, hex)
  redis.call('ZADD', END, e, id)
  local a = redis.call('ZSCORE', ACT, hex)
  if a then
    redis.call('ZREM', ACT, hex)
    redis.call('ZADD', ACT, a, id)
  end
  local value = redis.call('HGET', INFO, hex)
  if value then
    redis.call('HDEL', INFO, hex)
    redis.call('HSET', INFO, id, value)
    local _, _, token = string.match(value, '^([01])|([^|]*)|(.*)$')
    local key = user_key(token)
    local u = key and redis.call('ZSCORE', key, hex)
    if u then
      redis.call('ZREM', key, hex)
      redis.call('ZADD', key, u, id)
    end
  end
  return id
end

-- the session's end if it is live now, else nil
local function live_end(id)
  local e = redis.call('ZSCORE', END, id)
  if e and (e == 'inf' or tonumber(e) > tonumber(now)) then return e end
  return nil
end

-- keep `keys` until `e` + retention; 'inf' (a durable session) keeps them for good
local function keep(keys, e, option)
  for _, key in ipairs(keys) do
    if e == 'inf' then redis.call('PERSIST', key)
    elseif option then redis.call('PEXPIREAT', key, ms(tonumber(e) + retention), option)
    else redis.call('PEXPIREAT', key, ms(tonumber(e) + retention)) end
  end
end

-- set the TTL of `keys` from the latest end in `zset`
local function refresh(keys, zset)
  local top = redis.call('ZRANGE', zset, -1, -1, 'WITHSCORES')
  if top[2] then keep(keys, top[2]) end
end

local function refresh_all(key)
  refresh({ACT, END, INFO}, END)
  if key then refresh({key}, key) end
end

local function forget(id)
  local _, _, token = info(id)
  local key = user_key(token)
  if key then redis.call('ZREM', key, id) end
  redis.call('ZREM', ACT, id)
  redis.call('ZREM', END, id)
  redis.call('HDEL', INFO, id)
  return key
end

-- drop up to `limit` entries whose tombstone retention is over
local function sweep(limit)
  local cutoff = string.format('%.17g', tonumber(now) - retention)
  local due = redis.call('ZRANGE', END, '-inf', cutoff, 'BYSCORE', 'LIMIT', 0, limit)
  for _, id in ipairs(due) do forget(id) end
end

-- the operation at A[base]: its name, the clock, the retention in seconds, the
-- USERS prefix, then its own arguments
local function index(base)
  op, now, retention, USERS = A[base], A[base + 1], tonumber(A[base + 2]), A[base + 3]
  at = base + 4

  if op == 'create' then  -- id, last activity, end, sliding, deadline, user token, old id
    local id, last, e, sliding, deadline, token, old = take(7)
    if old ~= '' then old = resolve(old) end
    if old ~= '' and live_end(old) then
      local old_key = forget(old)
      if old_key then refresh({old_key}, old_key) end  -- it may have kept a durable one
    end
    redis.call('ZADD', ACT, last, id)
    redis.call('ZADD', END, e, id)
    redis.call('HSET', INFO, id, sliding .. '|' .. deadline .. '|' .. token)
    local key = user_key(token)
    if key then redis.call('ZADD', key, e, id) end
    refresh_all(key)
    sweep(100)
    return 1

  elseif op == 'touch' then  -- id, candidate expiry ('': none), granularity (s)
    local id, candidate, grain = take(3)
    id = resolve(id)
    if not live_end(id) then return 0 end
    redis.call('ZADD', ACT, 'XX', now, id)
    local sliding, deadline, token = info(id)
    if sliding ~= '1' then return 1 end
    if candidate ~= '' and tonumber(grain) > 0 then
      candidate = string.format('%.17g', tonumber(candidate) + tonumber(grain))
    end
    local e = capped(candidate, deadline)
    if e == '' then e = 'inf' end
    redis.call('ZADD', END, 'XX', e, id)
    local keys, key = {ACT, END, INFO}, user_key(token)
    if key then
      redis.call('ZADD', key, 'XX', e, id)
      keys[4] = key
    end
    keep(keys, e, 'GT')  -- only ever extend here: a persistent key stays so
    return 1

  elseif op == 'user' or op == 'user_if' then  -- id, user token: a save changed (or
    -- confirmed) the user; user_if, then the token the entry must hold to be changed (a
    -- refused save's, put back on a cluster unless another save moved it since)
    local id, token = take(2)
    local expected = op == 'user_if' and take(1) or nil
    id = resolve(id)
    local e = live_end(id)
    if not e then return 0 end
    local sliding, deadline, old = info(id)
    if not sliding or old == token then return 0 end
    if expected and old ~= expected then return 0 end
    local old_key, key = user_key(old), user_key(token)
    if old_key then
      redis.call('ZREM', old_key, id)
      refresh({old_key}, old_key)  -- a durable session leaving may end a PERSIST
    end
    redis.call('HSET', INFO, id, sliding .. '|' .. deadline .. '|' .. token)
    if key then
      redis.call('ZADD', key, e, id)
      refresh({key}, key)
    end
    return 1

  elseif op == 'revoke' then  -- id: it ended now
    local id = resolve(take(1))
    local _, _, token = info(id)
    local key = user_key(token)
    redis.call('ZADD', END, 'XX', 'LT', now, id)
    if key then redis.call('ZADD', key, 'XX', 'LT', now, id) end
    refresh_all(key)
    return 1

  elseif op == 'fix' then  -- id, expiry ('': durable)
    local id, expires = take(2)
    id = resolve(id)
    if not live_end(id) then return 0 end
    local _, _, token = info(id)
    if not token then return 0 end
    local e = expires == '' and 'inf' or expires
    redis.call('HSET', INFO, id, '0|' .. expires .. '|' .. token)
    redis.call('ZADD', END, 'XX', e, id)
    local key = user_key(token)
    if key then redis.call('ZADD', key, 'XX', e, id) end
    refresh_all(key)
    return 1

  elseif op == 'delete' or op == 'forget' then  -- id; delete spares a tombstone
    local id = resolve(take(1))
    if op == 'forget' or live_end(id) then refresh_all(forget(id)) end
    return 1

  elseif op == 'page' then  -- descending ('1'/'0'), offset, limit: ids by last activity
    local descending, offset, limit = take(3)
    offset, limit = tonumber(offset), tonumber(limit)
    sweep(10000)
    local ids = {}
    if limit < 1 then  -- (a stop index of -1 would mean the last)
    elseif descending == '1' then ids = redis.call('ZRANGE', ACT, offset, offset + limit - 1, 'REV')
    else ids = redis.call('ZRANGE', ACT, offset, offset + limit - 1) end
    return {redis.call('ZCARD', ACT), ids}

  elseif op == 'ids' then  -- user token or '' (every id), live only ('1'/'0')
    local token, live = take(2)
    sweep(10000)
    local key = user_key(token)
    if not key then return redis.call('ZRANGE', ACT, 0, -1) end
    if live == '1' then return redis.call('ZRANGE', key, '(' .. now, '+inf', 'BYSCORE') end
    return redis.call('ZRANGE', key, 0, -1)
  end
  return redis.error_reply('sessionware: unknown index operation ' .. tostring(op))
end

-- index(base), repairing wrong-typed index keys and trying once more if it fails:
-- ok, and the reply or the error
local function safe_index(base)
  local ok, reply = pcall(index, base)
  if not ok and repair() then ok, reply = pcall(index, base) end
  return ok, reply
end
"""

# The entry points, for a script (EVALSHA ends with `return <name>(KEYS, ARGV)`) and
# for the function library (FCALL) alike.
_RECORD_MAIN = r"""
local function record_main(keys, args)
  begin(keys, args)
  record_begin()
  announcing = false
  return record(1)
end
"""
_INDEX_MAIN = r"""
local function index_main(keys, args)
  begin(keys, args)
  index_begin()
  local ok, reply = safe_index(1)
  if ok then return reply end
  return redis.error_reply(type(reply) == 'table' and reply.err or tostring(reply))
end
"""
_SESSION_MAIN = r"""
-- A[1] is where the INDEX arguments start ('0': there are none)
local function session_main(keys, args)
  begin(keys, args)
  record_begin()
  index_begin()
  announcing = true
  local reply = record(2)
  if index_wanted and A[1] ~= '0' then  -- '0': a record operation alone
    local ok, failure = safe_index(tonumber(A[1]))
    if not ok then  -- the record's change stands: an index must never fail a session
      redis.log(redis.LOG_WARNING, 'sessionware: index update failed: '
        .. (type(failure) == 'table' and tostring(failure.err) or tostring(failure)))
    end
  end
  return reply
end
"""

RECORD = Script("record", _COMMON + _RECORD + _RECORD_MAIN + "return record_main(KEYS, ARGV)")
INDEX = Script("index", _COMMON + _INDEX + _INDEX_MAIN + "return index_main(KEYS, ARGV)")
SESSION = Script(
    "session",
    _COMMON + _RECORD + _INDEX + _SESSION_MAIN + "return session_main(KEYS, ARGV)",
)


@dataclass(frozen=True, slots=True)
class Library:
    """The three scripts as one Redis function library (Redis 7 FUNCTION LOAD, FCALL).

    A function's code runs once, when the library loads, so a call skips what a
    script does on every EVALSHA: defining every function and building every
    table (measured: 6-8 us of the server's time per call). Names carry a hash
    of the code, so that two releases' libraries live side by side in a rolling
    deploy. ``function_of`` maps a script's SHA to its function's name.
    """

    source: str
    function_of: dict[str, str]


def _library() -> Library:
    code = _COMMON + _RECORD + _INDEX + _RECORD_MAIN + _INDEX_MAIN + _SESSION_MAIN
    version = hashlib.sha1(code.encode()).hexdigest()[:12]
    names = {
        script.sha: f"sessionware_{script.name}_{version}" for script in (RECORD, INDEX, SESSION)
    }
    mains = {RECORD.sha: "record_main", INDEX.sha: "index_main", SESSION.sha: "session_main"}
    registered = "".join(
        f"redis.register_function('{names[sha]}', {mains[sha]})\n" for sha in names
    )
    header = f"#!lua name=sessionware_{version}\n"
    return Library(header + code + registered, names)


LIBRARY = _library()
