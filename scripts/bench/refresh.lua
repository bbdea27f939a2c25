-- POST /v1/auth/refresh, each session carried forward: every answer's rotated refresh token
-- goes back into this thread's pool and is presented by the next request. A connection has
-- one request in flight, and wrk reads a response before it asks for the connection's next
-- request, so a pool as large as the thread's connections never runs dry while refreshes
-- succeed. A failed refresh loses its session, and later requests then fail visibly.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_index", threads)
end

function init(args)
  pool = {}
  local count = tonumber(os.getenv("BENCH_THREADS"))
  local line_number = 0
  for line in io.lines(os.getenv("BENCH_REFRESH_TOKENS")) do
    if line_number % count == thread_index - 1 then
      table.insert(pool, line)
    end
    line_number = line_number + 1
  end
end

function request()
  local token = table.remove(pool) or "no-session-left"
  return wrk.format("POST", "/v1/auth/refresh", { ["Content-Type"] = "application/json" },
    '{"refreshToken":"' .. token .. '"}')
end

function response(status, headers, body)
  local token = body:match('"refreshToken":"([^"]+)"')
  if token then
    table.insert(pool, token)
  end
end
