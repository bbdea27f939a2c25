//! Answers shaped as the server writes them, read the way the client reads them. The bodies
//! are written out by hand on purpose: they pin the wire as it is, so a console that read
//! another shape (as its hand-copied types once did) fails here rather than showing blanks.

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::*;
use crate::action::{Pane, Purpose, Response, Tag};
use crate::remote::Remote;
use crate::screens::audit;
use crate::ui::Theme;

/// `GET /v1/admin/audit`: the page is camelCase, the events inside it snake_case.
const AUDIT: &str = r#"{
  "success": true,
  "data": {
    "events": [
      {
        "id": "01JD7Q6Y3C0000000000000000",
        "at": "2026-11-21T11:05:00.123456789Z",
        "action": "admin.user.updated",
        "actor_id": "7c9e6679-7425-40de-944b-e07fc1f90a01",
        "target_id": "2b1f0c3e-9d4a-4c7b-8e21-5f6a7b8c9d0e",
        "ip": "192.0.2.10",
        "user_agent": "sigil-admin",
        "request_id": "req-1",
        "details": {"fields": ["status"]}
      },
      {
        "id": "01JD7Q6Y3B0000000000000000",
        "at": "2026-11-21T11:04:00Z",
        "action": "login.failed",
        "actor_id": null,
        "target_id": null,
        "ip": "198.51.100.4",
        "user_agent": null,
        "request_id": null,
        "details": null
      }
    ],
    "nextCursor": null
  }
}"#;

/// The audit trail shows who acted. With the console's old camelCase copy of the event,
/// `actor_id` never matched and the column stayed "-".
#[test]
fn audit_events_from_the_server_show_their_actor() {
    let page: AuditPage = data(AUDIT.as_bytes()).expect("the server's audit page");
    let actor = page.events[0].actor_id.map(|a| a.to_string());
    assert_eq!(
        actor.as_deref(),
        Some("7c9e6679-7425-40de-944b-e07fc1f90a01")
    );
    assert!(page.events[0].target_id.is_some());

    let mut events = Remote::default();
    assert!(events.settle(1, page.events));
    let state = audit::State {
        events,
        filter: String::new(),
    };
    let mut terminal = Terminal::new(TestBackend::new(100, 8)).expect("terminal");
    terminal
        .draw(|f| state.view(&Theme { color: false }, f, f.area()))
        .expect("draw");
    let screen = terminal.backend().to_string();
    let row = screen
        .lines()
        .find(|l| l.contains("admin.user.updated"))
        .unwrap_or_else(|| panic!("no row for the event:\n{screen}"));
    assert!(row.contains("2026-11-21T11:05:00 "), "{row}");
    assert!(row.contains("7c9e6679"), "the actor column: {row}");
    let anonymous = screen
        .lines()
        .find(|l| l.contains("login.failed"))
        .unwrap_or_else(|| panic!("no row for the failed login:\n{screen}"));
    assert!(anonymous.contains(" - "), "{anonymous}");
    // The answer reaches the screen through the same tagged path as any other.
    let mut state = state;
    let tag = Tag {
        pane: Pane::Audit,
        purpose: Purpose::Load,
        seq: 2,
    };
    let page: AuditPage = data(AUDIT.as_bytes()).expect("again");
    state.on_reply(tag, Ok(Response::Audit(page.events)));
    assert_eq!(state.events.ready().map(Vec::len), Some(2));
}

