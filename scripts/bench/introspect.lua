-- POST /oauth2/introspect of the client's own access token (a JWT), client_secret_basic.
wrk.method = "POST"
wrk.path = "/oauth2/introspect"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_CLIENT_BASIC")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "token=" .. os.getenv("BENCH_CLIENT_TOKEN")
