//! A relying service protecting one route with Sigil's tokens, verified offline with
//! `RemoteJwks`. It accepts only access tokens addressed to its own resource identifier
//! (registered with `sigil resources create --identifier ...`, requested by clients with
//! `resource=...`). A DPoP-bound token (RFC 9449) is accepted only as `Authorization: DPoP`
//! with a fresh proof by its key, each proof once; an unbound one only as `Bearer`.
//!
//! ```sh
//! cargo run -p sigil-keys --features client --example protected_api -- \
//!     http://localhost:8080 https://api.example.com
//! curl localhost:3000/hello -H "authorization: Bearer $ACCESS"
//! ```
//!
//! `PUBLIC_URL` is the URL clients address it by (what their proofs' `htu` names), by
//! default `http://LISTEN`.

use std::sync::Arc;

use salvo::prelude::*;
use serde_json::json;
use sigil_keys::dpop::{self, ProofRequest, SeenProofs};
use sigil_keys::{AccessClaims, RemoteJwks, VerifyOptions};

#[derive(Clone)]
struct Jwks {
    remote: Arc<RemoteJwks>,
    seen: Arc<SeenProofs>,
    /// This service's URL as clients address it.
    public_url: String,
}

fn refuse(res: &mut Response, scheme: &str, error: &str, description: &str) {
    res.status_code(StatusCode::UNAUTHORIZED);
    let algs = dpop::DPOP_ALGORITHMS.join(" ");
    let challenge =
        format!("{scheme} error=\"{error}\", error_description=\"{description}\", algs=\"{algs}\"");
    if let Ok(value) = salvo::http::HeaderValue::from_str(&challenge) {
        res.headers_mut().insert("www-authenticate", value);
    }
    res.render(Json(
        json!({ "error": error, "error_description": description }),
    ));
}

#[handler]
async fn hello(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Ok(jwks) = depot.get_typed::<Jwks>().cloned() else {
        res.status_code(StatusCode::INTERNAL_SERVER_ERROR);
        return;
    };
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (scheme, token) = match authorization.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("dpop") => ("DPoP", token),
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => ("Bearer", token),
        _ => return refuse(res, "Bearer", "invalid_request", "no access token"),
    };
    let claims = match jwks.remote.verify::<AccessClaims>(token).await {
        Ok(verified) => verified.claims,
        Err(e) => return refuse(res, scheme, "invalid_token", &e.to_string()),
    };
    let proof = req.headers().get("dpop").and_then(|v| v.to_str().ok());
    let checked = match (scheme, proof) {
        ("DPoP", Some(proof)) => {
            let url = format!("{}{}", jwks.public_url, req.uri().path());
            let request = ProofRequest {
                method: req.method().as_str(),
                url: &url,
                access_token: None,
                nonces: &[],
            };
            let now = now();
            dpop::verify_presentation(&claims, token, proof, &request, now).and_then(|proof| {
                if jwks.seen.first_use(&proof, now) {
                    Ok(())
                } else {
                    Err(dpop::DpopError::Replayed)
                }
            })
        }
        ("DPoP", None) => Err(dpop::DpopError::Malformed),
        // Bearer: fine for an unbound token only.
        _ => dpop::check_binding(claims.bound_key(), None),
    };
    if let Err(e) = checked {
        let error = if e.is_about_the_token() {
            "invalid_token"
        } else {
            "invalid_dpop_proof"
        };
        return refuse(res, scheme, error, &e.to_string());
    }
    res.render(Json(json!({
        "hello": claims.sub,
        "client": claims.client_id,
        "scope": claims.scope,
        "bound": claims.bound_key().is_some(),
    })));
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

struct Inject(Jwks);

#[async_trait]
impl Handler for Inject {
    async fn handle(
        &self,
        _req: &mut Request,
        depot: &mut Depot,
        _res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        depot.insert_typed(self.0.clone());
    }
}

#[tokio::main]
async fn main() {
    let issuer = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://localhost:8080".into());
    // This API's resource identifier: the audience its tokens must name.
    let resource = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "https://api.example.com".into());
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let options = VerifyOptions::access_token(&issuer, &resource);
    let public_url = std::env::var("PUBLIC_URL").unwrap_or_else(|_| format!("http://{listen}"));
    let jwks = Jwks {
        remote: Arc::new(RemoteJwks::new(
            format!("{issuer}/.well-known/jwks.json"),
            options,
        )),
        seen: Arc::new(SeenProofs::new(100_000)),
        public_url,
    };
    let router = Router::new()
        .hoop(Inject(jwks))
        .push(Router::with_path("hello").get(hello));
    let acceptor = TcpListener::new(listen.clone()).bind().await;
    println!("protected API {resource} on http://{listen}/hello, trusting {issuer}");
    Server::new(acceptor).serve(router).await;
}
