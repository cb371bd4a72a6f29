//! Starting real servers for tests: a temp SQLite file, or a schema of its
//! own on the PostgreSQL server named by `TOLLGATE_TEST_DATABASE_URL`.

use std::sync::Arc;
use tollgate::id::{BudgetId, UserId};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use tollgate::accounts::{self, Email};
use tollgate::app::AppState;
use tollgate::auth::Role;
use tollgate::clock::ManualClock;
use tollgate::config::{DatabaseArgs, LogFormat, ServeArgs};
use tollgate::secret::Secret;
use tollgate::startup::App;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where a test's database lives.
pub struct TestDb {
    pub url: String,
    pub master_key: String,
    _dir: tempfile::TempDir,
}

impl TestDb {
    /// The same database for a second node (its own data directory).
    pub fn share(&self) -> TestDb {
        TestDb {
            url: self.url.clone(),
            master_key: self.master_key.clone(),
            _dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn args(&self) -> DatabaseArgs {
        DatabaseArgs {
            database_url: self.url.clone(),
            master_key: Some(Secret::new(self.master_key.clone())),
            data_dir: self._dir.path().to_path_buf(),
        }
    }
}

/// The PostgreSQL URL for tests, or `None` to skip. With `CI=true` a
/// missing URL fails the run: CI must exercise PostgreSQL.
pub fn postgres_url() -> Option<String> {
    match std::env::var("TOLLGATE_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but TOLLGATE_TEST_DATABASE_URL is not set: the PostgreSQL suite must run");
            }
            eprintln!("skipping a PostgreSQL test: set TOLLGATE_TEST_DATABASE_URL to run it");
            None
        }
    }
}

/// A fresh, empty database; `None` when the backend is not available.
pub async fn fresh_db(backend: Backend) -> Option<TestDb> {
    let dir = tempfile::tempdir().expect("temp dir");
    let master_key = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(rand_bytes())
    };
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("tollgate.db").display()),
        Backend::Postgres => {
            let base = postgres_url()?;
            let schema = format!("t_{}", tollgate::id::new_id());
            let pool = sqlx::PgPool::connect(&base)
                .await
                .expect("connect to the test PostgreSQL");
            drop_stale_schemas(&pool).await;
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await
                .expect("create schema");
            pool.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}options=-c%20search_path%3D{schema}")
        }
    };
    Some(TestDb {
        url,
        master_key,
        _dir: dir,
    })
}

/// The ledger rows that name a user, grant or ledger entry that does not
/// exist, one line each. PostgreSQL keeps no foreign keys on the rows every
/// purchase appends (its migration 0014), so the ledger tests look for
/// such rows themselves, on both backends.
pub async fn rows_naming_what_is_not_there(db: &TestDb) -> Vec<String> {
    const SQL: &str = "\
        SELECT 'entry ' || t.id FROM credit_transactions t \
         WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.user_id) \
            OR (t.grant_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.id = t.grant_id)) \
        UNION ALL SELECT 'allocation ' || a.transaction_id || ' ' || a.grant_id FROM ledger_allocations a \
         WHERE NOT EXISTS (SELECT 1 FROM credit_transactions t WHERE t.id = a.transaction_id) \
            OR NOT EXISTS (SELECT 1 FROM grants g WHERE g.id = a.grant_id) \
        UNION ALL SELECT 'order ' || o.id FROM orders o \
         WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = o.user_id) \
        UNION ALL SELECT 'hold ' || h.id FROM holds h \
         WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = h.user_id)";
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        let rows = sqlx::query_scalar(SQL).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let rows = sqlx::query_scalar(SQL).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows
    }
}

/// Drops, once per test process, the schemas of test databases made over
/// an hour ago (a schema's name carries its id, whose first four bytes are
/// its creation time in seconds): every test leaves its schema behind, and
/// a database that keeps them all grows by thousands of tables a run. A
/// test process running beside this one (under an hour old) keeps its own.
async fn drop_stale_schemas(pool: &sqlx::PgPool) {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname ~ '^t_[0-9a-f]{24}$' \
         AND ('x' || substr(nspname, 3, 8))::bit(32)::bigint < extract(epoch FROM now()) - 3600",
    )
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    for schema in stale {
        // Another test process may be dropping it too.
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(pool)
            .await;
    }
}

fn rand_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
    b
}

pub fn serve_args() -> ServeArgs {
    ServeArgs {
        bind: "127.0.0.1:0".parse().unwrap(),
        public_url: None,
        no_demo: true,
        disable_signup: false,
        token_ttl_secs: 3600,
        body_limit: 64 * 1024,
        request_timeout_secs: 30,
        sweep_interval_secs: 3600,
        outbound_allowlist: "127.0.0.1".into(),
        tool_timeout_ms: 2_000,
        tool_max_response_bytes: 64 * 1024,
        no_default_builtin_tools: false,
        issue_reports_per_hour: 30,
        llm_base_url: None,
        llm_api_key: None,
        llm_model: "test-model".into(),
        llm_allowed_models: String::new(),
        llm_max_calls_per_run: 20,
        llm_max_calls_per_user_hour: 200,
        llm_max_calls_per_user_day: 1000,
        llm_credits_per_1k_prompt_tokens: 0,
        llm_credits_per_1k_completion_tokens: 0,
        workers: 2,
        run_lease_secs: 30,
        callback_workers: 4,
        callback_max_attempts: 5,
        run_state_limit_bytes: 1024 * 1024,
        max_queued_runs_per_user: 50,
        max_running_runs_per_user: 2,
        callback_backoff_ms: 50,
        embed_frame_ancestors: "*".into(),
        // Tests sign up and sign in many accounts from one address; the
        // throttle tests turn these on.
        login_rate_limit: 0,
        signup_rate_limit: 0,
        client_ip_header: None,
        log_format: LogFormat::Text,
        quotas: Default::default(),
    }
}

