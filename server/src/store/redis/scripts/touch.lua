-- Stores a session's new lastActivity, only if the session is exactly as the caller read it.
-- KEYS: 1 the user's session hash
-- ARGV: 1 session id, 2 session JSON as read, 3 updated session JSON
-- Returns 1 when applied, 0 when the session changed meanwhile (the newer state stands).
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
