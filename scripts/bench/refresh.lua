-- POST /v1/auth/refresh, each session carried forward: every answer's rotated refresh token
-- goes back into this thread's pool and is presented by the next request. A connection has
-- one request in flight, and wrk reads a response before it asks for the connection's next
-- request, so a pool as large as the thread's connections never runs dry while refreshes
-- succeed. wrk calls request() once more on its first thread before the run, to check the
-- script (script_verify_request), and never sends that request: bench.sh therefore gives
-- each thread one session more than it has connections. A failed refresh loses its session,
-- later requests then fail visibly, and done() prints each thread's first failure.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_index", #threads)
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
  elseif not first_failure then
    first_failure = status .. " " .. body
  end
end

-- The first failure each thread saw, so that an error count in the table has a reason.
function done(summary, latency, requests)
  for index, thread in ipairs(threads) do
    local failure = thread:get("first_failure")
    if failure then
      io.stderr:write("refresh thread " .. index .. " first failure: " .. failure .. "\n")
    end
  end
end
