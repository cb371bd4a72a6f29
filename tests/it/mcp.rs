//! The MCP server at `/mcp`, driven by the official `rmcp` client over
//! Streamable HTTP: listing the budget's tools, buying calls, reporting
//! issues, refreshing the list, and who may use a session.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{json, Value};

use crate::harness::{TestApp, TestUser};

/// A client that notes `notifications/tools/list_changed`.
#[derive(Clone, Default)]
struct Watcher {
    list_changed: Arc<tokio::sync::Notify>,
}

impl ClientHandler for Watcher {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.list_changed.notify_one();
    }
}

type Client = RunningService<RoleClient, Watcher>;

fn config(app: &TestApp, token: &str) -> StreamableHttpClientTransportConfig {
    StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", app.url)).auth_header(token)
}

async fn connect(app: &TestApp, user: &TestUser) -> (Client, Watcher) {
    let watcher = Watcher::default();
    let client = watcher
        .clone()
        .serve(StreamableHttpClientTransport::from_config(config(
            app,
            &user.token,
        )))
        .await
        .expect("the MCP session opens");
    (client, watcher)
}

fn args(value: Value) -> JsonObject {
    value.as_object().cloned().expect("arguments are an object")
}

async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args(arguments)))
        .await
        .expect("a tool call gets a result")
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn structured(result: &CallToolResult) -> Value {
    result
        .structured_content
        .clone()
        .expect("structured content")
}

async fn balance(app: &TestApp, user: &TestUser) -> i64 {
    app.balance(user).await["balance"].as_i64().unwrap()
}