/// A running server.
pub struct TestApp {
    pub url: String,
    pub state: AppState,
    pub clock: ManualClock,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub backend: Backend,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A signed-up user with an access token.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub email: String,
    pub password: String,
    pub user_id: String,
    pub budget_id: String,
    pub token: String,
}

impl TestUser {
    /// The user's id, as the store keys it.
    pub fn id(&self) -> UserId {
        self.user_id.parse().expect("a user id")
    }

    /// The id of the user's default budget.
    pub fn budget(&self) -> BudgetId {
        self.budget_id.parse().expect("a budget id")
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(
        backend: Backend,
        tweak: impl FnOnce(&mut ServeArgs),
    ) -> Option<TestApp> {
        let db = fresh_db(backend).await?;
        let mut args = serve_args();
        tweak(&mut args);
        Some(Self::start(db, args, backend).await)
    }

    /// Starts a server on an existing database.
    pub async fn start(db: TestDb, args: ServeArgs, backend: Backend) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let clock = ManualClock::new(chrono::Utc::now());
        let app = App::new(&db.args(), &args, url.clone(), Arc::new(clock.clone()))
            .await
            .expect("app starts");
        let state = app.state.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(listener, async {
            let _ = stopped.await;
        }));
        TestApp {
            url,
            state,
            clock,
            client: reqwest::Client::new(),
            db,
            backend,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server gracefully and hands back its database.
    pub async fn stop(mut self) -> TestDb {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(
            &mut self.db,
            TestDb {
                url: String::new(),
                master_key: String::new(),
                _dir: dir,
            },
        )
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.request(Method::POST, path, token, Some(body)).await
    }

    /// Signs a new customer up through the API and signs them in.
    pub async fn new_user(&self) -> TestUser {
        let email = format!("user-{}@example.com", tollgate::id::new_id());
        let password = "correct horse battery".to_string();
        let (status, body) = self
            .post(
                "/auth/signup",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let token = self.login(&email, &password).await;
        TestUser {
            user_id: body["data"]["user_id"].as_str().unwrap().into(),
            budget_id: body["data"]["budget_id"].as_str().unwrap().into(),
            email,
            password,
            token,
        }
    }

    /// An administrator, made the way an operator would (not through signup).
    pub async fn new_admin(&self) -> TestUser {
        self.new_with_role(Role::Admin).await
    }

    /// A vendor, made by an operator.
    pub async fn new_vendor(&self) -> TestUser {
        self.new_with_role(Role::Vendor).await
    }

    async fn new_with_role(&self, role: Role) -> TestUser {
        let email = format!("{}-{}@example.com", role.as_str(), tollgate::id::new_id());
        let password = "role password 1".to_string();
        let created = accounts::create_user(
            self.state.store.as_ref(),
            &Email::parse(&email).unwrap(),
            &password,
            role,
            self.state.default_products(),
        )
        .await
        .unwrap();
        let token = self.login(&email, &password).await;
        TestUser {
            email,
            password,
            user_id: created.user_id.to_string(),
            budget_id: created.budget_id.to_string(),
            token,
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let (status, body) = self
            .post(
                "/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    /// Grants credits through the admin API.
    pub async fn grant(
        &self,
        admin: &TestUser,
        user: &TestUser,
        credits: i64,
        expires_at: Option<String>,
    ) -> Value {
        let mut body = json!({"user_id": user.user_id, "amount_credits": credits});
        if let Some(e) = expires_at {
            body["expires_at"] = json!(e);
        }
        let (status, body) = self.post("/admin/grants", Some(&admin.token), body).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["data"].clone()
    }

    pub async fn balance(&self, user: &TestUser) -> Value {
        let (status, body) = self.get("/credits/balance", Some(&user.token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"].clone()
    }

    /// A new user granted `credits` by a new admin (none if 0).
    pub async fn funded_user(&self, credits: i64) -> TestUser {
        let admin = self.new_admin().await;
        let user = self.new_user().await;
        if credits > 0 {
            self.grant(&admin, &user, credits, None).await;
        }
        user
    }

    /// The user's latest orders, newest first, as the store has them.
    pub async fn orders(&self, user: &TestUser) -> Vec<tollgate::store::OrderRow> {
        self.state
            .store
            .orders_for_user(user.id(), 10)
            .await
            .unwrap()
    }
}

/// Runs each named `async fn(TestApp)` once on SQLite and once on PostgreSQL;
/// `tweak = |args| ...;` first changes the servers' settings.
#[macro_export]
macro_rules! on_both_backends {
    (tweak = $tweak:expr; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let tweak: fn(&mut tollgate::config::ServeArgs) = $tweak;
                    let app = $crate::harness::TestApp::spawn_with($crate::harness::Backend::Sqlite, tweak).await.unwrap();
                    super::$name(app).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let tweak: fn(&mut tollgate::config::ServeArgs) = $tweak;
                    let Some(app) = $crate::harness::TestApp::spawn_with($crate::harness::Backend::Postgres, tweak).await else { return };
                    super::$name(app).await
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        $crate::on_both_backends!(tweak = |_| {}; $($name),*);
    };
}

/// Every `.rs` file below `dir`, for the tests that read the sources.
pub fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}
