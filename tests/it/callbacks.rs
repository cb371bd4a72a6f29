//! Run callbacks: signed Standard Webhooks requests to a real receiver,
//! retried with backoff, refused for private addresses; and the signing
//! secret's API.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{serve_args, TestApp, TestUser};
use tollgate::clock::{Clock, Timestamp};
use tollgate::delivery::{deliver_once, deliver_once_within};
use tollgate::store::{
    CallbackStatus, DeliveryRow, DeliveryStatus, RunFinish, RunRow, RunStatus, Visibility,
    WorkflowRow, WorkflowStatus,
};

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    /// Holds the request open far longer than any delivery waits.
    Hang,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Default)]
struct ReceiverState {
    script: Mutex<VecDeque<Reply>>,
    /// The answer once the script has run out; 200 unless set.
    otherwise: Mutex<Option<Reply>>,
    requests: Mutex<Vec<Received>>,
}

/// A callback receiver on 127.0.0.1 that records every request.
struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
}

impl Receiver {
    /// Answers with `script` in order, then with `otherwise`.
    async fn start(script: &[Reply], otherwise: Reply) -> Receiver {
        let state = Arc::new(ReceiverState::default());
        state.script.lock().unwrap().extend(script.iter().copied());
        *state.otherwise.lock().unwrap() = Some(otherwise);
        let router = Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            state,
        }
    }

    fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().unwrap().clone()
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state
        .requests
        .lock()
        .unwrap()
        .push(Received { headers, body });
    let reply = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .or(*state.otherwise.lock().unwrap())
        .unwrap_or(Reply::Status(200));
    match reply {
        Reply::Status(code) => (
            AxumStatus::from_u16(code).unwrap(),
            axum::Json(json!({"received": true})),
        )
            .into_response(),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            AxumStatus::OK.into_response()
        }
    }
}

/// A finished run of `user` with a callback to `url` due in `due_in`,
/// queued the way a worker queues it: through `finish_run`.
async fn finished_run(
    app: &TestApp,
    user: &TestUser,
    url: &str,
    due_in: Duration,
) -> (String, String) {
    let store = app.state.store.as_ref();
    let now = Timestamp::from(app.clock.now());
    let workflow_id = tollgate::id::WorkflowId::new();
    store
        .insert_workflow(&WorkflowRow {
            id: workflow_id,
            owner_id: user.id(),
            name: "callback test".into(),
            description: String::new(),
            visibility: Visibility::Private,
            engine: tollgate::store::WorkflowEngine::Graph,
            definition: "{}".into(),
            status: WorkflowStatus::Active,
            created_at: now,
            updated_at: now,
            version: 1,
        })
        .await
        .unwrap();
    let run_id = tollgate::id::RunId::new();
    store
        .insert_run(&RunRow {
            id: run_id,
            workflow_id,
            user_id: user.id(),
            budget_id: user.budget(),
            request_id: None,
            prompt: "summarize".into(),
            status: RunStatus::Running,
            response_text: None,
            session_id: None,
            model: None,
            error_code: None,
            error_message: None,
            callback_url: Some(url.into()),
            callback_status: CallbackStatus::Pending,
            callback_last_status: None,
            callback_last_error: None,
            callback_attempted_at: None,
            callback_delivered_at: None,
            callback_attempts: 0,
            request_metadata: r#"{"trace":"t-1"}"#.into(),
            run_metadata: "{}".into(),
            created_at: now,
            updated_at: now,
            started_at: Some(now),
            completed_at: None,
            lease_owner: Some("test".into()),
            lease_expires_at: Some(Timestamp::from_millis(now.millis() + 3_600_000)),
            attempts: 1,
            cancel_requested: false,
            workflow_version: None,
        })
        .await
        .unwrap();
    let delivery_id = tollgate::id::new_id();
    let finished = store
        .finish_run(
            &RunFinish {
                run_id,
                lease_owner: "test".into(),
                status: RunStatus::Succeeded,
                response_text: Some("all done".into()),
                error_code: None,
                error_message: None,
                model: None,
                session_id: None,
                run_metadata: "{}".into(),
                now,
            },
            Some(&DeliveryRow {
                id: delivery_id.parse().unwrap(),
                run_id,
                user_id: user.id(),
                url: url.into(),
                status: DeliveryStatus::Pending,
                attempts: 0,
                next_attempt_at: Timestamp::from_millis(now.millis() + due_in.as_millis() as i64),
                lease_expires_at: None,
                created_at: now,
                updated_at: now,
            }),
        )
        .await
        .unwrap();
    assert!(finished);
    (run_id.to_string(), delivery_id)
}