async fn an_mcp_client_lists_the_budgets_tools_and_a_call_is_a_charged_purchase(app: TestApp) {
    let user = app.funded_user(100).await;
    let (client, _) = connect(&app, &user).await;
    let server = client.peer_info().expect("the server introduced itself");
    assert_eq!(server.server_info.as_ref().unwrap().name, "tollgate");

    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for expected in [
        "calculator",
        "instance_memory",
        "report_tool_issue",
        "refresh_tools",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    for tool in &tools {
        assert_eq!(tool.input_schema["type"], "object", "{}", tool.name);
        assert!(tool.description.is_some(), "{}", tool.name);
    }
    let calculator = tools.iter().find(|t| t.name == "calculator").unwrap();
    let actions = calculator.input_schema["properties"]["action"]["enum"]
        .as_array()
        .unwrap();
    assert!(actions.contains(&json!("evaluate")));
    assert!(calculator.input_schema["properties"]["expression"].is_object());
    assert_eq!(calculator.input_schema["required"], json!(["action"]));

    let result = call(
        &client,
        "calculator",
        json!({"action": "evaluate", "expression": "6*7"}),
    )
    .await;
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    let body = structured(&result);
    assert_eq!(body["data"]["result"], 42);
    let price = body["price_credits"].as_i64().unwrap();
    assert!(price > 0);
    assert!(tollgate::id::ObjectId::is_valid(
        body["order_id"].as_str().unwrap()
    ));
    let text_body: Value = serde_json::from_str(&text(&result)).unwrap();
    assert_eq!(text_body, body, "the text content is the same result");
    assert_eq!(balance(&app, &user).await, 100 - price);

    // One connection instance for the whole session.
    let again = call(
        &client,
        "calculator",
        json!({"action": "evaluate", "expression": "1+1"}),
    )
    .await;
    assert_eq!(structured(&again)["data"]["result"], 2);
    assert_eq!(structured(&again)["instance_id"], body["instance_id"]);
    assert_eq!(balance(&app, &user).await, 100 - 2 * price);

    client.cancel().await.unwrap();
}

async fn failed_calls_are_tool_errors_with_the_apis_codes_and_cost_nothing(app: TestApp) {
    let user = app.funded_user(100).await;
    let (client, _) = connect(&app, &user).await;

    let missing = call(&client, "calculator", json!({"action": "evaluate"})).await;
    assert_eq!(missing.is_error, Some(true));
    assert!(
        text(&missing).starts_with("invalid_parameters: "),
        "{}",
        text(&missing)
    );
    assert!(text(&missing).contains("expression"), "{}", text(&missing));
    assert_eq!(structured(&missing)["error"], "invalid_parameters");

    let unknown = call(&client, "calculator", json!({"action": "divide_by_zero"})).await;
    assert_eq!(unknown.is_error, Some(true));
    assert_eq!(structured(&unknown)["error"], "invalid_parameters");
    assert!(text(&unknown).contains("'evaluate'"), "{}", text(&unknown));

    let no_tool = call(&client, "no_such_tool", json!({})).await;
    assert_eq!(no_tool.is_error, Some(true));
    assert_eq!(structured(&no_tool)["error"], "product_not_found");
    assert_eq!(balance(&app, &user).await, 100);
    client.cancel().await.unwrap();

    let broke = app.funded_user(0).await;
    let (client, _) = connect(&app, &broke).await;
    let refused = call(
        &client,
        "calculator",
        json!({"action": "evaluate", "expression": "6*7"}),
    )
    .await;
    assert_eq!(refused.is_error, Some(true));
    assert!(
        text(&refused).starts_with("insufficient_credits: "),
        "{}",
        text(&refused)
    );
    assert_eq!(structured(&refused)["data"]["balance"], 0);
    client.cancel().await.unwrap();
}

async fn report_tool_issue_records_a_report_like_the_rest_endpoint(app: TestApp) {
    let user = app.funded_user(100).await;
    let (client, _) = connect(&app, &user).await;
    let bought = call(
        &client,
        "calculator",
        json!({"action": "evaluate", "expression": "2^10"}),
    )
    .await;
    let instance_id = structured(&bought)["instance_id"].clone();

    let result = call(
        &client,
        "report_tool_issue",
        json!({"product_id": "calculator", "error_message": "rounds 0.1+0.2 oddly", "recommended_improvements": "show exact decimals"}),
    )
    .await;
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    let body = structured(&result);
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["product_found"], true);
    assert_eq!(body["data"]["lookup_method"], "slug");
    assert_eq!(body["data"]["status"], "open");
    let issue = app
        .state
        .store
        .issue_by_id(body["data"]["issue_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(issue.user_id, user.id());
    assert_eq!(issue.error_message, "rounds 0.1+0.2 oddly");
    assert_eq!(
        issue.recommended_improvements.as_deref(),
        Some("show exact decimals")
    );
    assert_eq!(json!(issue.instance_id), instance_id);

    let incomplete = call(
        &client,
        "report_tool_issue",
        json!({"product_id": "calculator"}),
    )
    .await;
    assert_eq!(incomplete.is_error, Some(true));
    assert_eq!(structured(&incomplete)["error"], "invalid_parameters");
    assert!(text(&incomplete).contains("error_message"));
    client.cancel().await.unwrap();
}

async fn refresh_tools_announces_a_changed_list(app: TestApp) {
    let user = app.funded_user(100).await;
    let (client, watcher) = connect(&app, &user).await;
    let before = client.list_all_tools().await.unwrap();
    assert!(before.iter().any(|t| t.name == "calculator"));

    let unchanged = call(&client, "refresh_tools", json!({})).await;
    assert_eq!(structured(&unchanged)["changed"], false);

    let calculator = app
        .state
        .catalog
        .snapshot()
        .resolve("calculator")
        .unwrap()
        .0
        .row
        .id;
    let (status, body) = app
        .request(
            Method::DELETE,
            &format!("/budgets/{}/products/{calculator}", user.budget_id),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let refreshed = call(&client, "refresh_tools", json!({})).await;
    let body = structured(&refreshed);
    assert_eq!(body["changed"], true);
    assert!(!body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "calculator"));
    tokio::time::timeout(Duration::from_secs(5), watcher.list_changed.notified())
        .await
        .expect("tools/list_changed arrives");
    let after = client.list_all_tools().await.unwrap();
    assert!(!after.iter().any(|t| t.name == "calculator"));

    let refused = call(
        &client,
        "calculator",
        json!({"action": "evaluate", "expression": "6*7"}),
    )
    .await;
    assert_eq!(refused.is_error, Some(true));
    assert_eq!(structured(&refused)["error"], "product_not_on_budget");
    assert_eq!(balance(&app, &user).await, 100);
    client.cancel().await.unwrap();
}

/// A raw Streamable HTTP request, for what a well-behaved client never sends.
async fn raw(
    app: &TestApp,
    method: Method,
    token: Option<&str>,
    session: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app
        .client
        .request(method, format!("{}/mcp", app.url))
        .header("accept", "application/json, text/event-stream");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.expect("request sent")
}

/// A user may keep only so many MCP sessions open; ending one makes room.
async fn mcp_sessions_past_the_quota_are_refused_until_one_ends(backend: crate::harness::Backend) {
    let Some(app) = TestApp::spawn_with(backend, |a| a.quotas.max_mcp_sessions_per_user = 2).await
    else {
        return;
    };
    let user = app.funded_user(10).await;
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let opened = raw(
            &app,
            Method::POST,
            Some(&user.token),
            None,
            Some(initialize()),
        )
        .await;
        assert_eq!(opened.status(), StatusCode::OK);
        sessions.push(
            opened.headers()["mcp-session-id"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    let refused = raw(
        &app,
        Method::POST,
        Some(&user.token),
        None,
        Some(initialize()),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        (body["error"].clone(), body["data"]["kind"].clone()),
        (json!("quota_exceeded"), json!("mcp_session"))
    );
    // Another user is not affected.
    let other = app.funded_user(10).await;
    let opened = raw(
        &app,
        Method::POST,
        Some(&other.token),
        None,
        Some(initialize()),
    )
    .await;
    assert_eq!(opened.status(), StatusCode::OK);
    // Ending a session makes room.
    let ended = raw(
        &app,
        Method::DELETE,
        Some(&user.token),
        Some(&sessions[0]),
        None,
    )
    .await;
    assert_eq!(ended.status(), StatusCode::OK);
    let opened = raw(
        &app,
        Method::POST,
        Some(&user.token),
        None,
        Some(initialize()),
    )
    .await;
    assert_eq!(opened.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_sessions_past_the_quota_are_refused_until_one_ends_on_sqlite() {
    mcp_sessions_past_the_quota_are_refused_until_one_ends(crate::harness::Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_sessions_past_the_quota_are_refused_until_one_ends_on_postgres() {
    mcp_sessions_past_the_quota_are_refused_until_one_ends(crate::harness::Backend::Postgres).await
}

fn initialize() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
    })
}

async fn requests_without_a_valid_token_are_refused_before_any_mcp_processing(app: TestApp) {
    let response = raw(&app, Method::POST, None, None, Some(initialize())).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["error"], "missing_token");

    let response = raw(
        &app,
        Method::POST,
        Some("not-a-token"),
        None,
        Some(initialize()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");

    let response = raw(&app, Method::GET, Some("not-a-token"), Some("x"), None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let refused = Watcher::default()
        .serve(StreamableHttpClientTransport::from_config(config(
            &app,
            "not-a-token",
        )))
        .await;
    assert!(refused.is_err(), "the client cannot open a session");
}

async fn a_session_belongs_to_the_caller_that_opened_it(app: TestApp) {
    let owner = app.funded_user(10).await;
    let other = app.funded_user(10).await;
    let opened = raw(
        &app,
        Method::POST,
        Some(&owner.token),
        None,
        Some(initialize()),
    )
    .await;
    assert_eq!(opened.status(), StatusCode::OK);
    let session = opened
        .headers()
        .get("mcp-session-id")
        .expect("initialize names the session")
        .to_str()
        .unwrap()
        .to_string();
    drop(opened);
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});

    let ok = raw(
        &app,
        Method::POST,
        Some(&owner.token),
        Some(&session),
        Some(initialized.clone()),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::ACCEPTED);

    for (method, body) in [
        (Method::POST, Some(list.clone())),
        (Method::GET, None),
        (Method::DELETE, None),
    ] {
        let stolen = raw(
            &app,
            method.clone(),
            Some(&other.token),
            Some(&session),
            body,
        )
        .await;
        assert_eq!(stolen.status(), StatusCode::FORBIDDEN, "{method}");
        let body: Value = stolen.json().await.unwrap();
        assert_eq!(body["error"], "session_forbidden", "{method}");
    }

    let without_session = raw(
        &app,
        Method::POST,
        Some(&owner.token),
        None,
        Some(list.clone()),
    )
    .await;
    assert!(
        without_session.status().is_client_error(),
        "{}",
        without_session.status()
    );
    let unknown = raw(
        &app,
        Method::POST,
        Some(&owner.token),
        Some("no-such-session"),
        Some(list.clone()),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let ended = raw(
        &app,
        Method::DELETE,
        Some(&owner.token),
        Some(&session),
        None,
    )
    .await;
    assert_eq!(ended.status(), StatusCode::OK);
    let gone = raw(
        &app,
        Method::POST,
        Some(&owner.token),
        Some(&session),
        Some(list),
    )
    .await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

async fn mcp_refusals_use_documented_statuses_and_codes(app: TestApp) {
    let user = app.funded_user(10).await;
    let opened = raw(
        &app,
        Method::POST,
        Some(&user.token),
        None,
        Some(initialize()),
    )
    .await;
    assert_eq!(opened.status(), StatusCode::OK);
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    drop(opened);
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});

    // Without a session id, a request other than initialize is a bad request.
    let response = raw(
        &app,
        Method::POST,
        Some(&user.token),
        None,
        Some(list.clone()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["error"], "invalid_mcp_request", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("Session"),
        "{body}"
    );

    // An Accept header that leaves out what the transport answers with.
    let response = app
        .client
        .post(format!("{}/mcp", app.url))
        .bearer_auth(&user.token)
        .header("accept", "application/json")
        .header("mcp-session-id", &session)
        .json(&list)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_acceptable", "{body}");
    let response = app
        .client
        .get(format!("{}/mcp", app.url))
        .bearer_auth(&user.token)
        .header("accept", "application/json")
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_acceptable", "{body}");

    // A body that is not JSON.
    let response = app
        .client
        .post(format!("{}/mcp", app.url))
        .bearer_auth(&user.token)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "text/plain")
        .header("mcp-session-id", &session)
        .body("tools/list")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_media_type", "{body}");

    // Ending a session answers 200, as MCP clients expect.
    let ended = raw(
        &app,
        Method::DELETE,
        Some(&user.token),
        Some(&session),
        None,
    )
    .await;
    assert_eq!(ended.status(), StatusCode::OK);
    let gone = raw(
        &app,
        Method::POST,
        Some(&user.token),
        Some(&session),
        Some(list),
    )
    .await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);

    // Every status seen here is in the OpenAPI document.
    let (_, doc) = app.get("/openapi.json", None).await;
    for (method, statuses) in [
        (
            "post",
            &["200", "202", "400", "401", "403", "404", "406", "415"][..],
        ),
        ("get", &["200", "400", "401", "403", "404", "406"][..]),
        ("delete", &["200", "400", "401", "403", "404"][..]),
    ] {
        let responses = &doc["paths"]["/mcp"][method]["responses"];
        for status in statuses {
            assert!(responses.get(*status).is_some(), "{method} /mcp {status}");
        }
    }
}

/// `/mcp` serves GET, POST and DELETE; any other method is refused before
/// the token or session is looked at.
async fn other_methods_on_mcp_answer_405_with_allow(app: TestApp) {
    let user = app.funded_user(10).await;
    for method in [Method::PUT, Method::PATCH, Method::TRACE] {
        let response = app
            .client
            .request(method.clone(), format!("{}/mcp", app.url))
            .bearer_auth(&user.token)
            .header("mcp-session-id", "no-such-session")
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        let allow: BTreeSet<String> = response.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_string())
            .collect();
        for m in ["GET", "POST", "DELETE"] {
            assert!(allow.contains(m), "{allow:?}");
        }
        assert!(!allow.contains(method.as_str()), "{allow:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "method_not_allowed", "{body}");
    }
}

crate::on_both_backends!(
    other_methods_on_mcp_answer_405_with_allow,
    an_mcp_client_lists_the_budgets_tools_and_a_call_is_a_charged_purchase,
    failed_calls_are_tool_errors_with_the_apis_codes_and_cost_nothing,
    report_tool_issue_records_a_report_like_the_rest_endpoint,
    refresh_tools_announces_a_changed_list,
    requests_without_a_valid_token_are_refused_before_any_mcp_processing,
    a_session_belongs_to_the_caller_that_opened_it,
    mcp_refusals_use_documented_statuses_and_codes,
);
