//! Building and running the server: storage, keys, the demo account, the
//! HTTP listener and the background sweeper.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::accounts::{self, Email};
use crate::auth::tokens::TokenService;
use crate::auth::Role;
use crate::clock::Clock;
use crate::config::{DatabaseArgs, ServeArgs};
use crate::http::{self, AppInner, AppState, HttpSettings};
use crate::ledger::{self, Ledger, NewGrant};
use crate::secret::MasterKey;
use crate::store::{self, Store};

/// Email of the account made on a server's first start.
pub const DEMO_EMAIL: &str = "demo@tollgate.local";
/// Credits the demo account starts with.
pub const DEMO_CREDITS: i64 = 10_000;

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
        let tokens = TokenService::load(store.clone(), master, public_url.clone()).await?;
        let ledger = Ledger::new(store.clone(), clock.clone());
        let settings = HttpSettings {
            public_url,
            signup_enabled: !serve.disable_signup,
            token_ttl: Duration::from_secs(serve.token_ttl_secs),
            body_limit: serve.body_limit,
            request_timeout: Duration::from_secs(serve.request_timeout_secs),
        };
        Ok(App {
            state: Arc::new(AppInner {
                store,
                ledger,
                tokens,
                clock,
                settings,
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
        if !store.claim_marker("demo_account", DEMO_EMAIL, now).await? {
            return Ok(None);
        }
        let password = random_password();
        let email = Email::parse(DEMO_EMAIL).expect("demo email is valid");
        let created = accounts::create_user(store, &email, &password, Role::Customer).await?;
        let budget = store
            .budget_by_id(&created.budget_id)
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
        let (stop_tx, stop_rx) = watch::channel(false);
        let sweeper = tokio::spawn(ledger::sweeper::run(
            self.state.ledger.clone(),
            self.sweep_every,
            stop_rx.clone(),
        ));
        let keys = tokio::spawn(refresh_keys(self.state.clone(), stop_rx));
        let router = http::router(self.state.clone());
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
        let _ = stop_tx.send(true);
        let _ = sweeper.await;
        let _ = keys.await;
        served?;
        Ok(())
    }
}

/// Picks up signing keys rotated by another node or by `tollgate admin`.
async fn refresh_keys(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(KEY_REFRESH);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = state.tokens.reload().await {
            tracing::warn!(error = %e, "reloading signing keys failed; will retry");
        }
    }
}

/// How often each node re-reads the signing keys.
const KEY_REFRESH: Duration = Duration::from_secs(60);

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
