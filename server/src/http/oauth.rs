//! `/oauth2/*`: the protocol endpoints (RFC 6749, 7009, 7662, OpenID Connect).

use crate::audit::AuditAction;
use base64::Engine;
use salvo::http::{HeaderValue, StatusCode};
use salvo::prelude::*;
use serde::Deserialize;
use serde_json::json;

use super::context::{app_state, client_info, client_ip};
use super::cookies;
use super::csrf;
use super::flow::{current_browser, show_next};
use super::page::{PageError, PageResult, html, message};
use super::respond::set_rate_headers;
use crate::error::ApiError;
use crate::service::oauth::authorize::{self as authorization, AuthorizeParams, MAX_PARAM_BYTES};
use crate::service::oauth::clients::{ClientCredentials, authenticate};
use crate::service::oauth::dpop;
use crate::service::oauth::logout::{self, LogoutParams};
use crate::service::oauth::par;
use crate::service::oauth::resources::Presented;
use crate::service::oauth::token::{self as grants, TokenParams};
use crate::service::oauth::{OAuthError, resources};
use crate::service::principal::{Scheme, presented_token};
use crate::service::rate_limit::{Bucket, check, check_spent};

#[async_trait]
impl Writer for OAuthError {
    async fn write(self, req: &mut Request, _depot: &mut Depot, res: &mut Response) {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        no_store(res);
        if self.status == 401 {
            let description = self.description.replace('"', "'");
            let challenge = match self.error {
                "invalid_dpop_proof" | "use_dpop_nonce" => dpop_challenge(self.error, &description),
                "invalid_token" if presented_scheme(req) == Some(Scheme::Dpop) => {
                    dpop_challenge(self.error, &description)
                }
                "invalid_token" => {
                    format!("Bearer error=\"invalid_token\", error_description=\"{description}\"")
                }
                _ => "Basic realm=\"sigil\"".to_owned(),
            };
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                res.headers_mut().insert("www-authenticate", value);
            }
            // A Bearer request refused at a resource also hears that DPoP is accepted (RFC
            // 9449 section 7.1): a bound token sent as Bearer learns its scheme.
            if self.error == "invalid_token"
                && presented_scheme(req) != Some(Scheme::Dpop)
                && let Ok(value) = HeaderValue::from_str(&format!(
                    "DPoP algs=\"{}\"",
                    sigil_keys::dpop::DPOP_ALGORITHMS.join(" ")
                ))
            {
                res.headers_mut().append("www-authenticate", value);
            }
        }
        res.status_code(status);
        res.render(Json(
            json!({ "error": self.error, "error_description": self.description }),
        ));
    }
}

/// RFC 9449 section 7.1: what a resource answers a DPoP request it refuses.
fn dpop_challenge(error: &str, description: &str) -> String {
    format!(
        "DPoP error=\"{error}\", error_description=\"{description}\", algs=\"{}\"",
        sigil_keys::dpop::DPOP_ALGORITHMS.join(" ")
    )
}

/// The scheme of the request's `Authorization` header, if it is one of the token schemes.
fn presented_scheme(req: &Request) -> Option<Scheme> {
    let header = req.headers().get("authorization")?.to_str().ok()?;
    presented_token(Some(header)).ok().map(|(scheme, _)| scheme)
}

/// The request's `DPoP` proof: at most one header, of visible ASCII.
fn dpop_proof(req: &Request) -> Result<Option<String>, OAuthError> {
    let mut values = req.headers().get_all(dpop::DPOP_HEADER).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    let bad = |why: &str| OAuthError::bad_request("invalid_dpop_proof", why);
    if values.next().is_some() {
        return Err(bad("Send one DPoP header"));
    }
    let proof = first
        .to_str()
        .map_err(|_| bad("The DPoP header is not a JWT"))?;
    Ok(Some(proof.trim().to_owned()))
}

/// Hands a DPoP client the nonce its next proof must carry (RFC 9449 section 8), on every
/// answer to a request that came with a proof, refused or not.
#[handler]
pub async fn offer_dpop_nonce(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    if !req.headers().contains_key(dpop::DPOP_HEADER) {
        return;
    }
    let Ok(state) = app_state(depot) else {
        return;
    };
    if let Some(nonce) = dpop::current_nonce(&state, state.clock.now())
        && let Ok(value) = HeaderValue::from_str(&nonce)
    {
        res.headers_mut().insert(dpop::NONCE_HEADER, value);
    }
}

fn no_store(res: &mut Response) {
    res.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert("pragma", HeaderValue::from_static("no-cache"));
}

