//! The update loop driven key by key, answers given the way the runtime gives them: with the
//! tag of the request they answer.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};
use serde_json::json;
use sigil_proto::users::UserView;
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

use super::*;
use crate::action::{Pane, Purpose};
use crate::api::{
    ApiResource, ClientSettings, ClientType, OAuthClient, Pagination, User, UserPage,
};
use crate::remote::Loadable;

mod tagging;

pub fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent {
        code,
        modifiers: KeyModifiers::NONE,
        kind: KeyEventKind::Press,
        state: KeyEventState::NONE,
    })
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(key(KeyCode::Char(c)));
    }
}

/// The request an update sent, without its tag.
fn sent(action: Option<Action>) -> Option<Request> {
    match action {
        Some(Action::Request(Tagged { body, .. })) => Some(body),
        _ => None,
    }
}

/// Answers what `asked` sent, as the runtime would: with the request's tag.
fn answer(app: &mut App, asked: &Option<Action>, reply: Reply) -> Option<Action> {
    let Some(Action::Request(Tagged { tag, .. })) = asked else {
        panic!("nothing was asked: {asked:?}");
    };
    app.update(Action::Response(Tagged {
        tag: *tag,
        body: reply,
    }))
}

/// An answer nobody in the test asked for, tagged for `pane` as the newest request.
fn unasked(app: &mut App, pane: Pane, purpose: Purpose, reply: Reply) -> Option<Action> {
    app.seq += 1;
    let tag = Tag {
        pane,
        purpose,
        seq: app.seq,
    };
    app.update(Action::Response(Tagged { tag, body: reply }))
}

const CREATED: OffsetDateTime = datetime!(2026-11-01 10:00 UTC);

/// User `i` has the id `00000000-0000-0000-0000-00000000000i`.
pub fn user(i: usize, status: &str) -> User {
    User {
        user: UserView {
            id: Uuid::from_u128(i as u128),
            email: format!("user{i}@example.com"),
            username: format!("user{i}"),
            first_name: None,
            last_name: None,
            phone: None,
            status: status.into(),
            email_verified: true,
            phone_verified: false,
            mfa_enabled: false,
            roles: vec!["user".into()],
            permissions: vec![],
            last_login: None,
            created_at: CREATED,
            updated_at: CREATED,
        },
        failed_login_attempts: 0,
        last_failed_login: None,
        account_locked_until: None,
    }
}

fn page(users: Vec<User>, total: u64, pages: u64) -> UserPage {
    UserPage {
        users,
        pagination: Pagination {
            page: 1,
            limit: 20,
            total,
            pages,
        },
    }
}

fn signed_in() -> App {
    let mut app = App::new("http://localhost:8080", false);
    app.signed_in = true;
    app
}

fn is_password_form(overlay: &Overlay) -> bool {
    matches!(
        overlay,
        Overlay::Form(Form {
            kind: FormKind::Password { .. },
            ..
        })
    )
}

/// A role change the server wants re-authenticated asks for the password and resends the
/// same change with it; the console stays signed in.
#[test]
fn role_change_asks_for_the_password_when_the_sign_in_is_old() {
    let mut app = signed_in();
    app.screens.users.list.data = Loadable::Ready(page(vec![user(1, "active")], 1, 1));
    app.screen = Screen::Users;
    app.update(key(KeyCode::Char('e')));
    for _ in 0..4 {
        app.update(key(KeyCode::Backspace));
    }
    typed(&mut app, "admin");
    let asked = app.update(key(KeyCode::Enter));
    let Some(Request::UpdateUser { change, .. }) = sent(asked.clone()) else {
        panic!("no update: {asked:?}");
    };
    assert_eq!(change, json!({"roles": ["admin"]}));
    answer(&mut app, &asked, Err(ApiError::ReauthenticationRequired));
    assert!(app.signed_in);
    assert!(is_password_form(&app.overlay));
    typed(&mut app, "pw");
    let resent = app.update(key(KeyCode::Enter));
    let Some(Request::UpdateUser { change, .. }) = sent(resent.clone()) else {
        panic!("not resent: {resent:?}");
    };
    assert_eq!(change, json!({"roles": ["admin"], "password": "pw"}));
}

