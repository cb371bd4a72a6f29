//! The LLM engine against a scripted OpenAI-compatible model server: tool
//! calls paid as purchases, chat sessions, limits, model failures and replay
//! after a takeover.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use tollgate::clock::{Clock, Timestamp};
use tollgate::store::{
    CallbackStatus, InstanceRow, OrderStatus, RunRow, RunStatus, Visibility, WorkflowRow,
    WorkflowStatus,
};
use tollgate::workflows::llm::{parse_definition, LlmEngine};
use tollgate::workflows::{Engine, EngineOutcome, RunCtx};

use crate::harness::{Backend, TestApp, TestUser};

/// What the model server answers to its `n`th request (counting from 0).
type Script = Arc<dyn Fn(usize) -> (StatusCode, Value) + Send + Sync>;

/// A request the model server received.
#[derive(Debug, Clone)]
struct Seen {
    authorization: Option<String>,
    body: Value,
}

#[derive(Clone)]
struct FakeModel {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Script,
}

impl FakeModel {
    /// Starts a model server on 127.0.0.1 that answers from `script`.
    async fn start(
        script: impl Fn(usize) -> (StatusCode, Value) + Send + Sync + 'static,
    ) -> (FakeModel, SocketAddr) {
        let fake = FakeModel {
            seen: Arc::default(),
            script: Arc::new(script),
        };
        let router = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        (fake, addr)
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn completions(
    State(fake): State<FakeModel>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let n = {
        let mut seen = fake.seen.lock().unwrap();
        seen.push(Seen {
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body,
        });
        seen.len() - 1
    };
    let (status, answer) = (fake.script)(n);
    (status, Json(answer))
}

fn tool_call(id: &str, name: &str, arguments: Value) -> (StatusCode, Value) {
    (
        StatusCode::OK,
        json!({
            "id": "chatcmpl-test", "object": "chat.completion", "model": "fake-model-1",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null,
                "tool_calls": [{"id": id, "type": "function", "function": {"name": name, "arguments": arguments.to_string()}}]
            }}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27}
        }),
    )
}

fn text(content: &str) -> (StatusCode, Value) {
    (
        StatusCode::OK,
        json!({
            "id": "chatcmpl-test", "object": "chat.completion", "model": "fake-model-1",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35}
        }),
    )
}

fn six_times_seven(n: usize) -> (StatusCode, Value) {
    match n {
        0 => tool_call(
            "call_0",
            "calculator",
            json!({"action": "evaluate", "expression": "6*7"}),
        ),
        _ => text("6 times 7 is 42."),
    }
}

async fn app_with_model(
    backend: Backend,
    addr: SocketAddr,
    api_key: Option<&str>,
) -> Option<TestApp> {
    TestApp::spawn_with(backend, |a| {
        a.llm_base_url = Some(format!("http://{addr}/v1"));
        a.llm_api_key = api_key.map(tollgate::secret::Secret::new);
    })
    .await
}

fn calculator_price(app: &TestApp) -> i64 {
    let (calculator, _) = app.state.catalog.snapshot().resolve("calculator").unwrap();
    calculator.action("evaluate").unwrap().price_credits.get()
}

