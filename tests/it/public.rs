//! Health, readiness, unknown routes, body limits, panics, migrations.

use axum::routing::get;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{fresh_db, serve_args, Backend, TestApp};

async fn health_answers_ok(app: TestApp) {
    let (status, body) = app.get("/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "ok"}));
    let (status, body) = app.get("/ready", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["database"],
        if app.backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
}

async fn every_response_carries_a_request_id(app: TestApp) {
    let resp = app
        .client
        .get(format!("{}/health", app.url))
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(tollgate::id::ObjectId::is_valid(&id), "{id}");
    let resp = app
        .client
        .get(format!("{}/health", app.url))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["x-request-id"],
        "abc-123",
        "a caller's request id is kept"
    );
}

async fn unknown_routes_get_a_json_404(app: TestApp) {
    let (status, body) = app.get("/no/such/route", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["success"], false);
    assert_eq!(body["error"], "route_not_found");
    let (status, body) = app
        .request(reqwest::Method::DELETE, "/health", None, None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"], "method_not_allowed");
}

async fn oversized_bodies_get_413_and_change_nothing(app: TestApp) {
    let big = "x".repeat(70 * 1024);
    let (status, body) = app
        .post(
            "/auth/signup",
            None,
            json!({"email": "big@example.com", "password": big}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"], "payload_too_large");
    assert!(app
        .state
        .store
        .user_by_email("big@example.com")
        .await
        .unwrap()
        .is_none());
}

async fn malformed_json_gets_a_fastapi_422(app: TestApp) {
    let resp = app
        .client
        .post(format!("{}/auth/signup", app.url))
        .header("content-type", "application/json")
        .body(r#"{"email": "a@example.com", "#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = resp.json().await.unwrap();
    let item = &body["detail"][0];
    assert_eq!(item["type"], "json_invalid");
    assert_eq!(item["loc"][0], "body");
    assert!(item["loc"][1].is_u64());
    assert_eq!(item["msg"], "JSON decode error");

    let (status, body) = app
        .post("/auth/signup", None, json!(["not", "an", "object"]))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "model_attributes_type");
    assert_eq!(body["detail"][0]["loc"], json!(["body"]));

    let (status, body) = app
        .post("/auth/signup", None, json!({"email": 12, "password": true}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["detail"][0],
        json!({"loc": ["body", "email"], "msg": "Input should be a valid string", "type": "string_type", "input": 12})
    );
    assert_eq!(body["detail"][1]["loc"], json!(["body", "password"]));

    let (status, body) = app.post("/auth/signup", None, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["detail"][0],
        json!({"loc": ["body", "email"], "msg": "Field required", "type": "missing", "input": {}})
    );
    assert_eq!(body["detail"][1]["loc"], json!(["body", "password"]));
}

async fn responses_are_compressed_for_clients_that_ask(app: TestApp) {
    let user = app.new_user().await;
    let resp = app
        .client
        .get(format!("{}/credits/history", app.url))
        .bearer_auth(&user.token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "a gzip stream");
}

crate::on_both_backends!(
    health_answers_ok,
    responses_are_compressed_for_clients_that_ask,
    every_response_carries_a_request_id,
    unknown_routes_get_a_json_404,
    oversized_bodies_get_413_and_change_nothing,
    malformed_json_gets_a_fastapi_422,
);

#[tokio::test]
async fn a_panicking_handler_answers_500_with_a_request_id_and_no_internals() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let routes = axum::Router::new().route(
        "/boom",
        get(|| async {
            let v: Vec<u8> = Vec::new();
            // An out-of-bounds index: the kind of bug a handler can have.
            format!("{}", v[usize::MAX / 2 + v.len()])
        }),
    );
    let router = tollgate::http::with_middleware(routes, &app.state.settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let resp = reqwest::get(format!("http://{addr}/boom")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let header_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let text = resp.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"], "internal_error");
    assert_eq!(body["request_id"], header_id);
    assert!(
        !text.contains("index out of bounds") && !text.contains(".rs"),
        "{text}"
    );
}

#[tokio::test]
async fn two_nodes_migrating_one_postgres_database_at_once_both_start() {
    let Some(db) = fresh_db(Backend::Postgres).await else {
        return;
    };
    let args = db.args();
    let serve = serve_args();
    let (a, b) = tokio::join!(
        tollgate::startup::App::new(
            &args,
            &serve,
            "http://a".into(),
            std::sync::Arc::new(tollgate::clock::SystemClock)
        ),
        tollgate::startup::App::new(
            &args,
            &serve,
            "http://a".into(),
            std::sync::Arc::new(tollgate::clock::SystemClock)
        ),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    // Both nodes settled on the same signing key.
    assert_eq!(
        a.state.tokens.public_keys()[0].kid,
        b.state.tokens.public_keys()[0].kid
    );
    // Both create the demo account at once: exactly one exists.
    let (da, db_) = tokio::join!(a.ensure_demo(), b.ensure_demo());
    assert_eq!(
        da.unwrap().is_some() as u8 + db_.unwrap().is_some() as u8,
        1
    );
    assert_eq!(a.state.store.count_users().await.unwrap(), 1);
}

#[tokio::test]
async fn the_demo_account_has_credits_and_a_working_key_once() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let db = app.stop().await;
    let args = serve_args();
    let clock = std::sync::Arc::new(tollgate::clock::SystemClock);
    let node = tollgate::startup::App::new(&db.args(), &args, "http://x".into(), clock.clone())
        .await
        .unwrap();
    let demo = node
        .ensure_demo()
        .await
        .unwrap()
        .expect("an empty database gets a demo account");
    assert!(node.ensure_demo().await.unwrap().is_none(), "only once");
    let app = TestApp::start(db, args, Backend::Sqlite).await;
    let (status, body) = app.get("/credits/balance", Some(&demo.api_key)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["balance"], 10_000);
    // The demo workflows are ready to trigger with the demo key.
    let (_, list) = app.get("/workflows", Some(&demo.api_key)).await;
    let workflows = list["data"]["workflows"].as_array().unwrap();
    assert!(workflows.len() >= 2);
    assert!(workflows
        .iter()
        .all(|w| w["visibility"] == "public" && w["enabled_on_budget"] == true));
    let calc = workflows
        .iter()
        .find(|w| w["name"] == "Calculator")
        .unwrap();
    let trigger = format!(
        "/api/agent-webhooks/{}/trigger",
        calc["workflow_id"].as_str().unwrap()
    );
    let (status, body) = app
        .post(
            &trigger,
            Some(&demo.api_key),
            json!({"prompt": "2 * (3 + 4)"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let status_url = body["data"]["status_url"].as_str().unwrap().to_string();
    let mut run = Value::Null;
    for _ in 0..200 {
        run = app
            .client
            .get(&status_url)
            .bearer_auth(&demo.api_key)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        if run["data"]["run"]["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        run["data"]["run"]["response_text"], "2 * (3 + 4) = 14",
        "{run}"
    );
    let token = app.login(&demo.email, &demo.password).await;
    assert_eq!(
        app.get("/credits/balance", Some(&token)).await.0,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_purchases_and_the_queue() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    app.grant(&admin, &user, 50, None).await;
    let scrape = || async {
        let resp = app
            .client
            .get(format!("{}/metrics", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        resp.text().await.unwrap()
    };
    // The recorder is shared by every server in this process: compare deltas.
    let value = |text: &str, name: &str, labels: &[&str]| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name) && labels.iter().all(|lab| l.contains(lab)))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum()
    };
    let before = scrape().await;
    // Twice: the first purchase of a product registers its counters, later
    // ones add to the counters kept.
    for _ in 0..2 {
        let (status, _) = app
            .post("/products/purchase", Some(&user.token), json!({"product_id": "calculator", "parameters": {"action": "evaluate", "expression": "1+1"}}))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let after = scrape().await;
    let purchases = |t: &str| {
        value(
            t,
            "tollgate_purchases_total",
            &["product=\"calculator\"", "outcome=\"succeeded\""],
        )
    };
    assert_eq!(purchases(&after) - purchases(&before), 2.0, "{after}");
    let spent = |t: &str| {
        value(
            t,
            "tollgate_credits_spent_total",
            &["product=\"calculator\""],
        )
    };
    assert!(spent(&after) - spent(&before) >= 2.0);
    let requests = |t: &str| {
        value(
            t,
            "tollgate_http_requests_total",
            &["route=\"/products/purchase\"", "status=\"200\""],
        )
    };
    assert!(requests(&after) - requests(&before) >= 2.0);
    assert!(after.contains("tollgate_http_request_duration_seconds_bucket"));
    // A client may send any token as a method: each is counted as `other`,
    // and none becomes a series of its own.
    for method in ["BREWCOFFEE", "X-PROBE-1", "X-PROBE-2"] {
        let resp = app
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}/credits/balance", app.url),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    let probed = scrape().await;
    assert!(
        !probed.contains("BREWCOFFEE") && !probed.contains("X-PROBE"),
        "{probed}"
    );
    let others = |t: &str| {
        value(
            t,
            "tollgate_http_requests_total",
            &[
                "method=\"other\"",
                "route=\"/credits/balance\"",
                "status=\"405\"",
            ],
        )
    };
    assert!(others(&probed) - others(&after) >= 3.0, "{probed}");
    assert!(after.contains("tollgate_runs_queued"));
    assert!(after.contains("tollgate_callbacks_pending"));
    assert!(after.contains("tollgate_ledger_batches_total"));
    assert!(after.contains("tollgate_ledger_commands_total"));
}
