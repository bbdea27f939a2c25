//! `sigil-admin`'s client and update loop against a real server: sign in, find a user,
//! suspend them (their login then fails), reactivate them, manage API resources, create a
//! client with settings.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};
use reqwest::StatusCode;
use sigil_admin::action::Action;
use sigil_admin::api::Client;
use sigil_admin::app::App;
use sigil_admin::overlay::Overlay;
use sigil_admin::perform;
use sigil_admin::remote::Loadable;
use sigil_admin::screens::Screen;
use sigil_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};

/// Feeds an action through the update loop, running requests against the server the way the
/// console's runtime does, until nothing is left to do.
async fn drive(state: &mut App, client: &Client, action: Action) {
    let mut next = Some(action);
    while let Some(action) = next.take() {
        next = match state.update(action) {
            Some(Action::Request(request)) => Some(perform(client, request).await),
            other => other,
        };
    }
}

async fn press(state: &mut App, client: &Client, code: KeyCode) {
    let key = KeyEvent {
        code,
        modifiers: KeyModifiers::NONE,
        kind: KeyEventKind::Press,
        state: KeyEventState::NONE,
    };
    drive(state, client, Action::Key(key)).await;
}

async fn type_text(state: &mut App, client: &Client, text: &str) {
    for c in text.chars() {
        press(state, client, KeyCode::Char(c)).await;
    }
}

