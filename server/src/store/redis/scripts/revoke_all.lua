-- Ends every session of a user but one.
-- KEYS: 1 the user's session hash
-- ARGV: 1 the session id to keep ('' for none)
-- Returns the ids removed.
local removed = {}
for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
  if id ~= ARGV[1] then
    redis.call('HDEL', KEYS[1], id)
    table.insert(removed, id)
  end
end
return removed
