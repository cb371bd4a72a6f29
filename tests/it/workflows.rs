//! Workflows and runs through the HTTP API: definitions, the trigger's
//! statuses, idempotency, the graph engine, cancellation, owner-only access,
//! and a restart in the middle of a run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{Backend, TestApp, TestUser};

pub(crate) async fn funded(app: &TestApp, credits: i64) -> TestUser {
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    app.grant(&admin, &user, credits, None).await;
    user
}

/// Creates a workflow and enables it on the owner's default budget.
pub(crate) async fn workflow(app: &TestApp, owner: &TestUser, body: Value) -> String {
    let (status, resp) = app.post("/workflows", Some(&owner.token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{resp}");
    let id = resp["data"]["workflow_id"].as_str().unwrap().to_string();
    let (status, _) = app
        .request(
            Method::PUT,
            &format!("/budgets/{}/workflows/{id}", owner.budget_id),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    id
}

pub(crate) fn calculator_graph() -> Value {
    json!({"name": "calc", "engine": "graph", "definition": {"steps": [
        {"id": "calc", "type": "tool", "tool": "calculator", "action": "evaluate", "parameters": {"expression": "{{prompt}}"}, "next": "answer"},
        {"id": "answer", "type": "prompt", "template": "{{prompt}} = {{steps.calc.output.result}}"}
    ]}})
}

pub(crate) async fn trigger(
    app: &TestApp,
    token: &str,
    workflow_id: &str,
    body: Value,
) -> (StatusCode, Value) {
    app.post(
        &format!("/api/agent-webhooks/{workflow_id}/trigger"),
        Some(token),
        body,
    )
    .await
}

/// Polls a run until it ends.
pub(crate) async fn finished(app: &TestApp, token: &str, run_id: &str) -> Value {
    for _ in 0..400 {
        let (status, body) = app
            .get(&format!("/api/agent-webhooks/runs/{run_id}"), Some(token))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let run = body["data"]["run"].clone();
        if matches!(
            run["status"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        ) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("run {run_id} did not finish");
}

async fn a_graph_workflow_runs_and_reports_every_spec_field(app: TestApp) {
    let user = funded(&app, 100).await;
    let id = workflow(&app, &user, calculator_graph()).await;
    let (status, body) = trigger(
        &app,
        &user.token,
        &id,
        json!({"prompt": "6 * 7", "request_metadata": {"ticket": 42}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "Workflow trigger accepted");
    let run = &body["data"]["run"];
    assert_eq!(run["status"], "queued");
    assert_eq!(run["workflow_id"], id.as_str());
    let run_id = run["run_id"].as_str().unwrap().to_string();
    assert!(tollgate::id::ObjectId::is_valid(&run_id));
    assert_eq!(
        body["data"]["status_url"],
        format!("{}/api/agent-webhooks/runs/{run_id}", app.url)
    );

    let run = finished(&app, &user.token, &run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["response_text"], "6 * 7 = 42");
    assert_eq!(run["prompt"], "6 * 7");
    assert_eq!(run["request_metadata"], json!({"ticket": 42}));
    assert_eq!(run["callback_status"], "skipped");
    for field in [
        "session_id",
        "model",
        "error_code",
        "error_message",
        "callback_url",
        "callback_last_status",
        "callback_last_error",
        "callback_attempted_at",
        "callback_delivered_at",
        "created_at",
        "updated_at",
        "started_at",
        "completed_at",
    ] {
        assert!(run.get(field).is_some(), "field {field}");
    }
    assert!(run["started_at"].is_string() && run["completed_at"].is_string());
    let steps = run["run_metadata"]["steps"].as_array().unwrap();
    assert_eq!(steps[0]["step"], "calc");
    assert!(tollgate::id::ObjectId::is_valid(
        steps[0]["order_id"].as_str().unwrap()
    ));
    assert_eq!(steps[0]["credits"], 1);
    assert_eq!(run["run_metadata"]["credits_spent"], 1);
    assert_eq!(
        app.balance(&user).await["balance"],
        99,
        "the tool call is a purchase"
    );
}

async fn the_trigger_refuses_bad_requests_with_the_spec_statuses(app: TestApp) {
    let user = funded(&app, 100).await;
    let id = workflow(&app, &user, calculator_graph()).await;
    let path = format!("/api/agent-webhooks/{id}/trigger");
    let (status, body) = app.post(&path, None, json!({"prompt": "1"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["success"], false);
    assert!(body["error"].is_string() && body["message"].is_string());
    assert_eq!(
        app.post(&path, Some("tg_not_a_real_key"), json!({"prompt": "1"}))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    let cases = [
        (json!({}), "missing_prompt"),
        (json!({"prompt": ""}), "missing_prompt"),
        (json!({"prompt": "   "}), "missing_prompt"),
        (json!({"prompt": 5}), "invalid_prompt"),
        (json!({"prompt": "x".repeat(40_000)}), "prompt_too_long"),
        (json!(["prompt"]), "invalid_payload"),
        (
            json!({"prompt": "1", "request_id": 7}),
            "invalid_request_id",
        ),
        (
            json!({"prompt": "1", "request_metadata": "no"}),
            "invalid_request_metadata",
        ),
        (
            json!({"prompt": "1", "callback_url": "http://example.com/hook"}),
            "invalid_callback_url",
        ),
        (
            json!({"prompt": "1", "callback_url": "https://10.1.2.3/hook"}),
            "invalid_callback_url",
        ),
        (
            json!({"prompt": "1", "callback_url": "https://[::1]/hook"}),
            "invalid_callback_url",
        ),
        (
            json!({"prompt": "1", "callback_url": "not a url"}),
            "invalid_callback_url",
        ),
    ];
    for (body, code) in cases {
        let (status, resp) = app.post(&path, Some(&user.token), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {resp}");
        assert_eq!(resp["error"], code, "{body}");
        assert_eq!(resp["success"], false);
    }
    let resp = app
        .client
        .post(format!("{}{path}", app.url))
        .bearer_auth(&user.token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_json");
    let (status, body) = app
        .post(
            "/api/agent-webhooks/not-an-id/trigger",
            Some(&user.token),
            json!({"prompt": "1"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_workflow_id");
    let (status, body) = app
        .post(
            "/api/agent-webhooks/0123456789abcdef01234567/trigger",
            Some(&user.token),
            json!({"prompt": "1"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "workflow_not_found");
    // Another user's private workflow does not exist for this caller.
    let other = funded(&app, 10).await;
    let (status, _) = trigger(&app, &other.token, &id, json!({"prompt": "1"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.balance(&user).await["balance"],
        100,
        "refusals cost nothing"
    );
}

async fn blocked_triggers_answer_409_and_ask_the_owner_once(app: TestApp) {
    let owner = funded(&app, 100).await;
    let mut public = calculator_graph();
    public["visibility"] = json!("public");
    let id = workflow(&app, &owner, public).await;
    let user = funded(&app, 100).await;
    let (status, body) = trigger(&app, &user.token, &id, json!({"prompt": "1+1"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "workflow_not_on_budget");
    let request_id = body["data"]["workflow_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(body["data"]["add_workflow"]["workflow_id"], id.as_str());
    let (_, again) = trigger(&app, &user.token, &id, json!({"prompt": "1+1"})).await;
    assert_eq!(
        again["data"]["workflow_request_id"],
        request_id.as_str(),
        "requests are not piled up"
    );

    // The owner approves: the workflow is enabled on the budget.
    let (status, _) = app
        .post(
            &format!("/approvals/{request_id}/approve"),
            Some(&user.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Its tool is not on this budget yet: setup is required.
    let calc = app
        .state
        .catalog
        .snapshot()
        .resolve("calculator")
        .unwrap()
        .0
        .row
        .id
        .to_string();
    app.request(
        Method::DELETE,
        &format!("/budgets/{}/products/{calc}", user.budget_id),
        Some(&user.token),
        None,
    )
    .await;
    let (status, body) = trigger(&app, &user.token, &id, json!({"prompt": "1+1"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "setup_required");
    assert_eq!(
        body["data"]["missing_products"][0]["product_id"],
        calc.as_str()
    );
    app.request(
        Method::PUT,
        &format!("/budgets/{}/products/{calc}", user.budget_id),
        Some(&user.token),
        None,
    )
    .await;
    let (status, body) = trigger(&app, &user.token, &id, json!({"prompt": "1+1"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn fifty_concurrent_triggers_with_one_request_id_make_one_run(app: TestApp) {
    let user = funded(&app, 100).await;
    let id = workflow(&app, &user, calculator_graph()).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let client = app.client.clone();
        let url = format!("{}/api/agent-webhooks/{id}/trigger", app.url);
        let token = user.token.clone();
        tasks.push(tokio::spawn(async move {
            let resp = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"prompt": "2+2", "request_id": "req-1"}))
                .send()
                .await
                .unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        }));
    }
    let mut created = 0;
    let mut run_ids = std::collections::HashSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::OK => created += 1,
            StatusCode::ACCEPTED => {}
            other => panic!("unexpected {other}: {body}"),
        }
        run_ids.insert(body["data"]["run"]["run_id"].as_str().unwrap().to_string());
    }
    assert_eq!(created, 1, "exactly one trigger created the run");
    assert_eq!(run_ids.len(), 1, "every answer names the same run");
    let run_id = run_ids.into_iter().next().unwrap();
    finished(&app, &user.token, &run_id).await;
    assert_eq!(
        app.balance(&user).await["balance"],
        99,
        "the workflow ran once"
    );
    // A later replay answers 202 with the existing run; another key makes a new run.
    let (status, body) = trigger(
        &app,
        &user.token,
        &id,
        json!({"prompt": "2+2", "request_id": "req-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["data"]["run"]["run_id"], run_id.as_str());
    assert_eq!(body["data"]["run"]["status"], "succeeded");
    let (status, body) = trigger(
        &app,
        &user.token,
        &id,
        json!({"prompt": "2+2", "request_id": "req-2"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(body["data"]["run"]["run_id"], run_id.as_str());
}

async fn only_the_owner_sees_a_run(app: TestApp) {
    let user = funded(&app, 100).await;
    let other = funded(&app, 100).await;
    let id = workflow(&app, &user, calculator_graph()).await;
    let (_, body) = trigger(&app, &user.token, &id, json!({"prompt": "1"})).await;
    let run_id = body["data"]["run"]["run_id"].as_str().unwrap().to_string();
    let (status, body) = app
        .get(
            &format!("/api/agent-webhooks/runs/{run_id}"),
            Some(&other.token),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "run_not_found");
    let (status, missing) = app
        .get(
            "/api/agent-webhooks/runs/0123456789abcdef01234567",
            Some(&other.token),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body, missing,
        "another user's run looks exactly like a missing one"
    );
    let (status, body) = app
        .get("/api/agent-webhooks/runs/xyz", Some(&user.token))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_run_id");
    assert_eq!(
        app.get(&format!("/api/agent-webhooks/runs/{run_id}"), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post(
            &format!("/api/agent-webhooks/runs/{run_id}/cancel"),
            Some(&other.token),
            json!({})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

async fn definitions_are_validated_with_errors_naming_the_step(app: TestApp) {
    let user = funded(&app, 10).await;
    let cases = [
        (
            json!({"steps": [{"id": "a", "type": "tool", "tool": "no_such_tool"}]}),
            "step a: unknown tool",
        ),
        (
            json!({"steps": [{"id": "a", "type": "prompt", "template": "x", "next": "b"}, {"id": "b", "type": "prompt", "template": "y", "next": "a"}]}),
            "cycle",
        ),
        (
            json!({"steps": [{"id": "a", "type": "prompt", "template": "x"}, {"id": "b", "type": "prompt", "template": "y"}]}),
            "step b: is unreachable",
        ),
        (
            json!({"steps": [{"id": "a", "type": "prompt", "template": "{{prompt"}]}),
            "step a: unclosed",
        ),
        (
            json!({"steps": [{"id": "a", "type": "prompt", "template": "{{steps.b.output}}", "next": "b"}, {"id": "b", "type": "prompt", "template": "y"}]}),
            "step a: refers to steps.b",
        ),
        (
            json!({"steps": [{"id": "a", "type": "prompt", "template": "x", "next": "zzz"}]}),
            "unknown step \"zzz\"",
        ),
        (
            json!({"steps": [{"id": "a", "type": "teleport"}]}),
            "unknown step type",
        ),
    ];
    for (definition, expected) in cases {
        let (status, body) = app
            .post(
                "/workflows",
                Some(&user.token),
                json!({"name": "bad", "engine": "graph", "definition": definition}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{definition}");
        let messages: Vec<String> = body["detail"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["msg"].as_str().unwrap().to_string())
            .collect();
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "{expected:?} not in {messages:?}"
        );
        assert_eq!(body["detail"][0]["loc"][1], "definition");
    }
    // Every field's error in one answer, each at its field.
    let (status, body) = app
        .post(
            "/workflows",
            Some(&user.token),
            json!({"name": "", "engine": "quantum", "visibility": "secret", "definition": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let errors: Vec<(Value, &str)> = body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["loc"].clone(), d["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        errors,
        vec![
            (json!(["body", "name"]), "string_too_short"),
            (json!(["body", "visibility"]), "enum"),
            (json!(["body", "engine"]), "value_error"),
        ],
        "{body}"
    );
    // On create the engine and the definition are required.
    let (status, body) = app
        .post("/workflows", Some(&user.token), json!({"name": "x"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["detail"][0]["loc"],
        json!(["body", "engine"]),
        "{body}"
    );
    assert_eq!(
        body["detail"][1]["loc"],
        json!(["body", "definition"]),
        "{body}"
    );
}

async fn branches_merges_loops_and_a_human_step_run_as_drawn(app: TestApp) {
    let user = funded(&app, 100).await;
    let id = workflow(&app, &user, json!({"name": "flow", "engine": "graph", "definition": {"steps": [
        {"id": "size", "type": "tool", "tool": "text_utils", "action": "stats", "parameters": {"text": "{{prompt}}"}, "next": "route"},
        {"id": "route", "type": "branch", "conditions": [{"value": "{{steps.size.output.words}}", "op": "gt", "operand": 3, "next": "long"}], "default": "short"},
        {"id": "long", "type": "prompt", "template": "long", "next": "join"},
        {"id": "short", "type": "prompt", "template": "short", "next": "join"},
        {"id": "join", "type": "merge", "next": "each"},
        {"id": "each", "type": "for_each", "items": "{{metadata.numbers}}", "do": {"type": "tool", "tool": "calculator", "action": "evaluate", "parameters": {"expression": "{{item}} * 10"}}, "next": "done"},
        {"id": "done", "type": "prompt", "template": "{{steps.join.output.long}}{{steps.join.output.short}}: {{steps.each.output.0.result}},{{steps.each.output.1.result}}"}
    ]}})).await;
    let (_, body) = trigger(
        &app,
        &user.token,
        &id,
        json!({"prompt": "one two three four five", "request_metadata": {"numbers": [1, 2]}}),
    )
    .await;
    let run = finished(
        &app,
        &user.token,
        body["data"]["run"]["run_id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["response_text"], "long: 10,20");
    assert_eq!(
        run["run_metadata"]["credits_spent"], 3,
        "stats + two calculator calls"
    );
    let (_, body) = trigger(
        &app,
        &user.token,
        &id,
        json!({"prompt": "hi", "request_metadata": {"numbers": [5]}}),
    )
    .await;
    let run = finished(
        &app,
        &user.token,
        body["data"]["run"]["run_id"].as_str().unwrap(),
    )
    .await;
    assert!(
        run["response_text"]
            .as_str()
            .unwrap()
            .starts_with("short: 50"),
        "{run}"
    );

    // A failing step fails the run with its code; a human step opens a request and ends the run.
    let (_, body) = trigger(
        &app,
        &user.token,
        &id,
        json!({"prompt": "hi", "request_metadata": {"numbers": "not a list"}}),
    )
    .await;
    let run = finished(
        &app,
        &user.token,
        body["data"]["run"]["run_id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["error_code"], "invalid_items");
    assert!(run["error_message"].as_str().unwrap().contains("step each"));

    let human = workflow(
        &app,
        &user,
        json!({"name": "ask", "engine": "graph", "definition": {"steps": [
            {"id": "ask", "type": "notify_human", "message": "Please approve: {{prompt}}"}
        ]}}),
    )
    .await;
    let (_, body) = trigger(
        &app,
        &user.token,
        &human,
        json!({"prompt": "refund order 7"}),
    )
    .await;
    let run = finished(
        &app,
        &user.token,
        body["data"]["run"]["run_id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["response_text"], "Please approve: refund order 7");
    let approval = run["run_metadata"]["awaiting_human"]["approval_request_id"]
        .as_str()
        .unwrap();
    let (_, approvals) = app.get("/approvals", Some(&user.token)).await;
    assert!(approvals["data"]["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["id"] == approval && a["kind"] == "workflow_human"));
}

async fn a_budget_api_key_cannot_create_or_change_shared_things(app: TestApp) {
    let vendor = app.new_vendor().await;
    let (status, body) = app
        .post(
            &format!("/budgets/{}/api-keys", vendor.budget_id),
            Some(&vendor.token),
            json!({"name": "agent"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let key = body["data"]["key"].as_str().unwrap().to_string();
    let id = workflow(&app, &vendor, calculator_graph()).await;
    let (status, bundle) = app
        .post(
            "/bundles",
            Some(&vendor.token),
            json!({"name": "kit", "workflow_ids": [id]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bundle}");
    let bundle_id = bundle["data"]["bundle_id"].as_str().unwrap().to_string();

    let product = json!({"slug": "keyed", "name": "keyed", "display_name": "Keyed", "description": "x",
        "endpoint": "https://vendor.example/call",
        "actions": [{"name": "go", "description": "Go.", "price_credits": 1, "parameters": {"type": "object", "properties": {}}}]});
    let attempts = [
        (Method::POST, "/workflows".to_string(), calculator_graph()),
        (
            Method::PATCH,
            format!("/workflows/{id}"),
            json!({"name": "renamed"}),
        ),
        (
            Method::POST,
            "/bundles".to_string(),
            json!({"name": "kit 2"}),
        ),
        (
            Method::PATCH,
            format!("/bundles/{bundle_id}"),
            json!({"name": "renamed"}),
        ),
        (Method::POST, "/vendor/products".to_string(), product),
    ];
    for (method, path, body) in attempts {
        let (status, answer) = app
            .request(method.clone(), &path, Some(&key), Some(body))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
        assert_eq!(answer["error"], "user_token_required", "{method} {path}");
        assert!(answer["message"]
            .as_str()
            .unwrap()
            .contains("POST /auth/login"));
    }
    // Nothing changed, and the key still reads and triggers.
    let (_, got) = app.get(&format!("/workflows/{id}"), Some(&key)).await;
    assert_eq!(got["data"]["name"], "calc", "{got}");
    let (status, body) = trigger(&app, &key, &id, json!({"prompt": "1 + 1"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

crate::on_both_backends!(
    a_budget_api_key_cannot_create_or_change_shared_things,
    a_running_run_stops_at_its_next_step_when_cancelled,
    a_graph_workflow_runs_and_reports_every_spec_field,
    the_trigger_refuses_bad_requests_with_the_spec_statuses,
    blocked_triggers_answer_409_and_ask_the_owner_once,
    fifty_concurrent_triggers_with_one_request_id_make_one_run,
    only_the_owner_sees_a_run,
    definitions_are_validated_with_errors_naming_the_step,
    branches_merges_loops_and_a_human_step_run_as_drawn,
);

async fn the_spec_trigger_example_is_accepted_without_resolving_its_callback_host(
    backend: Backend,
) {
    let Some(app) = TestApp::spawn_with(backend, |a| {
        a.workers = 0;
        a.outbound_allowlist = String::new();
    })
    .await
    else {
        return;
    };
    let user = funded(&app, 100).await;
    let id = workflow(&app, &user, calculator_graph()).await;
    // The spec's own example, whose host need not resolve at trigger time.
    let example = json!({
        "prompt": "Summarize the status of open orders",
        "request_id": "req_01HXXXXXXXXXXXXXXX",
        "callback_url": "https://example.com/hooks/agentpmt",
        "request_metadata": {}
    });
    let (status, body) = trigger(&app, &user.token, &id, example).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let run_id = body["data"]["run"]["run_id"].as_str().unwrap();
    let (_, body) = app
        .get(
            &format!("/api/agent-webhooks/runs/{run_id}"),
            Some(&user.token),
        )
        .await;
    assert_eq!(
        body["data"]["run"]["callback_url"],
        "https://example.com/hooks/agentpmt"
    );
    assert_eq!(body["data"]["run"]["callback_status"], "pending");
    // What is wrong in the URL itself is still refused at once.
    for url in [
        "http://example.com/hook",
        "https://user:pw@example.com/hook",
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest",
        "https://[fe80::1]/hook",
        "https://localhost/hook",
    ] {
        let (status, body) = trigger(
            &app,
            &user.token,
            &id,
            json!({"prompt": "1", "callback_url": url}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert_eq!(body["error"], "invalid_callback_url");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spec_trigger_example_is_accepted_without_resolving_its_callback_host_on_sqlite() {
    the_spec_trigger_example_is_accepted_without_resolving_its_callback_host(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spec_trigger_example_is_accepted_without_resolving_its_callback_host_on_postgres() {
    the_spec_trigger_example_is_accepted_without_resolving_its_callback_host(Backend::Postgres)
        .await;
}

async fn queued_runs_cancel_at_once(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |a| a.workers = 0).await else {
        return;
    };
    let user = funded(&app, 100).await;
    let id = workflow(&app, &user, calculator_graph()).await;
    let (_, body) = trigger(&app, &user.token, &id, json!({"prompt": "1"})).await;
    let run_id = body["data"]["run"]["run_id"].as_str().unwrap().to_string();
    let (status, body) = app
        .post(
            &format!("/api/agent-webhooks/runs/{run_id}/cancel"),
            Some(&user.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["run"]["status"], "cancelled");
    assert!(body["data"]["run"]["completed_at"].is_string());
    assert!(
        !tollgate::workflows::worker::run_once(&app.state, "w")
            .await
            .unwrap(),
        "nothing left to run"
    );
    let (status, body) = app
        .post(
            &format!("/api/agent-webhooks/runs/{run_id}/cancel"),
            Some(&user.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "run_finished");
    assert_eq!(app.balance(&user).await["balance"], 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_runs_cancel_at_once_on_sqlite() {
    queued_runs_cancel_at_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_runs_cancel_at_once_on_postgres() {
    queued_runs_cancel_at_once(Backend::Postgres).await;
}

/// A vendor whose first call hangs (the server is stopped meanwhile) and whose
/// later calls answer at once; and a callback receiver that counts.
async fn vendor_and_receiver() -> (String, String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let vendor = axum::Router::new().route(
        "/call",
        axum::routing::post(move || {
            let c = c.clone();
            async move {
                if c.fetch_add(1, Ordering::SeqCst) == 0 {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                axum::Json(json!({"shipped": true}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let vendor_url = format!("http://{}/call", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, vendor).await });
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let h = h.clone();
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    (vendor_url, hook_url, calls, hits)
}

async fn a_run_survives_a_restart_and_its_callback_lands_once(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |a| a.workers = 1).await else {
        return;
    };
    let (vendor_url, hook_url, vendor_calls, hook_hits) = vendor_and_receiver().await;
    let vendor = app.new_vendor().await;
    let (status, body) = app
        .post("/vendor/products", Some(&vendor.token), json!({"slug": "shipper", "name": "shipper", "display_name": "Shipper", "description": "Ships.",
            "endpoint": vendor_url, "timeout_ms": 60000,
            "actions": [{"name": "ship", "description": "Ship it.", "price_credits": 7, "parameters": {"type": "object", "properties": {}}}]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let shipper = body["data"]["product_id"].as_str().unwrap().to_string();
    let user = funded(&app, 100).await;
    app.request(
        Method::PUT,
        &format!("/budgets/{}/products/{shipper}", user.budget_id),
        Some(&user.token),
        None,
    )
    .await;
    let id = workflow(&app, &user, json!({"name": "ship", "engine": "graph", "definition": {"steps": [
        {"id": "price", "type": "tool", "tool": "calculator", "action": "evaluate", "parameters": {"expression": "{{prompt}}"}, "next": "ship"},
        {"id": "ship", "type": "tool", "tool": "shipper", "action": "ship", "next": "done"},
        {"id": "done", "type": "prompt", "template": "total {{steps.price.output.result}}, shipped {{steps.ship.output.shipped}}"}
    ]}})).await;
    let (status, body) = trigger(
        &app,
        &user.token,
        &id,
        json!({"prompt": "3 + 4", "callback_url": hook_url}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let run_id = body["data"]["run"]["run_id"].as_str().unwrap().to_string();
    // Wait until the run is inside the vendor call, then stop the server.
    for _ in 0..200 {
        if vendor_calls.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(vendor_calls.load(Ordering::SeqCst), 1);
    let db = app.stop().await;

    // A new server on the same database takes the run over once its lease runs out.
    let mut args = crate::harness::serve_args();
    args.workers = 1;
    let app = TestApp::start(db, args, backend).await;
    // The new server has a new address, so a new issuer: sign in again.
    let token = app.login(&user.email, &user.password).await;
    app.clock.advance(chrono::Duration::minutes(5));
    app.state.run_queued.notify_waiters();
    let run = finished(&app, &token, &run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["response_text"], "total 7, shipped true");
    let steps = run["run_metadata"]["steps"].as_array().unwrap();
    assert_eq!(
        steps.iter().filter(|s| s["step"] == "price").count(),
        1,
        "the finished step is not repeated: {steps:?}"
    );
    assert_eq!(run["run_metadata"]["credits_spent"], 8);
    // The stranded hold of the interrupted call is released by the sweeper.
    app.state.ledger.sweep_holds(100).await.unwrap();
    let (_, b) = app.get("/credits/balance", Some(&token)).await;
    assert_eq!(
        b["data"]["balance"],
        100 - 1 - 7,
        "each tool call charged exactly once"
    );
    // The callback is delivered exactly once.
    for _ in 0..200 {
        let (_, body) = app
            .get(&format!("/api/agent-webhooks/runs/{run_id}"), Some(&token))
            .await;
        if body["data"]["run"]["callback_status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (_, body) = app
        .get(&format!("/api/agent-webhooks/runs/{run_id}"), Some(&token))
        .await;
    assert_eq!(
        body["data"]["run"]["callback_status"], "delivered",
        "{body}"
    );
    assert_eq!(body["data"]["run"]["callback_last_status"], 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hook_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_survives_a_restart_and_its_callback_lands_once_on_sqlite() {
    a_run_survives_a_restart_and_its_callback_lands_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_survives_a_restart_and_its_callback_lands_once_on_postgres() {
    a_run_survives_a_restart_and_its_callback_lands_once(Backend::Postgres).await;
}

async fn two_nodes_share_the_queue_and_no_run_executes_twice(backend: Backend) {
    let Some(a) = TestApp::spawn_with(backend, |args| args.workers = 3).await else {
        return;
    };
    let mut args = crate::harness::serve_args();
    args.workers = 3;
    let b = TestApp::start(a.db.share(), args, backend).await;
    let user = funded(&a, 1000).await;
    let id = workflow(&a, &user, calculator_graph()).await;
    let mut runs = Vec::new();
    for i in 0..20 {
        let (status, body) =
            trigger(&a, &user.token, &id, json!({"prompt": format!("{i} + 1")})).await;
        assert_eq!(status, StatusCode::OK);
        runs.push(body["data"]["run"]["run_id"].as_str().unwrap().to_string());
        b.state.run_queued.notify_waiters();
    }
    for run_id in &runs {
        let run = finished(&a, &user.token, run_id).await;
        assert_eq!(run["status"], "succeeded");
        let row = a
            .state
            .store
            .run_by_id(run_id.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.attempts, 1, "claimed once");
    }
    let orders = a.state.store.orders_for_user(user.id(), 100).await.unwrap();
    assert_eq!(orders.len(), 20, "each run's tool call ran once");
    assert_eq!(a.balance(&user).await["balance"], 1000 - 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_the_queue_and_no_run_executes_twice_on_sqlite() {
    two_nodes_share_the_queue_and_no_run_executes_twice(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_the_queue_and_no_run_executes_twice_on_postgres() {
    two_nodes_share_the_queue_and_no_run_executes_twice(Backend::Postgres).await;
}

async fn a_running_run_stops_at_its_next_step_when_cancelled(app: TestApp) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let vendor_app = axum::Router::new().route(
        "/slow",
        axum::routing::post(move || {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(400)).await;
                axum::Json(json!({"ok": true}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slow", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, vendor_app).await });
    let vendor = app.new_vendor().await;
    let (_, body) = app
        .post("/vendor/products", Some(&vendor.token), json!({"slug": "slowpoke", "name": "slowpoke", "display_name": "Slow", "description": "Slow.",
            "endpoint": url, "timeout_ms": 5000,
            "actions": [{"name": "go", "description": "Go.", "price_credits": 2, "parameters": {"type": "object", "properties": {"n": {}}}}]}))
        .await;
    let product = body["data"]["product_id"].as_str().unwrap().to_string();
    let user = funded(&app, 100).await;
    app.request(
        Method::PUT,
        &format!("/budgets/{}/products/{product}", user.budget_id),
        Some(&user.token),
        None,
    )
    .await;
    let id = workflow(&app, &user, json!({"name": "loop", "engine": "graph", "definition": {"steps": [
        {"id": "each", "type": "for_each", "items": "{{metadata.items}}", "do": {"type": "tool", "tool": "slowpoke", "action": "go", "parameters": {"n": "{{item}}"}}}
    ]}})).await;
    let (_, body) = trigger(
        &app,
        &user.token,
        &id,
        json!({"prompt": "go", "request_metadata": {"items": [1, 2, 3, 4]}}),
    )
    .await;
    let run_id = body["data"]["run"]["run_id"].as_str().unwrap().to_string();
    for _ in 0..200 {
        if calls.load(Ordering::SeqCst) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, body) = app
        .post(
            &format!("/api/agent-webhooks/runs/{run_id}/cancel"),
            Some(&user.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["run"]["status"], "running",
        "a running run finishes its current step"
    );
    let run = finished(&app, &user.token, &run_id).await;
    assert_eq!(run["status"], "cancelled", "{run}");
    assert_eq!(run["error_code"], "cancelled");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "no step started after the cancellation"
    );
    assert_eq!(
        app.balance(&user).await["balance"],
        98,
        "the finished call is paid, nothing more"
    );
}
