//! Every account's work is bounded: a run's state, its queue of runs, and
//! its share of the workers.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestApp;
use crate::workflows::{finished, trigger, workflow};

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

crate::on_both_backends!(
    a_run_within_the_state_limit_is_not_affected,
    a_template_bomb_fails_quickly_with_run_state_too_large_and_memory_stays_bounded,
);
