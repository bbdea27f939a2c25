//! Redirect-URI registration and matching: any text is accepted or refused without a panic,
//! an accepted URI is absolute and fragment-free with an allowed scheme, and matching is
//! exact (a registered URI matches itself and nothing that differs from it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_server::domain::oauth::validate_redirect_uri;
use sigil_server::domain::{ClientRecord, ClientType};

fuzz_target!(|input: (&str, &str)| {
    let (registered, presented) = input;
    if validate_redirect_uri("redirect_uris", registered).is_err() {
        return;
    }
    let url = url::Url::parse(registered).expect("an accepted redirect URI parses");
    assert!(url.fragment().is_none());
    assert!(!matches!(
        url.scheme(),
        "javascript" | "data" | "file" | "vbscript"
    ));
    if url.scheme() == "http" {
        let host = url.host_str().unwrap_or_default();
        assert!(
            host.eq_ignore_ascii_case("localhost") || host == "[::1]" || host.starts_with("127."),
            "http only on loopback: {registered:?}"
        );
    }
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let client = ClientRecord {
        client_id: "fuzz".into(),
        name: "fuzz".into(),
        client_type: ClientType::Confidential,
        secret_digest: None,
        redirect_uris: vec![registered.to_owned()],
        post_logout_redirect_uris: Vec::new(),
        grant_types: Vec::new(),
        scopes: Vec::new(),
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
    assert!(client.has_redirect_uri(registered));
    assert_eq!(client.has_redirect_uri(presented), presented == registered);
});