/// `GET /v1/admin/users`: the seed's `data.users` and `data.pagination`, the profile
/// flattened beside the lockout fields.
#[test]
fn a_user_page_reads_the_flattened_admin_view() {
    let body = r#"{
      "success": true,
      "data": {"users": [{
        "id": "7c9e6679-7425-40de-944b-e07fc1f90a03",
        "email": "linus@example.com",
        "username": "linus",
        "firstName": null,
        "lastName": null,
        "phone": null,
        "status": "active",
        "emailVerified": true,
        "phoneVerified": false,
        "mfaEnabled": false,
        "roles": ["user"],
        "permissions": [],
        "lastLogin": null,
        "createdAt": "2026-11-01T09:00:00Z",
        "updatedAt": "2026-11-01T09:00:00Z",
        "failedLoginAttempts": 5,
        "lastFailedLogin": "2026-11-21T12:00:00Z",
        "accountLockedUntil": "2026-11-21T12:30:00Z"
      }],
      "pagination": {"page": 1, "limit": 20, "total": 1, "pages": 1}}
    }"#;
    let page: UserPage = data(body.as_bytes()).expect("the server's user page");
    assert_eq!(page.pagination.total, 1);
    let user = &page.users[0];
    assert_eq!(user.user.username, "linus");
    assert_eq!(user.failed_login_attempts, 5);
    assert_eq!(
        user.account_locked_until
            .map(crate::ui::timestamp)
            .as_deref(),
        Some("2026-11-21T12:30:00Z")
    );
}

/// A sign-in that needs the second factor: the token for the challenge is in the error body.
#[test]
fn mfa_required_carries_the_challenge_token() {
    let body = br#"{
      "success": false,
      "error": {"code": "MFA_REQUIRED", "message": "MFA code required", "mfaToken": "mfa-123"},
      "timestamp": "2026-11-21T11:05:00Z",
      "requestId": "req-2"
    }"#;
    assert_eq!(
        mfa_token(StatusCode::UNAUTHORIZED, body).as_deref(),
        Some("mfa-123")
    );
    assert_eq!(error(StatusCode::UNAUTHORIZED, body), ApiError::MfaRequired);
    let wrong_password = br#"{
      "success": false,
      "error": {"code": "INVALID_CREDENTIALS", "message": "Invalid email or password"},
      "timestamp": "2026-11-21T11:05:00Z",
      "requestId": "req-3"
    }"#;
    assert_eq!(mfa_token(StatusCode::UNAUTHORIZED, wrong_password), None);
    assert_eq!(
        error(StatusCode::UNAUTHORIZED, wrong_password),
        ApiError::Unauthorized("Invalid email or password".into())
    );
}

/// A failure that is not the server's envelope still reports its status.
#[test]
fn an_error_without_the_envelope_keeps_the_status() {
    assert_eq!(
        error(StatusCode::BAD_GATEWAY, b"<html>Bad gateway</html>"),
        ApiError::Server {
            status: 502,
            code: "ERROR".into(),
            message: "request failed".into(),
        }
    );
}

/// Login and refresh answer with the tokens and their lifetime.
#[test]
fn tokens_read_from_a_sign_in_answer() {
    let body = r#"{
      "success": true,
      "data": {
        "accessToken": "at",
        "refreshToken": "rt",
        "expiresIn": 900,
        "tokenType": "Bearer",
        "user": {
          "id": "7c9e6679-7425-40de-944b-e07fc1f90a01",
          "email": "ada@example.com",
          "username": "ada",
          "firstName": null,
          "lastName": null,
          "phone": null,
          "status": "active",
          "emailVerified": true,
          "mfaEnabled": true,
          "roles": ["admin"],
          "permissions": ["admin.users.read"],
          "lastLogin": "2026-11-21T11:02:03Z",
          "createdAt": "2026-11-01T09:00:00Z",
          "updatedAt": "2026-11-01T09:00:00Z"
        }
      }
    }"#;
    let before = Instant::now();
    let tokens = Tokens::from(data::<TokensView>(body.as_bytes()).expect("the tokens"));
    assert_eq!(
        (tokens.access.as_str(), tokens.refresh.as_str()),
        ("at", "rt")
    );
    assert!(tokens.expires_at >= before + Duration::from_secs(900));
    assert!(matches!(
        data::<TokensView>(br#"{"success": true}"#),
        Err(ApiError::Network(_))
    ));
}
