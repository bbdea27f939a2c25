use reqwest::StatusCode;
use serde_json::json;
use sigil_tests::process::SigilProcess;
use sigil_tests::{TestApp, TestUser, read};

/// Stop the server, start it again on the same data directory: the user, the signing key and
/// the sessions are all still there.
#[tokio::test]
async fn restart_keeps_users_keys_and_sessions() {
    let app = TestApp::spawn().await;
    let (user, tokens) = app.signed_in_user().await;
    let jwks_before = app.get("/.well-known/jwks.json", None).await.body;
    let app = app.restart().await;
    assert_eq!(
        app.get("/.well-known/jwks.json", None).await.body,
        jwks_before
    );
    assert_eq!(app.me(&tokens.access).await.status, StatusCode::OK);
    assert_eq!(app.refresh(&tokens.refresh).await.status, StatusCode::OK);
    app.login_ok(&user).await;
}

/// `kill -9` right after a 201: the acknowledged registration survives.
#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let sigil = SigilProcess::start(dir.path()).await;
    let client = sigil_tests::client();
    let users: Vec<TestUser> = (0..3).map(|_| TestUser::random()).collect();
    for user in &users {
        let reply = read(
            client
                .post(format!("{}/v1/auth/register", sigil.base))
                .json(&user.registration())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    sigil.kill_hard().await;

    let sigil = SigilProcess::start(dir.path()).await;
    for user in &users {
        let reply = read(
            client
                .post(format!("{}/v1/auth/login", sigil.base))
                .json(&json!({"email": user.email, "password": user.password}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let status = sigil.terminate().await;
    assert!(
        status.success(),
        "SIGTERM must end sigil with status 0, got {status}"
    );
}

/// `sigil ARGS` on the data directory, with a clean environment and JSON logs.
fn sigil_cli(dir: &std::path::Path, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(sigil_tests::sigil_binary());
    command
        .env_clear()
        .env("SIGIL_DATA_DIR", dir)
        .env("SIGIL_LOG_FORMAT", "json")
        .args(args);
    command
}

/// `sigil clients create` registers a client in the store that a server then accepts.
#[tokio::test]
async fn cli_creates_clients() {
    let dir = tempfile::tempdir().unwrap();
    let output = sigil_cli(
        dir.path(),
        &[
            "clients",
            "create",
            "--name",
            "Batch job",
            "--type",
            "confidential",
            "--grant-type",
            "client_credentials",
            "--scope",
            "email",
            "--require-pushed-requests",
        ],
    )
    .output()
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["requirePushedAuthorizationRequests"], true);
    let id = created["clientId"].as_str().unwrap().to_owned();
    let secret = created["clientSecret"].as_str().unwrap().to_owned();

    let bad = sigil_cli(
        dir.path(),
        &[
            "clients",
            "create",
            "--name",
            "x",
            "--redirect-uri",
            "http://evil.example.com/cb",
        ],
    )
    .output()
    .await
    .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("redirectUris"));

    let sigil = SigilProcess::start(dir.path()).await;
    let response = sigil_tests::client()
        .post(format!("{}/oauth2/token", sigil.base))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    sigil.terminate().await;
}

/// `sigil resources create` registers an API resource that a server then issues tokens for.
#[tokio::test]
async fn cli_creates_resources() {
    let dir = tempfile::tempdir().unwrap();
    let output = sigil_cli(
        dir.path(),
        &[
            "resources",
            "create",
            "--identifier",
            "https://reports.example.com",
            "--name",
            "Reports",
            "--scope",
            "reports:read",
        ],
    )
    .output()
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["scopes"], serde_json::json!(["reports:read"]));
    let bad = sigil_cli(
        dir.path(),
        &[
            "resources",
            "create",
            "--identifier",
            "reports",
            "--name",
            "x",
        ],
    )
    .output()
    .await
    .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("identifier"));
    let client = sigil_cli(
        dir.path(),
        &[
            "clients",
            "create",
            "--name",
            "Reporter",
            "--grant-type",
            "client_credentials",
            "--scope",
            "email",
        ],
    )
    .output()
    .await
    .unwrap();
    let client: serde_json::Value = serde_json::from_slice(&client.stdout).unwrap();

    let sigil = SigilProcess::start(dir.path()).await;
    let response = sigil_tests::client()
        .post(format!("{}/oauth2/token", sigil.base))
        .basic_auth(
            client["clientId"].as_str().unwrap(),
            client["clientSecret"].as_str(),
        )
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", "https://reports.example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    let claims = sigil_tests::oauth::claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["aud"],
        serde_json::json!("https://reports.example.com")
    );
    sigil.terminate().await;
}