#[tokio::test]
async fn operator_suspends_and_reactivates_a_user() {
    let app = TestApp::spawn().await;
    let (user, _) = app.signed_in_user().await;
    let client = Client::new(&app.base);
    let mut state = App::new(&app.base, false);

    // Sign in.
    type_text(&mut state, &client, ADMIN_EMAIL).await;
    press(&mut state, &client, KeyCode::Tab).await;
    type_text(&mut state, &client, ADMIN_PASSWORD).await;
    press(&mut state, &client, KeyCode::Enter).await;
    assert!(state.signed_in, "{:?}", state.status);
    assert!(
        matches!(state.screens.dashboard.stats.data, Loadable::Ready(_)),
        "the dashboard loads"
    );

    // Users, search, select.
    press(&mut state, &client, KeyCode::Char('2')).await;
    assert_eq!(state.screen, Screen::Users);
    press(&mut state, &client, KeyCode::Char('/')).await;
    type_text(&mut state, &client, &user.username.to_uppercase()).await;
    press(&mut state, &client, KeyCode::Enter).await;
    let page = state.screens.users.list.ready().expect("users loaded");
    assert_eq!(page.users.len(), 1);
    assert_eq!(page.users[0].user.username, user.username);

    // Suspend (confirmed): the user can no longer sign in.
    press(&mut state, &client, KeyCode::Char('s')).await;
    assert!(matches!(state.overlay, Overlay::Confirm { .. }));
    press(&mut state, &client, KeyCode::Char('y')).await;
    assert_eq!(
        state.screens.users.list.ready().unwrap().users[0]
            .user
            .status,
        "suspended"
    );
    app.login(&user)
        .await
        .assert_error(403, "ACCOUNT_SUSPENDED");

    // Reactivate.
    press(&mut state, &client, KeyCode::Char('a')).await;
    press(&mut state, &client, KeyCode::Enter).await;
    assert_eq!(
        state.screens.users.list.ready().unwrap().users[0]
            .user
            .status,
        "active"
    );
    assert_eq!(app.login(&user).await.status, StatusCode::OK);

    // Detail pane with the user's sessions.
    press(&mut state, &client, KeyCode::Enter).await;
    assert!(state.screens.users.detail.open);
    assert!(
        matches!(&state.screens.users.detail.sessions.data, Loadable::Ready(s) if !s.is_empty())
    );

    // Keys and audit screens load; the audit trail shows the suspension.
    press(&mut state, &client, KeyCode::Char('4')).await;
    assert!(matches!(&state.screens.keys.list.data, Loadable::Ready(k) if !k.is_empty()));
    press(&mut state, &client, KeyCode::Char('5')).await;
    let events = state.screens.audit.events.ready().expect("audit loaded");
    assert!(events.iter().any(|e| e.action == "admin.user.updated"));

    // Resources: register one (the server then issues tokens for it), delete it.
    press(&mut state, &client, KeyCode::Char('6')).await;
    assert_eq!(state.screen, Screen::Resources);
    press(&mut state, &client, KeyCode::Char('c')).await;
    type_text(
        &mut state,
        &client,
        "https://reports.example.com, Reports, reports:read",
    )
    .await;
    press(&mut state, &client, KeyCode::Enter).await;
    let listed = state
        .screens
        .resources
        .list
        .ready()
        .expect("resources loaded");
    assert_eq!(listed.len(), 1, "{:?}", state.status);
    assert_eq!(listed[0].scopes, vec!["reports:read".to_owned()]);
    let stored = app
        .state
        .stores
        .resources
        .find_resource("https://reports.example.com")
        .await
        .unwrap();
    assert!(stored.is_some());
    press(&mut state, &client, KeyCode::Char('d')).await;
    press(&mut state, &client, KeyCode::Char('y')).await;
    assert!(
        state
            .screens
            .resources
            .list
            .ready()
            .expect("reloaded")
            .is_empty()
    );

    // A client with settings from the new-client form: the server stores them, and the
    // secret shows once.
    press(&mut state, &client, KeyCode::Char('3')).await;
    press(&mut state, &client, KeyCode::Char('c')).await;
    type_text(
        &mut state,
        &client,
        "Payments, confidential, https://pay.example.com/cb, par dpop secret-post",
    )
    .await;
    press(&mut state, &client, KeyCode::Enter).await;
    assert!(
        matches!(state.overlay, Overlay::Secret { .. }),
        "{:?}",
        state.status
    );
    press(&mut state, &client, KeyCode::Enter).await;
    let created = state
        .screens
        .clients
        .list
        .ready()
        .expect("clients")
        .iter()
        .find(|c| c.name == "Payments")
        .expect("the new client is listed")
        .clone();
    assert!(created.require_pushed_authorization_requests);
    assert!(created.dpop_bound_access_tokens);
    assert!(!created.require_signed_request_object);
    assert_eq!(created.token_endpoint_auth_method, "client_secret_post");

    // Past the re-authentication window, a role change asks for the password and then goes
    // through; the console stays signed in.
    app.advance_clock(std::time::Duration::from_secs(11 * 60));
    press(&mut state, &client, KeyCode::Char('2')).await;
    press(&mut state, &client, KeyCode::Char('e')).await;
    for _ in 0..10 {
        press(&mut state, &client, KeyCode::Backspace).await;
    }
    type_text(&mut state, &client, "user,moderator").await;
    press(&mut state, &client, KeyCode::Enter).await;
    assert!(state.signed_in, "{:?}", state.status);
    assert!(
        matches!(state.overlay, Overlay::Form(_)),
        "a password prompt: {:?}",
        state.status
    );
    type_text(&mut state, &client, ADMIN_PASSWORD).await;
    press(&mut state, &client, KeyCode::Enter).await;
    let roles = &state.screens.users.list.ready().expect("users").users[0]
        .user
        .roles;
    assert_eq!(
        roles,
        &vec!["user".to_owned(), "moderator".to_owned()],
        "{:?}",
        state.status
    );
}

/// A wrong password shows in the status line; short-lived tokens are refreshed by themselves.
#[tokio::test]
async fn console_sign_in_errors_and_token_refresh() {
    let app =
        TestApp::spawn_with(|c| c.access_token_ttl = std::time::Duration::from_secs(30)).await;
    let client = Client::new(&app.base);
    let mut state = App::new(&app.base, false);
    type_text(&mut state, &client, ADMIN_EMAIL).await;
    press(&mut state, &client, KeyCode::Tab).await;
    type_text(&mut state, &client, "not-the-password").await;
    press(&mut state, &client, KeyCode::Enter).await;
    assert!(!state.signed_in);
    assert!(
        state
            .status
            .as_ref()
            .is_some_and(|(m, err)| *err && !m.is_empty())
    );

    client
        .sign_in(ADMIN_EMAIL, ADMIN_PASSWORD, None)
        .await
        .unwrap();
    // Tokens live 30 s, under the client's 60 s margin: every call refreshes first, and keeps
    // working.
    for _ in 0..3 {
        assert!(client.stats().await.is_ok());
    }
}
