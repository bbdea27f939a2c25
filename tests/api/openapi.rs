//! `/openapi.json` is a valid OpenAPI document (checked by an independent validator), it
//! documents every `/v1` operation of SPEC section 3, and what it says matches what the server
//! does: every documented operation is routed, and the ones it marks as needing a bearer token
//! refuse a request without one.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_tests::{TestApp, backend::program};

const V1_OPERATIONS: &[(&str, &str)] = &[
    ("POST", "/v1/auth/register"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/logout"),
    ("PUT", "/v1/auth/change-password"),
    ("POST", "/v1/auth/verify-email"),
    ("POST", "/v1/auth/resend-verification"),
    ("POST", "/v1/auth/forgot-password"),
    ("POST", "/v1/auth/reset-password"),
    ("POST", "/v1/auth/mfa/setup"),
    ("POST", "/v1/auth/mfa/verify"),
    ("POST", "/v1/auth/mfa/challenge"),
    ("POST", "/v1/auth/mfa/disable"),
    ("POST", "/v1/auth/mfa/backup-codes"),
    ("GET", "/v1/users/me"),
    ("PUT", "/v1/users/me"),
    ("DELETE", "/v1/users/me"),
    ("GET", "/v1/users/me/sessions"),
    ("DELETE", "/v1/users/me/sessions/{id}"),
    ("GET", "/v1/admin/users"),
    ("POST", "/v1/admin/users"),
    ("GET", "/v1/admin/users/{id}"),
    ("PUT", "/v1/admin/users/{id}"),
    ("DELETE", "/v1/admin/users/{id}"),
    ("POST", "/v1/admin/users/{id}/unlock"),
    ("POST", "/v1/admin/users/{id}/reset-mfa"),
    ("GET", "/v1/admin/users/{id}/sessions"),
    ("DELETE", "/v1/admin/users/{id}/sessions"),
    ("GET", "/v1/admin/audit"),
    ("GET", "/v1/admin/stats"),
    ("GET", "/v1/admin/keys"),
    ("POST", "/v1/admin/keys/rotate"),
    ("GET", "/v1/admin/clients"),
    ("POST", "/v1/admin/clients"),
    ("GET", "/v1/admin/clients/{id}"),
    ("PUT", "/v1/admin/clients/{id}"),
    ("DELETE", "/v1/admin/clients/{id}"),
    ("POST", "/v1/admin/clients/{id}/rotate-secret"),
    ("GET", "/v1/admin/resources"),
    ("POST", "/v1/admin/resources"),
    ("GET", "/v1/admin/resources/{id}"),
    ("PUT", "/v1/admin/resources/{id}"),
    ("DELETE", "/v1/admin/resources/{id}"),
];

async fn document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("openapi.json is JSON")
}

/// (method, path, needs bearer) for every documented operation.
fn operations(doc: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            let secured = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            out.push((method.to_uppercase(), path.clone(), secured));
        }
    }
    out
}

#[tokio::test]
async fn document_passes_an_independent_openapi_validator() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3."),
        "{}",
        doc["openapi"]
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let output = std::process::Command::new(program("SIGIL_TEST_PYTHON"))
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("run openapi_spec_validator");
    assert!(
        output.status.success(),
        "validator refused the document:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn every_v1_operation_is_documented_with_the_error_envelope() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .filter(|(_, path, _)| path.starts_with("/v1/"))
        .map(|(m, p, _)| (m, p))
        .collect();
    let expected: BTreeSet<(String, String)> = V1_OPERATIONS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, expected);

    let untyped: Vec<String> = operations(&doc)
        .into_iter()
        .filter(|(method, path, _)| {
            let responses = &doc["paths"][path][method.to_lowercase()]["responses"];
            ["200", "201"]
                .iter()
                .all(|status| responses[status]["content"]["application/json"]["schema"].is_null())
        })
        .map(|(method, path, _)| format!("{method} {path}"))
        .collect();
    assert!(untyped.is_empty(), "no success body schema: {untyped:?}");

    let register = &doc["paths"]["/v1/auth/register"]["post"];
    assert!(register["responses"]["201"].is_object(), "{register}");
    assert!(register["requestBody"]["content"]["application/json"].is_object());
    let unauthorized = &doc["paths"]["/v1/users/me"]["get"]["responses"]["401"]["content"]["application/json"]
        ["schema"]["$ref"];
    let name = unauthorized.as_str().expect("401 schema reference");
    let schema = &doc["components"]["schemas"][name.trim_start_matches("#/components/schemas/")];
    for field in ["success", "error", "timestamp", "requestId"] {
        assert!(schema["properties"][field].is_object(), "{field}: {schema}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        json!("bearer")
    );
}

