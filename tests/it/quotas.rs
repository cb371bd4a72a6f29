//! Per-account quotas: past its limit, creating a budget, an API key, a
//! workflow or a bundle is refused with 409 `quota_exceeded` naming the kind.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{Backend, TestApp, TestUser};

async fn small_quotas(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |a| {
        a.quotas.max_budgets_per_user = 2;
        a.quotas.max_api_keys_per_budget = 2;
        a.quotas.max_workflows_per_user = 1;
        a.quotas.max_bundles_per_user = 1;
    })
    .await
}

fn assert_quota(status: StatusCode, body: &Value, kind: &str, limit: u32) {
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "quota_exceeded");
    assert_eq!(body["data"]["kind"], kind);
    assert_eq!(body["data"]["limit"], limit);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains(&limit.to_string()));
}

async fn create_key(app: &TestApp, user: &TestUser, budget: &str) -> (StatusCode, Value) {
    app.post(
        &format!("/budgets/{budget}/api-keys"),
        Some(&user.token),
        json!({"name": "agent"}),
    )
    .await
}

fn workflow_body() -> Value {
    json!({"name": "echo", "engine": "graph", "definition": {"steps": [
        {"id": "answer", "type": "prompt", "template": "{{prompt}}"}
    ]}})
}

async fn budgets_past_the_quota_are_refused(backend: Backend) {
    let Some(app) = small_quotas(backend).await else {
        return;
    };
    let user = app.new_user().await;
    // The default budget counts: one more fits.
    let (status, body) = app
        .post("/budgets", Some(&user.token), json!({"name": "second"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .post("/budgets", Some(&user.token), json!({"name": "third"}))
        .await;
    assert_quota(status, &body, "budget", 2);
    let (_, listed) = app.get("/budgets", Some(&user.token)).await;
    assert_eq!(listed["data"]["budgets"].as_array().unwrap().len(), 2);

    // Another account has quotas of its own.
    let other = app.new_user().await;
    let (status, _) = app
        .post("/budgets", Some(&other.token), json!({"name": "second"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn api_keys_past_the_quota_are_refused_until_one_is_revoked(backend: Backend) {
    let Some(app) = small_quotas(backend).await else {
        return;
    };
    let user = app.new_user().await;
    let budget = user.budget_id.clone();
    let (status, first) = create_key(&app, &user, &budget).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, _) = create_key(&app, &user, &budget).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = create_key(&app, &user, &budget).await;
    assert_quota(status, &body, "api_key", 2);

    let key_id = first["data"]["id"].as_str().unwrap();
    let (status, body) = app
        .request(
            Method::DELETE,
            &format!("/budgets/{budget}/api-keys/{key_id}"),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = create_key(&app, &user, &budget).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a revoked key frees its place: {body}"
    );
}

async fn workflows_past_the_quota_are_refused(backend: Backend) {
    let Some(app) = small_quotas(backend).await else {
        return;
    };
    let user = app.new_user().await;
    let (status, body) = app
        .post("/workflows", Some(&user.token), workflow_body())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .post("/workflows", Some(&user.token), workflow_body())
        .await;
    assert_quota(status, &body, "workflow", 1);
    // An invalid definition is still told what is wrong with it.
    let (status, _) = app
        .post("/workflows", Some(&user.token), json!({"name": "x"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, listed) = app.get("/workflows", Some(&user.token)).await;
    let owned = listed["data"]["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["owner_id"] == user.user_id.as_str())
        .count();
    assert_eq!(owned, 1);
}

async fn bundles_past_the_quota_are_refused(backend: Backend) {
    let Some(app) = small_quotas(backend).await else {
        return;
    };
    let user = app.new_user().await;
    let (status, body) = app
        .post("/bundles", Some(&user.token), json!({"name": "one"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .post("/bundles", Some(&user.token), json!({"name": "two"}))
        .await;
    assert_quota(status, &body, "bundle", 1);
}

async fn a_zero_quota_means_no_limit(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |a| a.quotas.max_bundles_per_user = 0).await
    else {
        return;
    };
    let user = app.new_user().await;
    for i in 0..3 {
        let (status, body) = app
            .post(
                "/bundles",
                Some(&user.token),
                json!({"name": format!("b{i}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(crate::harness::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name(crate::harness::Backend::Postgres).await })*
        }
    };
}

on_both!(
    budgets_past_the_quota_are_refused,
    api_keys_past_the_quota_are_refused_until_one_is_revoked,
    workflows_past_the_quota_are_refused,
    bundles_past_the_quota_are_refused,
    a_zero_quota_means_no_limit,
);
