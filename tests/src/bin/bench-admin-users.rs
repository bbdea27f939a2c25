//! Load script: how fast `GET /v1/admin/users` answers over a large user base.
//!
//! Seeds `--users N` users straight into the store (no password hashing: that is not what is
//! measured), then times each typical admin query over real HTTP and prints the median and
//! 95th percentile. The backend is the one `SIGIL_TEST_BACKEND` selects, as in the tests;
//! `scripts/bench-admin-users.sh` starts the services and runs this on MongoDB + Redis.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::Method;
use sigil_server::domain::{Role, UserRecord, UserStatus};
use sigil_tests::TestApp;

const ROUNDS: usize = 15;

fn user(i: usize, now: time::OffsetDateTime) -> UserRecord {
    let mut user = sigil_tests::user_record(
        &format!("user_{i:06}"),
        now + Duration::from_millis(i as u64),
    );
    // One in ten suspended, one in fifty moderators: filters that select a minority.
    if i.is_multiple_of(10) {
        user.status = UserStatus::Suspended;
    }
    if i.is_multiple_of(50) {
        user.roles = vec![Role::Moderator];
    }
    user
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn users_arg() -> usize {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--users") {
        Some(i) => args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("--users takes a number")),
        None => 100_000,
    }
}

#[tokio::main]
async fn main() {
    let count = users_arg();
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let now = app.state.clock.now();

    let started = Instant::now();
    let users = &app.state.stores.users;
    futures::stream::iter(0..count)
        .map(|i| async move { users.insert_user(&user(i, now)).await })
        .buffer_unordered(32)
        .for_each(|inserted| async move { inserted.expect("insert user") })
        .await;
    println!(
        "seeded {count} users in {:.1} s on {}",
        started.elapsed().as_secs_f64(),
        app.state.stores.description
    );

    let last_page = count / 20;
    let queries = [
        "page=1&limit=20".to_owned(),
        format!("page={last_page}&limit=20"),
        "limit=100&sort=-createdAt".to_owned(),
        "status=suspended&limit=20".to_owned(),
        "role=moderator&limit=20".to_owned(),
        "search=user_0001&limit=20".to_owned(),
        "search=4217&limit=20".to_owned(),
        "search=USER_000&status=active&limit=20".to_owned(),
    ];
    println!(
        "{:<45} {:>10} {:>10} {:>8}",
        "query", "p50 ms", "p95 ms", "total"
    );
    for query in &queries {
        let path = format!("/v1/admin/users?{query}");
        let mut times = Vec::with_capacity(ROUNDS);
        let mut total = serde_json::Value::Null;
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let reply = app.request(Method::GET, &path, Some(&admin), None).await;
            times.push(started.elapsed());
            assert_eq!(reply.status.as_u16(), 200, "{query}: {}", reply.body);
            total = reply.body["data"]["pagination"]["total"].clone();
        }
        times.sort();
        println!(
            "{:<45} {:>10.1} {:>10.1} {:>8}",
            query,
            percentile(&times, 0.5).as_secs_f64() * 1000.0,
            percentile(&times, 0.95).as_secs_f64() * 1000.0,
            total
        );
    }
    app.stop().await;
}