#[tokio::test]
async fn documented_operations_are_routed_and_secured_as_documented() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    for (method, path, secured) in operations(&doc) {
        let concrete = path.replace("{id}", "00000000-0000-0000-0000-000000000000");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let reply = app
            .request(method.clone(), &concrete, None, Some(json!({})))
            .await;
        let status = reply.status.as_u16();
        assert!(
            reply.body["success"].is_boolean(),
            "{method} {path}: not the SPEC envelope: {}",
            reply.body
        );
        assert!(
            !matches!(status, 404 | 405) || !reply.code().is_empty() && reply.code() != "NOT_FOUND",
            "{method} {path} is documented but not routed: {status} {}",
            reply.body
        );
        assert!(status < 500, "{method} {path}: {status} {}", reply.body);
        if secured {
            assert_eq!(
                status, 401,
                "{method} {path} is documented as needing a bearer token: {}",
                reply.body
            );
        } else {
            assert_ne!(
                reply.code(),
                "MISSING_AUTH_HEADER",
                "{method} {path} needs a token the document does not mention"
            );
        }
    }
}

/// Validates `body` against the schema the document names for `(method, path, status)`, with
/// the `jsonschema` package (JSON Schema 2020-12, which OpenAPI 3.1 schemas are).
const VALIDATE: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
doc = json.load(open(sys.argv[1]))
body = json.load(open(sys.argv[2]))
registry = Registry().with_resource("urn:sigil", Resource(contents=doc, specification=DRAFT202012))
schema = {"$ref": "urn:sigil" + sys.argv[3]}
errors = [e.message for e in Draft202012Validator(schema, registry=registry).iter_errors(body)]
print("\n".join(errors))
sys.exit(1 if errors else 0)
"#;

/// The real answer fits the documented schema, and has no field the document does not name.
fn assert_documented(doc: &Value, method: &str, path: &str, status: &str, body: &Value) {
    let reference = doc["paths"][path][method]["responses"][status]["content"]["application/json"]
        ["schema"]["$ref"]
        .as_str()
        .unwrap_or_else(|| panic!("{method} {path} {status} has no documented body"))
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let (doc_file, body_file) = (dir.path().join("doc.json"), dir.path().join("body.json"));
    std::fs::write(&doc_file, serde_json::to_vec(doc).unwrap()).unwrap();
    std::fs::write(&body_file, serde_json::to_vec(body).unwrap()).unwrap();
    let output = std::process::Command::new(program("SIGIL_TEST_PYTHON"))
        .args(["-c", VALIDATE])
        .arg(&doc_file)
        .arg(&body_file)
        .arg(&reference)
        .output()
        .expect("run jsonschema");
    assert!(
        output.status.success(),
        "{method} {path} {status} does not fit {reference}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let schema = |reference: &str| {
        doc["components"]["schemas"][reference.trim_start_matches("#/components/schemas/")].clone()
    };
    let envelope = schema(&reference);
    let data_schema = &envelope["properties"]["data"];
    let (items, data_ref) = match data_schema["$ref"].as_str() {
        Some(one) => (vec![body["data"].clone()], one),
        None => match data_schema["items"]["$ref"].as_str() {
            Some(each) => (body["data"].as_array().cloned().unwrap_or_default(), each),
            None => return,
        },
    };
    // A flattened struct is an allOf of its parts.
    let documented = schema(data_ref);
    let mut parts = vec![documented.clone()];
    for part in documented["allOf"].as_array().into_iter().flatten() {
        parts.push(match part["$ref"].as_str() {
            Some(r) => schema(r),
            None => part.clone(),
        });
    }
    let known: Vec<&String> = parts
        .iter()
        .filter_map(|p| p["properties"].as_object())
        .flat_map(|p| p.keys())
        .collect();
    for item in &items {
        for key in item.as_object().expect("data object").keys() {
            assert!(
                known.contains(&key),
                "{method} {path} answers `{key}`, which {data_ref} does not document"
            );
        }
    }
}

