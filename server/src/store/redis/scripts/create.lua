-- Adds a session and drops the expired and evicted ones, only if the user's set of sessions
-- is the one the caller decided on (refreshes change sessions, not the set, so they never
-- make a sign-in start over).
-- KEYS: 1 the user's session hash, 2 the new session's refresh-digest key
-- ARGV: 1 the session ids read, sorted and joined by newlines, 2 new session id,
--       3 its JSON, 4 its expiry (ms), 5 the latest expiry among the sessions kept (ms),
--       6... the ids to drop
-- Returns 1 when applied, 0 when the set changed (the caller reads again and decides).
local ids = redis.call('HKEYS', KEYS[1])
table.sort(ids)
if table.concat(ids, '\n') ~= ARGV[1] then return 0 end
for i = 6, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PXAT', ARGV[4])
local hash_expiry = redis.call('PEXPIRETIME', KEYS[1])
if hash_expiry < tonumber(ARGV[5]) then redis.call('PEXPIREAT', KEYS[1], ARGV[5]) end
return 1
