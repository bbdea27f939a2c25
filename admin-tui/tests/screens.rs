//! Every screen drawn on a test terminal, at 80x24 and 120x40, compared with the committed
//! snapshots. Fixtures use fixed ids and times, so nothing needs redacting.

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use sigil_admin::action::{Action, Pane, Purpose, Response, Tag, Tagged};
use sigil_admin::api::{
    ApiResource, AuditEvent, ClientType, Device, Key, KeyState, OAuthClient, Pagination, Session,
    Stats, User, UserPage,
};
use sigil_admin::app::App;
use sigil_admin::overlay::Overlay;
use sigil_admin::remote::Loadable;
use sigil_admin::screens::Screen;
use sigil_admin::ui::view;
use sigil_proto::users::UserView;
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

/// When the fixture's records were created; no screen shows it.
const CREATED: OffsetDateTime = datetime!(2026-10-01 00:00 UTC);

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent {
        code,
        modifiers: KeyModifiers::NONE,
        kind: KeyEventKind::Press,
        state: KeyEventState::NONE,
    })
}

/// `7c9e6679-7425-40de-944b-e07fc1f90a01` for user 1; the fixture has users 1 to 5.
fn user_id(i: u8) -> Uuid {
    Uuid::from_u128(0x7c9e6679_7425_40de_944b_e07fc1f90a00 + u128::from(i))
}

fn user(i: u8, name: &str, status: &str, roles: &[&str], mfa: bool) -> User {
    User {
        user: UserView {
            id: user_id(i),
            email: format!("{name}@example.com"),
            username: name.into(),
            first_name: None,
            last_name: None,
            phone: None,
            status: status.into(),
            email_verified: true,
            phone_verified: false,
            mfa_enabled: mfa,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            permissions: vec![],
            last_login: Some(datetime!(2026-11-21 11:02:03 UTC)),
            created_at: datetime!(2026-11-01 09:00 UTC),
            updated_at: datetime!(2026-11-01 09:00 UTC),
        },
        failed_login_attempts: 0,
        last_failed_login: None,
        account_locked_until: (status == "active" && i == 3)
            .then_some(datetime!(2026-11-21 12:30 UTC)),
    }
}

fn client(id: &str, name: &str, client_type: ClientType, redirect: Option<&str>) -> OAuthClient {
    OAuthClient {
        client_id: id.into(),
        name: name.into(),
        client_type,
        redirect_uris: redirect.map(str::to_owned).into_iter().collect(),
        post_logout_redirect_uris: vec![],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec!["openid".into()],
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
        client_secret: None,
    }
}

fn resource(id: u128, identifier: &str, name: &str, scopes: &[&str]) -> ApiResource {
    ApiResource {
        id: Uuid::from_u128(id),
        identifier: identifier.into(),
        name: name.into(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        resource_servers: vec![],
        created_at: CREATED,
        updated_at: CREATED,
    }
}

fn signing_key(kid: &str, generation: u64, state: KeyState, activate_at: OffsetDateTime) -> Key {
    Key {
        kid: kid.into(),
        generation,
        state,
        created_at: CREATED,
        activate_at,
        revoked_at: None,
    }
}

fn event(id: &str, at: OffsetDateTime, action: &str, actor: Option<Uuid>, ip: &str) -> AuditEvent {
    AuditEvent {
        id: id.into(),
        at,
        action: action.into(),
        actor_id: actor,
        target_id: None,
        ip: Some(ip.into()),
        user_agent: None,
        request_id: None,
        details: serde_json::Value::Null,
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
        generated_at: datetime!(2026-11-21 11:05 UTC),
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
        device_info: Device {
            browser: "Firefox 128.0".into(),
            os: "Linux".into(),
            device: "pc".into(),
        },
        ip_address: Some("192.0.2.10".into()),
        location: None,
        created_at: datetime!(2026-11-21 11:02:03 UTC),
        last_activity: datetime!(2026-11-21 11:05 UTC),
        amr: vec!["pwd".into()],
    }]);
    s.screens.clients.list.data = Loadable::Ready(vec![
        OAuthClient {
            require_pushed_authorization_requests: true,
            token_endpoint_auth_method: "private_key_jwt".into(),
            ..client(
                "k3Lq9ZrT0aXbC1dE2fG3hI",
                "Photo Printer",
                ClientType::Confidential,
                Some("https://print.example.com/cb"),
            )
        },
        OAuthClient {
            first_party: true,
            ..client(
                "Zz9Yy8Xx7Ww6Vv5Uu4Tt3S",
                "Portal",
                ClientType::Public,
                Some("https://portal.example.com/cb"),
            )
        },
    ]);
    s.screens.resources.list.data = Loadable::Ready(vec![
        resource(
            0x0b7e,
            "https://orders.example.com",
            "Orders",
            &["orders:read", "orders:write"],
        ),
        resource(0x9f1c, "urn:example:billing", "Billing", &["invoices:read"]),
    ]);
    s.screens.keys.list.data = Loadable::Ready(vec![
        signing_key(
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
            1,
            KeyState::Retiring,
            datetime!(2026-10-22 00:00 UTC),
        ),
        signing_key(
            "wsAvOx5KGjait4wOfQnZs00TKJozHU_k1h1KpAW2fwI",
            2,
            KeyState::Active,
            datetime!(2026-11-21 00:00 UTC),
        ),
    ]);
    s.screens.audit.events.data = Loadable::Ready(vec![
        event(
            "1",
            datetime!(2026-11-21 11:05 UTC),
            "login.succeeded",
            Some(user_id(1)),
            "192.0.2.10",
        ),
        event(
            "2",
            datetime!(2026-11-21 11:04 UTC),
            "login.failed",
            None,
            "198.51.100.4",
        ),
        AuditEvent {
            target_id: Some(user_id(4)),
            ..event(
                "3",
                datetime!(2026-11-21 11:00 UTC),
                "admin.user.suspended",
                Some(user_id(1)),
                "192.0.2.10",
            )
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
        body: Ok(Response::ClientSecret(Box::new(OAuthClient {
            client_secret: Some("Gq2f7W0x8pSeCretExampleValue_1234567890abc".into()),
            ..client("k3", "Photo Printer", ClientType::Confidential, None)
        }))),
    }));
    snapshot_both("secret_once", &state);
}
