-- Refresh rotation, applied only if the session is exactly as the caller read it.
-- KEYS: 1 the user's session hash, 2 the presented digest's key, 3 the replacement's key
-- ARGV: 1 session id, 2 session JSON as read, 3 rotated session JSON, 4 its expiry (ms)
-- Returns 1 when applied, 0 when the session moved on (the caller reads again and decides).
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('SET', KEYS[3], ARGV[1], 'PXAT', ARGV[4])
-- The rotated-out digest stays as long as the session, so that a replay reads as reuse.
redis.call('PEXPIREAT', KEYS[2], ARGV[4])
local hash_expiry = redis.call('PEXPIRETIME', KEYS[1])
if hash_expiry < tonumber(ARGV[4]) then redis.call('PEXPIREAT', KEYS[1], ARGV[4]) end
return 1
