-- Stores a code unless a live one is already there (its expiry, in the stored value's
-- prefix, is compared with the caller's clock, as every read of codes does).
-- KEYS[1] the code; ARGV[1] the new stored value; ARGV[2] its expiry (unix ms);
-- ARGV[3] now (unix ms). Returns 1 when stored, 0 when a live code was kept.
local current = redis.call('GET', KEYS[1])
if current then
  local expires = tonumber(string.match(current, '^(%-?%d+):'))
  if expires and expires > tonumber(ARGV[3]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', math.max(tonumber(ARGV[2]), 1))
return 1