/// `Authorization: Basic` credentials, form-urldecoded as RFC 6749 section 2.3.1 asks.
fn basic_credentials(req: &Request) -> Result<Option<(String, String)>, OAuthError> {
    let Some(header) = req.headers().get("authorization") else {
        return Ok(None);
    };
    let bad = || OAuthError::invalid_client("Malformed Basic credentials");
    let header = header.to_str().map_err(|_| bad())?;
    let Some(encoded) = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))
    else {
        return Err(bad());
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

/// The client a request says it is, before anything is checked: what its budget is counted
/// by. An assertion may come without `client_id`; its (unverified) `iss` names the client.
fn claimed_id(
    basic: Option<&(String, String)>,
    form_id: Option<&String>,
    assertion: Option<&String>,
) -> Option<String> {
    let asserted = || {
        let claims: serde_json::Map<String, serde_json::Value> =
            sigil_keys::unverified_claims(assertion?).ok()?;
        claims.get("iss")?.as_str().map(str::to_owned)
    };
    basic
        .map(|(id, _)| id)
        .or(form_id)
        .cloned()
        .or_else(asserted)
}

async fn form<T: serde::de::DeserializeOwned>(req: &mut Request) -> Result<T, OAuthError> {
    let is_form = req
        .content_type()
        .is_some_and(|m| m.essence_str() == "application/x-www-form-urlencoded");
    if !is_form {
        return Err(OAuthError::invalid_request(
            "The body must be application/x-www-form-urlencoded",
        ));
    }
    req.parse_form::<T>()
        .await
        .map_err(|_| OAuthError::invalid_request("The form is malformed"))
}

/// The parameters of an authorization request: the form of a POST, the query of a GET.
/// Unreadable ones read as absent, so that validation names what is missing.
async fn authorize_params(req: &mut Request) -> AuthorizeParams {
    if req.method() == salvo::http::Method::POST {
        req.parse_form().await.unwrap_or_default()
    } else {
        req.parse_queries().unwrap_or_default()
    }
}

#[handler]
pub async fn authorize_endpoint(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> PageResult {
    let state = app_state(depot)?;
    let params = authorize_params(req).await;
    let next = match authorization::validate(&state, params).await {
        Ok((client, pending)) => {
            let browser = current_browser(&state, req).await;
            authorization::proceed(&state, &client, &pending, browser.as_ref()).await
        }
        Err(refusal) => Err(refusal),
    };
    show_next(&state, req, res, next, false).await;
    Ok(())
}

#[handler]
pub async fn token_endpoint(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), OAuthError> {
    let state = app_state(depot)?;
    let basic = basic_credentials(req)?;
    let proof = dpop_proof(req)?;
    let params: TokenParams = form(req).await?;
    let claimed = claimed_id(
        basic.as_ref(),
        params.client_id.as_ref(),
        params.client_assertion.as_ref(),
    );
    let from = client_info(req, depot, &state);
    let exchange = grants::exchange(&state, params, basic, proof.as_deref(), &from);
    let answer = as_client(&state, req, res, claimed.as_deref(), exchange).await?;
    no_store(res);
    res.render(Json(answer));
    Ok(())
}

/// `POST /oauth2/par` (RFC 9126): the authorization request's parameters, pushed by the
/// client with its credentials; answers 201 with the `request_uri` for the browser.
#[handler]
pub async fn par_endpoint(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), OAuthError> {
    let state = app_state(depot)?;
    let basic = basic_credentials(req)?;
    let proof = dpop_proof(req)?;
    let params: AuthorizeParams = form(req).await?;
    let credentials = ClientCredentials {
        form_id: params.client_id.clone(),
        form_secret: req.form::<String>("client_secret").await,
        assertion_type: req.form::<String>("client_assertion_type").await,
        assertion: req.form::<String>("client_assertion").await,
        basic,
    };
    let claimed = claimed_id(
        credentials.basic.as_ref(),
        params.client_id.as_ref(),
        credentials.assertion.as_ref(),
    );
    let pushed = as_client(&state, req, res, claimed.as_deref(), async {
        let client = authenticate(&state, credentials).await?;
        par::push(&state, &client, params, proof.as_deref()).await
    })
    .await?;
    no_store(res);
    res.status_code(StatusCode::CREATED);
    res.render(Json(pushed));
    Ok(())
}

#[handler]
pub async fn userinfo_endpoint(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), OAuthError> {
    let state = app_state(depot)?;
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let (scheme, token) =
        presented_token(header).map_err(|e| OAuthError::invalid_token(e.message))?;
    let proof = match scheme {
        Scheme::Dpop => Some(
            dpop_proof(req)
                .and_then(|proof| {
                    proof.ok_or_else(|| {
                        OAuthError::bad_request("invalid_dpop_proof", "The DPoP header is missing")
                    })
                })
                .map_err(dpop::at_resource)?,
        ),
        Scheme::Bearer => None,
    };
    let presented = Presented {
        token,
        proof: proof.as_deref(),
        method: req.method().as_str(),
    };
    let claims = resources::userinfo(&state, presented).await?;
    no_store(res);
    res.render(Json(claims));
    Ok(())
}

#[derive(Deserialize)]
struct TokenForm {
    token: Option<String>,
    #[allow(dead_code)]
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// The budgets of the client-authenticated endpoints (token, introspection, revocation), in
/// one place (SPEC section 7):
/// - a claimed `client_id` longer than any Sigil issues is refused before it names a budget;
/// - each ip has a budget of failed client authentications (`SIGIL_RATE_LIMIT_CLIENT_AUTH`),
///   counted once `work` fails with `invalid_client`; an ip over it is refused before its
///   credentials are looked at, so guessing secrets, and spending other clients' budgets with
///   made-up ids, stops there;
/// - each client has a budget (`SIGIL_RATE_LIMIT_CLIENT`) counted by the id a request claims
///   before its secret is checked, so that guessing one client's secret from many ips is
///   throttled too. Whoever floods another client's id can spend that client's budget; the
///   budget is far above what a client needs, and the per-ip budget above bounds the flood.
///   Requests without a client id are refused by `work` as `invalid_client`.
async fn as_client<T>(
    state: &crate::state::AppState,
    req: &Request,
    res: &mut Response,
    claimed: Option<&str>,
    work: impl std::future::Future<Output = Result<T, OAuthError>>,
) -> Result<T, OAuthError> {
    if claimed.is_some_and(|id| id.len() > MAX_PARAM_BYTES) {
        return Err(OAuthError::invalid_request(format!(
            "client_id is longer than {MAX_PARAM_BYTES} bytes"
        )));
    }
    let ip = client_ip(req, &state.config.trusted_proxies)
        .ok_or_else(|| OAuthError::invalid_request("The client address is unknown"))?
        .to_string();
    check_spent(state, Bucket::ClientAuth, &ip)
        .await
        .map_err(|refused| refusal_with_headers(res, refused))?;
    if let Some(id) = claimed.filter(|id| !id.is_empty()) {
        match check(state, Bucket::Client, id).await {
            Ok(Some(decision)) => set_rate_headers(res, &decision),
            Ok(None) => {}
            Err(refused) => return Err(refusal_with_headers(res, refused)),
        }
    }
    let outcome = work.await;
    if outcome.as_ref().is_err_and(|e| e.error == "invalid_client") {
        // The request fails either way; a store that cannot count it refuses the next one.
        let _ = check(state, Bucket::ClientAuth, &ip).await;
    }
    outcome
}

fn refusal_with_headers(res: &mut Response, refused: ApiError) -> OAuthError {
    if let Some(rate) = &refused.rate {
        set_rate_headers(res, rate);
    }
    if let Some(wait) = refused.retry_after
        && let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string())
    {
        res.headers_mut().insert("retry-after", value);
    }
    OAuthError::from(refused)
}

async fn client_and_token(
    req: &mut Request,
    depot: &Depot,
    res: &mut Response,
) -> Result<(crate::state::AppState, crate::domain::ClientRecord, String), OAuthError> {
    let state = app_state(depot)?;
    let basic = basic_credentials(req)?;
    let f: TokenForm = form(req).await?;
    let claimed = claimed_id(
        basic.as_ref(),
        f.client_id.as_ref(),
        f.client_assertion.as_ref(),
    );
    let credentials = ClientCredentials {
        basic,
        form_id: f.client_id,
        form_secret: f.client_secret,
        assertion_type: f.client_assertion_type,
        assertion: f.client_assertion,
    };
    let client = as_client(
        &state,
        req,
        res,
        claimed.as_deref(),
        authenticate(&state, credentials),
    )
    .await?;
    let token = f
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    Ok((state, client, token))
}

#[handler]
pub async fn introspect_endpoint(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), OAuthError> {
    let (state, client, token) = client_and_token(req, depot, res).await?;
    if client.client_type != crate::domain::ClientType::Confidential {
        return Err(OAuthError::unauthorized_client(
            "Introspection needs a confidential client",
        ));
    }
    let answer = resources::introspect(&state, &client, &token).await?;
    no_store(res);
    res.render(Json(answer));
    Ok(())
}

#[handler]
pub async fn revoke_endpoint(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), OAuthError> {
    let (state, client, token) = client_and_token(req, depot, res).await?;
    resources::revoke(&state, &client, &token).await?;
    no_store(res);
    res.status_code(StatusCode::OK);
    res.render(Json(json!({})));
    Ok(())
}

/// Shows the sign-out confirmation; a GET never signs anybody out.
#[handler]
pub async fn logout_form(req: &mut Request, depot: &mut Depot, res: &mut Response) -> PageResult {
    let state = app_state(depot)?;
    let params: LogoutParams = req.parse_queries().unwrap_or_default();
    match logout::validate(&state, params.clone()).await {
        Ok(request) => {
            let csrf = csrf::token_for_form(&state, req, res);
            html(
                &state,
                res,
                StatusCode::OK,
                "pages/logout.html",
                minijinja::context! {
                    csrf,
                    client_name => request.client.as_ref().map(|c| c.name.clone()),
                    id_token_hint => params.id_token_hint.unwrap_or_default(),
                    post_logout_redirect_uri => params.post_logout_redirect_uri.unwrap_or_default(),
                    state => params.state.unwrap_or_default(),
                    client_id => params.client_id.unwrap_or_default(),
                },
            );
        }
        Err(text) => return Err(invalid_logout(&text)),
    }
    Ok(())
}

fn invalid_logout(text: &str) -> PageError {
    PageError::bad_request("This sign-out request is not valid", text)
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: String,
    #[serde(flatten)]
    params: LogoutParams,
}

#[handler]
pub async fn logout_submit(req: &mut Request, depot: &mut Depot, res: &mut Response) -> PageResult {
    let state = app_state(depot)?;
    let Ok(form) = req.parse_form::<LogoutForm>().await else {
        return Err(PageError::incomplete_form());
    };
    if !csrf::verify(&state, req, &form.csrf) {
        return Err(PageError::Expired);
    }
    let request = logout::validate(&state, form.params)
        .await
        .map_err(|text| invalid_logout(&text))?;
    let client = client_info(req, depot, &state);
    let browser = current_browser(&state, req).await;
    let mut ended = Vec::new();
    if let Some(b) = &browser {
        ended.push((b.user.id, b.session.id.clone()));
    }
    if let (Some(user_id), Some(sid)) = (request.user_id, request.sid.clone()) {
        ended.push((user_id, sid));
    }
    for (user_id, sid) in &ended {
        state
            .stores
            .sessions
            .revoke_session(*user_id, sid)
            .await
            .map_err(ApiError::from)?;
    }
    if let Some(user_id) = browser.as_ref().map(|b| b.user.id).or(request.user_id) {
        crate::audit::record(
            &state,
            &client,
            crate::audit::Audit::by_user(AuditAction::Logout, user_id)
                .details(json!({ "rpInitiated": true, "sessionsRevoked": ended.len() })),
        )
        .await;
    }
    cookies::clear_browser(&state, res);
    csrf::renew(&state, res);
    match request.post_logout_redirect_uri {
        Some(uri) => {
            let mut params = Vec::new();
            if let Some(s) = request.state.as_deref().filter(|s| !s.is_empty()) {
                params.push(("state", s));
            }
            res.render(Redirect::other(authorization::redirect_to(&uri, &params)));
        }
        None => message(
            &state,
            res,
            StatusCode::OK,
            "You are signed out",
            "You can close this page.",
        ),
    }
    Ok(())
}

/// What the endpoints above do to a request before any credential is checked, for the fuzz
/// targets in `fuzz/` (feature `fuzzing`): the same functions, not copies.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use salvo::Request;

    use crate::service::oauth::OAuthError;
    use crate::service::oauth::authorize::AuthorizeParams;
    use crate::service::oauth::token::TokenParams;

    /// `/oauth2/token`: Basic credentials, then the form.
    pub async fn token_request(
        req: &mut Request,
    ) -> Result<(Option<(String, String)>, TokenParams), OAuthError> {
        let basic = super::basic_credentials(req)?;
        Ok((basic, super::form(req).await?))
    }

    /// `/oauth2/introspect` and `/oauth2/revoke`: Basic credentials, then the form.
    pub async fn token_form_request(req: &mut Request) -> Result<Option<String>, OAuthError> {
        super::basic_credentials(req)?;
        let form: super::TokenForm = super::form(req).await?;
        Ok(form.token)
    }

    /// `/oauth2/authorize`, GET or POST.
    pub async fn authorize_request(req: &mut Request) -> AuthorizeParams {
        super::authorize_params(req).await
    }
}
