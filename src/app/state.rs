//! The state every part of the server shares, and the settings it runs with.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderName;

use crate::auth::tokens::TokenService;
use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::ledger::Ledger;
use crate::secret::MasterKey;
use crate::store::Store;
use crate::tools::outbound::Outbound;
use crate::tools::vendor::VendorClient;

/// The settings of one node, as the operator gave them (`config::ServeArgs`),
/// read by the handlers, the purchase path, the workers and the deliveries.
#[derive(Debug, Clone)]
pub struct Settings {
    pub public_url: String,
    pub signup_enabled: bool,
    pub token_ttl: Duration,
    pub body_limit: usize,
    pub request_timeout: Duration,
    pub tool_timeout: Duration,
    pub tool_max_response_bytes: usize,
    pub default_builtin_tools: bool,
    pub issue_reports_per_hour: i64,
    pub llm_base_url: Option<String>,
    pub llm_api_key: Option<crate::secret::Secret>,
    pub llm_model: String,
    /// Models workflows may name besides `llm_model`; `*` allows any.
    pub llm_allowed_models: Vec<String>,
    pub llm_max_calls_per_run: u32,
    pub llm_max_calls_per_user_hour: i64,
    pub llm_max_calls_per_user_day: i64,
    pub llm_credits_per_1k_prompt_tokens: i64,
    pub llm_credits_per_1k_completion_tokens: i64,
    pub workers: usize,
    pub run_lease: Duration,
    pub callback_max_attempts: i64,
    pub callback_backoff: Duration,
    pub run_state_limit_bytes: usize,
    pub max_queued_runs_per_user: i64,
    pub max_running_runs_per_user: i64,
    /// Callback delivery loops this node runs.
    pub callback_workers: usize,
    pub embed_frame_ancestors: String,
    /// Sign-in attempts per minute, per address and per account; 0 is off.
    pub login_rate_limit: u32,
    /// Sign-ups per address per hour; 0 is off.
    pub signup_rate_limit: u32,
    /// The header carrying the client address behind a proxy.
    pub client_ip_header: Option<HeaderName>,
    pub quotas: crate::config::Quotas,
}

/// What every part of the server shares: the store, the domain services
/// built over it, this node's throttles and signals, and the settings.
pub struct AppInner {
    pub store: Arc<dyn Store>,
    pub ledger: Ledger,
    pub tokens: TokenService,
    pub catalog: Catalog,
    pub caches: crate::cache::Caches,
    pub outbound: Arc<Outbound>,
    pub master: MasterKey,
    pub clock: Arc<dyn Clock>,
    /// This node's sign-in and sign-up throttles.
    pub throttles: crate::auth::throttle::AuthThrottles,
    /// Wakes this node's workers when a run is queued here.
    pub run_queued: tokio::sync::Notify,
    /// Cancelled when the server shuts down, so long-lived streams (MCP
    /// sessions) end and the shutdown can finish.
    pub shutdown: tokio_util::sync::CancellationToken,
    pub settings: Settings,
    /// When this node started, in epoch milliseconds.
    pub started_at: i64,
}

pub type AppState = Arc<AppInner>;

impl AppInner {
    /// Products a new user's default budget starts with.
    pub fn default_products(&self) -> Vec<crate::id::ProductId> {
        if self.settings.default_builtin_tools {
            self.catalog.builtin_ids()
        } else {
            Vec::new()
        }
    }

    /// What a call to a vendor's tool needs of this node.
    pub fn vendor_client(&self) -> VendorClient<'_> {
        VendorClient {
            outbound: &self.outbound,
            tokens: &self.tokens,
            max_response_bytes: self.settings.tool_max_response_bytes,
        }
    }
}
