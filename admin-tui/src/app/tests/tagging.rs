//! Answers reach the pane that asked: an error fails that pane alone, and an answer to a
//! superseded load does not overwrite what the newer one brought.

use std::collections::HashMap;

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::*;
use crate::api::Stats;

fn render(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("terminal");
    terminal.draw(|f| crate::ui::view(app, f)).expect("draw");
    terminal.backend().to_string()
}

fn stats() -> Stats {
    Stats {
        users: HashMap::from([("total".into(), 3)]),
        active_sessions: 845,
        logins_last_hour: 61,
        logins_last_day: 1402,
        failures_last_hour: 7,
        failures_last_day: 93,
        lockouts_last_day: 2,
        generated_at: time::macros::datetime!(2026-11-21 11:05 UTC),
    }
}

fn down(message: &str) -> ApiError {
    ApiError::Server {
        status: 503,
        code: "SERVICE_UNAVAILABLE".into(),
        message: message.into(),
    }
}

/// Two panes loading, one request fails: the other pane still gets and shows its data, the
/// failed one shows its own error.
#[test]
fn an_error_fails_only_the_pane_that_asked() {
    let mut app = signed_in();
    let stats_asked = app.update(key(KeyCode::Char('r')));
    assert_eq!(sent(stats_asked.clone()), Some(Request::Stats));
    let keys_asked = app.update(key(KeyCode::Char('4')));
    assert_eq!(sent(keys_asked.clone()), Some(Request::Keys));
    assert_eq!(app.pending, 2);

    answer(&mut app, &keys_asked, Err(down("key store down")));
    assert!(
        matches!(app.screens.keys.list.data, Loadable::Failed(ref m) if m.contains("key store down"))
    );
    assert_eq!(
        app.screens.dashboard.stats.data,
        Loadable::Loading,
        "the dashboard is still waiting for its own answer"
    );
    assert!(render(&app).contains("Could not load: SERVICE_UNAVAILABLE: key store down"));

    answer(&mut app, &stats_asked, Ok(Response::Stats(stats())));
    assert_eq!(app.pending, 0);
    assert_eq!(app.screens.dashboard.stats.data, Loadable::Ready(stats()));
    assert!(matches!(app.screens.keys.list.data, Loadable::Failed(_)));
    app.screen = Screen::Dashboard;
    let dashboard = render(&app);
    assert!(dashboard.contains("845 active"), "{dashboard}");
    assert!(!dashboard.contains("Could not load"), "{dashboard}");
}

/// The detail pane's sessions fail while the list above it refreshes: both show on one
/// screen, the list with its new data, the detail with its error.
#[test]
fn a_failed_detail_leaves_the_list_beside_it_alone() {
    let mut app = signed_in();
    app.screen = Screen::Users;
    app.screens.users.list.data = Loadable::Ready(page(vec![user(1, "active")], 1, 1));
    let sessions_asked = app.update(key(KeyCode::Enter));
    assert!(matches!(
        sent(sessions_asked.clone()),
        Some(Request::UserSessions(_))
    ));
    let list_asked = app.update(key(KeyCode::Char('f')));
    assert!(matches!(sent(list_asked.clone()), Some(Request::Users(_))));

    answer(&mut app, &sessions_asked, Err(down("sessions unavailable")));
    answer(
        &mut app,
        &list_asked,
        Ok(Response::Users(page(vec![user(2, "active")], 1, 1))),
    );
    let users = app.screens.users.list.ready().map(|p| p.users.clone());
    assert_eq!(users, Some(vec![user(2, "active")]));
    assert!(matches!(
        app.screens.users.detail.sessions.data,
        Loadable::Failed(_)
    ));
    let screen = render(&app);
    assert!(screen.contains("user2@example.com"), "{screen}");
    assert!(
        screen.contains("Could not load: SERVICE_UNAVAILABLE: sessions"),
        "{screen}"
    );
}

/// Two searches in a row answered out of order: the older answer (or error) is dropped.
#[test]
fn a_stale_answer_does_not_overwrite_a_newer_one() {
    let mut app = signed_in();
    app.screen = Screen::Users;
    let older = app.screens.users.search("a").send.map(|r| app.send(r));
    let newer = app.screens.users.search("b").send.map(|r| app.send(r));
    assert!(matches!(sent(newer.clone()), Some(Request::Users(ref q)) if q.search == "b"));

    answer(
        &mut app,
        &newer,
        Ok(Response::Users(page(vec![user(2, "active")], 1, 1))),
    );
    answer(
        &mut app,
        &older,
        Ok(Response::Users(page(vec![user(1, "active")], 1, 1))),
    );
    let shown = app.screens.users.list.ready().map(|p| p.users.clone());
    assert_eq!(shown, Some(vec![user(2, "active")]));
    assert_eq!(app.pending, 0);

    let status = app.status.clone();
    answer(&mut app, &older, Err(down("late")));
    assert_eq!(app.status, status, "a stale error says nothing");
    assert!(app.screens.users.list.ready().is_some());
}

/// A change is answered even when a newer load of its pane went out meanwhile: its error
/// shows, and the list it did not load stays as it is.
#[test]
fn a_failed_change_is_reported_after_a_newer_load() {
    let mut app = signed_in();
    app.screen = Screen::Users;
    app.screens.users.list.data = Loadable::Ready(page(vec![user(1, "active")], 1, 1));
    app.update(key(KeyCode::Char('s')));
    let change = app.update(key(KeyCode::Char('y')));
    assert!(matches!(
        sent(change.clone()),
        Some(Request::UpdateUser { .. })
    ));
    let reload = app.update(key(KeyCode::Char('r')));

    answer(&mut app, &change, Err(down("cannot suspend")));
    assert!(
        app.status
            .as_ref()
            .is_some_and(|(m, err)| *err && m.contains("cannot suspend"))
    );
    assert!(app.screens.users.list.ready().is_some());
    answer(
        &mut app,
        &reload,
        Ok(Response::Users(page(vec![user(1, "active")], 1, 1))),
    );
    assert_eq!(app.pending, 0);
}
