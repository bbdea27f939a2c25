//! A relying service protecting one route with Sigil's tokens, verified offline with
//! `RemoteJwks`. It accepts only access tokens addressed to its own resource identifier
//! (registered with `sigil resources create --identifier ...`, requested by clients with
//! `resource=...`).
//!
//! ```sh
//! cargo run -p sigil-keys --features client --example protected_api -- \
//!     http://localhost:8080 https://api.example.com
//! curl localhost:3000/hello -H "authorization: Bearer $ACCESS"
//! ```

use std::sync::Arc;

use salvo::prelude::*;
use serde_json::json;
use sigil_keys::{AccessClaims, RemoteJwks, VerifyOptions};

#[derive(Clone)]
struct Jwks(Arc<RemoteJwks>);

#[handler]
async fn hello(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Ok(Jwks(jwks)) = depot.get_typed::<Jwks>().cloned() else {
        res.status_code(StatusCode::INTERNAL_SERVER_ERROR);
        return;
    };
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        res.status_code(StatusCode::UNAUTHORIZED);
        res.render(Json(json!({ "error": "missing bearer token" })));
        return;
    };
    match jwks.verify::<AccessClaims>(token).await {
        Ok(verified) => res.render(Json(json!({
            "hello": verified.claims.sub,
            "client": verified.claims.client_id,
            "scope": verified.claims.scope,
        }))),
        Err(e) => {
            res.status_code(StatusCode::UNAUTHORIZED);
            res.render(Json(json!({ "error": e.to_string() })));
        }
    }
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
    let jwks = Jwks(Arc::new(RemoteJwks::new(
        format!("{issuer}/.well-known/jwks.json"),
        options,
    )));
    let router = Router::new()
        .hoop(Inject(jwks))
        .push(Router::with_path("hello").get(hello));
    let acceptor = TcpListener::new(listen.clone()).bind().await;
    println!("protected API {resource} on http://{listen}/hello, trusting {issuer}");
    Server::new(acceptor).serve(router).await;
}
