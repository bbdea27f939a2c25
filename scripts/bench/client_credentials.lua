-- POST /oauth2/token, grant_type=client_credentials, client_secret_basic.
wrk.method = "POST"
wrk.path = "/oauth2/token"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_CLIENT_BASIC")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=client_credentials"
