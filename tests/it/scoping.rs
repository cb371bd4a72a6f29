//! A budget API key sees and touches only its own budget's runs, approvals
//! and workflow enablement; the owner's access token sees all of them.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{TestApp, TestUser};

/// A funded user with a second budget and an API key on it.
struct TwoBudgets {
    user: TestUser,
    second_budget: String,
    second_key: String,
}

async fn two_budgets(app: &TestApp) -> TwoBudgets {
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    app.grant(&admin, &user, 1_000, None).await;
    let (status, body) = app
        .post("/budgets", Some(&user.token), json!({"name": "second"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let second_budget = body["data"]["id"].as_str().unwrap().to_string();
    let (status, body) = app
        .post(
            &format!("/budgets/{second_budget}/api-keys"),
            Some(&user.token),
            json!({"name": "agent"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    TwoBudgets {
        user,
        second_budget,
        second_key: body["data"]["key"].as_str().unwrap().to_string(),
    }
}

/// A private calculator workflow of the user's, not enabled anywhere.
async fn private_workflow(app: &TestApp, user: &TestUser) -> String {
    let (status, body) = app
        .post(
            "/workflows",
            Some(&user.token),
            json!({"name": "calc", "engine": "graph", "definition": {"steps": [
                {"id": "calc", "type": "tool", "tool": "calculator", "action": "evaluate", "parameters": {"expression": "{{prompt}}"}, "next": "answer"},
                {"id": "answer", "type": "prompt", "template": "{{steps.calc.output.result}}"}
            ]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["workflow_id"].as_str().unwrap().to_string()
}

async fn put(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    app.request(Method::PUT, path, Some(token), None).await
}

fn trigger_path(workflow_id: &str) -> String {
    format!("/api/agent-webhooks/{workflow_id}/trigger")
}

async fn a_key_of_another_budget_cannot_see_or_cancel_the_default_budgets_run(app: TestApp) {
    let t = two_budgets(&app).await;
    let wf = private_workflow(&app, &t.user).await;
    let (status, _) = put(
        &app,
        &format!("/budgets/{}/workflows/{wf}", t.user.budget_id),
        &t.user.token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post(
            &trigger_path(&wf),
            Some(&t.user.token),
            json!({"prompt": "2+2", "request_id": "once"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let run_id = body["data"]["run"]["run_id"].as_str().unwrap().to_string();
    let run_path = format!("/api/agent-webhooks/runs/{run_id}");

    let (status, body) = app.get(&run_path, Some(&t.second_key)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "run_not_found");
    let (status, body) = app
        .post(
            &format!("{run_path}/cancel"),
            Some(&t.second_key),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "run_not_found");

    // Reusing the default budget's request_id does not hand the run over.
    let (status, _) = put(
        &app,
        &format!("/budgets/{}/workflows/{wf}", t.second_budget),
        &t.user.token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post(
            &trigger_path(&wf),
            Some(&t.second_key),
            json!({"prompt": "2+2", "request_id": "once"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "request_id_in_use");
    assert!(!body.to_string().contains(&run_id), "{body}");

    // The owner's access token still sees the run.
    let (status, body) = app.get(&run_path, Some(&t.user.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["run"]["run_id"], run_id.as_str());

    // And the key sees the runs of its own budget, once its tool is there.
    let calc = app
        .state
        .catalog
        .snapshot()
        .resolve("calculator")
        .unwrap()
        .0
        .row
        .id;
    let (status, _) = put(
        &app,
        &format!("/budgets/{}/products/{calc}", t.second_budget),
        &t.user.token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post(
            &trigger_path(&wf),
            Some(&t.second_key),
            json!({"prompt": "3+3"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let own = body["data"]["run"]["run_id"].as_str().unwrap();
    let (status, _) = app
        .get(
            &format!("/api/agent-webhooks/runs/{own}"),
            Some(&t.second_key),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn a_key_lists_only_its_budgets_approvals_and_resolves_none(app: TestApp) {
    let t = two_budgets(&app).await;
    let wf = private_workflow(&app, &t.user).await;
    // Triggers of a workflow not on the budget each open a request there.
    let (status, body) = app
        .post(
            &trigger_path(&wf),
            Some(&t.user.token),
            json!({"prompt": "1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let default_request = body["data"]["workflow_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = app
        .post(
            &trigger_path(&wf),
            Some(&t.second_key),
            json!({"prompt": "1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let second_request = body["data"]["workflow_request_id"]
        .as_str()
        .unwrap()
        .to_string();

    let ids = |body: &Value| -> Vec<String> {
        body["data"]["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, body) = app.get("/approvals", Some(&t.second_key)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body), vec![second_request.clone()]);

    for action in ["approve", "deny"] {
        let (status, body) = app
            .post(
                &format!("/approvals/{default_request}/{action}"),
                Some(&t.second_key),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}: {body}");
        assert_eq!(body["error"], "approval_not_found");
    }
    // Its own budget's request is for the owner to answer, not the agent.
    let (status, body) = app
        .post(
            &format!("/approvals/{second_request}/approve"),
            Some(&t.second_key),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "user_token_required");

    // The access token sees and resolves both.
    let (status, body) = app.get("/approvals", Some(&t.user.token)).await;
    assert_eq!(status, StatusCode::OK);
    let all = ids(&body);
    assert!(all.contains(&default_request) && all.contains(&second_request));
    let (status, body) = app
        .post(
            &format!("/approvals/{default_request}/approve"),
            Some(&t.user.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "approved");
}

async fn a_key_cannot_enable_workflows_or_manage_other_budgets(app: TestApp) {
    let t = two_budgets(&app).await;
    let wf = private_workflow(&app, &t.user).await;
    let default_budget = t.user.budget_id.clone();

    // Another budget does not exist for the key.
    let (status, body) = put(
        &app,
        &format!("/budgets/{default_budget}/workflows/{wf}"),
        &t.second_key,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "budget_not_found");
    let (status, body) = app
        .request(
            Method::DELETE,
            &format!("/budgets/{default_budget}/workflows/{wf}"),
            Some(&t.second_key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app
        .get(&format!("/budgets/{default_budget}"), Some(&t.second_key))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "budget_not_found");
    let (status, body) = app
        .post(
            &format!("/budgets/{default_budget}/api-keys"),
            Some(&t.second_key),
            json!({"name": "stolen"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "budget_not_found");

    // Its own budget is managed by the owner's session, not by the key.
    let (status, body) = put(
        &app,
        &format!("/budgets/{}/workflows/{wf}", t.second_budget),
        &t.second_key,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "user_token_required");
    let (status, body) = app
        .post(
            &format!("/budgets/{}/api-keys", t.second_budget),
            Some(&t.second_key),
            json!({"name": "more"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Nor may it change the user's workflow, which every budget may run.
    let (status, body) = app
        .request(
            Method::PATCH,
            &format!("/workflows/{wf}"),
            Some(&t.second_key),
            Some(json!({"name": "hijacked"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "user_token_required");
    let (_, body) = app
        .get(&format!("/workflows/{wf}"), Some(&t.user.token))
        .await;
    assert_eq!(body["data"]["name"], "calc");

    // Nothing was enabled by the key.
    let (_, body) = app
        .get(&format!("/budgets/{default_budget}"), Some(&t.user.token))
        .await;
    assert_eq!(body["data"]["is_default"], true);
    let (status, body) = app
        .post(
            &trigger_path(&wf),
            Some(&t.user.token),
            json!({"prompt": "1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "workflow_not_on_budget");

    // The access token manages every budget.
    for budget in [&default_budget, &t.second_budget] {
        let (status, body) = put(
            &app,
            &format!("/budgets/{budget}/workflows/{wf}"),
            &t.user.token,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

async fn a_keys_credit_history_leaves_out_other_budgets_purchases(app: TestApp) {
    let t = two_budgets(&app).await;
    let (status, body) = app
        .post(
            "/products/purchase",
            Some(&t.user.token),
            json!({"product_id": "calculator", "parameters": {"action": "evaluate", "expression": "1+1"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let types = |body: &Value| -> Vec<String> {
        body["data"]["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["transaction_type"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, all) = app.get("/credits/history", Some(&t.user.token)).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let (status, scoped) = app.get("/credits/history", Some(&t.second_key)).await;
    assert_eq!(status, StatusCode::OK, "{scoped}");
    assert_eq!(
        types(&all).len(),
        types(&scoped).len() + 1,
        "all: {all}, key: {scoped}"
    );
    assert!(
        !types(&scoped).is_empty(),
        "the grant is the wallet's: {scoped}"
    );
    // The balance is the wallet's, the same for both.
    assert_eq!(app.balance(&t.user).await["balance"], 999);
}

/// A connection instance of the default budget (and what its memory holds)
/// does not exist for a key of another budget; its own default instance is
/// its own.
async fn a_key_of_another_budget_cannot_use_the_default_budgets_instance(app: TestApp) {
    let t = two_budgets(&app).await;
    let (status, body) = app
        .post(
            "/products/purchase",
            Some(&t.user.token),
            json!({"product_id": "instance_memory", "parameters": {"action": "set", "key": "secret", "value": "s3cret"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let instance = body["instance_id"].as_str().unwrap().to_string();
    for path in ["/products/fetch"] {
        let resp = app
            .client
            .get(format!("{}{path}", app.url))
            .bearer_auth(&t.second_key)
            .header("x-instance-id", &instance)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "instance_not_found");
    }
    let resp = app
        .client
        .post(format!("{}/products/purchase", app.url))
        .bearer_auth(&t.second_key)
        .header("x-instance-id", &instance)
        .json(&json!({"product_id": "instance_memory", "parameters": {"action": "get", "key": "secret"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "instance_not_found");
    assert!(!body.to_string().contains("s3cret"));
    // The key's own default instance is another one.
    let (status, body) = app.get("/products/fetch", Some(&t.second_key)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_ne!(body["instance_id"], instance.as_str());
    let _ = &t.second_budget;
}

crate::on_both_backends!(
    a_key_of_another_budget_cannot_use_the_default_budgets_instance,
    a_keys_credit_history_leaves_out_other_budgets_purchases,
    a_key_of_another_budget_cannot_see_or_cancel_the_default_budgets_run,
    a_key_lists_only_its_budgets_approvals_and_resolves_none,
    a_key_cannot_enable_workflows_or_manage_other_budgets,
);