/// Resources: key 6 opens the screen; `c` registers one from "identifier, name, scopes";
/// `d` deletes the selected one after a confirmation.
#[test]
fn resources_screen() {
    let mut app = signed_in();
    let asked = app.update(key(KeyCode::Char('6')));
    assert_eq!(sent(asked.clone()), Some(Request::Resources));
    assert_eq!(app.screen, Screen::Resources);
    let r1 = Uuid::from_u128(0x71);
    answer(
        &mut app,
        &asked,
        Ok(Response::Resources(vec![ApiResource {
            id: r1,
            identifier: "https://orders.example.com".into(),
            name: "Orders".into(),
            scopes: vec!["orders:read".into()],
            resource_servers: vec![],
            created_at: CREATED,
            updated_at: CREATED,
        }])),
    );
    app.update(key(KeyCode::Char('c')));
    typed(&mut app, "https://api.example.com, API, api:read api:write");
    assert_eq!(
        sent(app.update(key(KeyCode::Enter))),
        Some(Request::CreateResource {
            identifier: "https://api.example.com".into(),
            name: "API".into(),
            scopes: vec!["api:read".into(), "api:write".into()],
        })
    );
    app.update(key(KeyCode::Char('c')));
    typed(&mut app, "only-one-part");
    assert_eq!(app.update(key(KeyCode::Enter)), None);
    assert!(app.status.as_ref().is_some_and(|(_, error)| *error));
    app.update(key(KeyCode::Char('d')));
    assert_eq!(
        sent(app.update(key(KeyCode::Char('y')))),
        Some(Request::DeleteResource(r1))
    );
}

/// The new-client form takes name, type and redirect URI, then setting words; an unknown word
/// is named and nothing is sent.
#[test]
fn new_client_form_with_settings() {
    let mut app = signed_in();
    app.update(key(KeyCode::Char('3')));
    app.update(key(KeyCode::Char('c')));
    typed(&mut app, "Shop, public, https://shop.example.com/cb");
    assert_eq!(
        sent(app.update(key(KeyCode::Enter))),
        Some(Request::CreateClient {
            name: "Shop".into(),
            client_type: ClientType::Public,
            redirect_uri: "https://shop.example.com/cb".into(),
            settings: ClientSettings::default(),
        })
    );
    app.update(key(KeyCode::Char('c')));
    typed(
        &mut app,
        "Payments, confidential, https://pay.example.com/cb, par jar, dpop secret-jwt",
    );
    assert_eq!(
        sent(app.update(key(KeyCode::Enter))),
        Some(Request::CreateClient {
            name: "Payments".into(),
            client_type: ClientType::Confidential,
            redirect_uri: "https://pay.example.com/cb".into(),
            settings: ClientSettings {
                require_par: true,
                require_signed_requests: true,
                require_dpop: true,
                auth_method: Some("client_secret_jwt"),
                ..ClientSettings::default()
            },
        })
    );
    app.update(key(KeyCode::Char('c')));
    typed(
        &mut app,
        "Old, confidential, https://old.example.com/cb, fapi",
    );
    assert_eq!(app.update(key(KeyCode::Enter)), None);
    assert!(
        app.status
            .as_ref()
            .is_some_and(|(text, error)| *error && text.contains("\"fapi\"")),
        "{:?}",
        app.status
    );
}

/// Sign-in sends the typed credentials; MFA brings up the code field.
#[test]
fn sign_in_flow() {
    let mut app = App::new("http://x", false);
    typed(&mut app, "admin");
    app.update(key(KeyCode::Tab));
    typed(&mut app, "secret");
    let asked = app.update(key(KeyCode::Enter));
    assert_eq!(
        sent(asked.clone()),
        Some(Request::SignIn {
            login: "admin".into(),
            password: "secret".into(),
            totp: None
        })
    );
    answer(&mut app, &asked, Err(ApiError::MfaRequired));
    assert!(app.screens.sign_in.needs_totp);
    assert_eq!(app.screens.sign_in.focus, 2);
    typed(&mut app, "123456");
    let asked = app.update(key(KeyCode::Enter));
    assert!(
        matches!(sent(asked.clone()), Some(Request::SignIn { totp: Some(ref t), .. }) if t == "123456")
    );
    let next = answer(&mut app, &asked, Ok(Response::SignedIn));
    assert!(app.signed_in);
    assert_eq!(sent(next), Some(Request::Stats));
}

