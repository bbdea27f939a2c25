//! The CPU profiler on its own listener: a profile taken under load decodes with an
//! independent pprof reader (npm `pprof-format`) and shows Sigil's own functions; the public
//! listener does not serve it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sigil_tests::services::free_port;
use sigil_tests::{TestApp, backend::program, read};

const DECODE: &str = r#"
const { Profile } = require('pprof-format');
const raw = require('zlib').gunzipSync(require('fs').readFileSync(process.argv[1]));
const p = Profile.decode(raw);
const str = (i) => p.stringTable.strings[Number(i)];
console.log(JSON.stringify({
  sampleTypes: p.sampleType.map((t) => str(t.type)),
  samples: p.sample.reduce((n, s) => n + Number(s.value[0]), 0),
  functions: p.function.map((f) => str(f.name)),
}));
"#;

fn decode(profile: &[u8]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("profile.pb.gz");
    std::fs::write(&file, profile).unwrap();
    let output = std::process::Command::new(program("SIGIL_TEST_NODE"))
        .env("NODE_PATH", program("SIGIL_TEST_NODE_PATH"))
        .args(["-e", DECODE])
        .arg(&file)
        .output()
        .expect("run node");
    assert!(
        output.status.success(),
        "pprof-format refused the profile: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("decoder output")
}

/// Failed logins until `stop`: each one parses, looks up and hashes.
fn keep_busy(app: &TestApp, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u32> {
    let client = app.client.clone();
    let url = app.url("/v1/auth/login");
    tokio::spawn(async move {
        let mut sent = 0;
        while !stop.load(Ordering::Relaxed) {
            let body = json!({"username": "nobody-here", "password": "Not-The-Password-1!"});
            let response = client.post(&url).json(&body).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            sent += 1;
        }
        sent
    })
}

#[tokio::test]
async fn cpu_profile_under_load_decodes_with_an_independent_reader() {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let app = TestApp::spawn_with(|c| c.pprof_listen = Some(addr)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..4).map(|_| keep_busy(&app, stop.clone())).collect();

    let response = app
        .client
        .get(format!("http://{addr}/debug/pprof/profile?seconds=2"))
        .send()
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut sent = 0;
    for task in load {
        sent += task.await.unwrap();
    }
    assert!(sent > 0);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    let profile = response.bytes().await.unwrap();

    let decoded = decode(&profile);
    assert_eq!(
        decoded["sampleTypes"],
        json!(["samples", "cpu"]),
        "{decoded}"
    );
    assert!(decoded["samples"].as_u64().unwrap() > 0, "{decoded}");
    let functions: Vec<&str> = decoded["functions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        functions.iter().any(|f| f.contains("sigil_server")),
        "no Sigil function among {} sampled",
        functions.len()
    );
}

#[tokio::test]
async fn profiler_refuses_bad_windows_and_is_absent_from_the_public_listener() {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let app = TestApp::spawn_with(|c| c.pprof_listen = Some(addr)).await;
    for seconds in ["0", "301", "soon"] {
        let response = app
            .client
            .get(format!(
                "http://{addr}/debug/pprof/profile?seconds={seconds}"
            ))
            .send()
            .await
            .unwrap();
        read(response).await.assert_error(400, "VALIDATION_ERROR");
    }
    app.get("/debug/pprof/profile?seconds=1", None)
        .await
        .assert_error(404, "NOT_FOUND");
}
