//! `POST /products/purchase`: charging, refusals, caps, idempotency, isolation.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tollgate::store::OrderStatus;

use crate::catalog::{budget_with, publish_products};
use crate::harness::{TestApp, TestUser};

const MEMORY_PRICE: i64 = 1;

fn memory_set(key: &str, value: Value) -> Value {
    json!({"product_id": "instance_memory", "parameters": {"action": "set", "key": key, "value": value}})
}

async fn purchases(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let (_, h) = app
        .get("/credits/history?limit=500", Some(&user.token))
        .await;
    h["data"]["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["transaction_type"] == "purchase")
        .cloned()
        .collect()
}

async fn a_purchase_runs_the_tool_charges_its_price_and_records_the_order(app: TestApp) {
    let user = app.funded_user(100).await;
    let (status, body) = app
        .post(
            "/products/purchase",
            Some(&user.token),
            memory_set("greeting", json!("hello")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["stored"], true);
    let order_id = body["order_id"].as_str().unwrap();
    let instance_id = body["instance_id"].as_str().unwrap();
    assert!(
        tollgate::id::ObjectId::is_valid(order_id) && tollgate::id::ObjectId::is_valid(instance_id)
    );
    assert_eq!(app.balance(&user).await["balance"], 100 - MEMORY_PRICE);
    let p = purchases(&app, &user).await;
    assert_eq!(p.len(), 1);
    assert_eq!(p[0]["amount_credits"], -MEMORY_PRICE);
    assert_eq!(p[0]["balance_after_credits"], 100 - MEMORY_PRICE);
    let order = app
        .state
        .store
        .order_by_id(order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.status, OrderStatus::Succeeded);
    assert_eq!(order.user_id, user.id());
    assert_eq!(
        order.instance_id.map(|i| i.to_string()).as_deref(),
        Some(instance_id)
    );
    assert!(order.transaction_id.is_some());

    // The same instance remembers; a new instance does not.
    let get = json!({"product_id": "instance_memory", "parameters": {"action": "get", "key": "greeting"}});
    let resp = app
        .client
        .post(format!("{}/products/purchase", app.url))
        .bearer_auth(&user.token)
        .header("x-instance-id", instance_id)
        .json(&get)
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["data"],
        json!({"key": "greeting", "found": true, "value": "hello"})
    );
    assert_eq!(body["instance_id"], instance_id);
    // Naming no instance is the caller's own default one, every time.
    let (_, body) = app
        .post("/products/purchase", Some(&user.token), get.clone())
        .await;
    assert_eq!(body["instance_id"], instance_id);
    assert_eq!(body["data"]["found"], true);
    // Another API key has a default instance of its own.
    let (status, key) = app
        .post(
            &format!("/budgets/{}/api-keys", user.budget_id),
            Some(&user.token),
            json!({"name": "second agent"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let key = key["data"]["key"].as_str().unwrap();
    let (_, body) = app.post("/products/purchase", Some(key), get).await;
    assert_ne!(body["instance_id"], instance_id);
    assert_eq!(body["data"]["found"], false);
}

async fn products_resolve_by_id_slug_name_and_the_name_field(app: TestApp) {
    let user = app.funded_user(100).await;
    let id = app
        .state
        .catalog
        .snapshot()
        .resolve("instance_memory")
        .unwrap()
        .0
        .row
        .id
        .to_string();
    for body in [
        json!({"product_id": id, "parameters": {"action": "list"}}),
        json!({"product_id": "instance-memory", "parameters": {"action": "list"}}),
        json!({"product_id": "instance_memory", "parameters": {"action": "list"}}),
        json!({"name": "instance_memory", "parameters": {"action": "list"}}),
    ] {
        let (status, resp) = app
            .post("/products/purchase", Some(&user.token), body.clone())
            .await;
        assert_eq!(status, StatusCode::OK, "{body} -> {resp}");
        assert_eq!(resp["product_id"], id.as_str());
    }
    assert_eq!(app.balance(&user).await["balance"], 100 - 4 * MEMORY_PRICE);
}

async fn refusals_have_stable_codes_and_cost_nothing(app: TestApp) {
    let user = app.funded_user(100).await;
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"product_id": "no_such_tool", "parameters": {}}),
            StatusCode::NOT_FOUND,
            "product_not_found",
        ),
        (
            json!({"product_id": "instance_memory", "parameters": {"action": "explode"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "enum",
        ),
        (
            json!({"product_id": "instance_memory", "parameters": {"action": "set", "key": "k"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing",
        ),
        (
            json!({"product_id": "instance_memory", "parameters": {"action": "set", "key": 5, "value": 1}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "string_type",
        ),
        (
            json!({"product_id": "instance_memory", "parameters": {"action": "get", "key": "k", "extra": 1}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "extra_forbidden",
        ),
        (
            json!({"parameters": {"action": "list"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing",
        ),
        (
            json!({"product_id": "instance_memory", "parameters": "list"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "dict_type",
        ),
    ];
    for (body, status, code) in cases {
        let (got, resp) = app
            .post("/products/purchase", Some(&user.token), body.clone())
            .await;
        assert_eq!(got, status, "{body} -> {resp}");
        let actual = resp["error"]
            .as_str()
            .or(resp["detail"][0]["type"].as_str())
            .unwrap();
        assert_eq!(actual, code, "{body} -> {resp}");
    }
    let (_, resp) = app
        .post(
            "/products/purchase",
            Some(&user.token),
            json!({"product_id": "instance_memory", "parameters": {"action": "set", "key": "k"}}),
        )
        .await;
    assert_eq!(
        resp["detail"][0]["loc"],
        json!(["body", "parameters", "value"]),
        "the location points into parameters"
    );
    let (_, resp) = app
        .post(
            "/products/purchase",
            Some(&user.token),
            json!({"product_id": "instance_memory", "parameters": {"action": "explode"}}),
        )
        .await;
    assert_eq!(
        resp["detail"][0]["loc"],
        json!(["body", "parameters", "action"])
    );
    assert_eq!(
        app.post("/products/purchase", None, memory_set("k", json!(1)))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.balance(&user).await["balance"], 100);
    assert!(purchases(&app, &user).await.is_empty());
}

async fn insufficient_credits_get_402_with_balance_and_price(app: TestApp) {
    let vendor = app.new_vendor().await;
    let user = app.funded_user(3).await;
    let products = publish_products(&app, &vendor, 1, 5).await;
    let (_, key) = budget_with(&app, &user, &products, json!({})).await;
    let (status, body) = app
        .post(
            "/products/purchase",
            Some(&key),
            json!({"product_id": products[0], "parameters": {"action": "run", "q": "x"}}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    assert_eq!(body["error"], "insufficient_credits");
    assert_eq!(body["data"]["balance"], 3);
    assert_eq!(body["data"]["price"], 5);
    assert_eq!(app.balance(&user).await["balance"], 3);
    let orders = app.orders(&user).await;
    assert_eq!(orders.len(), 1, "the attempt is recorded");
    assert_eq!(orders[0].status, OrderStatus::Failed);
    assert_eq!(
        orders[0].error_code.as_deref(),
        Some("insufficient_credits")
    );
}

async fn a_tool_not_on_the_budget_is_refused_and_asks_the_owner_once(app: TestApp) {
    let user = app.funded_user(100).await;
    let memory = app
        .state
        .catalog
        .snapshot()
        .resolve("instance_memory")
        .unwrap()
        .0
        .row
        .id
        .to_string();
    let (_, key) = budget_with(&app, &user, &[], json!({})).await;
    let (status, body) = app
        .post("/products/purchase", Some(&key), memory_set("k", json!(1)))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "product_not_on_budget");
    let request_id = body["data"]["approval_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, again) = app
        .post("/products/purchase", Some(&key), memory_set("k", json!(1)))
        .await;
    assert_eq!(
        again["data"]["approval_request_id"],
        request_id.as_str(),
        "requests do not pile up"
    );
    let (_, approvals) = app.get("/approvals", Some(&user.token)).await;
    let open: Vec<&Value> = approvals["data"]["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "open")
        .collect();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["kind"], "enable_product");
    assert_eq!(open[0]["subject_id"], memory.as_str());
    assert_eq!(app.balance(&user).await["balance"], 100);

    // An agent's key cannot approve; the owner can, and then the call works.
    assert_eq!(
        app.post(
            &format!("/approvals/{request_id}/approve"),
            Some(&key),
            json!({})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (status, _) = app
        .post(
            &format!("/approvals/{request_id}/approve"),
            Some(&user.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post("/products/purchase", Some(&key), memory_set("k", json!(1)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        app.post(
            &format!("/approvals/{request_id}/approve"),
            Some(&user.token),
            json!({})
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
}

async fn a_paused_budget_refuses_calls_and_costs_nothing(app: TestApp) {
    let user = app.funded_user(100).await;
    let path = format!("/budgets/{}", user.budget_id);
    app.request(
        Method::PATCH,
        &path,
        Some(&user.token),
        Some(json!({"status": "paused"})),
    )
    .await;
    let (status, body) = app
        .post(
            "/products/purchase",
            Some(&user.token),
            memory_set("k", json!(1)),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "budget_paused");
    assert_eq!(app.balance(&user).await["balance"], 100);
    app.request(
        Method::PATCH,
        &path,
        Some(&user.token),
        Some(json!({"status": "active"})),
    )
    .await;
    assert_eq!(
        app.post(
            "/products/purchase",
            Some(&user.token),
            memory_set("k", json!(1))
        )
        .await
        .0,
        StatusCode::OK
    );
}

async fn caps_refuse_calls_past_them_with_429_and_cost_nothing(app: TestApp) {
    let vendor = app.new_vendor().await;
    let user = app.funded_user(1000).await;
    let products = publish_products(&app, &vendor, 1, 10).await;
    let memory = app
        .state
        .catalog
        .snapshot()
        .resolve("instance_memory")
        .unwrap()
        .0
        .row
        .id
        .to_string();
    let mut enabled = products.clone();
    enabled.push(memory);

    let (_, key) = budget_with(&app, &user, &enabled, json!({"per_call": 5})).await;
    let (status, body) = app
        .post(
            "/products/purchase",
            Some(&key),
            json!({"product_id": products[0], "parameters": {"action": "run", "q": "x"}}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "budget_cap_reached");
    assert_eq!(body["data"]["window"], "per_call");
    assert_eq!(
        app.post("/products/purchase", Some(&key), memory_set("k", json!(1)))
            .await
            .0,
        StatusCode::OK,
        "cheaper calls still pass"
    );

    let (_, key) = budget_with(&app, &user, &enabled, json!({"daily": 3})).await;
    for _ in 0..3 {
        assert_eq!(
            app.post("/products/purchase", Some(&key), memory_set("k", json!(1)))
                .await
                .0,
            StatusCode::OK
        );
    }
    let (status, body) = app
        .post("/products/purchase", Some(&key), memory_set("k", json!(1)))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["data"]["window"], "daily");
    assert_eq!(body["data"]["cap"], 3);
    assert_eq!(app.balance(&user).await["balance"], 1000 - 4 * MEMORY_PRICE);

    // The window rolls.
    app.clock.advance(chrono::Duration::hours(25));
    assert_eq!(
        app.post("/products/purchase", Some(&key), memory_set("k", json!(1)))
            .await
            .0,
        StatusCode::OK
    );
}

async fn caps_hold_under_concurrency(app: TestApp) {
    let user = app.funded_user(1000).await;
    let memory = app
        .state
        .catalog
        .snapshot()
        .resolve("instance_memory")
        .unwrap()
        .0
        .row
        .id
        .to_string();
    let (_, key) = budget_with(&app, &user, &[memory], json!({"total": 5})).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let client = app.client.clone();
        let url = format!("{}/products/purchase", app.url);
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(key)
                .json(&memory_set(&format!("k{i}"), json!(i)))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 5);
    assert_eq!(app.balance(&user).await["balance"], 1000 - 5 * MEMORY_PRICE);
}

async fn an_idempotency_key_replays_the_first_response_and_charges_once(app: TestApp) {
    let user = app.funded_user(100).await;
    let send = |key: &str, body: Value| {
        app.client
            .post(format!("{}/products/purchase", app.url))
            .bearer_auth(&user.token)
            .header("Idempotency-Key", key.to_string())
            .json(&body)
            .send()
    };
    let first = send("k-1", memory_set("a", json!(1))).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.unwrap();
    let replay = send("k-1", memory_set("a", json!(1))).await.unwrap();
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay, first, "the first response, replayed");
    assert_eq!(app.balance(&user).await["balance"], 100 - MEMORY_PRICE);

    let other = send("k-1", memory_set("a", json!(2))).await.unwrap();
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        other.json::<Value>().await.unwrap()["error"],
        "idempotency_key_reused"
    );

    // Concurrent duplicates never run the tool twice.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let client = app.client.clone();
        let url = format!("{}/products/purchase", app.url);
        let token = user.token.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "k-2")
                .json(&memory_set("b", json!(1)))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        let s = t.await.unwrap();
        assert!(s == StatusCode::OK || s == StatusCode::CONFLICT, "{s}");
    }
    assert_eq!(app.balance(&user).await["balance"], 100 - 2 * MEMORY_PRICE);
    assert_eq!(
        app.state
            .store
            .orders_for_user(user.id(), 100)
            .await
            .unwrap()
            .len(),
        2
    );

    // Keys are per user: another user's same key is a new request.
    let bob = app.funded_user(10).await;
    let resp = app
        .client
        .post(format!("{}/products/purchase", app.url))
        .bearer_auth(&bob.token)
        .header("Idempotency-Key", "k-1")
        .json(&memory_set("a", json!(1)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("idempotent-replayed").is_none());
}

/// A refusal under an `Idempotency-Key` is the key's answer: a retry gets
/// it again, even after the wallet could pay, and nothing is charged.
async fn a_refusal_under_an_idempotency_key_is_replayed(app: TestApp) {
    let user = app.new_user().await;
    let admin = app.new_admin().await;
    let send = |key: &'static str, body: Value| {
        app.client
            .post(format!("{}/products/purchase", app.url))
            .bearer_auth(&user.token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let calculator = json!({"product_id": "calculator", "parameters": {"action": "evaluate", "expression": "1+1"}});
    // One call charged in one write after it ran, one held before it runs.
    let calls = [("r-1", calculator), ("r-2", memory_set("a", json!(1)))];
    let mut refusals = Vec::new();
    for (key, body) in &calls {
        let first = send(key, body.clone()).await.unwrap();
        assert_eq!(first.status(), StatusCode::PAYMENT_REQUIRED);
        let first: Value = first.json().await.unwrap();
        assert_eq!(first["error"], "insufficient_credits");
        refusals.push(first);
    }
    app.grant(&admin, &user, 10, None).await;
    for ((key, body), first) in calls.iter().zip(refusals) {
        let again = send(key, body.clone()).await.unwrap();
        assert_eq!(again.status(), StatusCode::PAYMENT_REQUIRED);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.json::<Value>().await.unwrap(), first);
    }
    // A new key is a new request, which the wallet can pay for now.
    let paid = send("r-3", memory_set("a", json!(1))).await.unwrap();
    assert_eq!(paid.status(), StatusCode::OK);
    assert_eq!(app.balance(&user).await["balance"], 10 - MEMORY_PRICE);
}

async fn two_users_are_isolated(app: TestApp) {
    let alice = app.funded_user(50).await;
    let bob = app.funded_user(50).await;
    let (_, a) = app
        .post(
            "/products/purchase",
            Some(&alice.token),
            memory_set("secret", json!("alice's")),
        )
        .await;
    let alice_instance = a["instance_id"].as_str().unwrap();
    // Bob cannot use Alice's instance, so cannot read her memory.
    let resp = app
        .client
        .post(format!("{}/products/purchase", app.url))
        .bearer_auth(&bob.token)
        .header("x-instance-id", alice_instance)
        .json(&json!({"product_id": "instance_memory", "parameters": {"action": "get", "key": "secret"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.balance(&bob).await["balance"], 50);
    // Bob's history and orders hold none of Alice's.
    assert!(purchases(&app, &bob).await.is_empty());
    assert!(app.orders(&bob).await.is_empty());
    // Bob cannot touch Alice's budget.
    let memory = app.state.catalog.builtin_ids()[0].to_string();
    let (status, _) = app
        .request(
            Method::DELETE,
            &format!("/budgets/{}/products/{memory}", alice.budget_id),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, b) = app
        .get(&format!("/budgets/{}", alice.budget_id), Some(&alice.token))
        .await;
    assert!(b["data"]["product_ids"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == memory.as_str()));
}

async fn web_fetch_reads_allowlisted_pages_and_refuses_private_ones(app: TestApp) {
    let user = app.funded_user(100).await;
    let page = axum::Router::new()
        .route(
            "/page",
            axum::routing::get(|| async {
                axum::response::Html(
                    "<html><body><h1>Hi</h1><script>x()</script><p>there</p></body></html>",
                )
            }),
        )
        .route(
            "/data",
            axum::routing::get(|| async { axum::Json(json!({"answer": 42})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, page).await });
    let (status, body) = app.post("/products/purchase", Some(&user.token), json!({"product_id": "web_fetch", "parameters": {"action": "extract_text", "url": format!("http://{addr}/page")}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["text"], "Hi there");
    let (_, body) = app.post("/products/purchase", Some(&user.token), json!({"product_id": "web_fetch", "parameters": {"action": "get", "url": format!("http://{addr}/data")}})).await;
    assert_eq!(body["data"]["body"], json!({"answer": 42}));
    let spent = 100 - app.balance(&user).await["balance"].as_i64().unwrap();
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/",
        "http://[::1]/",
        "file:///etc/passwd",
    ] {
        let (status, body) = app
            .post(
                "/products/purchase",
                Some(&user.token),
                json!({"product_id": "web_fetch", "parameters": {"action": "get", "url": url}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
    }
    assert_eq!(
        100 - app.balance(&user).await["balance"].as_i64().unwrap(),
        spent,
        "refusals cost nothing"
    );
}

crate::on_both_backends!(
    a_purchase_runs_the_tool_charges_its_price_and_records_the_order,
    products_resolve_by_id_slug_name_and_the_name_field,
    refusals_have_stable_codes_and_cost_nothing,
    insufficient_credits_get_402_with_balance_and_price,
    a_tool_not_on_the_budget_is_refused_and_asks_the_owner_once,
    a_paused_budget_refuses_calls_and_costs_nothing,
    caps_refuse_calls_past_them_with_429_and_cost_nothing,
    caps_hold_under_concurrency,
    an_idempotency_key_replays_the_first_response_and_charges_once,
    a_refusal_under_an_idempotency_key_is_replayed,
    two_users_are_isolated,
    web_fetch_reads_allowlisted_pages_and_refuses_private_ones,
);

#[tokio::test]
async fn without_an_allowlist_loopback_is_refused_even_through_redirects() {
    let app = TestApp::spawn_with(crate::harness::Backend::Sqlite, |a| {
        a.outbound_allowlist = "localhost".into()
    })
    .await
    .unwrap();
    let user = app.funded_user(100).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let target = format!("http://127.0.0.1:{}/secret", addr.port());
    let router = axum::Router::new()
        .route(
            "/secret",
            axum::routing::get(|| async { "internal secret" }),
        )
        .route(
            "/hop",
            axum::routing::get(move || async move { axum::response::Redirect::temporary(&target) }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    // localhost is allowlisted by name, so the first hop is fetched; the
    // redirect to a private IP literal is not followed.
    let (status, body) = app.post("/products/purchase", Some(&user.token), json!({"product_id": "web_fetch", "parameters": {"action": "get", "url": format!("http://localhost:{}/hop", addr.port())}})).await;
    assert_ne!(status, StatusCode::OK, "{body}");
    assert!(!body.to_string().contains("internal secret"));
    let (status, _) = app.post("/products/purchase", Some(&user.token), json!({"product_id": "web_fetch", "parameters": {"action": "get", "url": format!("http://127.0.0.1:{}/secret", addr.port())}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.balance(&user).await["balance"], 100);
}

/// The charge and the idempotent response are written in one transaction:
/// even if the server died right after the charge, a retry replays it.
async fn a_charge_records_its_idempotent_response_in_the_same_transaction(app: TestApp) {
    let user = app.funded_user(10).await;
    let caller = tollgate::auth::Caller {
        user_id: user.id(),
        budget_id: user.budget(),
        role: tollgate::auth::Role::Customer,
        api_key_id: None,
    };
    let now = chrono::Utc::now().timestamp_millis();
    let claim = app
        .state
        .ledger
        .claim(user.id(), "crash-1", "h", now - 1)
        .await
        .unwrap();
    let tollgate::store::IdempotencyClaim::Claimed(claimed_at) = claim else {
        panic!("a new key is claimed: {claim:?}")
    };
    let instance = app
        .post(
            "/products/purchase",
            Some(&user.token),
            json!({"product_id": "instance_memory", "parameters": {"action": "list"}}),
        )
        .await
        .1["instance_id"]
        .as_str()
        .unwrap()
        .to_string();
    let request = tollgate::purchase::PurchaseRequest {
        max_price_credits: None,
        product: "calculator".into(),
        params: serde_json::from_value(json!({"expression": "2+2"})).unwrap(),
        action: Some("evaluate".into()),
        instance_id: instance.parse().unwrap(),
        run_id: None,
    };
    // The handler's own finishing step never runs here, as if the process died.
    let outcome = tollgate::purchase::purchase_with_key(
        &app.state,
        &caller,
        request,
        Some(("crash-1", claimed_at)),
    )
    .await
    .unwrap();
    match app
        .state
        .ledger
        .claim(user.id(), "crash-1", "h", 0)
        .await
        .unwrap()
    {
        tollgate::store::IdempotencyClaim::Existing(row) => {
            assert_eq!(row.status.as_str(), "done");
            let body: Value = serde_json::from_str(row.response_body.as_deref().unwrap()).unwrap();
            assert_eq!(body["order_id"], outcome.order_id.to_string());
            assert_eq!(body["data"]["result"], 4);
        }
        other => panic!("expected the recorded response, got {other:?}"),
    }
}

mod crash {
    use super::*;
    crate::on_both_backends!(a_charge_records_its_idempotent_response_in_the_same_transaction);
}

/// Free tools need no hold but are still orders.
async fn a_free_tool_call_is_an_order_too(app: TestApp) {
    let vendor = app.new_vendor().await;
    let user = app.funded_user(5).await;
    let products = publish_products(&app, &vendor, 1, 0).await;
    let (_, key) = budget_with(&app, &user, &products, json!({})).await;
    // Nothing listens on port 9: the call fails and the failure is recorded.
    let (status, body) = app
        .post(
            "/products/purchase",
            Some(&key),
            json!({"product_id": products[0], "parameters": {"action": "run", "q": "x"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let orders = app.orders(&user).await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].status, OrderStatus::Failed);
    assert_eq!(orders[0].price_credits.get(), 0);
    assert_eq!(orders[0].error_code.as_deref(), Some("tool_failed"));
    assert_eq!(app.balance(&user).await["balance"], 5);
}

mod free {
    use super::*;
    crate::on_both_backends!(a_free_tool_call_is_an_order_too);
}
