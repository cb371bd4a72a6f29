//! `POST /issues/report` and vendors' view of reports about their tools.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{Backend, TestApp, TestUser};
use crate::vendor::{definition, publish};

async fn report(app: &TestApp, user: &TestUser, body: Value) -> (StatusCode, Value) {
    app.post("/issues/report", Some(&user.token), body).await
}

/// A vendor's product (never called here) and its definition.
async fn vendor_product(app: &TestApp, vendor: &TestUser, slug: &str) -> (String, Value) {
    let def = definition(slug, "http://127.0.0.1:9/tool", json!([]));
    (publish(app, vendor, def.clone()).await, def)
}

async fn reports_resolve_the_product_by_id_slug_or_name_and_are_always_recorded(app: TestApp) {
    let vendor = app.new_vendor().await;
    let (id, def) = vendor_product(&app, &vendor, "weather-now").await;
    let display_name = def["display_name"].as_str().unwrap();
    let user = app.new_user().await;
    let cases = [
        (id.clone(), "object_id", true),
        (id.to_ascii_uppercase(), "object_id", true),
        ("weather-now".to_string(), "slug", true),
        ("weather_now".to_string(), "exact_name", true),
        ("no-such-tool".to_string(), "not_found", false),
        ("ffffffffffffffffffffffff".to_string(), "not_found", false),
        (display_name.to_string(), "not_found", false),
    ];
    let mut issue_ids = Vec::new();
    for (supplied, method, found) in cases {
        let (status, body) = report(
            &app,
            &user,
            json!({"product_id": supplied, "error_message": "the lookup returned nothing", "recommended_improvements": "return an empty list"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{supplied}: {body}");
        assert_eq!(body["success"], true);
        assert!(body["message"].is_string());
        let issue_id = body["data"]["issue_id"].as_str().unwrap().to_string();
        assert!(tollgate::id::ObjectId::is_valid(&issue_id));
        assert_eq!(
            body["data"],
            json!({
                "issue_id": issue_id,
                "product_found": found,
                "lookup_method": method,
                "product_id": supplied,
                "product_name": if found { json!(display_name) } else { Value::Null },
                "status": "open",
            }),
            "{supplied}"
        );
        let stored = app
            .state
            .store
            .issue_by_id(&issue_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.user_id, user.id());
        assert_eq!(stored.product_ref, supplied);
        assert_eq!(stored.product_id.is_some(), found);
        assert_eq!(stored.error_message, "the lookup returned nothing");
        assert_eq!(
            stored.recommended_improvements.as_deref(),
            Some("return an empty list")
        );
        issue_ids.push(issue_id);
    }
    issue_ids.sort();
    issue_ids.dedup();
    assert_eq!(issue_ids.len(), 7, "each report is its own issue");

    // A builtin tool resolves too, and the connection instance is kept.
    let (_, fetched) = app.get("/products/fetch", Some(&user.token)).await;
    let instance_id = fetched["instance_id"].as_str().unwrap();
    let resp = app
        .client
        .post(format!("{}/issues/report", app.url))
        .bearer_auth(&user.token)
        .header("x-instance-id", instance_id)
        .json(&json!({"product_id": "instance_memory", "error_message": "lost a key"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["product_found"], true);
    assert_eq!(body["data"]["lookup_method"], "exact_name");
    let stored = app
        .state
        .store
        .issue_by_id(body["data"]["issue_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.instance_id.map(|i| i.to_string()).as_deref(),
        Some(instance_id)
    );
    assert_eq!(stored.recommended_improvements, None);
}

async fn a_report_needs_an_error_message_and_a_token(app: TestApp) {
    let user = app.new_user().await;
    let (status, body) = report(&app, &user, json!({"product_id": "weather"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body,
        json!({"detail": [{"loc": ["body", "error_message"], "msg": "Field required", "type": "missing", "input": {"product_id": "weather"}}]})
    );
    let (status, body) = report(&app, &user, json!({"error_message": "broken"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "product_id"]));
    assert_eq!(body["detail"][0]["type"], "missing");
    let (status, body) = report(
        &app,
        &user,
        json!({"product_id": "weather", "error_message": 42}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "error_message"]));
    assert_eq!(body["detail"][0]["type"], "string_type");

    let (status, body) = app
        .post(
            "/issues/report",
            None,
            json!({"product_id": "weather", "error_message": "broken"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(body["error"], "missing_token");
    let (status, _) = app
        .post(
            "/issues/report",
            Some("not-a-token"),
            json!({"product_id": "weather", "error_message": "broken"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn vendors_see_and_update_reports_about_their_own_tools_only(app: TestApp) {
    let owner = app.new_vendor().await;
    let rival = app.new_vendor().await;
    let (mine, _) = vendor_product(&app, &owner, "weather").await;
    let (theirs, _) = vendor_product(&app, &rival, "stocks").await;
    let customer = app.new_user().await;
    let mut mine_ids = Vec::new();
    for (product, message) in [
        (&mine, "first"),
        (&theirs, "about stocks"),
        (&"weather".to_string(), "second"),
        (&"unknown-tool".to_string(), "nobody's"),
    ] {
        app.clock.advance(Duration::seconds(1));
        let (status, body) = report(
            &app,
            &customer,
            json!({"product_id": product, "error_message": message}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if message != "about stocks" && message != "nobody's" {
            mine_ids.push(body["data"]["issue_id"].as_str().unwrap().to_string());
        }
    }
    let theirs_issue = {
        let (_, body) = app.get("/vendor/issues", Some(&rival.token)).await;
        let issues = body["data"]["issues"].as_array().unwrap().clone();
        assert_eq!(issues.len(), 1, "{body}");
        assert_eq!(issues[0]["product_id"], theirs.as_str());
        assert_eq!(issues[0]["error_message"], "about stocks");
        issues[0]["issue_id"].as_str().unwrap().to_string()
    };

    let (status, body) = app.get("/vendor/issues", Some(&owner.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let issues = body["data"]["issues"].as_array().unwrap();
    let listed: Vec<&str> = issues
        .iter()
        .map(|i| i["issue_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        [mine_ids[1].as_str(), mine_ids[0].as_str()],
        "newest first"
    );
    for i in issues {
        assert_eq!(i["product_id"], mine.as_str());
        assert_eq!(i["status"], "open");
    }
    assert_eq!(issues[0]["product_ref"], "weather");
    assert_eq!(issues[0]["lookup_method"], "slug");
    assert_eq!(issues[0]["error_message"], "second");
    assert!(!body.to_string().contains("about stocks"));
    assert!(!body.to_string().contains("nobody's"));

    let patch = |who: &TestUser, id: &str, status: &str| {
        let path = format!("/vendor/issues/{id}");
        let token = who.token.clone();
        let body = json!({"status": status});
        let app = &app;
        async move {
            app.request(Method::PATCH, &path, Some(&token), Some(body))
                .await
        }
    };
    let (status, body) = patch(&owner, &mine_ids[0], "acknowledged").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["issue_id"], mine_ids[0].as_str());
    assert_eq!(body["data"]["status"], "acknowledged");
    let (status, body) = patch(&rival, &mine_ids[1], "resolved").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "issue_not_found");
    let (status, body) = patch(&owner, &theirs_issue, "wont_fix").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = patch(&owner, "ffffffffffffffffffffffff", "resolved").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = patch(&owner, &mine_ids[1], "closed").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "status"]));
    let (status, body) = patch(&customer, &mine_ids[1], "resolved").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "vendor_required");
    let (status, body) = app.get("/vendor/issues", Some(&customer.token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "vendor_required");

    let status_of = |issues: &Value, id: &str| -> String {
        issues["data"]["issues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["issue_id"] == id)
            .map(|i| i["status"].as_str().unwrap().to_string())
            .unwrap()
    };
    let (_, body) = app.get("/vendor/issues", Some(&owner.token)).await;
    assert_eq!(status_of(&body, &mine_ids[0]), "acknowledged");
    assert_eq!(
        status_of(&body, &mine_ids[1]),
        "open",
        "refused updates changed nothing"
    );
    let (_, body) = app.get("/vendor/issues", Some(&rival.token)).await;
    assert_eq!(status_of(&body, &theirs_issue), "open");
}

crate::on_both_backends!(
    reports_resolve_the_product_by_id_slug_or_name_and_are_always_recorded,
    a_report_needs_an_error_message_and_a_token,
    vendors_see_and_update_reports_about_their_own_tools_only,
);

async fn reports_are_rate_limited_per_user(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |a| a.issue_reports_per_hour = 3).await else {
        return;
    };
    let user = app.new_user().await;
    let other = app.new_user().await;
    let body = json!({"product_id": "instance_memory", "error_message": "it broke"});
    for _ in 0..3 {
        let (status, resp) = report(&app, &user, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{resp}");
        app.clock.advance(Duration::minutes(5));
    }
    let (status, resp) = report(&app, &user, body.clone()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{resp}");
    assert_eq!(resp["success"], false);
    assert_eq!(resp["error"], "rate_limited");
    let (status, resp) = report(&app, &other, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "another user is unaffected: {resp}");

    // The limit is a sliding hour: once the first report is an hour old,
    // one more is accepted.
    app.clock
        .advance(Duration::minutes(45) + Duration::seconds(1));
    let (status, resp) = report(&app, &user, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let (status, resp) = report(&app, &user, body).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{resp}");
}

async fn concurrent_reports_stay_within_the_limit(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |a| a.issue_reports_per_hour = 3).await else {
        return;
    };
    let user = app.new_user().await;
    let body = json!({"product_id": "instance_memory", "error_message": "it broke"});
    let results =
        futures::future::join_all((0..12).map(|_| report(&app, &user, body.clone()))).await;
    let accepted = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let limited = results
        .iter()
        .filter(|(s, b)| *s == StatusCode::TOO_MANY_REQUESTS && b["error"] == "rate_limited")
        .count();
    assert_eq!((accepted, limited), (3, 9), "{results:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_rate_limited_per_user_on_sqlite() {
    reports_are_rate_limited_per_user(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_rate_limited_per_user_on_postgres() {
    reports_are_rate_limited_per_user(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reports_stay_within_the_limit_on_sqlite() {
    concurrent_reports_stay_within_the_limit(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reports_stay_within_the_limit_on_postgres() {
    concurrent_reports_stay_within_the_limit(Backend::Postgres).await
}