async fn create_admin(
    dir: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(sigil_tests::sigil_binary())
        .env_clear()
        .env("SIGIL_DATA_DIR", dir)
        .args(["users", "create-admin"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    child.wait_with_output().await.unwrap()
}

async fn login(base: &str, login: &str, password: &str) -> sigil_tests::Reply {
    read(
        sigil_tests::client()
            .post(format!("{base}/v1/auth/login"))
            .json(&json!({"username": login, "password": password}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// `sigil users create-admin` before the first start: the admins it creates can sign in and
/// use the admin API, and start-up then creates no bootstrap admin of its own.
#[tokio::test]
async fn cli_creates_admins() {
    let dir = tempfile::tempdir().unwrap();
    let chosen = "Correct-Horse-Battery-9!";
    let output = create_admin(
        dir.path(),
        &[
            "--email",
            "ops@example.com",
            "--username",
            "ops",
            "--password-stdin",
        ],
        Some(&format!("{chosen}\n")),
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        !stderr.contains(chosen),
        "the chosen password is never echoed"
    );
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["roles"], json!(["admin"]));

    let again = create_admin(
        dir.path(),
        &[
            "--email",
            "other@example.com",
            "--username",
            "OPS",
            "--password-stdin",
        ],
        Some(chosen),
    )
    .await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("sername"));

    let weak = create_admin(
        dir.path(),
        &[
            "--email",
            "weak@example.com",
            "--username",
            "weak",
            "--password-stdin",
        ],
        Some("password"),
    )
    .await;
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password"));

    let generated = create_admin(
        dir.path(),
        &["--email", "second@example.com", "--username", "second"],
        None,
    )
    .await;
    let stderr = String::from_utf8_lossy(&generated.stderr).into_owned();
    assert!(generated.status.success(), "{stderr}");
    let second_password = stderr
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("the generated password on stderr")
        .to_owned();

    let rotated = sigil_cli(dir.path(), &["keys", "rotate"])
        .output()
        .await
        .unwrap();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );

    let sigil = SigilProcess::start(dir.path()).await;
    let reply = login(&sigil.base, "ops", chosen).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let access = reply.data()["accessToken"].as_str().unwrap().to_owned();
    let users = read(
        sigil_tests::client()
            .get(format!("{}/v1/admin/users", sigil.base))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(users.status, StatusCode::OK, "{}", users.body);
    // ops and second only: no bootstrap admin was added on top.
    assert_eq!(
        users.body["data"]["pagination"]["total"],
        json!(2),
        "{}",
        users.body
    );
    let reply = login(&sigil.base, "second", &second_password).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // The command line's changes are audited like the admin API's.
    for (action, count) in [("admin.user.created", 2), ("admin.keys.rotated", 1)] {
        let page = read(
            sigil_tests::client()
                .get(format!("{}/v1/admin/audit?type={action}", sigil.base))
                .bearer_auth(&access)
                .send()
                .await
                .unwrap(),
        )
        .await;
        let events = page.data()["events"].as_array().unwrap().clone();
        assert_eq!(events.len(), count, "{action}: {}", page.body);
        assert!(events.iter().all(|e| e["user_agent"] == json!("sigil-cli")));
    }
    sigil.terminate().await;
}

/// SIGTERM while requests are in flight: every accepted request completes, new connections
/// are refused, and the process exits 0.
#[tokio::test]
async fn sigterm_drains_in_flight_requests() {
    let dir = tempfile::tempdir().unwrap();
    // Full-cost argon2 so that logins queue up behind the hashing pool.
    let sigil = SigilProcess::start_with(
        dir.path(),
        &[
            ("SIGIL_ARGON2_MEMORY_KIB", "19456"),
            ("SIGIL_ARGON2_ITERATIONS", "2"),
            ("SIGIL_HASH_WORKERS", "1"),
        ],
    )
    .await;
    let client = sigil_tests::client();
    let user = TestUser::random();
    let reply = read(
        client
            .post(format!("{}/v1/auth/register", sigil.base))
            .json(&user.registration())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);

    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    let first_tx = std::sync::Arc::new(std::sync::Mutex::new(Some(first_tx)));
    let mut flights = Vec::new();
    for _ in 0..12 {
        let (client, base, user, first_tx) = (
            client.clone(),
            sigil.base.clone(),
            user.clone(),
            first_tx.clone(),
        );
        flights.push(tokio::spawn(async move {
            let result = client
                .post(format!("{base}/v1/auth/login"))
                .json(&json!({"username": user.username, "password": user.password}))
                .send()
                .await;
            if let Some(tx) = first_tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
            match result {
                Ok(response) => Ok(response.status()),
                Err(e) => Err(e.is_connect()),
            }
        }));
    }
    first_rx.await.unwrap();
    let exit = sigil.terminate().await;
    let mut completed = 0;
    for flight in flights {
        match flight.await.unwrap() {
            Ok(status) => {
                assert_eq!(
                    status,
                    StatusCode::OK,
                    "an accepted request failed during shutdown"
                );
                completed += 1;
            }
            Err(connect_refused) => assert!(connect_refused, "a request was cut off mid-flight"),
        }
    }
    assert!(completed >= 1);
    assert!(exit.success(), "exit status {exit}");
}

/// A mail queued while the SMTP server is down survives `kill -9` and goes out after the
/// restart, with a link that still works. On the MongoDB + Redis pass the queue is MongoDB's.
#[tokio::test]
async fn queued_mail_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let store_env = match sigil_tests::backend::TestBackend::from_env() {
        sigil_tests::backend::TestBackend::Embedded => Vec::new(),
        sigil_tests::backend::TestBackend::MongoRedis => sigil_tests::backend::replica_env(),
    };
    let env_with = |smtp: String| {
        let mut env: Vec<(&str, String)> = store_env.clone();
        env.push(("SIGIL_SMTP_URL", smtp));
        env
    };
    let nowhere = env_with(format!(
        "smtp://127.0.0.1:{}",
        sigil_tests::services::free_port()
    ));
    let mut sigil = SigilProcess::start_with(dir.path(), &nowhere).await;
    let user = TestUser::random();
    sigil.register(&user).await;
    // The first attempt failed and the retry is a second away: the mail is only in the store.
    sigil.wait_for_log("mail delivery failed; retrying").await;
    sigil.kill_hard().await;

    let sink = sigil_tests::services::SmtpSink::start().await;
    let sink_env = env_with(sink.url());
    let sigil = SigilProcess::start_with(dir.path(), &sink_env).await;
    let mails = sink.wait_for(&user.email, "Confirm your email", 1).await;
    assert!(
        mails[0]
            .header("Message-ID")
            .is_some_and(|id| id.starts_with('<')),
        "the mail carries its queue id as Message-ID"
    );
    let token = mails[0]
        .link_token("/verify-email")
        .expect("link in the mail");
    let reply = read(
        sigil_tests::client()
            .post(format!("{}/v1/auth/verify-email", sigil.base))
            .json(&json!({"token": token}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    sigil.terminate().await;
}
