//! Every account's work is bounded: a run's state, its queue of runs, and
//! its share of the workers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{Backend, TestApp};
use crate::workflows::{calculator_graph, finished, funded, trigger, workflow};

/// The resident memory of this test process, in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// `n` prompt steps, each repeating the one before it ten times: left alone,
/// seven of them grow to gigabytes by the last step.
fn template_bomb(n: usize) -> Value {
    let mut steps = vec![
        json!({"id": "s1", "type": "prompt", "template": "{{prompt}}".repeat(10), "next": "s2"}),
    ];
    for i in 2..=n {
        let mut step = json!({"id": format!("s{i}"), "type": "prompt",
                              "template": format!("{{{{steps.s{}.output}}}}", i - 1).repeat(10)});
        if i < n {
            step["next"] = json!(format!("s{}", i + 1));
        }
        steps.push(step);
    }
    json!({"name": "bomb", "engine": "graph", "definition": {"steps": steps}})
}

async fn a_template_bomb_fails_quickly_with_run_state_too_large_and_memory_stays_bounded(
    app: TestApp,
) {
    let user = app.new_user().await;
    let id = workflow(&app, &user, template_bomb(7)).await;
    let before = resident_bytes();
    let started = Instant::now();
    let (status, body) = trigger(&app, &user.token, &id, json!({"prompt": "x".repeat(2000)})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let run_id = body["data"]["run"]["run_id"].as_str().unwrap().to_string();
    let run = finished(&app, &user.token, &run_id).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it fails quickly"
    );
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error_code"], "run_state_too_large");
    let message = run["error_message"].as_str().unwrap();
    assert!(
        message.contains("step s3") && message.contains("1048576 bytes"),
        "{message}"
    );
    assert!(run["response_text"].is_null());
    let grown = resident_bytes().saturating_sub(before);
    assert!(
        grown < 200 * 1024 * 1024,
        "resident memory grew by {grown} bytes"
    );
    assert_eq!(app.balance(&user).await["balance"], 0, "it cost nothing");
    let (status, _) = app.get("/health", None).await;
    assert_eq!(status, StatusCode::OK, "the server stays healthy");
}

async fn a_run_within_the_state_limit_is_not_affected(app: TestApp) {
    let user = app.new_user().await;
    let id = workflow(&app, &user, template_bomb(5)).await;
    let (_, body) = trigger(&app, &user.token, &id, json!({"prompt": "x"})).await;
    let run_id = body["data"]["run"]["run_id"].as_str().unwrap().to_string();
    let run = finished(&app, &user.token, &run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["response_text"].as_str().map(str::len), Some(100_000));
}