#[tokio::test]
async fn success_bodies_fit_their_documented_schemas() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let user = sigil_tests::TestUser::random();
    let registered = app.register(&user).await;
    assert_eq!(registered.status, StatusCode::CREATED);
    assert_documented(&doc, "post", "/v1/auth/register", "201", &registered.body);
    let login = app.login(&user).await;
    assert_documented(&doc, "post", "/v1/auth/login", "200", &login.body);
    let tokens = sigil_tests::tokens(&login);
    let me = app.me(&tokens.access).await;
    assert_documented(&doc, "get", "/v1/users/me", "200", &me.body);
    let refreshed = app.refresh(&tokens.refresh).await;
    assert_documented(&doc, "post", "/v1/auth/refresh", "200", &refreshed.body);
    let forgot = app
        .post("/v1/auth/forgot-password", json!({"email": user.email}))
        .await;
    assert_documented(
        &doc,
        "post",
        "/v1/auth/forgot-password",
        "200",
        &forgot.body,
    );
    let sessions = app.get("/v1/users/me/sessions", Some(&tokens.access)).await;
    assert_documented(&doc, "get", "/v1/users/me/sessions", "200", &sessions.body);

    let admin = app.admin_token().await;
    let id = me.data()["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/admin/users/{id}");
    let as_admin = app.request(Method::GET, &path, Some(&admin), None).await;
    assert_documented(&doc, "get", "/v1/admin/users/{id}", "200", &as_admin.body);
    let client = app
        .request(
            Method::POST,
            "/v1/admin/clients",
            Some(&admin),
            Some(json!({"name": "Docs", "type": "confidential", "redirectUris": ["https://app.example.com/cb"]})),
        )
        .await;
    assert_eq!(client.status, StatusCode::CREATED, "{}", client.body);
    assert_documented(&doc, "post", "/v1/admin/clients", "201", &client.body);
    let clients = app
        .request(Method::GET, "/v1/admin/clients", Some(&admin), None)
        .await;
    assert_documented(&doc, "get", "/v1/admin/clients", "200", &clients.body);
    let resource = app
        .request(
            Method::POST,
            "/v1/admin/resources",
            Some(&admin),
            Some(json!({"identifier": "https://orders.example.com", "name": "Orders", "scopes": ["orders:read"]})),
        )
        .await;
    assert_eq!(resource.status, StatusCode::CREATED, "{}", resource.body);
    assert_documented(&doc, "post", "/v1/admin/resources", "201", &resource.body);
    let resources = app
        .request(Method::GET, "/v1/admin/resources", Some(&admin), None)
        .await;
    assert_documented(&doc, "get", "/v1/admin/resources", "200", &resources.body);
    for path in [
        "/v1/admin/users",
        "/v1/admin/audit",
        "/v1/admin/stats",
        "/v1/admin/keys",
    ] {
        let reply = app.request(Method::GET, path, Some(&admin), None).await;
        assert_documented(&doc, "get", path, "200", &reply.body);
    }
    let sessions_path = format!("/v1/admin/users/{id}/sessions");
    let listed = app
        .request(Method::GET, &sessions_path, Some(&admin), None)
        .await;
    assert_documented(
        &doc,
        "get",
        "/v1/admin/users/{id}/sessions",
        "200",
        &listed.body,
    );
    let setup = app
        .request(
            Method::POST,
            "/v1/auth/mfa/setup",
            Some(&tokens.access),
            None,
        )
        .await;
    assert_documented(&doc, "post", "/v1/auth/mfa/setup", "200", &setup.body);
    let revoked = app
        .request(Method::DELETE, &sessions_path, Some(&admin), None)
        .await;
    assert_documented(
        &doc,
        "delete",
        "/v1/admin/users/{id}/sessions",
        "200",
        &revoked.body,
    );
}