async fn run_row(app: &TestApp, run_id: &str) -> RunRow {
    app.state
        .store
        .run_by_id(run_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
}

/// Delivers until the run has seen `attempts` callback attempts, moving
/// the clock a second whenever nothing is due, so retries come due without
/// sleeping. Works whether or not a background delivery loop also runs.
async fn drive(app: &TestApp, run_id: &str, attempts: i64, timeout: Duration) -> RunRow {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let handled = deliver_once_within(&app.state, timeout).await.unwrap();
        let run = run_row(app, run_id).await;
        if run.callback_attempts >= attempts {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {attempts} callback attempts were made",
            run.callback_attempts
        );
        if !handled {
            app.clock.advance(chrono::Duration::seconds(1));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

const WAIT: Duration = Duration::from_secs(10);

async fn signing_secret(app: &TestApp, user: &TestUser) -> String {
    let (status, body) = app.get("/webhooks/secret", Some(&user.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["algorithm"], "HMAC-SHA256");
    assert_eq!(body["data"]["scheme"], "Standard Webhooks");
    body["data"]["secret"].as_str().unwrap().to_string()
}

fn verifies(secret: &str, request: &Received) -> bool {
    let webhook = standardwebhooks::Webhook::new(secret).unwrap();
    webhook.verify(&request.body, &request.headers).is_ok()
}

fn header<'a>(request: &'a Received, name: &str) -> &'a str {
    request.headers.get(name).unwrap().to_str().unwrap()
}

async fn a_callback_is_retried_until_accepted_and_every_attempt_is_signed(app: TestApp) {
    let user = app.new_user().await;
    let receiver = Receiver::start(
        &[Reply::Status(500), Reply::Status(500)],
        Reply::Status(200),
    )
    .await;
    let (run_id, delivery_id) = finished_run(&app, &user, &receiver.url, Duration::ZERO).await;

    let run = drive(&app, &run_id, 1, WAIT).await;
    assert_eq!(run.callback_status.as_str(), "pending");
    assert_eq!(run.callback_last_status, Some(500));
    assert!(run.callback_last_error.as_deref().unwrap().contains("500"));
    assert!(run.callback_delivered_at.is_none());
    // The retry is not due until the backoff has passed.
    assert!(!deliver_once(&app.state).await.unwrap());

    let run = drive(&app, &run_id, 3, WAIT).await;
    assert_eq!(run.callback_status.as_str(), "delivered");
    assert_eq!(run.callback_attempts, 3);
    assert_eq!(run.callback_last_status, Some(200));
    assert_eq!(run.callback_last_error, None);
    assert!(run.callback_attempted_at.is_some());
    assert_eq!(run.callback_delivered_at, run.callback_attempted_at);
    // Delivered callbacks are not sent again.
    app.clock.advance(chrono::Duration::hours(2));
    assert!(!deliver_once(&app.state).await.unwrap());

    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    let secret = signing_secret(&app, &user).await;
    assert!(secret.starts_with("whsec_"));
    for request in &requests {
        assert_eq!(header(request, "webhook-id"), delivery_id);
        assert_eq!(header(request, "content-type"), "application/json");
        assert!(header(request, "webhook-signature").starts_with("v1,"));
        header(request, "webhook-timestamp").parse::<i64>().unwrap();
        assert!(verifies(&secret, request), "the signature does not verify");
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["type"], "run.completed");
        assert_eq!(body["data"]["run"]["run_id"], run_id.as_str());
        assert_eq!(body["data"]["run"]["status"], "succeeded");
        assert_eq!(body["data"]["run"]["response_text"], "all done");
        assert_eq!(
            body["data"]["run"]["request_metadata"],
            json!({"trace": "t-1"})
        );
        assert_eq!(body["timestamp"], requests[0].body_json()["timestamp"]);
    }
    let mut tampered = requests[2].clone();
    tampered.body = Bytes::from(
        String::from_utf8(tampered.body.to_vec())
            .unwrap()
            .replace("all done", "all d0ne"),
    );
    assert!(!verifies(&secret, &tampered), "a tampered body verified");
    let wrong = tollgate::delivery::new_secret();
    assert!(!verifies(&wrong, &requests[2]), "another secret verified");
}

impl Received {
    fn body_json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn too_many_requests_and_time_outs_are_retried(app: TestApp) {
    let user = app.new_user().await;
    let receiver = Receiver::start(&[Reply::Hang, Reply::Status(429)], Reply::Status(204)).await;
    let (run_id, delivery_id) = finished_run(&app, &user, &receiver.url, Duration::ZERO).await;
    // Only the attempt that meets the hanging receiver waits briefly; the
    // others wait long enough for an answer on a loaded machine.
    let short = Duration::from_millis(300);

    let run = drive(&app, &run_id, 1, short).await;
    assert_eq!(run.callback_status.as_str(), "pending");
    assert_eq!(run.callback_last_status, None);
    let error = run.callback_last_error.unwrap();
    assert!(error.contains("did not answer"), "{error}");

    let run = drive(&app, &run_id, 2, WAIT).await;
    assert_eq!(run.callback_status.as_str(), "pending");
    assert_eq!(run.callback_last_status, Some(429));

    let run = drive(&app, &run_id, 3, WAIT).await;
    assert_eq!(run.callback_status.as_str(), "delivered");
    assert_eq!(run.callback_last_status, Some(204));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests
        .iter()
        .all(|r| header(r, "webhook-id") == delivery_id));
}

async fn a_client_error_fails_at_once(app: TestApp) {
    let user = app.new_user().await;
    let receiver = Receiver::start(&[Reply::Status(400)], Reply::Status(200)).await;
    let (run_id, _) = finished_run(&app, &user, &receiver.url, Duration::ZERO).await;

    let run = drive(&app, &run_id, 1, WAIT).await;
    assert_eq!(run.callback_status.as_str(), "failed");
    assert_eq!(run.callback_attempts, 1);
    assert_eq!(run.callback_last_status, Some(400));
    assert!(run.callback_last_error.is_some());
    assert!(run.callback_delivered_at.is_none());
    app.clock.advance(chrono::Duration::hours(2));
    assert!(!deliver_once(&app.state).await.unwrap());
    assert_eq!(receiver.requests().len(), 1);
}

async fn retries_stop_at_the_attempt_limit(app: TestApp) {
    let user = app.new_user().await;
    let receiver = Receiver::start(&[], Reply::Status(503)).await;
    let (run_id, _) = finished_run(&app, &user, &receiver.url, Duration::ZERO).await;
    let limit = app.state.settings.callback_max_attempts;
    assert_eq!(limit, 5);

    let run = drive(&app, &run_id, limit - 1, WAIT).await;
    assert_eq!(run.callback_status.as_str(), "pending");
    let run = drive(&app, &run_id, limit, WAIT).await;
    assert_eq!(run.callback_status.as_str(), "failed");
    assert_eq!(run.callback_attempts, limit);
    assert_eq!(run.callback_last_status, Some(503));
    assert!(run.callback_last_error.unwrap().contains("503"));
    assert!(run.callback_delivered_at.is_none());

    app.clock.advance(chrono::Duration::hours(2));
    assert!(!deliver_once(&app.state).await.unwrap());
    assert_eq!(receiver.requests().len(), limit as usize);
}

async fn nothing_is_delivered_before_it_is_due(app: TestApp) {
    let user = app.new_user().await;
    let receiver = Receiver::start(&[], Reply::Status(200)).await;
    let (run_id, _) = finished_run(&app, &user, &receiver.url, Duration::from_secs(30)).await;

    assert!(!deliver_once(&app.state).await.unwrap());
    app.clock.advance(chrono::Duration::seconds(29));
    assert!(!deliver_once(&app.state).await.unwrap());
    assert!(receiver.requests().is_empty());
    assert_eq!(run_row(&app, &run_id).await.callback_attempts, 0);

    app.clock.advance(chrono::Duration::seconds(2));
    let run = drive(&app, &run_id, 1, WAIT).await;
    assert_eq!(run.callback_status.as_str(), "delivered");
    assert_eq!(receiver.requests().len(), 1);
}

async fn a_rotated_secret_signs_new_deliveries_and_only_users_manage_it(app: TestApp) {
    let user = app.new_user().await;
    let receiver = Receiver::start(&[], Reply::Status(200)).await;
    let old = signing_secret(&app, &user).await;
    assert_eq!(
        signing_secret(&app, &user).await,
        old,
        "the secret is stable"
    );

    let (first, _) = finished_run(&app, &user, &receiver.url, Duration::ZERO).await;
    assert_eq!(
        drive(&app, &first, 1, WAIT).await.callback_status.as_str(),
        "delivered"
    );

    let (status, body) = app
        .post("/webhooks/secret/rotate", Some(&user.token), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new = body["data"]["secret"].as_str().unwrap().to_string();
    assert!(new.starts_with("whsec_"));
    assert_ne!(new, old);
    assert_eq!(signing_secret(&app, &user).await, new);

    let (second, _) = finished_run(&app, &user, &receiver.url, Duration::ZERO).await;
    assert_eq!(
        drive(&app, &second, 1, WAIT).await.callback_status.as_str(),
        "delivered"
    );
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert!(verifies(&old, &requests[0]));
    assert!(!verifies(&new, &requests[0]));
    assert!(verifies(&new, &requests[1]));
    assert!(
        !verifies(&old, &requests[1]),
        "the old secret still verifies"
    );

    // Each user has a secret of their own.
    let other = app.new_user().await;
    assert_ne!(signing_secret(&app, &other).await, new);

    let path = format!("/budgets/{}/api-keys", user.budget_id);
    let (status, body) = app
        .post(&path, Some(&user.token), json!({"name": "agent"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let key = body["data"]["key"].as_str().unwrap().to_string();
    let (status, body) = app.get("/webhooks/secret", Some(&key)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "user_token_required");
    let (status, body) = app
        .post("/webhooks/secret/rotate", Some(&key), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "user_token_required");
    assert_eq!(
        signing_secret(&app, &user).await,
        new,
        "an API key rotated it"
    );

    let (status, _) = app.get("/webhooks/secret", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.post("/webhooks/secret/rotate", None, json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/webhooks/secret", Some("not-a-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn concurrent_first_uses_make_one_secret(app: TestApp) {
    let user = app.new_user().await;
    let secrets = futures::future::join_all(
        (0..8).map(|_| tollgate::delivery::secret_for(&app.state, user.id())),
    )
    .await;
    let first = secrets[0].as_ref().unwrap().clone();
    assert!(secrets.iter().all(|s| s.as_ref().unwrap() == &first));
    assert_eq!(signing_secret(&app, &user).await, first);
}

async fn a_private_address_is_refused_without_a_request(app: TestApp) {
    // The same database, served by a node whose operator allowlists nothing.
    let backend = app.backend;
    let db = app.stop().await;
    let mut args = serve_args();
    args.outbound_allowlist = String::new();
    let app = TestApp::start(db, args, backend).await;

    let user = app.new_user().await;
    let receiver = Receiver::start(&[], Reply::Status(200)).await;
    let localhost = receiver.url.replace("127.0.0.1", "localhost");
    for url in [receiver.url.as_str(), localhost.as_str()] {
        let (run_id, _) = finished_run(&app, &user, url, Duration::ZERO).await;
        let run = drive(&app, &run_id, 1, WAIT).await;
        assert_eq!(run.callback_status.as_str(), "failed", "{url}");
        assert_eq!(run.callback_attempts, 1);
        assert_eq!(run.callback_last_status, None);
        let error = run.callback_last_error.unwrap();
        assert!(error.contains("not allowed"), "{error}");
        assert!(error.contains("not a public address"), "{error}");
    }
    assert!(receiver.requests().is_empty());
}

async fn the_delivery_loop_delivers_and_stops_on_shutdown(app: TestApp) {
    let user = app.new_user().await;
    let receiver = Receiver::start(&[Reply::Status(502)], Reply::Status(200)).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(tollgate::delivery::run(app.state.clone(), stopped));
    let (run_id, _) = finished_run(&app, &user, &receiver.url, Duration::ZERO).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let run = run_row(&app, &run_id).await;
        if run.callback_status.as_str() == "delivered" {
            assert_eq!(run.callback_attempts, 2);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the loop did not deliver: {run:?}"
        );
        // Only the clock brings the retry due; the loop does the rest.
        app.clock.advance(chrono::Duration::seconds(1));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(receiver.requests().len(), 2);

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), worker)
        .await
        .expect("the loop stops on shutdown")
        .unwrap();
}

async fn a_callback_host_that_does_not_resolve_is_retried_with_backoff(app: TestApp) {
    let user = app.new_user().await;
    let (run_id, _) =
        finished_run(&app, &user, "https://nowhere.invalid/hook", Duration::ZERO).await;
    let run = drive(&app, &run_id, 1, WAIT).await;
    assert_eq!(
        run.callback_status.as_str(),
        "pending",
        "a failed lookup is retried"
    );
    assert_eq!(run.callback_last_status, None);
    let error = run.callback_last_error.clone().unwrap();
    assert!(
        error.contains("lookup") || error.contains("dns") || error.contains("resolve"),
        "{error}"
    );
    assert!(run.callback_attempted_at.is_some() && run.callback_delivered_at.is_none());

    // The retry waits for its backoff, then runs out of attempts.
    assert!(!deliver_once(&app.state).await.unwrap(), "not due yet");
    let limit = app.state.settings.callback_max_attempts;
    let run = drive(&app, &run_id, limit, WAIT).await;
    assert_eq!(run.callback_attempts, limit);
    assert_eq!(run.callback_status.as_str(), "failed");
    let (status, body) = app
        .get(
            &format!("/api/agent-webhooks/runs/{run_id}"),
            Some(&user.token),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let shown = &body["data"]["run"];
    assert_eq!(shown["callback_status"], "failed");
    assert_eq!(shown["callback_url"], "https://nowhere.invalid/hook");
    assert!(shown["callback_last_error"].is_string());
    assert!(shown["callback_attempted_at"].is_string());
}

// The tests deliver with `deliver_once` themselves, on the test's clock; the
// server's own delivery loops would race them for the same deliveries.
crate::on_both_backends!(
    tweak = |args| args.callback_workers = 0;
    a_callback_is_retried_until_accepted_and_every_attempt_is_signed,
    too_many_requests_and_time_outs_are_retried,
    a_client_error_fails_at_once,
    retries_stop_at_the_attempt_limit,
    nothing_is_delivered_before_it_is_due,
    a_rotated_secret_signs_new_deliveries_and_only_users_manage_it,
    concurrent_first_uses_make_one_secret,
    a_private_address_is_refused_without_a_request,
    the_delivery_loop_delivers_and_stops_on_shutdown,
    a_callback_host_that_does_not_resolve_is_retried_with_backoff,
);
