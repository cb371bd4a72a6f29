//! The `tollgate` binary: command line shape and admin commands.

use std::process::Command;

use clap::CommandFactory;
use reqwest::StatusCode;

use crate::harness::{serve_args, Backend, TestApp};

#[test]
fn the_command_line_is_well_formed() {
    tollgate::cli::Cli::command().debug_assert();
}

fn tollgate(db: &crate::harness::TestDb, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .env("TOLLGATE_DATABASE_URL", &db.url)
        .env("TOLLGATE_MASTER_KEY", &db.master_key)
        .env_remove("RUST_LOG")
        .output()
        .expect("run tollgate")
}

async fn admin_commands_work_with_the_server_running(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let out = tollgate(
        &app.db,
        &[
            "admin",
            "create-user",
            "--email",
            "ops@example.com",
            "--password",
            "operator password",
            "--role",
            "admin",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tollgate(
        &app.db,
        &[
            "admin",
            "create-api-key",
            "--email",
            "ops@example.com",
            "--name",
            "ci",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(key.starts_with("tg_"));
    let out = tollgate(
        &app.db,
        &[
            "admin",
            "grant",
            "--email",
            "ops@example.com",
            "--credits",
            "250",
            "--expires-at",
            "2099-01-01T00:00:00Z",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, body) = app.get("/credits/balance", Some(&key)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["balance"], 250);
    assert_eq!(body["data"]["expiration"], "2099-01-01T00:00:00.000Z");
    // The CLI-made admin can use the admin API.
    let token = app.login("ops@example.com", "operator password").await;
    let user = app.new_user().await;
    let (status, _) = app
        .post(
            "/admin/grants",
            Some(&token),
            serde_json::json!({"user_id": user.user_id, "amount_credits": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let out = tollgate(
        &app.db,
        &[
            "admin",
            "create-user",
            "--email",
            "ops@example.com",
            "--password",
            "operator password",
        ],
    );
    assert!(!out.status.success(), "a duplicate email fails");
    let out = tollgate(
        &app.db,
        &[
            "admin",
            "grant",
            "--email",
            "nobody@example.com",
            "--credits",
            "5",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_work_with_the_server_running_on_sqlite() {
    admin_commands_work_with_the_server_running(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_work_with_the_server_running_on_postgres() {
    admin_commands_work_with_the_server_running(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_work_with_the_server_stopped() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let db = app.stop().await;
    for weak in ["short pw", "Password12345"] {
        let out = tollgate(
            &db,
            &[
                "admin",
                "create-user",
                "--email",
                "later@example.com",
                "--password",
                weak,
            ],
        );
        assert!(!out.status.success(), "{weak:?} is refused");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("password"), "{stderr}");
        assert!(
            !stderr.contains(weak),
            "the password is not printed: {stderr}"
        );
    }
    let out = tollgate(
        &db,
        &[
            "admin",
            "create-user",
            "--email",
            "later@example.com",
            "--password",
            "later password 1",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tollgate(&db, &["admin", "rotate-signing-key"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app = TestApp::start(db, serve_args(), Backend::Sqlite).await;
    app.login("later@example.com", "later password 1").await;
    let (_, jwks) = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        2,
        "the rotated key and the old one"
    );
}

/// A command that wrote through the ledger ends without a panic, every
/// time: the ledger's connection and sqlx's close as the command's runtime
/// stops. (When the ledger kept statements on sqlx's connection, each grant
/// raced its own exit, and lost about half the time.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_grants_exit_cleanly_every_time() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let db = app.stop().await;
    let out = tollgate(
        &db,
        &[
            "admin",
            "create-user",
            "--email",
            "grants@example.com",
            "--password",
            "grants password 1",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for i in 0..12 {
        let out = tollgate(
            &db,
            &[
                "admin",
                "grant",
                "--email",
                "grants@example.com",
                "--credits",
                "5",
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "grant {i}: {stderr}");
        assert!(!stderr.contains("panicked"), "grant {i}: {stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("balance is now {}", 5 * (i + 1))),
            "grant {i}: {stdout}"
        );
    }
}

#[test]
fn serve_works_on_a_fresh_directory_and_prints_a_working_curl_line() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env_remove("TOLLGATE_DATABASE_URL")
        .env_remove("TOLLGATE_MASTER_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Read the banner as the server prints it, and keep draining stdout
    // afterwards as a terminal would.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(60)) {
        let done = line.trim_start().starts_with("curl ");
        lines.push(line);
        if done {
            break;
        }
    }
    let curl = lines
        .iter()
        .find(|l| l.trim_start().starts_with("curl "))
        .expect("a curl line")
        .trim()
        .to_string();
    let key = curl
        .split("Bearer ")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let url = curl.rsplit(' ').next().unwrap().to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (status, body) = rt.block_on(async {
        let resp = reqwest::Client::new()
            .get(&url)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        (
            resp.status(),
            resp.json::<serde_json::Value>().await.unwrap(),
        )
    });
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["balance"], 10_000);
    assert!(
        dir.path().join("tollgate.db").exists(),
        "the default SQLite file is created"
    );
    // SIGTERM shuts it down gracefully.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "a clean exit after SIGTERM: {status:?}");
}

/// Serves with `--log-format <format>`, its logs piped, asks for `/health`
/// and answers the log line that names the request's id.
fn log_line_of_a_request(format: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "serve",
            "--no-demo",
            "--log-format",
            format,
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .current_dir(dir.path())
        .env_remove("TOLLGATE_DATABASE_URL")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let request_id = rt.block_on(async {
        for _ in 0..100 {
            if let Ok(resp) = reqwest::get(format!("http://127.0.0.1:{port}/health")).await {
                return resp.headers()["x-request-id"].to_str().unwrap().to_string();
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the server did not start");
    });
    let mut found = None;
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(10)) {
        if line.contains(&request_id) {
            found = Some(line);
            break;
        }
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    found.expect("a log line naming the request id")
}

#[test]
fn json_logs_carry_the_request_id_on_every_request_line() {
    let line = log_line_of_a_request("json");
    let parsed: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert!(line.contains("\"route\":\"/health\""), "{parsed}");
}

/// Logs written to a file or a pipe are plain text: no terminal colour codes.
#[test]
fn text_logs_to_a_pipe_carry_no_colour_codes() {
    let line = log_line_of_a_request("text");
    assert!(line.contains("/health"), "{line}");
    assert!(!line.contains('\u{1b}'), "an escape code in {line:?}");
}

/// A grant that `tollgate admin grant` makes from another process while the
/// server runs is spent by the server's next purchases: the rows of the
/// wallet that the ledger writer keeps between batches (here: no credits
/// left) give way to the other process's commit.
async fn a_grant_from_another_process_is_spent_by_the_running_server(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let user = app.funded_user(1).await;
    let buy = || {
        app.post(
            "/products/purchase",
            Some(&user.token),
            serde_json::json!({"product_id": "calculator", "parameters": {"action": "evaluate", "expression": "1 + 1"}}),
        )
    };
    assert_eq!(buy().await.0, StatusCode::OK);
    assert_eq!(buy().await.0, StatusCode::PAYMENT_REQUIRED);
    let out = tollgate(
        &app.db,
        &["admin", "grant", "--email", &user.email, "--credits", "3"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for n in 0..3 {
        assert_eq!(
            buy().await.0,
            StatusCode::OK,
            "purchase {n} of the new grant"
        );
    }
    assert_eq!(buy().await.0, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(app.balance(&user).await["balance"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_from_another_process_is_spent_by_the_running_server_on_sqlite() {
    a_grant_from_another_process_is_spent_by_the_running_server(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_from_another_process_is_spent_by_the_running_server_on_postgres() {
    a_grant_from_another_process_is_spent_by_the_running_server(Backend::Postgres).await;
}
