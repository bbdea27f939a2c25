//! DPoP (RFC 9449): tokens bound to a key the client holds. Proofs at the token, PAR and
//! userinfo endpoints, Sigil's nonces, `cnf.jkt` in the tokens and at introspection, public
//! clients' refresh tokens bound to the key, `dpop_jkt` binding the code; and every way a
//! proof or a presentation can be wrong.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sigil_tests::TestApp;
use sigil_tests::browser::Browser;
use sigil_tests::dpop::{DpopKey, claims, nonce};

use super::{REDIRECT, Setup, VERIFIER, authorize_url, code_with, setup};

/// POST /oauth2/token with `proofs` as DPoP headers (none, one or several).
async fn token(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
    proofs: &[&str],
) -> (StatusCode, Value) {
    let mut req = app.client.post(app.url("/oauth2/token")).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    for proof in proofs {
        req = req.header("dpop", *proof);
    }
    let response = req.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn client_credentials(s: &Setup, proofs: &[&str]) -> (StatusCode, Value) {
    token(
        &s.app,
        &[("grant_type", "client_credentials")],
        Some((&s.client_id, &s.secret)),
        proofs,
    )
    .await
}

fn token_url(app: &TestApp) -> String {
    app.url("/oauth2/token")
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// GET /oauth2/userinfo with `authorization` and an optional proof; the status, the
/// `WWW-Authenticate` challenge and the body.
async fn userinfo(
    app: &TestApp,
    authorization: &str,
    proof: Option<&str>,
) -> (StatusCode, String, Value) {
    let mut req = app
        .client
        .get(app.url("/oauth2/userinfo"))
        .header("authorization", authorization);
    if let Some(proof) = proof {
        req = req.header("dpop", proof);
    }
    let response = req.send().await.unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        challenge,
        response.json().await.unwrap_or(Value::Null),
    )
}

/// The public client's code exchanged with `proofs`.
async fn public_exchange(s: &Setup, code: &str, proofs: &[&str]) -> (StatusCode, Value) {
    token(
        &s.app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &s.public_id),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
        None,
        proofs,
    )
    .await
}

