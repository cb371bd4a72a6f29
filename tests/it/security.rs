//! Safe with hostile users: throttled sign-in and sign-up, ending
//! sessions, retiring signing keys.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tollgate::clock::Timestamp;

use crate::harness::{Backend, TestApp};

/// A sign-in or sign-up from `address` (sent in the proxy header the test
/// server trusts); the status, the `Retry-After` header and the body.
async fn attempt(
    app: &TestApp,
    path: &str,
    address: &str,
    email: &str,
    password: &str,
) -> (StatusCode, Option<u64>, Value) {
    let resp = app
        .client
        .post(format!("{}{path}", app.url))
        .header("x-forwarded-for", format!("198.51.100.99, {address}"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, retry_after, resp.json().await.unwrap())
}

async fn throttled_app(login: u32, signup: u32) -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, |a| {
        a.login_rate_limit = login;
        a.signup_rate_limit = signup;
        a.client_ip_header = Some("X-Forwarded-For".into());
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eleventh_wrong_password_in_a_minute_gets_429_with_retry_after() {
    let app = throttled_app(10, 0).await;
    let victim = app.new_user().await;
    let bystander = app.new_user().await;
    for i in 0..10 {
        let (status, _, body) = attempt(
            &app,
            "/auth/login",
            "203.0.113.1",
            &victim.email,
            "wrong password",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}: {body}");
    }
    let (status, retry_after, body) = attempt(
        &app,
        "/auth/login",
        "203.0.113.1",
        &victim.email,
        "wrong password",
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "too_many_attempts");
    let wait = retry_after.expect("a Retry-After header");
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(body["data"]["retry_after"], wait);

    // The account is held from every address, even with the right password.
    let (status, _, _) = attempt(
        &app,
        "/auth/login",
        "203.0.113.2",
        &victim.email,
        &victim.password,
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Another account from another address is unaffected.
    let (status, _, body) = attempt(
        &app,
        "/auth/login",
        "203.0.113.2",
        &bystander.email,
        &bystander.password,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The address that ran over is held too, whatever account it tries.
    let (status, _, _) = attempt(
        &app,
        "/auth/login",
        "203.0.113.1",
        &bystander.email,
        &bystander.password,
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // After the wait the right password works again.
    app.clock.advance(chrono::Duration::seconds(61));
    let (status, _, body) = attempt(
        &app,
        "/auth/login",
        "203.0.113.2",
        &victim.email,
        &victim.password,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_trying_many_accounts_is_throttled_and_backs_off() {
    let app = throttled_app(3, 0).await;
    for i in 0..3 {
        let (status, _, _) = attempt(
            &app,
            "/auth/login",
            "2001:db8:1:2::1",
            &format!("guess{i}@example.com"),
            "some password",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Another address of the same /64 is the same client.
    let (status, first_wait, _) = attempt(
        &app,
        "/auth/login",
        "2001:db8:1:2::ffff",
        "guess9@example.com",
        "some password",
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let first_wait = first_wait.unwrap();
    // Running over again right after the wait doubles it.
    app.clock
        .advance(chrono::Duration::seconds(first_wait as i64));
    for _ in 0..3 {
        attempt(
            &app,
            "/auth/login",
            "2001:db8:1:2::1",
            "x@example.com",
            "some password",
        )
        .await;
    }
    let (status, second_wait, _) = attempt(
        &app,
        "/auth/login",
        "2001:db8:1:2::1",
        "y@example.com",
        "some password",
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(second_wait, Some(120));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ups_are_limited_per_address_per_hour() {
    let app = throttled_app(0, 2).await;
    for i in 0..2 {
        let (status, _, body) = attempt(
            &app,
            "/auth/signup",
            "203.0.113.5",
            &format!("new{i}@example.com"),
            "correct horse battery",
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, retry_after, body) = attempt(
        &app,
        "/auth/signup",
        "203.0.113.5",
        "new2@example.com",
        "correct horse battery",
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "too_many_attempts");
    assert!((3500..=3600).contains(&retry_after.unwrap()));
    assert!(app
        .state
        .store
        .user_by_email("new2@example.com")
        .await
        .unwrap()
        .is_none());
    let (status, _, body) = attempt(
        &app,
        "/auth/signup",
        "203.0.113.6",
        "new2@example.com",
        "correct horse battery",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "another address may: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_of_zero_turn_throttling_off() {
    let app = throttled_app(0, 0).await;
    let user = app.new_user().await;
    for _ in 0..15 {
        let (status, _, _) = attempt(
            &app,
            "/auth/login",
            "203.0.113.1",
            &user.email,
            "wrong password",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    app.login(&user.email, &user.password).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_proxy_header_the_tcp_peer_is_the_client() {
    let app = TestApp::spawn_with(Backend::Sqlite, |a| a.login_rate_limit = 2)
        .await
        .unwrap();
    // The header is not trusted, so changing it does not help.
    for (i, address) in ["203.0.113.1", "203.0.113.2"].iter().enumerate() {
        let (status, _, _) = attempt(
            &app,
            "/auth/login",
            address,
            &format!("a{i}@example.com"),
            "some password",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, retry_after, _) = attempt(
        &app,
        "/auth/login",
        "203.0.113.3",
        "a3@example.com",
        "some password",
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after.is_some());
}

/// Runs the `tollgate` binary against a test server's database.
fn tollgate(db: &crate::harness::TestDb, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .env("TOLLGATE_DATABASE_URL", &db.url)
        .env("TOLLGATE_MASTER_KEY", &db.master_key)
        .env_remove("RUST_LOG")
        .output()
        .expect("run tollgate")
}

async fn api_key(app: &TestApp, user: &crate::harness::TestUser) -> String {
    let path = format!("/budgets/{}/api-keys", user.budget_id);
    let (status, body) = app
        .post(&path, Some(&user.token), json!({"name": "agent"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["key"].as_str().unwrap().to_string()
}

async fn balance_status(app: &TestApp, token: &str) -> StatusCode {
    app.get("/credits/balance", Some(token)).await.0
}

async fn logout_ends_that_session_at_once_and_no_other(app: TestApp) {
    let user = app.new_user().await;
    let other_session = app.login(&user.email, &user.password).await;
    let key = api_key(&app, &user).await;

    let (status, body) = app.post("/auth/logout", Some(&user.token), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    let (status, body) = app.get("/credits/balance", Some(&user.token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_token");
    let (status, _) = app.post("/auth/logout", Some(&user.token), json!({})).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "an ended session cannot sign out again"
    );

    assert_eq!(balance_status(&app, &other_session).await, StatusCode::OK);
    assert_eq!(balance_status(&app, &key).await, StatusCode::OK);
    let (status, body) = app.post("/auth/logout", Some(&key), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "API keys are not sessions");
    assert_eq!(body["error"], "user_token_required");
    assert_eq!(balance_status(&app, &key).await, StatusCode::OK);
    let (status, body) = app.post("/auth/logout", None, json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "missing_token");
}

async fn ended_sessions_are_forgotten_once_their_tokens_expire(app: TestApp) {
    let store = &app.state.store;
    let now = chrono::Utc::now().timestamp_millis();
    store
        .revoke_token("old", Timestamp::from_millis(now - 1))
        .await
        .unwrap();
    store
        .revoke_token("live", Timestamp::from_millis(now + 60_000))
        .await
        .unwrap();
    store
        .revoke_token("live", Timestamp::from_millis(now + 60_000))
        .await
        .unwrap();
    assert_eq!(
        store
            .purge_revoked_tokens(Timestamp::from_millis(now))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .purge_revoked_tokens(Timestamp::from_millis(now))
            .await
            .unwrap(),
        0
    );
}

async fn a_role_change_ends_every_session_of_the_user(app: TestApp) {
    let user = app.new_user().await;
    let bystander = app.new_user().await;
    let second = app.login(&user.email, &user.password).await;
    let key = api_key(&app, &user).await;
    let (status, body) = app.get("/vendor/products", Some(&user.token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let out = tollgate(
        &app.db,
        &[
            "admin",
            "set-role",
            "--email",
            &user.email,
            "--role",
            "vendor",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for token in [&user.token, &second] {
        let (status, body) = app.get("/credits/balance", Some(token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    assert_eq!(
        balance_status(&app, &key).await,
        StatusCode::OK,
        "API keys are not sessions"
    );
    assert_eq!(balance_status(&app, &bystander.token).await, StatusCode::OK);
    let fresh = app.login(&user.email, &user.password).await;
    let (status, body) = app.get("/vendor/products", Some(&fresh)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a new session has the new role: {body}"
    );

    let out = tollgate(
        &app.db,
        &[
            "admin",
            "set-role",
            "--email",
            "nobody@example.com",
            "--role",
            "admin",
        ],
    );
    assert!(!out.status.success());
}

async fn an_admin_changes_a_role_over_http_and_the_users_sessions_end(app: TestApp) {
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    let path = format!("/admin/users/{}/role", user.user_id);

    let (status, body) = app
        .request(
            Method::PUT,
            &path,
            Some(&user.token),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "admin_required");
    let (status, body) = app
        .request(
            Method::PUT,
            &path,
            Some(&admin.token),
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "role"]));
    assert_eq!(body["detail"][0]["type"], "enum");
    let (status, body) = app
        .request(
            Method::PUT,
            &format!("/admin/users/{}/role", tollgate::id::new_id()),
            Some(&admin.token),
            Some(json!({"role": "vendor"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "user_not_found");
    assert_eq!(
        balance_status(&app, &user.token).await,
        StatusCode::OK,
        "refusals change nothing"
    );

    let (status, body) = app
        .request(
            Method::PUT,
            &path,
            Some(&admin.token),
            Some(json!({"role": "vendor"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({"user_id": user.user_id, "role": "vendor"})
    );
    assert_eq!(
        balance_status(&app, &user.token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(balance_status(&app, &admin.token).await, StatusCode::OK);
    let fresh = app.login(&user.email, &user.password).await;
    assert_eq!(
        app.get("/vendor/products", Some(&fresh)).await.0,
        StatusCode::OK
    );
}

/// The kid in a token's header.
fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn a_retired_signing_key_stops_verifying_within_a_second(app: TestApp) {
    let user = app.new_user().await;
    let old_kid = kid(&user.token);
    let out = tollgate(&app.db, &["admin", "rotate-signing-key"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    app.state.tokens.reload().await.unwrap();
    let fresh = app.login(&user.email, &user.password).await;
    let new_kid = kid(&fresh);
    assert_ne!(old_kid, new_kid);
    assert_eq!(
        balance_status(&app, &user.token).await,
        StatusCode::OK,
        "old keys verify until retired"
    );

    let out = tollgate(&app.db, &["admin", "retire-signing-key", "--kid", &new_kid]);
    assert!(!out.status.success(), "the current key cannot be retired");
    assert!(String::from_utf8_lossy(&out.stderr).contains("current"));
    let out = tollgate(
        &app.db,
        &["admin", "retire-signing-key", "--kid", "no-such-key"],
    );
    assert!(!out.status.success());

    let out = tollgate(&app.db, &["admin", "retire-signing-key", "--kid", &old_kid]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let retired_at = std::time::Instant::now();
    loop {
        let status = balance_status(&app, &user.token).await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            retired_at.elapsed() < std::time::Duration::from_millis(2500),
            "the running server still accepts the retired key's token"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(balance_status(&app, &fresh).await, StatusCode::OK);
    let (_, jwks) = app.get("/.well-known/jwks.json", None).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        kids,
        vec![new_kid.as_str()],
        "the retired key is no longer published"
    );
    let out = tollgate(&app.db, &["admin", "retire-signing-key", "--kid", &old_kid]);
    assert!(!out.status.success(), "retiring twice says so");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already retired"));
}

crate::on_both_backends!(
    logout_ends_that_session_at_once_and_no_other,
    ended_sessions_are_forgotten_once_their_tokens_expire,
    a_role_change_ends_every_session_of_the_user,
    an_admin_changes_a_role_over_http_and_the_users_sessions_end,
    a_retired_signing_key_stops_verifying_within_a_second,
);
