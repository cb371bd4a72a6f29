//! Building and running the server: the store and keys, the application
//! state, the demo account, the router (the HTTP API with the MCP transport
//! mounted on it) and the background work (sweeper, key refresh, run
//! workers, callback deliveries). The one place that knows every layer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::accounts::{self, Email};
use crate::app::{AppInner, AppState, Settings};
use crate::auth::tokens::TokenService;
use crate::auth::Role;
use crate::catalog::Catalog;
use crate::clock::{Clock, Timestamp};
use crate::config::{DatabaseArgs, ServeArgs};
use crate::ledger::{self, Ledger, NewGrant};
use crate::money::Credits;
use crate::secret::MasterKey;
use crate::store::{self, Store};
use crate::tools::outbound::{Allowlist, Outbound};

/// Email of the account made on a server's first start.
pub const DEMO_EMAIL: &str = "demo@tollgate.local";
/// Credits the demo account starts with.
pub const DEMO_CREDITS: Credits = Credits::new(10_000);

/// The demo account's sign-in details, shown once on the console.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    pub email: String,
    pub password: String,
    pub api_key: String,
}

/// Opens the store and the master key named by the database settings.
pub async fn open_store(db: &DatabaseArgs) -> anyhow::Result<(Arc<dyn Store>, MasterKey)> {
    let store = store::connect(&db.database_url).await?;
    let master = match &db.master_key {
        Some(k) => MasterKey::from_base64(k.expose())?,
        None => MasterKey::load_or_create(&db.data_dir.join("tollgate.master.key"))?,
    };
    Ok((store, master))
}

/// A server ready to run.
pub struct App {
    pub state: AppState,
    sweep_every: Duration,
}

impl App {
    /// Prepares the server; `public_url` is where clients reach it.
    pub async fn new(
        db: &DatabaseArgs,
        serve: &ServeArgs,
        public_url: String,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<App> {
        let (store, master) = open_store(db).await?;
        crate::telemetry::handle();
        let tokens = TokenService::load(store.clone(), master.clone(), public_url.clone()).await?;
        let ledger = Ledger::new(store.clone(), clock.clone());
        let catalog = Catalog::load(store.clone(), crate::tools::builtins()).await?;
        let outbound = Arc::new(Outbound::new(Allowlist::parse(&serve.outbound_allowlist)?));
        let started_at = clock.now().timestamp_millis();
        let settings = Settings {
            public_url,
            signup_enabled: !serve.disable_signup,
            token_ttl: Duration::from_secs(serve.token_ttl_secs),
            body_limit: serve.body_limit,
            request_timeout: Duration::from_secs(serve.request_timeout_secs),
            tool_timeout: Duration::from_millis(serve.tool_timeout_ms.max(1)),
            tool_max_response_bytes: serve.tool_max_response_bytes,
            default_builtin_tools: !serve.no_default_builtin_tools,
            issue_reports_per_hour: serve.issue_reports_per_hour,
            llm_base_url: serve.llm_base_url.clone(),
            llm_api_key: serve.llm_api_key.clone(),
            llm_model: serve.llm_model.clone(),
            llm_allowed_models: serve
                .llm_allowed_models
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect(),
            llm_max_calls_per_run: serve.llm_max_calls_per_run.max(1),
            llm_max_calls_per_user_hour: serve.llm_max_calls_per_user_hour.max(1),
            llm_max_calls_per_user_day: serve.llm_max_calls_per_user_day.max(1),
            llm_credits_per_1k_prompt_tokens: serve.llm_credits_per_1k_prompt_tokens.max(0),
            llm_credits_per_1k_completion_tokens: serve.llm_credits_per_1k_completion_tokens.max(0),
            workers: serve.workers,
            run_lease: Duration::from_secs(serve.run_lease_secs.max(1)),
            callback_max_attempts: serve.callback_max_attempts.max(1),
            callback_backoff: Duration::from_millis(serve.callback_backoff_ms.max(1)),
            run_state_limit_bytes: serve.run_state_limit_bytes.max(1024),
            max_queued_runs_per_user: serve.max_queued_runs_per_user.max(1),
            max_running_runs_per_user: serve.max_running_runs_per_user.max(1),
            callback_workers: serve.callback_workers,
            embed_frame_ancestors: serve.embed_frame_ancestors.clone(),
            login_rate_limit: serve.login_rate_limit,
            signup_rate_limit: serve.signup_rate_limit,
            client_ip_header: serve
                .client_ip_header
                .as_deref()
                .map(|h| {
                    axum::http::HeaderName::try_from(h.trim())
                        .map_err(|_| anyhow::anyhow!("--client-ip-header: not a header name: {h}"))
                })
                .transpose()?,
            quotas: serve.quotas,
        };
        let throttles = crate::auth::throttle::AuthThrottles::new(
            settings.login_rate_limit,
            settings.signup_rate_limit,
        );
        Ok(App {
            state: Arc::new(AppInner {
                store: store.clone(),
                ledger,
                tokens,
                catalog,
                caches: crate::cache::Caches::new(store.clone()),
                outbound,
                master,
                clock,
                throttles,
                settings,
                started_at,
                run_queued: tokio::sync::Notify::new(),
                shutdown: tokio_util::sync::CancellationToken::new(),
            }),
            sweep_every: Duration::from_secs(serve.sweep_interval_secs.max(1)),
        })
    }

    /// On an empty database, creates the demo account with credits and a key.
    /// Only one node of a deployment does so.
    pub async fn ensure_demo(&self) -> anyhow::Result<Option<DemoAccount>> {
        let store = self.state.store.as_ref();
        if store.count_users().await? > 0 {
            return Ok(None);
        }
        let now = self.state.clock.now().timestamp_millis();
        if !store
            .claim_marker("demo_account", DEMO_EMAIL, Timestamp::from_millis(now))
            .await?
        {
            return Ok(None);
        }
        let password = random_password();
        let email = Email::parse(DEMO_EMAIL).expect("demo email is valid");
        let created = accounts::create_user(
            store,
            &email,
            &password,
            Role::Customer,
            self.state.default_products(),
        )
        .await?;
        let budget = store
            .budget_by_id(created.budget_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("demo budget vanished"))?;
        let (_, api_key) = accounts::create_api_key(store, &budget, "demo", now).await?;
        self.state
            .ledger
            .grant(NewGrant {
                user_id: created.user_id,
                amount_credits: DEMO_CREDITS,
                credit_type: "signup_bonus".into(),
                expires_at: None,
                source_metadata: Some(serde_json::json!({"reason": "demo account"})),
            })
            .await?;
        let workflows =
            crate::workflows::demo::create(&self.state, created.user_id, created.budget_id).await?;
        tracing::info!(count = workflows.len(), "demo workflows created");
        Ok(Some(DemoAccount {
            email: DEMO_EMAIL.into(),
            password,
            api_key,
        }))
    }

    /// Serves on `listener` until `shutdown` resolves, then drains requests
    /// in flight and stops the background work.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        if self.state.store.backend() == "sqlite" {
            // One node: holds older than this process belong to calls that
            // died with the last one. Release them now rather than after
            // their deadlines.
            let released = self
                .state
                .ledger
                .release_holds_before(self.state.started_at, i64::MAX)
                .await?;
            if released > 0 {
                tracing::info!(
                    released,
                    "released the holds of calls cut off by the last stop"
                );
            }
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let sweeper = tokio::spawn(ledger::sweeper::run(
            self.state.ledger.clone(),
            self.sweep_every,
            stop_rx.clone(),
        ));
        let keys = tokio::spawn(refresh_keys(self.state.clone(), stop_rx.clone()));
        let workers =
            crate::workflows::worker::spawn(&self.state, self.state.settings.workers, &stop_rx);
        // Several delivery loops, so one slow receiver cannot hold up the
        // others' callbacks; each delivery is claimed under a lease.
        let deliveries: Vec<_> = (0..self.state.settings.callback_workers)
            .map(|_| tokio::spawn(crate::delivery::run(self.state.clone(), stop_rx.clone())))
            .collect();
        let router = router(self.state.clone());
        let cancel = self.state.shutdown.clone();
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Open streams end now, or the drain below would wait on them.
            cancel.cancel();
        })
        .await;
        let _ = stop_tx.send(true);
        let _ = sweeper.await;
        let _ = keys.await;
        // Runs still in flight are left to their leases: another node, or
        // this one after a restart, takes them over.
        for w in workers {
            w.abort();
        }
        for d in deliveries {
            let _ = d.await;
        }
        served?;
        Ok(())
    }
}

