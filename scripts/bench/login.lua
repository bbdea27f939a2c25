-- POST /v1/auth/login with the right password: one argon2id verification per request.
wrk.method = "POST"
wrk.path = "/v1/auth/login"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username":"' .. os.getenv("BENCH_USERNAME") .. '","password":"' ..
  os.getenv("BENCH_PASSWORD") .. '"}'
