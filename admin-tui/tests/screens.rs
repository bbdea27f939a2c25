//! Every screen drawn on a test terminal, at 80x24 and 120x40, compared with the committed
//! snapshots. Fixtures use fixed ids and times, so nothing needs redacting.

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;
use sigil_admin::action::{Action, Pane, Purpose, Response, Tag, Tagged};
use sigil_admin::api::{
    ApiResource, AuditEvent, Key, OAuthClient, Pagination, Session, Stats, User, UserPage,
};
use sigil_admin::app::App;
use sigil_admin::overlay::Overlay;
use sigil_admin::remote::Loadable;
use sigil_admin::screens::Screen;
use sigil_admin::ui::view;

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent {
        code,
        modifiers: KeyModifiers::NONE,
        kind: KeyEventKind::Press,
        state: KeyEventState::NONE,
    })
}

fn user(i: usize, name: &str, status: &str, roles: &[&str], mfa: bool) -> User {
    User {
        id: format!("7c9e6679-7425-40de-944b-e07fc1f90a{i:02}"),
        email: format!("{name}@example.com"),
        username: name.into(),
        status: status.into(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        mfa_enabled: mfa,
        email_verified: true,
        locked_until: (status == "active" && i == 3).then(|| "2026-11-21T12:30:00Z".into()),
        last_login: Some("2026-11-21T11:02:03Z".into()),
        created_at: "2026-11-01T09:00:00Z".into(),
    }
}

fn fixture() -> App {
    let mut s = App::new("https://id.example.com", false);
    s.signed_in = true;
    s.screens.dashboard.stats.data = Loadable::Ready(Stats {
        users: HashMap::from([
            ("total".into(), 1289),
            ("active".into(), 1201),
            ("pending".into(), 64),
            ("suspended".into(), 20),
            ("deleted".into(), 4),
        ]),
        active_sessions: 845,
        logins_last_hour: 61,
        logins_last_day: 1402,
        failures_last_hour: 7,
        failures_last_day: 93,
        lockouts_last_day: 2,
    });
    s.screens.dashboard.login_rate = vec![12, 18, 25, 30, 41, 38, 52, 61, 55, 61];
    s.screens.users.list.data = Loadable::Ready(UserPage {
        users: vec![
            user(1, "ada", "active", &["admin"], true),
            user(2, "grace", "active", &["user", "moderator"], false),
            user(3, "linus", "active", &["user"], false),
            user(4, "margaret", "suspended", &["user"], false),
            user(5, "ken", "pending", &["user"], false),
        ],
        pagination: Pagination {
            page: 1,
            limit: 20,
            total: 5,
            pages: 1,
        },
    });
    s.screens.users.detail.sessions.data = Loadable::Ready(vec![Session {
        id: "s1".into(),
        client_id: "sigil".into(),
        ip: Some("192.0.2.10".into()),
        device: json!({"browser": "Firefox 128.0", "os": "Linux", "device": "pc"}),
        last_activity: "2026-11-21T11:05:00Z".into(),
    }]);
    s.screens.clients.list.data = Loadable::Ready(vec![
        OAuthClient {
            client_id: "k3Lq9ZrT0aXbC1dE2fG3hI".into(),
            name: "Photo Printer".into(),
            client_type: "confidential".into(),
            redirect_uris: vec!["https://print.example.com/cb".into()],
            first_party: false,
            client_secret: None,
        },
        OAuthClient {
            client_id: "Zz9Yy8Xx7Ww6Vv5Uu4Tt3S".into(),
            name: "Portal".into(),
            client_type: "public".into(),
            redirect_uris: vec!["https://portal.example.com/cb".into()],
            first_party: true,
            client_secret: None,
        },
    ]);
    s.screens.resources.list.data = Loadable::Ready(vec![
        ApiResource {
            id: "0b7e".into(),
            identifier: "https://orders.example.com".into(),
            name: "Orders".into(),
            scopes: vec!["orders:read".into(), "orders:write".into()],
            resource_servers: vec![],
        },
        ApiResource {
            id: "9f1c".into(),
            identifier: "urn:example:billing".into(),
            name: "Billing".into(),
            scopes: vec!["invoices:read".into()],
            resource_servers: vec![],
        },
    ]);
    s.screens.keys.list.data = Loadable::Ready(vec![
        Key {
            kid: "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs".into(),
            generation: 1,
            state: "retiring".into(),
            activate_at: "2026-10-22T00:00:00Z".into(),
        },
        Key {
            kid: "wsAvOx5KGjait4wOfQnZs00TKJozHU_k1h1KpAW2fwI".into(),
            generation: 2,
            state: "active".into(),
            activate_at: "2026-11-21T00:00:00Z".into(),
        },
    ]);
    s.screens.audit.events.data = Loadable::Ready(vec![
        AuditEvent {
            id: "1".into(),
            at: "2026-11-21T11:05:00Z".into(),
            action: "login.succeeded".into(),
            actor_id: Some("7c9e6679-7425".into()),
            target_id: None,
            ip: Some("192.0.2.10".into()),
        },
        AuditEvent {
            id: "2".into(),
            at: "2026-11-21T11:04:00Z".into(),
            action: "login.failed".into(),
            actor_id: None,
            target_id: None,
            ip: Some("198.51.100.4".into()),
        },
        AuditEvent {
            id: "3".into(),
            at: "2026-11-21T11:00:00Z".into(),
            action: "admin.user.suspended".into(),
            actor_id: Some("7c9e6679-7425".into()),
            target_id: Some("x".into()),
            ip: Some("192.0.2.10".into()),
        },
    ]);
    s
}

fn render(state: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal.draw(|f| view(state, f)).expect("draw");
    terminal.backend().to_string()
}

fn snapshot_both(name: &str, state: &App) {
    insta::assert_snapshot!(format!("{name}_80x24"), render(state, 80, 24));
    insta::assert_snapshot!(format!("{name}_120x40"), render(state, 120, 40));
}

/// The six screens.
#[test]
fn screens() {
    let mut state = fixture();
    for screen in Screen::ALL {
        state.screen = screen;
        snapshot_both(&screen.title().to_lowercase(), &state);
    }
}

/// Sign-in, first without then with the MFA code field.
#[test]
fn sign_in() {
    let mut state = App::new("https://id.example.com", false);
    state.screens.sign_in.login = "ada".into();
    state.screens.sign_in.password = "secret".into();
    snapshot_both("sign_in", &state);
    state.screens.sign_in.needs_totp = true;
    state.screens.sign_in.focus = 2;
    snapshot_both("sign_in_mfa", &state);
}

/// The user detail pane, the help overlay, a confirmation and a secret shown once.
#[test]
fn overlays() {
    let mut state = fixture();
    state.screen = Screen::Users;
    state.screens.users.selected = 1;
    state.screens.users.detail.open = true;
    snapshot_both("user_detail", &state);
    state.screens.users.detail.open = false;
    state.update(key(KeyCode::Char('s')));
    snapshot_both("confirm_suspend", &state);
    state.overlay = Overlay::Help;
    snapshot_both("help", &state);
    state.overlay = Overlay::None;
    let tag = Tag {
        pane: Pane::Clients,
        purpose: Purpose::Change,
        seq: 1,
    };
    state.update(Action::Response(Tagged {
        tag,
        body: Ok(Response::ClientSecret(OAuthClient {
            client_id: "k3".into(),
            name: "Photo Printer".into(),
            client_type: "confidential".into(),
            redirect_uris: vec![],
            first_party: false,
            client_secret: Some("Gq2f7W0x8pSeCretExampleValue_1234567890abc".into()),
        })),
    }));
    snapshot_both("secret_once", &state);
}
