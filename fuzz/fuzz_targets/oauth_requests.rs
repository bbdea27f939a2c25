//! Requests to the OAuth endpoints, decoded as the handlers decode them
//! (`sigil_server::http::fuzzing`), and authorization requests validated against a real
//! embedded store holding one client: no input panics, and an authorization request that
//! passes names the registered client and redirect URI exactly.
//!
//! The first byte picks the endpoint: the token endpoint (form body), introspection and
//! revocation (form body), authorize by GET (query) or by POST (form). For the form
//! endpoints, the bytes before the first newline, if any, are the `Authorization` header.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use salvo::http::uri::Scheme;
use salvo::http::{Method, ReqBody};
use sigil_server::config::Config;
use sigil_server::domain::oauth::{Scope, valid_code_verifier};
use sigil_server::domain::{ClientRecord, ClientType, GrantType};
use sigil_server::http::fuzzing;
use sigil_server::service::oauth::authorize;
use sigil_server::state::AppState;

const CLIENT_ID: &str = "fuzz-client";
const REDIRECT_URI: &str = "https://app.example.test/cb";

struct World {
    runtime: tokio::runtime::Runtime,
    state: AppState,
    _dir: tempfile::TempDir,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let state = runtime.block_on(async {
        let config = Config::for_tests(dir.path().to_owned()).expect("config");
        let state = sigil_server::startup::tool_state(config)
            .await
            .expect("state");
        let now = time::OffsetDateTime::now_utc();
        let client = ClientRecord {
            client_id: CLIENT_ID.into(),
            name: "Fuzz".into(),
            client_type: ClientType::Public,
            secret_digest: None,
            redirect_uris: vec![REDIRECT_URI.into()],
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: ["openid", "profile", "email", "offline_access"]
                .map(String::from)
                .to_vec(),
            first_party: false,
            require_pushed_authorization_requests: false,
            require_pkce: true,
            require_signed_request_object: false,
            dpop_bound_access_tokens: false,
            auth_method: None,
            jwks: None,
            jwks_uri: None,
            secret_sealed: None,
            created_at: now,
            updated_at: now,
        };
        state
            .stores
            .clients
            .insert_client(&client)
            .await
            .expect("insert the client");
        state
    });
    World {
        runtime,
        state,
        _dir: dir,
    }
});

/// A request as the server would hand it to a handler; `None` for what no HTTP/1 parser lets
/// through (a target or header that is not valid).
fn request(
    method: Method,
    target: &str,
    authorization: Option<&[u8]>,
    body: &[u8],
) -> Option<salvo::Request> {
    let mut builder = salvo::hyper::Request::builder()
        .method(method)
        .uri(format!("http://id.example.test{target}"))
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(value) = authorization {
        builder = builder.header("authorization", value);
    }
    let request = builder.body(ReqBody::from(body.to_vec())).ok()?;
    Some(salvo::Request::from_hyper(request, Scheme::HTTP))
}

/// Splits off an `Authorization` header value before the first newline.
fn header_and_body(bytes: &[u8]) -> (Option<&[u8]>, &[u8]) {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(at) => (Some(&bytes[..at]), &bytes[at + 1..]),
        None => (None, bytes),
    }
}

async fn authorize_request(state: &AppState, mut req: salvo::Request) {
    let params = fuzzing::authorize_request(&mut req).await;
    if let Ok((client, pending)) = authorize::validate(state, params).await {
        assert_eq!(client.client_id, CLIENT_ID);
        assert_eq!(pending.redirect_uri, REDIRECT_URI);
        assert!(
            pending.code_challenge.is_some(),
            "a public client needs PKCE"
        );
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&endpoint, rest)) = input.split_first() else {
        return;
    };
    let world = &*WORLD;
    world.runtime.block_on(async {
        match endpoint % 4 {
            0 => {
                let (authorization, body) = header_and_body(rest);
                let Some(mut req) = request(Method::POST, "/oauth2/token", authorization, body)
                else {
                    return;
                };
                if let Ok((_, params)) = fuzzing::token_request(&mut req).await {
                    if let Some(scope) = &params.scope {
                        let _ = Scope::parse_any(scope);
                    }
                    if let Some(verifier) = &params.code_verifier {
                        let _ = valid_code_verifier(verifier);
                    }
                }
            }
            1 => {
                let (authorization, body) = header_and_body(rest);
                if let Some(mut req) =
                    request(Method::POST, "/oauth2/introspect", authorization, body)
                {
                    let _ = fuzzing::token_form_request(&mut req).await;
                }
            }
            2 => {
                let Ok(query) = std::str::from_utf8(rest) else {
                    return;
                };
                if let Some(req) = request(
                    Method::GET,
                    &format!("/oauth2/authorize?{query}"),
                    None,
                    b"",
                ) {
                    authorize_request(&world.state, req).await;
                }
            }
            _ => {
                if let Some(req) = request(Method::POST, "/oauth2/authorize", None, rest) {
                    authorize_request(&world.state, req).await;
                }
            }
        }
    });
});
