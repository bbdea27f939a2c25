//! A relying service protecting one route with Sigil's tokens, verified offline with
//! `RemoteJwks`.
//!
//! ```sh
//! cargo run -p sigil-keys --features client --example protected_api -- http://localhost:8080
//! curl localhost:3000/hello -H "authorization: Bearer $ACCESS"
//! ```

use std::sync::Arc;

use salvo::prelude::*;
use serde_json::{Value, json};
use sigil_keys::{RemoteJwks, VerifyOptions};

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
    match jwks.verify::<Value>(token).await {
        Ok(verified) => res.render(Json(json!({
            "hello": verified.claims["sub"],
            "scope": verified.claims["scope"],
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
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    // Sigil's access tokens have the issuer as audience and the type at+jwt.
    let options = VerifyOptions::new(&issuer, &issuer).with_typ("at+jwt");
    let jwks = Jwks(Arc::new(RemoteJwks::new(
        format!("{issuer}/.well-known/jwks.json"),
        options,
    )));
    let router = Router::new()
        .hoop(Inject(jwks))
        .push(Router::with_path("hello").get(hello));
    let acceptor = TcpListener::new(listen.clone()).bind().await;
    println!("protected API on http://{listen}/hello, trusting {issuer}");
    Server::new(acceptor).serve(router).await;
}