async fn new_workflow(app: &TestApp, owner: &TestUser, definition: Value) -> WorkflowRow {
    let now = Timestamp::from(app.clock.now());
    let workflow = WorkflowRow {
        id: tollgate::id::WorkflowId::new(),
        owner_id: owner.id(),
        name: "assistant".into(),
        description: String::new(),
        visibility: Visibility::Private,
        engine: tollgate::store::WorkflowEngine::Llm,
        definition: definition.to_string(),
        status: WorkflowStatus::Active,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    app.state.store.insert_workflow(&workflow).await.unwrap();
    workflow
}

/// A run as a worker holds it: running, leased far ahead, with its instance.
async fn new_run(
    app: &TestApp,
    workflow: &WorkflowRow,
    user: &TestUser,
    prompt: &str,
    request_metadata: Value,
) -> RunRow {
    let now = Timestamp::from(app.clock.now());
    let run = RunRow {
        id: tollgate::id::RunId::new(),
        workflow_id: workflow.id,
        user_id: user.id(),
        budget_id: user.budget(),
        request_id: None,
        prompt: prompt.into(),
        status: RunStatus::Running,
        response_text: None,
        session_id: None,
        model: None,
        error_code: None,
        error_message: None,
        callback_url: None,
        callback_status: CallbackStatus::Skipped,
        callback_last_status: None,
        callback_last_error: None,
        callback_attempted_at: None,
        callback_delivered_at: None,
        callback_attempts: 0,
        request_metadata: request_metadata.to_string(),
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
    };
    app.state.store.insert_run(&run).await.unwrap();
    app.state
        .store
        .insert_instance(&InstanceRow {
            id: run.id.into(),
            user_id: user.id(),
            budget_id: user.budget(),
            metadata: "{}".into(),
            created_at: now,
            last_seen_at: now,
        })
        .await
        .unwrap();
    run
}

/// Runs the engine on a run as a worker would; returns the outcome and the
/// run's metadata.
async fn execute(app: &TestApp, run: &RunRow, workflow: &WorkflowRow) -> (EngineOutcome, Value) {
    let ctx = RunCtx::new(
        app.state.clone(),
        run.clone(),
        workflow.clone(),
        "test".into(),
    );
    let outcome = LlmEngine.run(&ctx).await;
    (outcome, ctx.metadata())
}

fn failure_code(outcome: &EngineOutcome) -> &str {
    match outcome {
        EngineOutcome::Failed { code, .. } => code,
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn offered_functions(request: &Seen) -> Vec<String> {
    request.body["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|f| f["function"]["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn a_tool_call_is_paid_once_and_its_result_reaches_the_model(backend: Backend) {
    let (model, addr) = FakeModel::start(six_times_seven).await;
    let Some(app) = app_with_model(backend, addr, None).await else {
        return;
    };
    let user = app.funded_user(100).await;
    let price = calculator_price(&app);
    let workflow = new_workflow(
        &app,
        &user,
        json!({"tools": ["calculator"], "system_prompt": "Answer briefly.", "temperature": 0.2}),
    )
    .await;
    let run = new_run(&app, &workflow, &user, "What is 6 times 7?", json!({})).await;

    let (outcome, metadata) = execute(&app, &run, &workflow).await;
    assert_eq!(
        outcome,
        EngineOutcome::Succeeded {
            response_text: Some("6 times 7 is 42.".into()),
            model: Some("fake-model-1".into()),
            session_id: Some(run.id.to_string()),
        }
    );

    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0].body;
    assert_eq!(first["model"], "test-model");
    assert_eq!(first["tool_choice"], "auto");
    assert_eq!(first["temperature"], 0.2);
    assert_eq!(offered_functions(&requests[0]), vec!["calculator"]);
    let calculator = &first["tools"][0]["function"];
    assert!(calculator["parameters"]["properties"]["action"]["enum"]
        .as_array()
        .unwrap()
        .contains(&json!("evaluate")));
    assert_eq!(
        first["messages"],
        json!([{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is 6 times 7?"}])
    );
    let second = requests[1].body["messages"].as_array().unwrap();
    assert_eq!(second.len(), 4);
    assert_eq!(second[2]["role"], "assistant");
    assert_eq!(second[2]["tool_calls"][0]["id"], "call_0");
    assert_eq!(second[3]["role"], "tool");
    assert_eq!(second[3]["tool_call_id"], "call_0");
    assert!(
        second[3]["content"].as_str().unwrap().contains("42"),
        "{}",
        second[3]
    );
    assert!(requests[0].authorization.is_none());

    assert_eq!(app.balance(&user).await["balance"], 100 - price);

    let steps = metadata["steps"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = steps
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        vec![("llm:1", "llm"), ("llm:1:call_0", "tool"), ("llm:2", "llm")]
    );
    assert_eq!(steps[0]["status"], "succeeded");
    assert_eq!(steps[0]["model"], "fake-model-1");
    assert_eq!(steps[0]["prompt_tokens"], 20);
    assert_eq!(steps[0]["completion_tokens"], 7);
    assert!(steps[0]["duration_ms"].is_i64());
    assert_eq!(steps[1]["credits"], price);
    assert!(steps[1]["order_id"].is_string());
    assert_eq!(metadata["credits_spent"], price);
    assert_eq!(
        metadata["usage"],
        json!({"prompt_tokens": 50, "completion_tokens": 12})
    );

    // Progress was saved where pollers read it.
    let stored = app.state.store.run_by_id(run.id).await.unwrap().unwrap();
    let saved: Value = serde_json::from_str(&stored.run_metadata).unwrap();
    assert_eq!(saved["steps"].as_array().unwrap().len(), 3);
    assert_eq!(stored.session_id, Some(run.id.to_string()));
}

async fn a_session_carries_earlier_turns_for_its_user_only(backend: Backend) {
    let (model, addr) = FakeModel::start(|n| text(&format!("answer {n}"))).await;
    let Some(app) = app_with_model(backend, addr, None).await else {
        return;
    };
    let ada = app.funded_user(10).await;
    let bob = app.funded_user(10).await;
    let workflow = new_workflow(&app, &ada, json!({})).await;
    let session = json!({"session_id": "chat-1"});

    let first = new_run(&app, &workflow, &ada, "My name is Ada.", session.clone()).await;
    let (outcome, _) = execute(&app, &first, &workflow).await;
    assert!(
        matches!(&outcome, EngineOutcome::Succeeded { session_id: Some(s), .. } if s == "chat-1"),
        "{outcome:?}"
    );

    let second = new_run(&app, &workflow, &ada, "What is my name?", session.clone()).await;
    let (outcome, _) = execute(&app, &second, &workflow).await;
    assert!(
        matches!(&outcome, EngineOutcome::Succeeded { response_text: Some(t), .. } if t == "answer 1"),
        "{outcome:?}"
    );

    let other = new_run(&app, &workflow, &bob, "Who am I?", session).await;
    let (outcome, _) = execute(&app, &other, &workflow).await;
    assert!(
        matches!(outcome, EngineOutcome::Succeeded { .. }),
        "{outcome:?}"
    );

    let requests = model.requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests[0].body.get("tools").is_none() && requests[0].body.get("tool_choice").is_none()
    );
    assert_eq!(
        requests[1].body["messages"],
        json!([
            {"role": "user", "content": "My name is Ada."},
            {"role": "assistant", "content": "answer 0"},
            {"role": "user", "content": "What is my name?"},
        ])
    );
    assert_eq!(
        requests[2].body["messages"],
        json!([{"role": "user", "content": "Who am I?"}])
    );
}

async fn a_model_that_keeps_calling_tools_stops_at_the_step_limit(backend: Backend) {
    let (model, addr) = FakeModel::start(|n| {
        tool_call(
            &format!("call_{n}"),
            "calculator",
            json!({"action": "evaluate", "expression": "1+1"}),
        )
    })
    .await;
    let Some(app) = app_with_model(backend, addr, None).await else {
        return;
    };
    let user = app.funded_user(100).await;
    let price = calculator_price(&app);
    let workflow = new_workflow(
        &app,
        &user,
        json!({"tools": ["calculator"], "max_steps": 3}),
    )
    .await;
    let run = new_run(&app, &workflow, &user, "Loop forever.", json!({})).await;

    let (outcome, _) = execute(&app, &run, &workflow).await;
    assert_eq!(failure_code(&outcome), "step_limit_reached");
    assert_eq!(model.requests().len(), 3);
    // The last answer's tool call is not paid for: no model call would read it.
    assert_eq!(app.balance(&user).await["balance"], 100 - 2 * price);
}

async fn a_tool_call_over_the_credit_limit_ends_the_run_and_costs_nothing(backend: Backend) {
    let (model, addr) = FakeModel::start(six_times_seven).await;
    let Some(app) = app_with_model(backend, addr, None).await else {
        return;
    };
    let user = app.funded_user(100).await;
    assert!(calculator_price(&app) > 0);
    let workflow = new_workflow(
        &app,
        &user,
        json!({"tools": ["calculator"], "max_credits": 0}),
    )
    .await;
    let run = new_run(&app, &workflow, &user, "What is 6 times 7?", json!({})).await;

    let (outcome, metadata) = execute(&app, &run, &workflow).await;
    assert_eq!(failure_code(&outcome), "credit_limit_reached");
    assert_eq!(model.requests().len(), 1);
    assert_eq!(app.balance(&user).await["balance"], 100);
    assert_eq!(metadata["credits_spent"].as_i64().unwrap_or(0), 0);
}

async fn tool_errors_are_told_to_the_model_and_running_out_of_credits_ends_the_run(
    backend: Backend,
) {
    let (model, addr) = FakeModel::start(|n| match n {
        0 => tool_call("c1", "no_such_tool", json!({})),
        1 => tool_call("c2", "calculator", json!({"action": "evaluate"})),
        2 => tool_call(
            "c3",
            "calculator",
            json!({"action": "evaluate", "expression": "2+2"}),
        ),
        _ => text("done"),
    })
    .await;
    let Some(app) = app_with_model(backend, addr, None).await else {
        return;
    };
    // A user with no credits: the first paid call cannot happen.
    let user = app.new_user().await;
    let workflow = new_workflow(&app, &user, json!({"tools": ["calculator"]})).await;
    let run = new_run(&app, &workflow, &user, "Compute.", json!({})).await;

    let (outcome, _) = execute(&app, &run, &workflow).await;
    assert_eq!(failure_code(&outcome), "insufficient_credits");
    let requests = model.requests();
    assert_eq!(requests.len(), 3);
    let told = |i: usize| -> Value {
        let messages = requests[i].body["messages"].as_array().unwrap();
        serde_json::from_str(messages.last().unwrap()["content"].as_str().unwrap()).unwrap()
    };
    assert_eq!(told(1)["error"], "unknown_tool");
    assert!(told(1)["message"]
        .as_str()
        .unwrap()
        .contains("no_such_tool"));
    assert_eq!(told(2)["error"], "invalid_parameters");
    assert_eq!(app.balance(&user).await["balance"], 0);
}

async fn model_server_failures_end_the_run_with_llm_error_and_never_show_the_key(backend: Backend) {
    let (model, addr) = FakeModel::start(|n| match n {
        0 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": {"message": "overloaded (key sk-secret-test-key)"}}),
        ),
        _ => (StatusCode::OK, json!({"object": "not.a.completion"})),
    })
    .await;
    let Some(app) = app_with_model(backend, addr, Some("sk-secret-test-key")).await else {
        return;
    };
    let user = app.funded_user(10).await;
    let workflow = new_workflow(&app, &user, json!({})).await;

    let run = new_run(&app, &workflow, &user, "Hello?", json!({})).await;
    let (outcome, metadata) = execute(&app, &run, &workflow).await;
    let EngineOutcome::Failed { code, message } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(code, "llm_error");
    assert!(message.contains("500"), "{message}");
    assert!(!message.contains("sk-secret-test-key"), "{message}");
    assert!(!metadata.to_string().contains("sk-secret-test-key"));
    assert_eq!(
        model.requests()[0].authorization.as_deref(),
        Some("Bearer sk-secret-test-key")
    );

    let run = new_run(&app, &workflow, &user, "Hello again?", json!({})).await;
    let (outcome, _) = execute(&app, &run, &workflow).await;
    assert_eq!(failure_code(&outcome), "llm_error");
}

async fn without_a_model_endpoint_runs_fail_as_not_configured(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let user = app.funded_user(10).await;
    let workflow = new_workflow(&app, &user, json!({})).await;
    let run = new_run(&app, &workflow, &user, "Hello?", json!({})).await;
    let (outcome, _) = execute(&app, &run, &workflow).await;
    assert_eq!(failure_code(&outcome), "llm_not_configured");
}

async fn a_cancelled_run_stops_before_asking_the_model(backend: Backend) {
    let (model, addr) = FakeModel::start(six_times_seven).await;
    let Some(app) = app_with_model(backend, addr, None).await else {
        return;
    };
    let user = app.funded_user(10).await;
    let workflow = new_workflow(&app, &user, json!({"tools": ["calculator"]})).await;
    let run = new_run(&app, &workflow, &user, "What is 6 times 7?", json!({})).await;
    let now = Timestamp::from(app.clock.now());
    app.state.store.cancel_run(run.id, now, None).await.unwrap();

    let (outcome, _) = execute(&app, &run, &workflow).await;
    assert_eq!(outcome, EngineOutcome::Cancelled);
    assert!(model.requests().is_empty());
}

async fn a_run_taken_over_after_a_crash_replays_instead_of_paying_again(backend: Backend) {
    // The first attempt pays for the tool, then loses the model; the second
    // attempt replays the model's first answer and the tool's result.
    let (model, addr) = FakeModel::start(|n| match n {
        0 => tool_call(
            "call_0",
            "calculator",
            json!({"action": "evaluate", "expression": "6*7"}),
        ),
        1 => (
            StatusCode::BAD_GATEWAY,
            json!({"error": "upstream went away"}),
        ),
        _ => text("6 times 7 is 42."),
    })
    .await;
    let Some(app) = app_with_model(backend, addr, None).await else {
        return;
    };
    let user = app.funded_user(100).await;
    let price = calculator_price(&app);
    let workflow = new_workflow(&app, &user, json!({"tools": ["calculator"]})).await;
    let run = new_run(
        &app,
        &workflow,
        &user,
        "What is 6 times 7?",
        json!({"session_id": "replayed"}),
    )
    .await;

    let (outcome, _) = execute(&app, &run, &workflow).await;
    assert_eq!(failure_code(&outcome), "llm_error");
    assert_eq!(app.balance(&user).await["balance"], 100 - price);

    let (outcome, metadata) = execute(&app, &run, &workflow).await;
    assert!(
        matches!(&outcome, EngineOutcome::Succeeded { response_text: Some(t), .. } if t == "6 times 7 is 42."),
        "{outcome:?}"
    );
    assert_eq!(model.requests().len(), 3);
    assert_eq!(app.balance(&user).await["balance"], 100 - price);
    let replayed: Vec<&str> = metadata["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["replayed"] == true)
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(replayed, vec!["llm:1", "llm:1:call_0"]);

    // Once more, as if the worker died after the run succeeded: nothing is
    // asked, paid or written to the session again.
    let (again, _) = execute(&app, &run, &workflow).await;
    assert_eq!(again, outcome);
    assert_eq!(model.requests().len(), 3);
    assert_eq!(app.balance(&user).await["balance"], 100 - price);
    let session = app
        .state
        .store
        .session_messages("replayed", user.id())
        .await
        .unwrap();
    assert_eq!(session.len(), 4, "{session:?}");
}

async fn definitions_are_checked_against_the_catalog(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let catalog = app.state.catalog.snapshot();
    let memory_id = catalog.resolve("instance_memory").unwrap().0.row.id;

    let defaults = parse_definition(&json!({}), &catalog).unwrap();
    assert_eq!(
        (
            defaults.max_steps,
            defaults.max_credits.get(),
            defaults.tools.len()
        ),
        (8, 100, 0)
    );
    assert_eq!(
        (defaults.model, defaults.system_prompt, defaults.temperature),
        (None, None, None)
    );

    let parsed = parse_definition(
        &json!({"tools": ["instance-memory", "instance_memory", memory_id], "model": "llama3.2"}),
        &catalog,
    )
    .unwrap();
    assert_eq!(parsed.tools, vec![memory_id]);
    assert_eq!(parsed.model.as_deref(), Some("llama3.2"));

    let errors = parse_definition(
        &json!({"tools": ["calculator", 7, "no_such_tool"]}),
        &catalog,
    )
    .unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].0, vec![json!("tools"), json!(1)]);
    assert_eq!(errors[1].0, vec![json!("tools"), json!(2)]);
    assert!(errors[1].1.contains("no_such_tool"), "{}", errors[1].1);

    for bad in [json!(0), json!(51), json!(2.5), json!("8")] {
        let errors = parse_definition(&json!({"max_steps": bad}), &catalog).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, vec![json!("max_steps")]);
    }
    let errors = parse_definition(&json!({"max_credits": -1, "prompt": "x", "system_prompt": "y".repeat(20_001), "model": ""}), &catalog).unwrap_err();
    let locations: Vec<&str> = errors
        .iter()
        .map(|(loc, _)| loc[0].as_str().unwrap())
        .collect();
    assert_eq!(
        locations,
        vec!["prompt", "model", "system_prompt", "max_credits"]
    );
    assert!(errors[0].1.contains("unknown field"));
    assert!(parse_definition(&json!([]), &catalog).is_err());
}

async fn app_with_model_and(
    backend: Backend,
    addr: SocketAddr,
    tweak: impl FnOnce(&mut tollgate::config::ServeArgs),
) -> Option<TestApp> {
    TestApp::spawn_with(backend, |a| {
        a.llm_base_url = Some(format!("http://{addr}/v1"));
        tweak(a);
    })
    .await
}

async fn model_calls_are_priced_per_thousand_tokens_and_charged_like_tool_calls(backend: Backend) {
    let (_model, addr) = FakeModel::start(six_times_seven).await;
    let Some(app) = app_with_model_and(backend, addr, |a| {
        a.llm_credits_per_1k_prompt_tokens = 100;
        a.llm_credits_per_1k_completion_tokens = 1000;
    })
    .await
    else {
        return;
    };
    let user = app.funded_user(100).await;
    let price = calculator_price(&app);
    let id = crate::workflows::workflow(
        &app,
        &user,
        json!({"name": "assistant", "engine": "llm", "definition": {"tools": ["calculator"]}}),
    )
    .await;
    let (status, body) =
        crate::workflows::trigger(&app, &user.token, &id, json!({"prompt": "6 times 7?"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let run_id = body["data"]["run"]["run_id"].as_str().unwrap();
    let run = crate::workflows::finished(&app, &user.token, run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let metadata = &run["run_metadata"];
    assert_eq!(
        metadata["usage"],
        json!({"prompt_tokens": 50, "completion_tokens": 12})
    );
    // 20 prompt and 7 completion tokens: 2 + 7 credits; then 30 and 5: 3 + 5.
    let steps = metadata["steps"].as_array().unwrap();
    assert_eq!(steps[0]["type"], "llm");
    assert_eq!(steps[0]["credits"], 9);
    assert_eq!(steps[2]["credits"], 8);
    assert_eq!(metadata["credits_spent"], 9 + 8 + price);
    assert_eq!(app.balance(&user).await["balance"], 100 - 17 - price);
    let orders = app.orders(&user).await;
    let model_orders: Vec<_> = orders.iter().filter(|o| o.product_id == "llm").collect();
    assert_eq!(model_orders.len(), 2);
    assert!(model_orders
        .iter()
        .all(|o| o.status == OrderStatus::Succeeded
            && o.action == "fake-model-1"
            && o.run_id.map(|r| r.to_string()).as_deref() == Some(run_id)));
    assert!(model_orders
        .iter()
        .any(|o| Some(o.id.to_string().as_str()) == steps[0]["order_id"].as_str()));

    // A wallet that cannot pay stops the run before the model is asked again.
    let broke = app.new_user().await;
    let id = crate::workflows::workflow(
        &app,
        &broke,
        json!({"name": "assistant", "engine": "llm", "definition": {"tools": ["calculator"]}}),
    )
    .await;
    let (_, body) =
        crate::workflows::trigger(&app, &broke.token, &id, json!({"prompt": "hi"})).await;
    let run = crate::workflows::finished(
        &app,
        &broke.token,
        body["data"]["run"]["run_id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["error_code"], "insufficient_credits", "{run}");
    assert_eq!(app.balance(&broke).await["balance"], 0);
}

async fn model_calls_stop_at_the_servers_limits_per_run_and_per_user(backend: Backend) {
    let (model, addr) = FakeModel::start(|n| {
        tool_call(
            &format!("call_{n}"),
            "calculator",
            json!({"action": "evaluate", "expression": "1+1"}),
        )
    })
    .await;
    let Some(app) = app_with_model_and(backend, addr, |a| {
        a.llm_max_calls_per_run = 2;
        a.llm_max_calls_per_user_hour = 3;
    })
    .await
    else {
        return;
    };
    let user = app.funded_user(100).await;
    let workflow = new_workflow(
        &app,
        &user,
        json!({"tools": ["calculator"], "max_steps": 8}),
    )
    .await;
    let run = new_run(&app, &workflow, &user, "Loop.", json!({})).await;
    let (outcome, _) = execute(&app, &run, &workflow).await;
    assert_eq!(failure_code(&outcome), "model_call_limit_reached");
    let EngineOutcome::Failed { message, .. } = &outcome else {
        unreachable!()
    };
    assert!(message.contains("2 model calls per run"), "{message}");
    assert_eq!(model.requests().len(), 2);

    // The third call of the hour is the last one the user gets.
    let run = new_run(&app, &workflow, &user, "Loop.", json!({})).await;
    let (outcome, metadata) = execute(&app, &run, &workflow).await;
    assert_eq!(failure_code(&outcome), "model_call_limit_reached");
    let EngineOutcome::Failed { message, .. } = &outcome else {
        unreachable!()
    };
    assert!(
        message.contains("3 model calls in the last hour"),
        "{message}"
    );
    assert_eq!(
        model.requests().len(),
        3,
        "the refused call never reached the model"
    );
    assert_eq!(metadata["steps"][0]["status"], "succeeded");

    // Another user has an hour of their own.
    let other = app.funded_user(100).await;
    let theirs = new_workflow(
        &app,
        &other,
        json!({"tools": ["calculator"], "max_steps": 1}),
    )
    .await;
    let run = new_run(&app, &theirs, &other, "Loop.", json!({})).await;
    let (outcome, _) = execute(&app, &run, &theirs).await;
    assert_eq!(failure_code(&outcome), "step_limit_reached");
    assert_eq!(model.requests().len(), 4);
}

async fn only_models_the_operator_allows_are_called(backend: Backend) {
    let (model, addr) = FakeModel::start(|_| text("hello")).await;
    let Some(app) = app_with_model_and(backend, addr, |a| {
        a.llm_allowed_models = "llama3.2, qwen2.5".into();
    })
    .await
    else {
        return;
    };
    let user = app.funded_user(100).await;
    let refused = new_workflow(&app, &user, json!({"model": "gpt-4o"})).await;
    let run = new_run(&app, &refused, &user, "Hi.", json!({})).await;
    let (outcome, _) = execute(&app, &run, &refused).await;
    assert_eq!(failure_code(&outcome), "model_not_allowed");
    let EngineOutcome::Failed { message, .. } = &outcome else {
        unreachable!()
    };
    assert!(
        message.contains("test-model, llama3.2, qwen2.5"),
        "{message}"
    );
    assert!(model.requests().is_empty());

    for allowed in [json!({"model": "qwen2.5"}), json!({})] {
        let workflow = new_workflow(&app, &user, allowed).await;
        let run = new_run(&app, &workflow, &user, "Hi.", json!({})).await;
        let (outcome, _) = execute(&app, &run, &workflow).await;
        assert!(
            matches!(outcome, EngineOutcome::Succeeded { .. }),
            "{outcome:?}"
        );
    }
    assert_eq!(model.requests()[0].body["model"], "qwen2.5");
    assert_eq!(model.requests()[1].body["model"], "test-model");
}

/// Runs each `async fn(Backend)` once on SQLite and once on PostgreSQL; the
/// tests start their own servers, since each needs a model server first.
macro_rules! on_both_backends_with_a_model {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::harness::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::harness::Backend::Postgres).await
                }
            )*
        }
    };
}

on_both_backends_with_a_model!(
    a_tool_call_is_paid_once_and_its_result_reaches_the_model,
    a_session_carries_earlier_turns_for_its_user_only,
    a_model_that_keeps_calling_tools_stops_at_the_step_limit,
    a_tool_call_over_the_credit_limit_ends_the_run_and_costs_nothing,
    tool_errors_are_told_to_the_model_and_running_out_of_credits_ends_the_run,
    model_server_failures_end_the_run_with_llm_error_and_never_show_the_key,
    without_a_model_endpoint_runs_fail_as_not_configured,
    a_cancelled_run_stops_before_asking_the_model,
    a_run_taken_over_after_a_crash_replays_instead_of_paying_again,
    definitions_are_checked_against_the_catalog,
    model_calls_are_priced_per_thousand_tokens_and_charged_like_tool_calls,
    model_calls_stop_at_the_servers_limits_per_run_and_per_user,
    only_models_the_operator_allows_are_called,
);
