//! The hosted forms' CSRF tokens: made by this server, for this browser and its session.

use reqwest::StatusCode;
use sigil_tests::TestApp;
use sigil_tests::browser::Browser;

use super::{authorize_url, setup};

/// Double submit alone would accept any equal pair; an attacker who can write the cookie
/// (a sibling subdomain, a plain-http page on the same host) chooses both halves.
#[tokio::test]
async fn a_pair_the_attacker_chose_is_refused() {
    let s = setup().await;
    let chosen = "A".repeat(43);
    for (cookie, token) in [(chosen.as_str(), chosen.as_str()), ("", "")] {
        let b = Browser::new(&s.app.base);
        b.plant_cookie("sigil_csrf", cookie);
        let page = b
            .post(
                "/login",
                &[
                    ("csrf", token),
                    ("login", &s.user.username),
                    ("password", &s.user.password),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{cookie:?}: {page:?}");
    }
}

/// A token stops working when the browser's session is not the one it was made for, even
/// with its nonce cookie carried over.
#[tokio::test]
async fn a_token_is_bound_to_the_browser_session() {
    let s = setup().await;
    let owner = Browser::new(&s.app.base);
    let page = owner
        .follow(owner.get(&authorize_url(&s.client_id, &[])).await)
        .await;
    owner
        .sign_in(page, &s.user.username, &s.user.password)
        .await;
    let form = owner.get("/login").await;
    let token = form.field("csrf").unwrap();
    let nonce = owner.cookie("sigil_csrf").unwrap();

    let other = Browser::new(&s.app.base);
    let page = other
        .follow(other.get(&authorize_url(&s.client_id, &[])).await)
        .await;
    other
        .sign_in(page, &s.user.username, &s.user.password)
        .await;
    other.plant_cookie("sigil_csrf", &nonce);
    let credentials = [
        ("csrf", token.as_str()),
        ("login", s.user.username.as_str()),
        ("password", s.user.password.as_str()),
    ];
    let refused = other.post("/login", &credentials).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");

    let accepted = owner.post("/login", &credentials).await;
    assert_eq!(accepted.status, StatusCode::OK, "{accepted:?}");
}

/// On https the browser cookies carry the prefixes that only this host, over https, can set;
/// the unprefixed names are not read there.
#[tokio::test]
async fn https_cookies_carry_host_and_secure_prefixes() {
    let app = TestApp::spawn_with(|c| c.issuer_is_https = true).await;
    let (user, _) = app.signed_in_user().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = http.get(app.url("/login")).send().await.unwrap();
    let set_cookie = form.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.starts_with("__Host-sigil_csrf="), "{set_cookie}");
    assert!(set_cookie.contains("Secure") && set_cookie.contains("Path=/"));
    assert!(!set_cookie.contains("Domain"), "{set_cookie}");
    let nonce = set_cookie["__Host-sigil_csrf=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body = form.text().await.unwrap();
    let token = sigil_tests::browser::Page {
        status: StatusCode::OK,
        location: None,
        body,
    }
    .field("csrf")
    .unwrap();
    let sign_in = |cookie_name: &str| {
        http.post(app.url("/login"))
            .header("cookie", format!("{cookie_name}={nonce}"))
            .form(&[
                ("csrf", token.as_str()),
                ("login", user.username.as_str()),
                ("password", user.password.as_str()),
            ])
            .send()
    };
    assert_eq!(
        sign_in("sigil_csrf").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let signed_in = sign_in("__Host-sigil_csrf").await.unwrap();
    assert_eq!(signed_in.status(), StatusCode::OK);
    let cookies: Vec<_> = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-sigil_session=")),
        "{cookies:?}"
    );

    let login = app.login(&user).await;
    let refresh = login.header("set-cookie").unwrap();
    assert!(refresh.starts_with("__Secure-sigil_refresh="), "{refresh}");
    let token = refresh["__Secure-sigil_refresh=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let by_cookie = |name: &str| {
        http.post(app.url("/v1/auth/refresh"))
            .header("cookie", format!("{name}={token}"))
            .send()
    };
    assert_eq!(
        by_cookie("sigil_refresh").await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        by_cookie("__Secure-sigil_refresh").await.unwrap().status(),
        StatusCode::OK
    );
}