/// Without the server's nonce a proof is answered `use_dpop_nonce` with the nonce; with it,
/// the token is a DPoP token bound to the proof's key, and introspection says so.
#[tokio::test]
async fn client_credentials_token_is_bound_to_the_proofs_key() {
    let s = setup().await;
    let key = DpopKey::new();
    let url = token_url(&s.app);
    let response = s
        .app
        .client
        .post(&url)
        .basic_auth(&s.client_id, Some(&s.secret))
        .header("dpop", key.sign(&claims("POST", &url, "", None)).as_str())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let offered = response.headers()["dpop-nonce"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "use_dpop_nonce", "{body}");

    let (status, body) = client_credentials(&s, &[&key.proof("POST", &url, &offered, None)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(claims_of(access)["cnf"]["jkt"], key.jkt());

    let introspected: Value = s
        .app
        .client
        .post(s.app.url("/oauth2/introspect"))
        .basic_auth(&s.client_id, Some(&s.secret))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["token_type"], "DPoP");
    assert_eq!(introspected["cnf"]["jkt"], key.jkt());

    // Without a proof the same client gets a Bearer token, as before.
    let (status, body) = client_credentials(&s, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        claims_of(body["access_token"].as_str().unwrap())
            .get("cnf")
            .is_none()
    );
}

/// A proof made by a clock a minute ahead is remembered for as long as it is accepted: its
/// replay in the last second of its window is refused too.
#[tokio::test]
async fn a_proof_from_a_fast_clock_is_remembered_to_the_end_of_its_window() {
    let app = TestApp::spawn_oidc(|c| c.dpop_nonces = false).await;
    let (id, secret) = app
        .create_client(json!({
            "name": "Worker", "type": "confidential",
            "grantTypes": ["client_credentials"], "scopes": [],
        }))
        .await;
    let secret = secret.unwrap();
    let key = DpopKey::new();
    let url = token_url(&app);
    let mut ahead = claims("POST", &url, "", None);
    ahead["iat"] = json!(app.state.clock.now().unix_timestamp() + 60);
    let proof = key.sign(&ahead);
    let form = [("grant_type", "client_credentials")];
    let (status, body) = token(&app, &form, Some((&id, &secret)), &[&proof]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The last second in which the proof's iat is young enough.
    app.advance_clock(std::time::Duration::from_secs(360));
    let (status, body) = token(&app, &form, Some((&id, &secret)), &[&proof]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{body}"
    );
}

/// A client registered with `dpopBoundAccessTokens` gets no token without a proof.
#[tokio::test]
async fn a_client_can_require_dpop() {
    let s = setup().await;
    let (id, secret) = s
        .app
        .create_client(json!({
            "name": "Bound only", "type": "confidential",
            "grantTypes": ["client_credentials"], "scopes": [],
            "dpopBoundAccessTokens": true,
        }))
        .await;
    let secret = secret.unwrap();
    let form = [("grant_type", "client_credentials")];
    let (status, body) = token(&s.app, &form, Some((&id, &secret)), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_dpop_proof");
    let key = DpopKey::new();
    let nonce = nonce(&s.app).await;
    let proof = key.proof("POST", &token_url(&s.app), &nonce, None);
    let (status, body) = token(&s.app, &form, Some((&id, &secret)), &[&proof]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
}

/// A proof is refused when replayed, made for another URL or method, too old, signed by a
/// key other than its header's, or sent twice in one request.
#[tokio::test]
async fn bad_proofs_are_refused_at_the_token_endpoint() {
    let s = setup().await;
    let key = DpopKey::new();
    let url = token_url(&s.app);
    let nonce = nonce(&s.app).await;
    let refused = |(status, body): (StatusCode, Value), why: &str| {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
        assert_eq!(body["error"], "invalid_dpop_proof", "{why}: {body}");
    };
    let proof = key.proof("POST", &url, &nonce, None);
    assert_eq!(client_credentials(&s, &[&proof]).await.0, StatusCode::OK);
    refused(client_credentials(&s, &[&proof]).await, "replayed");
    let par = s.app.url("/oauth2/par");
    refused(
        client_credentials(&s, &[&key.proof("POST", &par, &nonce, None)]).await,
        "another htu",
    );
    refused(
        client_credentials(&s, &[&key.proof("GET", &url, &nonce, None)]).await,
        "another htm",
    );
    let mut old = claims("POST", &url, &nonce, None);
    old["iat"] = json!(time::OffsetDateTime::now_utc().unix_timestamp() - 3600);
    refused(client_credentials(&s, &[&key.sign(&old)]).await, "too old");
    let forged = {
        let other = DpopKey::new();
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(key.jwk.clone()).unwrap());
        jsonwebtoken::encode(&header, &claims("POST", &url, &nonce, None), &other.private).unwrap()
    };
    refused(
        client_credentials(&s, &[&forged]).await,
        "signed by another key",
    );
    let (a, b) = (
        key.proof("POST", &url, &nonce, None),
        key.proof("POST", &url, &nonce, None),
    );
    refused(client_credentials(&s, &[&a, &b]).await, "two DPoP headers");
}

/// At userinfo a bound token works only with the DPoP scheme and a fresh proof by its key
/// that names this request and hashes this token; refusals carry a DPoP challenge.
#[tokio::test]
async fn userinfo_needs_a_proof_by_the_tokens_key() {
    let s = setup().await;
    let key = DpopKey::new();
    let browser = Browser::new(&s.app.base);
    let code = code_with(&s, &browser, &s.public_id, &[]).await;
    let nonce = nonce(&s.app).await;
    let url = token_url(&s.app);
    let (status, body) =
        public_exchange(&s, &code, &[&key.proof("POST", &url, &nonce, None)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let access = body["access_token"].as_str().unwrap();
    let dpop = format!("DPoP {access}");
    let info = s.app.url("/oauth2/userinfo");

    let good = key.proof("GET", &info, &nonce, Some(access));
    let (status, _, claims_) = userinfo(&s.app, &dpop, Some(&good)).await;
    assert_eq!(status, StatusCode::OK, "{claims_}");
    assert_eq!(claims_["sub"], claims_of(access)["sub"]);

    let cases: Vec<(&str, String, Option<String>, &str)> = vec![
        (
            "replayed",
            dpop.clone(),
            Some(good.clone()),
            "invalid_dpop_proof",
        ),
        (
            "as a Bearer token",
            format!("Bearer {access}"),
            None,
            "invalid_token",
        ),
        ("without a proof", dpop.clone(), None, "invalid_dpop_proof"),
        (
            "a proof without ath",
            dpop.clone(),
            Some(key.proof("GET", &info, &nonce, None)),
            "invalid_dpop_proof",
        ),
        (
            "a proof for another token",
            dpop.clone(),
            Some(key.proof("GET", &info, &nonce, Some("another-token"))),
            "invalid_dpop_proof",
        ),
        (
            "a proof for another method",
            dpop.clone(),
            Some(key.proof("POST", &info, &nonce, Some(access))),
            "invalid_dpop_proof",
        ),
        (
            "a proof by another key",
            dpop.clone(),
            Some(DpopKey::new().proof("GET", &info, &nonce, Some(access))),
            "invalid_token",
        ),
    ];
    for (why, authorization, proof, error) in cases {
        let (status, challenge, body) = userinfo(&s.app, &authorization, proof.as_deref()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
        assert_eq!(body["error"], error, "{why}: {body}");
        let scheme = if authorization.starts_with("DPoP") {
            "DPoP "
        } else {
            "Bearer "
        };
        assert!(challenge.starts_with(scheme), "{why}: {challenge}");
        assert!(
            challenge.contains(&format!("error=\"{error}\"")),
            "{why}: {challenge}"
        );
    }

    // An unbound token is not made DPoP by a proof.
    let (_, unbound) = client_credentials(&s, &[]).await;
    let unbound = unbound["access_token"].as_str().unwrap();
    let proof = key.proof("GET", &info, &nonce, Some(unbound));
    let (status, _, body) = userinfo(&s.app, &format!("DPoP {unbound}"), Some(&proof)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_token", "{body}");

    // The REST API takes Bearer tokens only.
    let response = s
        .app
        .client
        .get(s.app.url("/v1/users/me"))
        .header("authorization", &dpop)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// A public client's refresh token is bound to the key of the proof it was first issued
/// with: without that key it does nothing, and the session stays usable for the owner.
/// A confidential client's refresh token is not bound (it authenticates anyway).
#[tokio::test]
async fn a_public_clients_refresh_token_is_bound_to_its_key() {
    let mut s = setup().await;
    let (public_id, _) = s
        .app
        .create_client(json!({
            "name": "Native app", "type": "public",
            "redirectUris": [REDIRECT],
            "grantTypes": ["authorization_code", "refresh_token"],
            "scopes": ["openid", "offline_access"],
            "firstParty": true,
        }))
        .await;
    s.public_id = public_id;
    let key = DpopKey::new();
    let browser = Browser::new(&s.app.base);
    let code = code_with(
        &s,
        &browser,
        &s.public_id,
        &[("scope", "openid offline_access")],
    )
    .await;
    let nonce = nonce(&s.app).await;
    let url = token_url(&s.app);
    let (status, body) =
        public_exchange(&s, &code, &[&key.proof("POST", &url, &nonce, None)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("client_id", s.public_id.as_str()),
        ("refresh_token", refresh.as_str()),
    ];
    let (status, body) = token(&s.app, &refresh_form, None, &[]).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let thief = DpopKey::new().proof("POST", &url, &nonce, None);
    let (status, body) = token(&s.app, &refresh_form, None, &[&thief]).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let (status, body) = token(
        &s.app,
        &refresh_form,
        None,
        &[&key.proof("POST", &url, &nonce, None)],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the owner's refresh still works: {body}"
    );
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.jkt()
    );

    // The confidential client: bound access token, unbound refresh token.
    let code = code_with(
        &s,
        &browser,
        &s.client_id,
        &[("scope", "openid offline_access")],
    )
    .await;
    let (status, body) = token(
        &s.app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
        Some((&s.client_id, &s.secret)),
        &[&key.proof("POST", &url, &nonce, None)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap();
    let (status, body) = token(
        &s.app,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        Some((&s.client_id, &s.secret)),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
}

/// `dpop_jkt` at authorize, or a proof with the push, binds the code: only a proof by that
/// key redeems it.
#[tokio::test]
async fn dpop_jkt_and_pushed_proofs_bind_the_code() {
    let s = setup().await;
    let key = DpopKey::new();
    let other = DpopKey::new();
    let browser = Browser::new(&s.app.base);
    let nonce = nonce(&s.app).await;
    let url = token_url(&s.app);
    let jkt = key.jkt();
    let bound = [("dpop_jkt", jkt.as_str())];

    let code = code_with(&s, &browser, &s.public_id, &bound).await;
    let (status, body) =
        public_exchange(&s, &code, &[&other.proof("POST", &url, &nonce, None)]).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let code = code_with(&s, &browser, &s.public_id, &bound).await;
    let (status, body) = public_exchange(&s, &code, &[]).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let code = code_with(&s, &browser, &s.public_id, &bound).await;
    let (status, body) =
        public_exchange(&s, &code, &[&key.proof("POST", &url, &nonce, None)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A malformed dpop_jkt is refused back to the client.
    let page = browser
        .get(&authorize_url(&s.public_id, &[("dpop_jkt", "short")]))
        .await;
    assert_eq!(
        page.location_param("error").as_deref(),
        Some("invalid_request")
    );

    // A push with a proof: the code goes with that key.
    let par = s.app.url("/oauth2/par");
    let push = |proof: String, extra: Vec<(&'static str, String)>| {
        let mut form: Vec<(&str, String)> = vec![
            ("response_type", "code".into()),
            ("redirect_uri", REDIRECT.into()),
            ("scope", "openid".into()),
            (
                "code_challenge",
                sigil_server::domain::oauth::s256_challenge(VERIFIER),
            ),
            ("code_challenge_method", "S256".into()),
        ];
        form.extend(extra);
        s.app
            .client
            .post(&par)
            .basic_auth(&s.client_id, Some(&s.secret))
            .header("dpop", proof)
            .form(&form)
            .send()
    };
    let response = push(
        key.proof("POST", &par, &nonce, None),
        vec![("dpop_jkt", other.jkt())],
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
    let response = push(key.proof("POST", &par, &nonce, None), vec![])
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let pushed: Value = response.json().await.unwrap();
    let reference = pushed["request_uri"].as_str().unwrap();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", s.client_id.as_str()),
            ("request_uri", reference),
        ])
        .finish();
    let page = browser.get(&format!("/oauth2/authorize?{query}")).await;
    let page = if page
        .location
        .as_deref()
        .is_some_and(|l| l.starts_with("/login"))
    {
        browser
            .sign_in(page, &s.user.username, &s.user.password)
            .await
    } else {
        page
    };
    let code = browser.follow(page).await.location_param("code").unwrap();
    let (status, body) = token(
        &s.app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
        Some((&s.client_id, &s.secret)),
        &[],
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
}
