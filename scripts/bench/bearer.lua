-- GET /v1/users/me with a REST access token: signature, blocklist, session and user checks.
wrk.path = "/v1/users/me"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_ACCESS_TOKEN")