/// Swagger UI renders the document in a real browser, under Sigil's Content-Security-Policy.
#[tokio::test]
async fn swagger_ui_renders_the_operations_in_chromium() {
    let app = TestApp::spawn().await;
    let chrome = crate::browser_login::chrome().await;
    let b = &chrome.client;
    b.goto(&app.url("/swagger-ui/")).await.unwrap();
    b.wait()
        .at_most(std::time::Duration::from_secs(30))
        .for_element(fantoccini::Locator::Css(".opblock-summary-path"))
        .await
        .expect("Swagger UI rendered no operation");
    let paths = b
        .find_all(fantoccini::Locator::Css(".opblock-summary-path"))
        .await
        .unwrap();
    let mut shown = BTreeSet::new();
    for path in paths {
        shown.insert(path.text().await.unwrap().replace('\u{200b}', ""));
    }
    for (_, path) in V1_OPERATIONS {
        assert!(shown.contains(*path), "{path} not shown; shown: {shown:?}");
    }
    chrome.client.close().await.unwrap();
}

/// `SIGIL_SWAGGER_UI=false` removes the page (and its inline scripts); the document stays.
#[tokio::test]
async fn swagger_ui_can_be_switched_off() {
    let app = TestApp::spawn_with(|c| c.swagger_ui = false).await;
    let page = app
        .client
        .get(app.url("/swagger-ui/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert_eq!(document(&app).await["info"]["title"], json!("Sigil"));
}

/// The request body schema of an operation, with `$ref` resolved.
fn request_schema<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let schema =
        &doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"];
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// What the document says registration accepts is what the server accepts: the required
/// fields, and the length bounds of the username and the password, at and just past each
/// bound (so that generated clients and schemathesis exercise the handler, not its refusals).
#[tokio::test]
async fn registration_constraints_in_the_document_are_the_servers() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let schema = request_schema(&doc, "post", "/v1/auth/register");
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .expect("required fields")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, BTreeSet::from(["email", "username", "password"]));
    for field in &required {
        let mut body = sigil_tests::TestUser::random().registration();
        body.as_object_mut().unwrap().remove(*field);
        let reply = app.post("/v1/auth/register", body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "without {field}: {}",
            reply.body
        );
    }

    let bound = |field: &str, key: &str| {
        schema["properties"][field][key]
            .as_u64()
            .unwrap_or_else(|| panic!("{field}.{key} documented")) as usize
    };
    let user = |username: String, password: String| {
        let mut body = sigil_tests::TestUser::random().registration();
        body["username"] = json!(username);
        body["password"] = json!(password);
        body
    };
    let strong = |len: usize| {
        "Vq7#kL2!xZ9@mW4$pR8&tY3^bN6*"
            .chars()
            .cycle()
            .take(len)
            .collect::<String>()
    };
    let short = strong(bound("password", "minLength"));
    for (username, password, accepted) in [
        (
            "a".repeat(bound("username", "maxLength")),
            short.clone(),
            true,
        ),
        (
            "a".repeat(bound("username", "maxLength") + 1),
            short.clone(),
            false,
        ),
        (
            "a".repeat(bound("username", "minLength")),
            short.clone(),
            true,
        ),
        (
            "a".repeat(bound("username", "minLength") - 1),
            short.clone(),
            false,
        ),
        (
            format!("u{}", uuid::Uuid::new_v4().simple()),
            strong(bound("password", "maxLength") + 1),
            false,
        ),
        (
            format!("u{}", uuid::Uuid::new_v4().simple()),
            strong(bound("password", "minLength") - 1),
            false,
        ),
    ] {
        let reply = app
            .post(
                "/v1/auth/register",
                user(username.clone(), password.clone()),
            )
            .await;
        let expected = if accepted {
            StatusCode::CREATED
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(
            reply.status,
            expected,
            "username of {} and password of {} characters: {}",
            username.len(),
            password.len(),
            reply.body
        );
    }
}
