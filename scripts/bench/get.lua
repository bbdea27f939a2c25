-- GET of the path given on the command line (discovery, JWKS): wrk's default request, with
-- the Accept header a relying service sends.
wrk.headers["Accept"] = "application/json"
