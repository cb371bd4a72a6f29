//! Consent for what others change: a budget runs the workflow version its
//! owner enabled, and a newer version of someone else's workflow waits for
//! the budget owner's approval.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{serve_args, Backend, TestApp, TestUser};
use crate::workflows::{calculator_graph, finished, funded, trigger, workflow};

/// A page on 127.0.0.1 (allowlisted by the harness) that counts its visits.
async fn counting_page() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let page = axum::Router::new().route(
        "/collect",
        axum::routing::get(move || {
            let h = h.clone();
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({"stored": true}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/collect", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, page).await });
    (url, hits)
}

/// The calculator graph with a web_fetch step between the sum and the answer.
fn with_fetch(url: &str) -> Value {
    json!({"steps": [
        {"id": "calc", "type": "tool", "tool": "calculator", "action": "evaluate", "parameters": {"expression": "{{prompt}}"}, "next": "fetch"},
        {"id": "fetch", "type": "tool", "tool": "web_fetch", "action": "get", "parameters": {"url": url}, "next": "answer"},
        {"id": "answer", "type": "prompt", "template": "{{prompt}} = {{steps.calc.output.result}}"}
    ]})
}

/// Triggers `workflow_id` as `user` and waits for the run to end.
async fn run(app: &TestApp, user: &TestUser, workflow_id: &str) -> Value {
    let (status, body) = trigger(app, &user.token, workflow_id, json!({"prompt": "6 * 7"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let run_id = body["data"]["run"]["run_id"].as_str().unwrap().to_string();
    let run = finished(app, &user.token, &run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["response_text"], "6 * 7 = 42");
    run
}

fn step_names(run: &Value) -> Vec<String> {
    run["run_metadata"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap().to_string())
        .collect()
}

async fn update_requests(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let (status, body) = app.get("/approvals", Some(&user.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "workflow_update")
        .cloned()
        .collect()
}

/// The caller's view of one workflow in `GET /workflows`.
async fn listed(app: &TestApp, user: &TestUser, workflow_id: &str) -> Value {
    let (status, body) = app.get("/workflows", Some(&user.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["workflow_id"] == workflow_id)
        .cloned()
        .unwrap()
}

async fn a_budget_runs_the_pinned_version_until_its_owner_accepts_a_newer_one(app: TestApp) {
    let (url, hits) = counting_page().await;
    let author = funded(&app, 100).await;
    let mut public = calculator_graph();
    public["visibility"] = json!("public");
    let id = workflow(&app, &author, public).await;

    // B enables A's workflow on B's budget: version 1 is pinned.
    let user = funded(&app, 100).await;
    let (status, body) = app
        .request(
            Method::PUT,
            &format!("/budgets/{}/workflows/{id}", user.budget_id),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["pinned_version"], 1);
    let first = run(&app, &user, &id).await;
    assert_eq!(first["run_metadata"]["workflow_version"], 1);
    assert_eq!(step_names(&first), ["calc", "answer"]);

    // A adds a step that sends data to an outside URL: version 2.
    let (status, body) = app
        .request(
            Method::PATCH,
            &format!("/workflows/{id}"),
            Some(&author.token),
            Some(json!({"definition": with_fetch(&url)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["version"], 2);

    // A's own run takes the new version at once.
    let own = run(&app, &author, &id).await;
    assert_eq!(own["run_metadata"]["workflow_version"], 2);
    assert_eq!(step_names(&own), ["calc", "fetch", "answer"]);
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // B's next runs keep version 1: no fetch, and one request asks B.
    let b_balance = app.balance(&user).await["balance"].as_i64().unwrap();
    for _ in 0..2 {
        let pinned = run(&app, &user, &id).await;
        assert_eq!(pinned["run_metadata"]["workflow_version"], 1, "{pinned}");
        assert_eq!(step_names(&pinned), ["calc", "answer"]);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "B's runs fetched nothing");
    assert_eq!(
        app.balance(&user).await["balance"].as_i64().unwrap(),
        b_balance - 2,
        "B paid for the calculator only"
    );
    let requests = update_requests(&app, &user).await;
    assert_eq!(requests.len(), 1, "requests are not piled up: {requests:?}");
    let request = &requests[0];
    assert_eq!(request["status"], "open");
    assert_eq!(request["budget_id"], user.budget_id.as_str());
    assert_eq!(request["subject_id"], format!("{id}:2"));
    assert_eq!(request["detail"]["pinned_version"], 1);
    assert_eq!(request["detail"]["version"], 2);
    assert_eq!(request["detail"]["tools_added"], json!(["web_fetch"]));
    assert_eq!(
        request["detail"]["outside_calls_added"],
        json!(["web_fetch"])
    );
    assert!(
        update_requests(&app, &author).await.is_empty(),
        "the author runs their change without asking"
    );
    let seen = listed(&app, &user, &id).await;
    assert_eq!(seen["version"], 2);
    assert_eq!(seen["pinned_version"], 1);

    // B approves: the pin moves to version 2 and B's run fetches.
    let request_id = request["id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/approvals/{request_id}/approve"),
            Some(&user.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "approved");
    assert_eq!(listed(&app, &user, &id).await["pinned_version"], 2);
    let accepted = run(&app, &user, &id).await;
    assert_eq!(accepted["run_metadata"]["workflow_version"], 2);
    assert_eq!(step_names(&accepted), ["calc", "fetch", "answer"]);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert!(update_requests(&app, &user)
        .await
        .iter()
        .all(|a| a["status"] == "approved"));
}

async fn only_definition_changes_make_versions_and_any_of_them_asks_once(app: TestApp) {
    let author = funded(&app, 100).await;
    let mut public = calculator_graph();
    public["visibility"] = json!("public");
    let id = workflow(&app, &author, public).await;
    let user = funded(&app, 100).await;
    app.request(
        Method::PUT,
        &format!("/budgets/{}/workflows/{id}", user.budget_id),
        Some(&user.token),
        None,
    )
    .await;
    let patch = |body: Value| {
        let app = &app;
        let token = author.token.clone();
        let id = id.clone();
        async move {
            let (status, body) = app
                .request(
                    Method::PATCH,
                    &format!("/workflows/{id}"),
                    Some(&token),
                    Some(body),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["data"]["version"].as_i64().unwrap()
        }
    };
    // Name and description are not what runs: no new version.
    assert_eq!(
        patch(json!({"name": "calc two", "description": "adds"})).await,
        1
    );
    // The same definition again is no change either.
    assert_eq!(
        patch(json!({"definition": calculator_graph()["definition"]})).await,
        1
    );
    assert_eq!(
        run(&app, &user, &id).await["run_metadata"]["workflow_version"],
        1
    );
    assert!(update_requests(&app, &user).await.is_empty());

    // A changed template uses the same tools, yet still asks: the pin is strict.
    let mut changed = calculator_graph()["definition"].clone();
    changed["steps"][1]["template"] = json!("{{prompt}} = {{steps.calc.output.result}}!");
    assert_eq!(patch(json!({"definition": changed})).await, 2);
    let pinned = run(&app, &user, &id).await;
    assert_eq!(pinned["run_metadata"]["workflow_version"], 1);
    let requests = update_requests(&app, &user).await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0]["detail"]["tools_added"], json!([]));
    assert_eq!(requests[0]["detail"]["outside_calls_added"], json!([]));

    // B turns version 2 down: B keeps version 1 and is not asked again.
    let request_id = requests[0]["id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/approvals/{request_id}/deny"),
            Some(&user.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        run(&app, &user, &id).await["run_metadata"]["workflow_version"],
        1
    );
    let requests = update_requests(&app, &user).await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0]["status"], "denied");

    // Enabling the workflow again is consent too: it pins the newest version.
    let (status, body) = app
        .request(
            Method::PUT,
            &format!("/budgets/{}/workflows/{id}", user.budget_id),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["pinned_version"], 2);
    let (status, body) = trigger(&app, &user.token, &id, json!({"prompt": "6 * 7"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let run_id = body["data"]["run"]["run_id"].as_str().unwrap().to_string();
    let run = finished(&app, &user.token, &run_id).await;
    assert_eq!(run["run_metadata"]["workflow_version"], 2);
    assert_eq!(run["response_text"], "6 * 7 = 42!");

    // A later version is asked about again.
    changed["steps"][1]["template"] = json!("{{prompt}} is {{steps.calc.output.result}}");
    assert_eq!(patch(json!({"definition": changed})).await, 3);
    let (status, body) = trigger(&app, &user.token, &id, json!({"prompt": "6 * 7"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let run_id = body["data"]["run"]["run_id"].as_str().unwrap().to_string();
    let run = finished(&app, &user.token, &run_id).await;
    assert_eq!(run["run_metadata"]["workflow_version"], 2);
    let requests = update_requests(&app, &user).await;
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0]["subject_id"], format!("{id}:3"));
    assert_eq!(requests[0]["status"], "open");
    assert_eq!(requests[0]["detail"]["pinned_version"], 2);
}

async fn concurrent_changes_each_make_one_version_or_answer_409(app: TestApp) {
    let author = funded(&app, 100).await;
    let id = workflow(&app, &author, calculator_graph()).await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let mut def = calculator_graph()["definition"].clone();
            def["steps"][1]["template"] = json!(format!("{i}: {{{{steps.calc.output.result}}}}"));
            let client = app.client.clone();
            let url = format!("{}/workflows/{id}", app.url);
            let token = author.token.clone();
            tokio::spawn(async move {
                let resp = client
                    .patch(url)
                    .bearer_auth(token)
                    .json(&json!({"definition": def}))
                    .send()
                    .await
                    .unwrap();
                let status = resp.status();
                (status, resp.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut applied = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::OK => applied.push(body["data"]["version"].as_i64().unwrap()),
            StatusCode::CONFLICT => assert_eq!(body["error"], "workflow_changed", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    applied.sort();
    let expected: Vec<i64> = (2..2 + applied.len() as i64).collect();
    assert_eq!(applied, expected, "each applied change is its own version");
    let (_, body) = app
        .get(&format!("/workflows/{id}"), Some(&author.token))
        .await;
    assert_eq!(body["data"]["version"], 1 + applied.len() as i64);
}

/// Takes the database back to before workflow versions: the tables and
/// columns of migration 0009 gone, and the migration not applied.
async fn undo_versions_migration(app: &TestApp) {
    const UNDO: [&str; 6] = [
        "DROP TABLE workflow_versions",
        "DROP INDEX approval_requests_subject",
        "ALTER TABLE workflows DROP COLUMN version",
        "ALTER TABLE budget_workflows DROP COLUMN pinned_version",
        "ALTER TABLE runs DROP COLUMN workflow_version",
        "DELETE FROM _sqlx_migrations WHERE version = 9",
    ];
    match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
            for sql in UNDO {
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
            for sql in UNDO {
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
    }
}

async fn workflows_enabled_before_versions_are_pinned_to_version_1(app: TestApp) {
    let mut author = funded(&app, 100).await;
    let mut public = calculator_graph();
    public["visibility"] = json!("public");
    let id = workflow(&app, &author, public).await;
    let mut user = funded(&app, 100).await;
    app.request(
        Method::PUT,
        &format!("/budgets/{}/workflows/{id}", user.budget_id),
        Some(&user.token),
        None,
    )
    .await;
    let backend = app.backend;
    let db = app.stop().await;
    let app = TestApp::start(db, serve_args(), backend).await;
    undo_versions_migration(&app).await;
    let db = app.stop().await;

    // Starting again applies the migration to the existing rows.
    let app = TestApp::start(db, serve_args(), backend).await;
    author.token = app.login(&author.email, &author.password).await;
    user.token = app.login(&user.email, &user.password).await;
    let seen = listed(&app, &user, &id).await;
    assert_eq!(seen["version"], 1);
    assert_eq!(seen["pinned_version"], 1);
    assert_eq!(
        run(&app, &user, &id).await["run_metadata"]["workflow_version"],
        1
    );

    // The migrated version 1 is what the budget keeps running after a change.
    let mut changed = calculator_graph()["definition"].clone();
    changed["steps"][1]["template"] = json!("changed: {{steps.calc.output.result}}");
    let (status, body) = app
        .request(
            Method::PATCH,
            &format!("/workflows/{id}"),
            Some(&author.token),
            Some(json!({"definition": changed})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["version"], 2);
    assert_eq!(
        run(&app, &user, &id).await["run_metadata"]["workflow_version"],
        1
    );
    assert_eq!(update_requests(&app, &user).await.len(), 1);
}

crate::on_both_backends!(
    a_budget_runs_the_pinned_version_until_its_owner_accepts_a_newer_one,
    only_definition_changes_make_versions_and_any_of_them_asks_once,
    workflows_enabled_before_versions_are_pinned_to_version_1,
    concurrent_changes_each_make_one_version_or_answer_409,
);