/// The whole application: the HTTP API with the MCP transport at `/mcp`.
pub fn router(state: AppState) -> axum::Router {
    crate::http::router(state)
}

/// Keeps this node in step with the others: drops cached keys and budgets
/// and picks up catalog changes made anywhere within `cache::BOUND`, picks
/// up rotated signing keys within a minute (verifying a token also checks
/// for key changes, every second), forgets logged-out tokens once they
/// expire, and forgets idempotency keys after two days.
async fn refresh_keys(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(crate::cache::POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut ticks: u64 = 0;
    let per_second = (1000 / crate::cache::POLL.as_millis()).max(1) as u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        ticks += 1;
        let now = state.clock.now().timestamp_millis();
        if let Err(e) = state.caches.poll(now).await {
            tracing::warn!(error = %e, "reading cache invalidations failed; will retry");
        }
        if let Err(e) = state.catalog.refresh_if_changed().await {
            tracing::warn!(error = %e, "refreshing the catalog failed; will retry");
        }
        if ticks.is_multiple_of(per_second * KEY_REFRESH.as_secs()) {
            if let Err(e) = state.tokens.reload().await {
                tracing::warn!(error = %e, "reloading signing keys failed; will retry");
            }
            let cutoff = now - IDEMPOTENCY_KEEP_MS;
            if let Err(e) = state
                .store
                .purge_idempotency_keys(Timestamp::from_millis(cutoff))
                .await
            {
                tracing::warn!(error = %e, "purging idempotency keys failed; will retry");
            }
            if let Err(e) = state
                .store
                .prune_invalidations(Timestamp::from_millis(now - 3_600_000))
                .await
            {
                tracing::warn!(error = %e, "pruning cache invalidations failed; will retry");
            }
            // Token expiry is wall-clock time, as tokens are issued with it.
            let now = chrono::Utc::now().timestamp_millis();
            if let Err(e) = state
                .store
                .purge_revoked_tokens(Timestamp::from_millis(now))
                .await
            {
                tracing::warn!(error = %e, "purging ended sessions failed; will retry");
            }
        }
    }
}

/// How often each node re-reads the signing keys.
const KEY_REFRESH: Duration = Duration::from_secs(60);
/// Idempotency keys are kept at least 24 hours; these are purged after 48.
const IDEMPOTENCY_KEEP_MS: i64 = 48 * 3_600_000;

fn random_password() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 20)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