/// 1-5 and Tab switch screens, each loading its data; q quits.
#[test]
fn screens_and_quit() {
    let mut app = signed_in();
    assert_eq!(
        sent(app.update(key(KeyCode::Char('2')))),
        Some(Request::Users(app.screens.users.query.clone()))
    );
    assert_eq!(app.screen, Screen::Users);
    assert_eq!(sent(app.update(key(KeyCode::Tab))), Some(Request::Clients));
    app.update(key(KeyCode::Char('5')));
    assert_eq!(app.screen, Screen::Audit);
    app.update(key(KeyCode::Char('?')));
    assert_eq!(app.overlay, Overlay::Help);
    app.update(key(KeyCode::Esc));
    assert_eq!(app.overlay, Overlay::None);
    app.update(key(KeyCode::Char('q')));
    assert!(app.quit);
}

/// Search, paging, and a confirmed suspension of the selected user.
#[test]
fn users_search_page_and_suspend() {
    let mut app = signed_in();
    let asked = app.update(key(KeyCode::Char('2')));
    answer(
        &mut app,
        &asked,
        Ok(Response::Users(page(
            vec![user(1, "active"), user(2, "active")],
            30,
            2,
        ))),
    );
    app.update(key(KeyCode::Char('/')));
    typed(&mut app, "bob");
    let asked = app.update(key(KeyCode::Enter));
    assert!(
        matches!(sent(asked.clone()), Some(Request::Users(ref q)) if q.search == "bob" && q.page == 1)
    );
    answer(
        &mut app,
        &asked,
        Ok(Response::Users(page(
            vec![user(1, "active"), user(2, "active")],
            30,
            2,
        ))),
    );
    let next = sent(app.update(key(KeyCode::Right)));
    assert!(matches!(next, Some(Request::Users(ref q)) if q.page == 2));
    app.update(key(KeyCode::Char('j')));
    assert_eq!(app.screens.users.selected, 1);
    assert_eq!(app.update(key(KeyCode::Char('s'))), None, "asks first");
    assert!(matches!(app.overlay, Overlay::Confirm { .. }));
    let asked = sent(app.update(key(KeyCode::Char('y'))));
    assert!(
        matches!(asked, Some(Request::UpdateUser { ref id, .. }) if id.to_string().ends_with('2'))
    );
    assert!(!matches!(app.overlay, Overlay::Confirm { .. }));
}

/// A 401 sends the console back to sign-in; other errors show in the status line.
#[test]
fn errors() {
    let mut app = signed_in();
    let asked = app.update(key(KeyCode::Char('4')));
    answer(
        &mut app,
        &asked,
        Err(ApiError::Server {
            status: 503,
            code: "SERVICE_UNAVAILABLE".into(),
            message: "down".into(),
        }),
    );
    assert!(matches!(app.screens.keys.list.data, Loadable::Failed(_)));
    assert!(
        app.status
            .as_ref()
            .is_some_and(|(m, err)| *err && m.contains("down"))
    );
    unasked(
        &mut app,
        Pane::Keys,
        Purpose::Load,
        Err(ApiError::Unauthorized("expired".into())),
    );
    assert!(!app.signed_in);
}

/// A rotated secret stays on screen until dismissed.
#[test]
fn secret_shown_once() {
    let mut app = signed_in();
    app.update(key(KeyCode::Char('3')));
    unasked(
        &mut app,
        Pane::Clients,
        Purpose::Change,
        Ok(Response::ClientSecret(Box::new(OAuthClient {
            client_id: "c1".into(),
            name: "App".into(),
            client_type: ClientType::Confidential,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![],
            scopes: vec![],
            first_party: false,
            require_pushed_authorization_requests: false,
            require_pkce: true,
            require_signed_request_object: false,
            dpop_bound_access_tokens: false,
            token_endpoint_auth_method: "client_secret_basic".into(),
            jwks: None,
            jwks_uri: None,
            created_at: CREATED,
            updated_at: CREATED,
            client_secret: Some("s3cr3t".into()),
        }))),
    );
    assert_eq!(
        app.overlay,
        Overlay::Secret {
            name: "App".into(),
            secret: "s3cr3t".into()
        }
    );
    app.update(key(KeyCode::Char('q')));
    assert!(!app.quit, "keys go to the secret popup first");
    app.update(key(KeyCode::Enter));
    assert_eq!(app.overlay, Overlay::None);
}
