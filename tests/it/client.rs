//! The typed client crate and the `tollgate` client commands, against a
//! running server.

use std::process::Command;

use serde_json::{json, Value};
use tollgate_client::{Client, PurchaseOptions, TriggerRequest};

use crate::harness::{Backend, TestApp, TestUser};

async fn funded(app: &TestApp, credits: i64) -> TestUser {
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    app.grant(&admin, &user, credits, None).await;
    user
}

fn cli(app: &TestApp, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .env("TOLLGATE_URL", &app.url)
        .env("TOLLGATE_TOKEN", token)
        .output()
        .expect("run tollgate");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn calculator_workflow(app: &TestApp, user: &TestUser) -> String {
    let (_, body) = app
        .post("/workflows", Some(&user.token), json!({"name": "calc", "engine": "graph", "definition": {"steps": [
            {"id": "calc", "type": "tool", "tool": "calculator", "action": "evaluate", "parameters": {"expression": "{{prompt}}"}, "next": "answer"},
            {"id": "answer", "type": "prompt", "template": "{{prompt}} = {{steps.calc.output.result}}"}
        ]}}))
        .await;
    let id = body["data"]["workflow_id"].as_str().unwrap().to_string();
    app.request(
        reqwest::Method::PUT,
        &format!("/budgets/{}/workflows/{id}", user.budget_id),
        Some(&user.token),
        None,
    )
    .await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_crate_covers_an_agents_round_trip() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let user = funded(&app, 100).await;
    let c = Client::new(&app.url).with_token(&user.token);
    assert_eq!(c.health().await.unwrap(), "ok");
    assert_eq!(c.balance().await.unwrap().balance, 100);
    let tools = c.all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "calculator"));
    let p = c
        .purchase(
            "calculator",
            "evaluate",
            json!({"expression": "6*7"}),
            PurchaseOptions {
                idempotency_key: Some("k".into()),
                instance_id: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(p.data["result"], 42);
    let again = c
        .purchase(
            "calculator",
            "evaluate",
            json!({"expression": "6*7"}),
            PurchaseOptions {
                idempotency_key: Some("k".into()),
                instance_id: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(again.order_id, p.order_id, "replayed, not charged twice");
    assert_eq!(c.balance().await.unwrap().balance, 99);
    let history = c.history(Some(10)).await.unwrap();
    assert_eq!(history.transactions[0].transaction_type, "purchase");

    let err = c
        .purchase(
            "calculator",
            "evaluate",
            json!({}),
            PurchaseOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "validation_error");
    assert_eq!(err.status(), Some(422));
    let err = Client::new(&app.url)
        .with_token("tg_bogus")
        .balance()
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_token");

    let wf = calculator_workflow(&app, &user).await;
    let t = c
        .trigger(
            &wf,
            &TriggerRequest {
                prompt: "2+3".into(),
                request_id: Some("r".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!t.replayed);
    let run = c
        .wait_for_run(&t.run.run_id, std::time::Duration::from_millis(20), |_| {})
        .await
        .unwrap();
    assert_eq!(run.response_text.as_deref(), Some("2+3 = 5"));
    let replay = c
        .trigger(
            &wf,
            &TriggerRequest {
                prompt: "2+3".into(),
                request_id: Some("r".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.run.run_id, t.run.run_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_signs_out_and_its_token_stops_working() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let user = app.new_user().await;
    let c = Client::new(&app.url).with_token(&user.token);
    c.balance().await.unwrap();
    c.logout().await.unwrap();
    let err = c.balance().await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.code(), "invalid_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commands_print_for_people_and_for_machines() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let user = funded(&app, 100).await;
    let (ok, out, _) = cli(&app, &user.token, &["balance"]);
    assert!(ok);
    assert_eq!(out.trim(), "100 credits ($1.00)");
    let (ok, out, _) = cli(&app, &user.token, &["balance", "--json"]);
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"balance": 100, "expiration": null, "expires_in_days": null})
    );

    let (ok, out, _) = cli(&app, &user.token, &["tools"]);
    assert!(ok);
    assert!(out.starts_with("TOOL"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("calculator") && l.contains("evaluate (1)")),
        "{out}"
    );

    let (ok, out, err) = cli(
        &app,
        &user.token,
        &["call", "calculator", "evaluate", "expression=6*7"],
    );
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["result"], 42);
    assert!(err.contains("1 credits"));

    let (ok, out, _) = cli(&app, &user.token, &["history", "--json"]);
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["transactions"][0]["transaction_type"],
        "purchase"
    );

    let wf = calculator_workflow(&app, &user).await;
    let (ok, out, err) = cli(
        &app,
        &user.token,
        &["trigger", &wf, "2 * (3 + 4)", "--wait"],
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "2 * (3 + 4) = 14");
    let (ok, out, _) = cli(&app, &user.token, &["trigger", &wf, "1+1", "--json"]);
    assert!(ok);
    let run_id = serde_json::from_str::<Value>(&out).unwrap()["run"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..100 {
        let (_, out, _) = cli(&app, &user.token, &["run", &run_id, "--json"]);
        if serde_json::from_str::<Value>(&out).unwrap()["status"] == "succeeded" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (ok, out, _) = cli(&app, &user.token, &["run", &run_id]);
    assert!(ok);
    assert_eq!(out.trim(), "1+1 = 2");

    // Errors are one clear line and a non-zero exit.
    let (ok, out, err) = cli(&app, "tg_bogus", &["balance"]);
    assert!(!ok);
    assert!(out.is_empty());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: invalid_token"), "{err}");
    let (ok, _, err) = cli(
        &app,
        &user.token,
        &["call", "calculator", "evaluate", "expression=1/0"],
    );
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (ok, _, err) = cli(
        &app,
        &user.token,
        &["call", "calculator", "evaluate", "oops"],
    );
    assert!(!ok);
    assert!(err.contains("key=value"), "{err}");
}
