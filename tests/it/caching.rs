//! Keys, budgets and enabled products are cached per node; a change must
//! take effect on the node that made it at once, and on every other node
//! within the bound the README states (one second).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{Backend, TestApp, TestUser};

const CALC: &str = "calculator";

fn calc() -> Value {
    json!({"product_id": CALC, "parameters": {"action": "evaluate", "expression": "1 + 1"}})
}

async fn funded_user_with_key(app: &TestApp) -> (TestUser, String, String) {
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    app.grant(&admin, &user, 1_000, None).await;
    let (status, body) = app
        .post(
            &format!("/budgets/{}/api-keys", user.budget_id),
            Some(&user.token),
            json!({"name": "agent"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (
        user,
        body["data"]["key"].as_str().unwrap().to_string(),
        body["data"]["id"].as_str().unwrap().to_string(),
    )
}

/// Polls `node` with `key` until a purchase answers `want`; the time it took.
async fn until_status(node: &TestApp, key: &str, want: StatusCode) -> Duration {
    let started = Instant::now();
    loop {
        let (status, _) = node.post("/products/purchase", Some(key), calc()).await;
        if status == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still {status} after 5 s, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn changes_take_effect_at_once_on_the_node_that_made_them(app: TestApp) {
    let (user, key, key_id) = funded_user_with_key(&app).await;
    // Warm the caches.
    assert_eq!(
        app.post("/products/purchase", Some(&key), calc()).await.0,
        StatusCode::OK
    );
    let calculator = app.state.catalog.snapshot().resolve(CALC).unwrap().0.row.id;

    let path = format!("/budgets/{}/products/{calculator}", user.budget_id);
    app.request(Method::DELETE, &path, Some(&user.token), None)
        .await;
    let (status, body) = app.post("/products/purchase", Some(&key), calc()).await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::FORBIDDEN, json!("product_not_on_budget"))
    );
    app.request(Method::PUT, &path, Some(&user.token), None)
        .await;
    assert_eq!(
        app.post("/products/purchase", Some(&key), calc()).await.0,
        StatusCode::OK
    );

    let budget = format!("/budgets/{}", user.budget_id);
    app.request(
        Method::PATCH,
        &budget,
        Some(&user.token),
        Some(json!({"status": "paused"})),
    )
    .await;
    let (status, body) = app.post("/products/purchase", Some(&key), calc()).await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::FORBIDDEN, json!("budget_paused"))
    );
    app.request(
        Method::PATCH,
        &budget,
        Some(&user.token),
        Some(json!({"status": "active"})),
    )
    .await;
    assert_eq!(
        app.post("/products/purchase", Some(&key), calc()).await.0,
        StatusCode::OK
    );

    let (status, _) = app
        .request(
            Method::DELETE,
            &format!("/budgets/{}/api-keys/{key_id}", user.budget_id),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.post("/products/purchase", Some(&key), calc()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/credits/balance", Some(&key)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

crate::on_both_backends!(changes_take_effect_at_once_on_the_node_that_made_them);

/// Two nodes on one PostgreSQL: what one node changes, the other honours
/// within a second, although it had the old rows cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_node_takes_effect_on_another_within_a_second() {
    let Some(a) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let b = TestApp::start(
        a.db.share(),
        crate::harness::serve_args(),
        Backend::Postgres,
    )
    .await;
    let bound = Duration::from_millis(1_000);

    // A disabled product.
    let (user, key, key_id) = funded_user_with_key(&a).await;
    assert_eq!(
        b.post("/products/purchase", Some(&key), calc()).await.0,
        StatusCode::OK
    );
    let calculator = a.state.catalog.snapshot().resolve(CALC).unwrap().0.row.id;
    a.request(
        Method::DELETE,
        &format!("/budgets/{}/products/{calculator}", user.budget_id),
        Some(&user.token),
        None,
    )
    .await;
    let took = until_status(&b, &key, StatusCode::FORBIDDEN).await;
    assert!(took <= bound, "a disabled product still sold for {took:?}");
    a.request(
        Method::PUT,
        &format!("/budgets/{}/products/{calculator}", user.budget_id),
        Some(&user.token),
        None,
    )
    .await;
    until_status(&b, &key, StatusCode::OK).await;

    // A paused budget.
    a.request(
        Method::PATCH,
        &format!("/budgets/{}", user.budget_id),
        Some(&user.token),
        Some(json!({"status": "paused"})),
    )
    .await;
    let took = until_status(&b, &key, StatusCode::FORBIDDEN).await;
    assert!(took <= bound, "a paused budget still bought for {took:?}");
    let (_, body) = b.post("/products/purchase", Some(&key), calc()).await;
    assert_eq!(body["error"], "budget_paused");
    a.request(
        Method::PATCH,
        &format!("/budgets/{}", user.budget_id),
        Some(&user.token),
        Some(json!({"status": "active"})),
    )
    .await;
    until_status(&b, &key, StatusCode::OK).await;

    // A revoked key.
    a.request(
        Method::DELETE,
        &format!("/budgets/{}/api-keys/{key_id}", user.budget_id),
        Some(&user.token),
        None,
    )
    .await;
    let took = until_status(&b, &key, StatusCode::UNAUTHORIZED).await;
    assert!(took <= bound, "a revoked key still worked for {took:?}");
}
