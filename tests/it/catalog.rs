//! `GET /products/fetch`: the budget's tools, pagination, instances.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{TestApp, TestUser};

/// Publishes `n` HTTP products through the vendor API; returns their ids.
pub async fn publish_products(
    app: &TestApp,
    vendor: &TestUser,
    n: usize,
    price: i64,
) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let slug = format!("tool-{}", tollgate::id::new_id());
        let body = json!({
            "slug": slug, "name": slug.replace('-', "_"), "display_name": format!("Tool {slug}"),
            "description": "A test tool.", "category": "test", "endpoint": "http://127.0.0.1:9/call",
            "actions": [{"name": "run", "description": "Runs.", "price_credits": price,
                         "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}],
        });
        let (status, resp) = app
            .post("/vendor/products", Some(&vendor.token), body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{resp}");
        ids.push(resp["data"]["product_id"].as_str().unwrap().to_string());
    }
    ids
}

/// A new budget of `user` with an API key and the given products enabled.
pub async fn budget_with(
    app: &TestApp,
    user: &TestUser,
    products: &[String],
    caps: Value,
) -> (String, String) {
    let (status, b) = app
        .post(
            "/budgets",
            Some(&user.token),
            json!({"name": "agents", "caps": caps}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let budget_id = b["data"]["id"].as_str().unwrap().to_string();
    for p in products {
        let (status, body) = app
            .request(
                reqwest::Method::PUT,
                &format!("/budgets/{budget_id}/products/{p}"),
                Some(&user.token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, k) = app
        .post(
            &format!("/budgets/{budget_id}/api-keys"),
            Some(&user.token),
            json!({"name": "agent"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    (budget_id, k["data"]["key"].as_str().unwrap().to_string())
}

async fn fetch(app: &TestApp, token: &str, query: &str) -> (StatusCode, Value) {
    app.get(&format!("/products/fetch{query}"), Some(token))
        .await
}

async fn a_new_user_sees_the_builtin_tools_with_schemas_prices_and_functions(app: TestApp) {
    let user = app.new_user().await;
    let (status, body) = fetch(&app, &user.token, "?page_size=100").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let builtins = app.state.catalog.builtin_ids().len();
    assert!(builtins >= 2);
    assert_eq!(body["details"]["total_qualified_tools"], builtins);
    assert!(tollgate::id::ObjectId::is_valid(
        body["instance_id"].as_str().unwrap()
    ));
    let tools = body["tools"].as_array().unwrap();
    assert_eq!(tools.len(), builtins);
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "a stable order: by name");
    for t in tools {
        assert!(tollgate::id::ObjectId::is_valid(
            t["product_id"].as_str().unwrap()
        ));
        assert!(!t["display_name"].as_str().unwrap().is_empty());
        assert!(!t["description"].as_str().unwrap().is_empty());
        let actions = t["actions"].as_array().unwrap();
        assert!(actions.len() >= 2, "{}", t["name"]);
        for a in actions {
            assert_eq!(a["parameters"]["type"], "object");
            assert!(a["price_credits"].as_i64().unwrap() > 0);
        }
        assert_eq!(t["function"]["type"], "function");
        assert_eq!(t["function"]["function"]["name"], t["name"]);
        assert_eq!(
            t["function"]["function"]["parameters"]["properties"]["action"]["enum"]
                .as_array()
                .unwrap()
                .len(),
            actions.len()
        );
    }
    let example = body["example_tool_call"].as_str().unwrap();
    assert!(example.starts_with("curl -X POST"), "{example}");
    assert!(example.contains(&format!("{}/products/purchase", app.url)));
    assert!(example.contains(tools[0]["product_id"].as_str().unwrap()));
    let preprompt = body["preprompt"].as_str().unwrap();
    assert!(preprompt.contains(tools[0]["name"].as_str().unwrap()));
}

async fn pagination_follows_the_spec_for_0_1_one_page_and_several_pages(app: TestApp) {
    let vendor = app.new_vendor().await;
    let user = app.new_user().await;
    let products = publish_products(&app, &vendor, 7, 5).await;

    // No tools at all.
    let (_, empty_key) = budget_with(&app, &user, &[], json!({})).await;
    let (status, body) = fetch(&app, &empty_key, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["tools"], json!([]));
    assert_eq!(
        body["details"],
        json!({"tools_on_this_page": 0, "total_qualified_tools": 0, "page_returned": 1, "page_size_requested": 10,
               "page_source": "query", "page_size_source": "query", "total_pages": 0, "has_next_page": false, "has_previous_page": false})
    );
    assert_eq!(
        body["pagination"],
        json!({"page": 1, "page_size": 10, "total_count": 0, "total_pages": 0, "has_next": false, "has_prev": false})
    );
    assert!(body["example_tool_call"].is_null());
    let empty_preprompt = body["preprompt"].as_str().unwrap().to_string();

    // One tool.
    let (_, one_key) = budget_with(&app, &user, &products[..1], json!({})).await;
    let (_, body) = fetch(&app, &one_key, "").await;
    assert_eq!(body["tools"].as_array().unwrap().len(), 1);
    assert_eq!(
        body["pagination"],
        json!({"page": 1, "page_size": 10, "total_count": 1, "total_pages": 1, "has_next": false, "has_prev": false})
    );
    assert_ne!(
        body["preprompt"], empty_preprompt,
        "the preprompt says whether anything matched"
    );

    // Exactly one page.
    let (_, three_key) = budget_with(&app, &user, &products[..3], json!({})).await;
    let (_, body) = fetch(&app, &three_key, "?page_size=3").await;
    assert_eq!(body["details"]["tools_on_this_page"], 3);
    assert_eq!(
        body["pagination"],
        json!({"page": 1, "page_size": 3, "total_count": 3, "total_pages": 1, "has_next": false, "has_prev": false})
    );

    // Several pages: 7 tools, 3 a page.
    let (_, key) = budget_with(&app, &user, &products, json!({})).await;
    let mut seen = Vec::new();
    for page in 1..=3 {
        let (_, body) = fetch(&app, &key, &format!("?page={page}&page_size=3")).await;
        let expected_count = if page == 3 { 1 } else { 3 };
        assert_eq!(body["details"]["tools_on_this_page"], expected_count);
        assert_eq!(body["details"]["total_pages"], 3);
        assert_eq!(body["details"]["total_qualified_tools"], 7);
        assert_eq!(body["pagination"]["has_next"], page < 3);
        assert_eq!(body["pagination"]["has_prev"], page > 1);
        assert_eq!(body["details"]["has_next_page"], page < 3);
        assert_eq!(body["details"]["has_previous_page"], page > 1);
        seen.extend(
            body["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["product_id"].as_str().unwrap().to_string()),
        );
    }
    let mut expected = products.clone();
    expected.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, expected, "every tool once across the pages");

    // Past the end: no tools, correct totals.
    let (status, body) = fetch(&app, &key, "?page=9&page_size=3").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["tools"], json!([]));
    assert_eq!(
        body["pagination"],
        json!({"page": 9, "page_size": 3, "total_count": 7, "total_pages": 3, "has_next": false, "has_prev": true})
    );

    // Headers win over the query, and say so.
    let resp = app
        .client
        .get(format!("{}/products/fetch?page=1&page_size=3", app.url))
        .bearer_auth(&key)
        .header("X-Page", "2")
        .header("X-Page-Size", "2")
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["details"]["page_returned"], 2);
    assert_eq!(body["details"]["page_size_requested"], 2);
    assert_eq!(body["details"]["page_source"], "header");
    assert_eq!(body["details"]["page_size_source"], "header");
    assert_eq!(body["tools"].as_array().unwrap().len(), 2);
    assert_eq!(body["tools"][0]["product_id"], seen[2].as_str());
}

async fn bad_page_values_get_a_fastapi_422(app: TestApp) {
    let user = app.new_user().await;
    let (status, body) = fetch(&app, &user.token, "?page=0").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["query", "page"]));
    assert_eq!(body["detail"][0]["type"], "greater_than_equal");
    let (status, body) = fetch(&app, &user.token, "?page_size=101").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["detail"][0],
        json!({"loc": ["query", "page_size"], "msg": "Input should be less than or equal to 100", "type": "less_than_equal", "input": "101", "ctx": {"le": 100}})
    );
    let (status, body) = fetch(&app, &user.token, "?page=two").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "int_parsing");
    let resp = app
        .client
        .get(format!("{}/products/fetch", app.url))
        .bearer_auth(&user.token)
        .header("X-Page-Size", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["detail"][0]["loc"], json!(["header", "x-page-size"]));
    assert_eq!(body["detail"][0]["type"], "int_parsing");
    assert_eq!(
        app.get("/products/fetch", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn instance_headers_are_honoured_and_checked(app: TestApp) {
    let alice = app.new_user().await;
    let bob = app.new_user().await;
    let resp = app
        .client
        .get(format!("{}/products/fetch", app.url))
        .bearer_auth(&alice.token)
        .header(
            "x-instance-metadata",
            r#"{"agent": "claude", "version": 3}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    let instance = body["instance_id"].as_str().unwrap().to_string();
    let row = app
        .state
        .store
        .instance_by_id(instance.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.user_id, alice.id());
    assert_eq!(
        serde_json::from_str::<Value>(&row.metadata).unwrap(),
        json!({"agent": "claude", "version": 3})
    );

    let with_instance = |token: &str, id: &str| {
        app.client
            .get(format!("{}/products/fetch", app.url))
            .bearer_auth(token.to_string())
            .header("x-instance-id", id.to_string())
            .send()
    };
    let body: Value = with_instance(&alice.token, &instance)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["instance_id"],
        instance.as_str(),
        "an instance is kept when named"
    );
    let resp = with_instance(&bob.token, &instance).await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::NOT_FOUND,
        "another user's instance is refused"
    );
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "instance_not_found"
    );
    assert_eq!(
        with_instance(&alice.token, "not-an-id")
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    for bad in ["[1, 2]", "\"text\"", "{broken"] {
        let resp = app
            .client
            .get(format!("{}/products/fetch", app.url))
            .bearer_auth(&alice.token)
            .header("x-instance-metadata", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body["detail"][0]["loc"],
            json!(["header", "x-instance-metadata"])
        );
    }

    // Header values are visible ASCII: anything else is unreadable, not
    // taken in some other encoding.
    let fetch_with = |name: &'static str, value: Vec<u8>| {
        let value = reqwest::header::HeaderValue::from_bytes(&value).unwrap();
        app.client
            .get(format!("{}/products/fetch", app.url))
            .bearer_auth(&alice.token)
            .header(name, value)
            .send()
    };
    let utf8 = "{\"agent\":\"Jos\u{e9}\"}".as_bytes().to_vec();
    let latin1 = b"{\"agent\":\"Jos\xe9\"}".to_vec();
    for metadata in [utf8, latin1] {
        let resp = fetch_with("x-instance-metadata", metadata).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let padded = format!("{instance}\u{a0}").into_bytes();
    let resp = fetch_with("x-instance-id", padded).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = app
        .client
        .get(format!("{}/products/fetch", app.url))
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(
                format!("Bearer {}\u{a0}", alice.token).as_bytes(),
            )
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["message"],
        "The Authorization header must be 'Bearer <token>'."
    );
}

async fn budgets_are_managed_by_their_owner_only(app: TestApp) {
    let alice = app.new_user().await;
    let bob = app.new_user().await;
    let (status, body) = app.get("/budgets", Some(&alice.token)).await;
    assert_eq!(status, StatusCode::OK);
    let budgets = body["data"]["budgets"].as_array().unwrap();
    assert_eq!(budgets.len(), 1);
    assert_eq!(budgets[0]["is_default"], true);
    assert_eq!(
        budgets[0]["product_ids"].as_array().unwrap().len(),
        app.state.catalog.builtin_ids().len()
    );

    let (status, b) = app
        .post(
            "/budgets",
            Some(&alice.token),
            json!({"name": "night shift", "caps": {"daily": 500, "per_call": 20}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    assert_eq!(b["data"]["caps"]["daily"], 500);
    assert_eq!(b["data"]["caps"]["hourly"], Value::Null);
    let id = b["data"]["id"].as_str().unwrap();
    let (status, b) = app
        .request(
            reqwest::Method::PATCH,
            &format!("/budgets/{id}"),
            Some(&alice.token),
            Some(json!({"status": "paused", "caps": {"daily": null, "total": 1000}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["data"]["status"], "paused");
    assert_eq!(b["data"]["caps"]["daily"], Value::Null);
    assert_eq!(b["data"]["caps"]["total"], 1000);
    assert_eq!(b["data"]["caps"]["per_call"], 20);

    let (status, b) = app
        .request(
            reqwest::Method::PATCH,
            &format!("/budgets/{id}"),
            Some(&alice.token),
            Some(json!({"status": "sleeping", "caps": {"yearly": 5, "daily": -1}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["detail"].as_array().unwrap().len(), 3);

    for (method, path) in [
        (reqwest::Method::GET, format!("/budgets/{id}")),
        (reqwest::Method::PATCH, format!("/budgets/{id}")),
        (
            reqwest::Method::PUT,
            format!(
                "/budgets/{id}/products/{}",
                app.state.catalog.builtin_ids()[0]
            ),
        ),
        (
            reqwest::Method::DELETE,
            format!(
                "/budgets/{id}/products/{}",
                app.state.catalog.builtin_ids()[0]
            ),
        ),
    ] {
        let (status, _) = app
            .request(
                method.clone(),
                &path,
                Some(&bob.token),
                Some(json!({"name": "mine now"})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    let (_, b) = app.get(&format!("/budgets/{id}"), Some(&alice.token)).await;
    assert_eq!(b["data"]["name"], "night shift");
}

/// JSON Schema's `integer` includes `500.0`, so the document's caps do too.
async fn budget_caps_take_whole_numbers_written_with_a_fraction_of_zero(app: TestApp) {
    let alice = app.new_user().await;
    let (status, b) = app
        .post(
            "/budgets",
            Some(&alice.token),
            json!({"name": "floats", "caps": {"daily": 500.0, "total": 0}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    assert_eq!(b["data"]["caps"]["daily"], 500);
    assert_eq!(b["data"]["caps"]["total"], 0);

    let (status, b) = app
        .post(
            "/budgets",
            Some(&alice.token),
            json!({"name": "fractions", "caps": {"daily": 1.5, "hourly": -2.0}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["detail"].as_array().unwrap().len(), 2);
}

crate::on_both_backends!(
    budget_caps_take_whole_numbers_written_with_a_fraction_of_zero,
    a_new_user_sees_the_builtin_tools_with_schemas_prices_and_functions,
    pagination_follows_the_spec_for_0_1_one_page_and_several_pages,
    bad_page_values_get_a_fastapi_422,
    instance_headers_are_honoured_and_checked,
    budgets_are_managed_by_their_owner_only,
);

#[tokio::test]
async fn new_default_budgets_can_start_empty() {
    let app = TestApp::spawn_with(crate::harness::Backend::Sqlite, |a| {
        a.no_default_builtin_tools = true
    })
    .await
    .unwrap();
    let user = app.new_user().await;
    let (_, body) = fetch(&app, &user.token, "").await;
    assert_eq!(body["details"]["total_qualified_tools"], 0);
}