async fn the_trigger_refuses_past_the_queued_limit_with_429(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |a| {
        a.workers = 0;
        a.max_queued_runs_per_user = 3;
    })
    .await
    else {
        return;
    };
    let user = funded(&app, 100).await;
    let id = workflow(&app, &user, calculator_graph()).await;
    let mut runs = Vec::new();
    for i in 0..3 {
        let body = json!({"prompt": format!("{i}"), "request_id": format!("r{i}")});
        let (status, body) = trigger(&app, &user.token, &id, body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        runs.push(body["data"]["run"]["run_id"].as_str().unwrap().to_string());
    }
    let (status, body) = trigger(&app, &user.token, &id, json!({"prompt": "4"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(body["error"], "too_many_queued_runs");
    assert!(
        body["message"].as_str().unwrap().contains("3 runs"),
        "{body}"
    );

    // A replay of an accepted trigger still answers with its run.
    let replay = json!({"prompt": "0", "request_id": "r0"});
    let (status, body) = trigger(&app, &user.token, &id, replay).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["data"]["run"]["run_id"], runs[0].as_str());

    // Another user's queue is their own.
    let other = funded(&app, 100).await;
    let theirs = workflow(&app, &other, calculator_graph()).await;
    let (status, body) = trigger(&app, &other.token, &theirs, json!({"prompt": "1"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Cancelling a queued run makes room.
    let (status, _) = app
        .post(
            &format!("/api/agent-webhooks/runs/{}/cancel", runs[0]),
            Some(&user.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = trigger(&app, &user.token, &id, json!({"prompt": "5"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trigger_refuses_past_the_queued_limit_with_429_on_sqlite() {
    the_trigger_refuses_past_the_queued_limit_with_429(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trigger_refuses_past_the_queued_limit_with_429_on_postgres() {
    the_trigger_refuses_past_the_queued_limit_with_429(Backend::Postgres).await;
}

/// A vendor tool that takes `delay` per call and counts how many calls it
/// serves at once (the most it saw is in the second counter).
async fn slow_vendor(delay: Duration) -> (String, Arc<AtomicUsize>) {
    let now = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (n, m) = (now.clone(), most.clone());
    let vendor = axum::Router::new().route(
        "/call",
        axum::routing::post(move || {
            let (n, m) = (n.clone(), m.clone());
            async move {
                let current = n.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(current, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                n.fetch_sub(1, Ordering::SeqCst);
                axum::Json(json!({"done": true}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/call", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, vendor).await });
    (url, most)
}

async fn one_users_backlog_does_not_hold_up_another_users_run(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |a| {
        a.workers = 4;
        a.max_running_runs_per_user = 2;
    })
    .await
    else {
        return;
    };
    let (vendor_url, most_at_once) = slow_vendor(Duration::from_millis(300)).await;
    let vendor = app.new_vendor().await;
    let (status, body) = app
        .post("/vendor/products", Some(&vendor.token), json!({"slug": "slow", "name": "slow", "display_name": "Slow", "description": "Takes a while.",
            "endpoint": vendor_url, "timeout_ms": 10000,
            "actions": [{"name": "work", "description": "Work.", "price_credits": 1, "parameters": {"type": "object", "properties": {}}}]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let slow = body["data"]["product_id"].as_str().unwrap().to_string();
    let busy = funded(&app, 100).await;
    app.request(
        Method::PUT,
        &format!("/budgets/{}/products/{slow}", busy.budget_id),
        Some(&busy.token),
        None,
    )
    .await;
    let backlog = workflow(
        &app,
        &busy,
        json!({"name": "slow", "engine": "graph", "definition": {"steps": [
            {"id": "work", "type": "tool", "tool": "slow", "action": "work"}
        ]}}),
    )
    .await;
    let mut busy_runs = Vec::new();
    for i in 0..12 {
        let (status, body) = trigger(
            &app,
            &busy.token,
            &backlog,
            json!({"prompt": format!("{i}")}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        busy_runs.push(body["data"]["run"]["run_id"].as_str().unwrap().to_string());
    }
    let other = funded(&app, 100).await;
    let quick = workflow(&app, &other, calculator_graph()).await;
    let (status, body) = trigger(&app, &other.token, &quick, json!({"prompt": "1 + 1"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let other_run = finished(
        &app,
        &other.token,
        body["data"]["run"]["run_id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(other_run["status"], "succeeded", "{other_run}");
    let mut still_waiting = 0;
    for run_id in &busy_runs {
        let (_, body) = app
            .get(
                &format!("/api/agent-webhooks/runs/{run_id}"),
                Some(&busy.token),
            )
            .await;
        if matches!(
            body["data"]["run"]["status"].as_str(),
            Some("queued" | "running")
        ) {
            still_waiting += 1;
        }
    }
    assert!(
        still_waiting >= 6,
        "the other user's run waited for the backlog: only {still_waiting} of 12 runs were left"
    );
    for run_id in &busy_runs {
        let run = finished(&app, &busy.token, run_id).await;
        assert_eq!(run["status"], "succeeded", "{run}");
    }
    assert!(
        most_at_once.load(Ordering::SeqCst) <= 2,
        "one user ran {} runs at once",
        most_at_once.load(Ordering::SeqCst)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_users_backlog_does_not_hold_up_another_users_run_on_sqlite() {
    one_users_backlog_does_not_hold_up_another_users_run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_users_backlog_does_not_hold_up_another_users_run_on_postgres() {
    one_users_backlog_does_not_hold_up_another_users_run(Backend::Postgres).await;
}

crate::on_both_backends!(
    a_run_within_the_state_limit_is_not_affected,
    a_template_bomb_fails_quickly_with_run_state_too_large_and_memory_stays_bounded,
);
