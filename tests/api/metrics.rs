//! `/metrics` after a scripted workload: valid exposition format (parsed by an independent
//! parser) with counters that match what was done.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sigil_tests::TestApp;

fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn metrics_count_the_workload() {
    let app = TestApp::spawn().await;
    let (user, first) = app.signed_in_user().await; // 1 registration, 1 login
    app.login_ok(&user).await; // 2nd login
    app.post(
        "/v1/auth/login",
        json!({"username": user.username, "password": "Wrong-Password-1!"}),
    )
    .await;
    app.refresh(&first.refresh).await;
    app.get("/no/such/page", None).await;
    // Made-up methods share one label value, so they cannot grow the metric set.
    for made_up in ["BREW", "PROPFIND2", "X-ANYTHING"] {
        let method = Method::from_bytes(made_up.as_bytes()).unwrap();
        app.client
            .request(method, app.url("/health"))
            .send()
            .await
            .unwrap();
    }
    let sessions = app.get("/v1/users/me/sessions", Some(&first.access)).await;
    let sid = sessions.data()[0]["id"].as_str().unwrap().to_owned();
    app.request(
        Method::DELETE,
        &format!("/v1/users/me/sessions/{sid}-nope"),
        Some(&first.access),
        None,
    )
    .await;

    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();

    assert_eq!(
        value(&scrape, "sigil_logins_total", &[("result", "success")]),
        2.0
    );
    assert_eq!(
        value(&scrape, "sigil_logins_total", &[("result", "failure")]),
        1.0
    );
    assert_eq!(
        value(
            &scrape,
            "sigil_tokens_issued_total",
            &[("grant", "password")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &scrape,
            "sigil_tokens_issued_total",
            &[("grant", "refresh_token")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &scrape,
            "sigil_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/v1/auth/login"),
                ("status", "200")
            ]
        ),
        2.0
    );
    assert_eq!(
        value(
            &scrape,
            "sigil_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    assert!(!text.contains("BREW") && !text.contains("X-ANYTHING"));
    assert_eq!(
        value(&scrape, "sigil_http_requests_total", &[("method", "OTHER")]),
        3.0
    );
    // Templates, not raw paths: the session id never becomes a label value.
    // (prometheus-parse mangles braces inside label values, so this one is read as text.)
    assert!(text.contains(
        r#"sigil_http_requests_total{method="DELETE",route="/v1/users/me/sessions/{id}",status="404"} 1"#
    ));
    assert!(!text.contains(&sid));
    assert!(
        value(
            &scrape,
            "sigil_http_request_duration_seconds_count",
            &[("route", "/v1/auth/login")]
        ) >= 3.0
    );
    assert!(value(&scrape, "sigil_password_hash_duration_seconds_count", &[]) >= 4.0);
    assert!(
        value(&scrape, "sigil_store_operation_duration_seconds_count", &[]) > 0.0
            || text.contains("sigil_store_operation_duration_seconds")
    );
    assert!(
        text.contains("process_cpu_seconds_total"),
        "process metrics"
    );
    assert!(text.contains("# TYPE sigil_http_request_duration_seconds histogram"));
}

#[tokio::test]
async fn metrics_listener_of_their_own_takes_them_off_the_public_one() {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], sigil_tests::services::free_port()));
    let app = TestApp::spawn_with(|c| c.metrics_listen = Some(addr)).await;
    let (_, tokens) = app.signed_in_user().await;
    app.get("/metrics", None)
        .await
        .assert_error(404, "NOT_FOUND");

    let response = app
        .client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    assert_eq!(
        value(&scrape, "sigil_logins_total", &[("result", "success")]),
        1.0
    );

    // Nothing but metrics there: the API stays on the public listener.
    let api = app
        .client
        .get(format!("http://{addr}/v1/users/me"))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap();
    sigil_tests::read(api).await.assert_error(404, "NOT_FOUND");
}
