//! Server configuration: flags with `TOLLGATE_*` environment fallbacks.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::secret::Secret;

/// The default database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tollgate.db";

/// Where the data lives; shared by `serve` and `admin`.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` (the default, created if missing) or `postgres://...`.
    #[arg(long, env = "TOLLGATE_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,

    /// Base64 of 32 bytes that seals secrets at rest. When unset, a key file
    /// is created in the data directory; several nodes must share one key.
    #[arg(
        long,
        env = "TOLLGATE_MASTER_KEY",
        hide_env_values = true,
        global = true
    )]
    pub master_key: Option<Secret>,

    /// Directory for the generated master key file.
    #[arg(long, env = "TOLLGATE_DATA_DIR", default_value = ".", global = true)]
    pub data_dir: PathBuf,
}

/// Log line format.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// `tollgate serve` settings.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TOLLGATE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// The URL clients reach this server at; used in links and as the token
    /// issuer. Defaults to http://BIND.
    #[arg(long, env = "TOLLGATE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Do not create the demo account on an empty database.
    #[arg(long, env = "TOLLGATE_NO_DEMO")]
    pub no_demo: bool,

    /// Refuse `POST /auth/signup`; accounts are then made by admins.
    #[arg(long, env = "TOLLGATE_DISABLE_SIGNUP")]
    pub disable_signup: bool,

    /// Lifetime of access tokens from `POST /auth/login`, in seconds.
    #[arg(long, env = "TOLLGATE_TOKEN_TTL_SECS", default_value_t = 3600)]
    pub token_ttl_secs: u64,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "TOLLGATE_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: usize,

    /// Time limit for one request, in seconds.
    #[arg(long, env = "TOLLGATE_REQUEST_TIMEOUT_SECS", default_value_t = 60)]
    pub request_timeout_secs: u64,

    /// How often the ledger sweeper runs, in seconds.
    #[arg(long, env = "TOLLGATE_SWEEP_INTERVAL_SECS", default_value_t = 30)]
    pub sweep_interval_secs: u64,

    /// Hosts, IPs or CIDRs (comma-separated) that outbound requests (web
    /// fetch, vendor tools) may reach even though they are not public.
    #[arg(long, env = "TOLLGATE_OUTBOUND_ALLOWLIST", default_value = "")]
    pub outbound_allowlist: String,

    /// Time limit of one tool call, in milliseconds (a product may set its own).
    #[arg(long, env = "TOLLGATE_TOOL_TIMEOUT_MS", default_value_t = 30_000)]
    pub tool_timeout_ms: u64,

    /// Largest answer accepted from a vendor tool, in bytes.
    #[arg(long, env = "TOLLGATE_TOOL_MAX_RESPONSE_BYTES", default_value_t = 1024 * 1024)]
    pub tool_max_response_bytes: usize,

    /// Do not enable the builtin tools on new users' default budgets.
    #[arg(long, env = "TOLLGATE_NO_DEFAULT_BUILTIN_TOOLS")]
    pub no_default_builtin_tools: bool,

    /// Issue reports one user may file per hour.
    #[arg(long, env = "TOLLGATE_ISSUE_REPORTS_PER_HOUR", default_value_t = 30)]
    pub issue_reports_per_hour: i64,

    /// Base URL of an OpenAI-compatible chat-completions API for LLM
    /// workflows (OpenAI, vLLM, Ollama, llama.cpp), e.g. http://127.0.0.1:11434/v1.
    #[arg(long, env = "TOLLGATE_LLM_BASE_URL")]
    pub llm_base_url: Option<String>,

    /// API key sent to the LLM endpoint as a bearer token.
    #[arg(long, env = "TOLLGATE_LLM_API_KEY", hide_env_values = true)]
    pub llm_api_key: Option<Secret>,

    /// Model used by LLM workflows that name none.
    #[arg(long, env = "TOLLGATE_LLM_MODEL", default_value = "gpt-4o-mini")]
    pub llm_model: String,

    /// Models LLM workflows may name, comma-separated; `*` allows any. The
    /// default `--llm-model` is always allowed, so empty means only it.
    #[arg(long, env = "TOLLGATE_LLM_ALLOWED_MODELS", default_value = "")]
    pub llm_allowed_models: String,

    /// Model calls one LLM run may make (a workflow's own `max_steps` may be lower).
    #[arg(long, env = "TOLLGATE_LLM_MAX_CALLS_PER_RUN", default_value_t = 20)]
    pub llm_max_calls_per_run: u32,

    /// Model calls one user's runs may make per hour, across all nodes.
    #[arg(
        long,
        env = "TOLLGATE_LLM_MAX_CALLS_PER_USER_HOUR",
        default_value_t = 200
    )]
    pub llm_max_calls_per_user_hour: i64,

    /// Model calls one user's runs may make per day, across all nodes.
    #[arg(
        long,
        env = "TOLLGATE_LLM_MAX_CALLS_PER_USER_DAY",
        default_value_t = 1000
    )]
    pub llm_max_calls_per_user_day: i64,

    /// Credits charged per 1,000 prompt tokens of a model call (0 = free).
    #[arg(
        long,
        env = "TOLLGATE_LLM_CREDITS_PER_1K_PROMPT_TOKENS",
        default_value_t = 0
    )]
    pub llm_credits_per_1k_prompt_tokens: i64,

    /// Credits charged per 1,000 completion tokens of a model call (0 = free).
    #[arg(
        long,
        env = "TOLLGATE_LLM_CREDITS_PER_1K_COMPLETION_TOKENS",
        default_value_t = 0
    )]
    pub llm_credits_per_1k_completion_tokens: i64,

    /// Runs one node executes at once.
    #[arg(long, env = "TOLLGATE_WORKERS", default_value_t = 4)]
    pub workers: usize,

    /// How long a worker's claim on a run lasts without a heartbeat, in
    /// seconds; a run whose worker died is taken over after this.
    #[arg(long, env = "TOLLGATE_RUN_LEASE_SECS", default_value_t = 30)]
    pub run_lease_secs: u64,

    /// Largest state one workflow run may hold, in bytes: each rendered
    /// template, each step output, all of them together, the response text
    /// and the model conversation. A run that would pass it fails with
    /// `run_state_too_large`.
    #[arg(long, env = "TOLLGATE_RUN_STATE_LIMIT_BYTES", default_value_t = 1024 * 1024)]
    pub run_state_limit_bytes: usize,

    /// Runs one user may have queued at once; a trigger past it answers 429
    /// `too_many_queued_runs`.
    #[arg(long, env = "TOLLGATE_MAX_QUEUED_RUNS_PER_USER", default_value_t = 50)]
    pub max_queued_runs_per_user: i64,

    /// Runs of one user that the workers execute at once, across all nodes;
    /// the others wait while other users' runs go first.
    #[arg(long, env = "TOLLGATE_MAX_RUNNING_RUNS_PER_USER", default_value_t = 2)]
    pub max_running_runs_per_user: i64,

    /// Callback deliveries one node makes at once. 0 makes a node that
    /// delivers no callbacks (the other nodes of the database deliver them).
    #[arg(long, env = "TOLLGATE_CALLBACK_WORKERS", default_value_t = 4)]
    pub callback_workers: usize,

    /// Delivery attempts of a run's callback before it is marked failed.
    #[arg(long, env = "TOLLGATE_CALLBACK_MAX_ATTEMPTS", default_value_t = 8)]
    pub callback_max_attempts: i64,

    /// First retry delay of a callback, in milliseconds; each retry doubles
    /// it (with full jitter), up to an hour.
    #[arg(long, env = "TOLLGATE_CALLBACK_BACKOFF_MS", default_value_t = 2_000)]
    pub callback_backoff_ms: u64,

    /// Origins allowed to frame the embed pages (CSP `frame-ancestors`),
    /// space-separated; `*` allows any site.
    #[arg(long, env = "TOLLGATE_EMBED_FRAME_ANCESTORS", default_value = "*")]
    pub embed_frame_ancestors: String,

    /// Sign-in attempts allowed per minute, per client address and per
    /// account; past it the client waits, longer each time. 0 turns it off.
    #[arg(long, env = "TOLLGATE_LOGIN_RATE_LIMIT", default_value_t = 10)]
    pub login_rate_limit: u32,

    /// Sign-ups allowed per client address per hour. 0 turns it off.
    #[arg(long, env = "TOLLGATE_SIGNUP_RATE_LIMIT", default_value_t = 20)]
    pub signup_rate_limit: u32,

    /// Header naming the client address when Tollgate runs behind a reverse
    /// proxy (e.g. `X-Forwarded-For`, of which the last address is used, or
    /// `X-Real-IP`). Set it only behind a proxy that sets the header, or
    /// clients can pick their own address. Unset: the TCP peer address.
    #[arg(long, env = "TOLLGATE_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,

    /// Log format.
    #[arg(long, env = "TOLLGATE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// How many objects of each kind one account may create.
    #[command(flatten)]
    pub quotas: Quotas,
}

/// How many objects of each kind one account may have, so that no account
/// of an open signup can fill the database. 0 means no limit.
#[derive(Debug, Clone, Copy, Args, PartialEq, Eq)]
pub struct Quotas {
    /// Budgets one user may have, the default budget included.
    #[arg(long, env = "TOLLGATE_MAX_BUDGETS_PER_USER", default_value_t = Quotas::DEFAULT.budgets_per_user)]
    pub max_budgets_per_user: u32,

    /// Unrevoked API keys one budget may have.
    #[arg(long, env = "TOLLGATE_MAX_API_KEYS_PER_BUDGET", default_value_t = Quotas::DEFAULT.api_keys_per_budget)]
    pub max_api_keys_per_budget: u32,

    /// Workflows one user may own.
    #[arg(long, env = "TOLLGATE_MAX_WORKFLOWS_PER_USER", default_value_t = Quotas::DEFAULT.workflows_per_user)]
    pub max_workflows_per_user: u32,

    /// Bundles one user may own.
    #[arg(long, env = "TOLLGATE_MAX_BUNDLES_PER_USER", default_value_t = Quotas::DEFAULT.bundles_per_user)]
    pub max_bundles_per_user: u32,

    /// MCP sessions one user may have open at once.
    #[arg(long, env = "TOLLGATE_MAX_MCP_SESSIONS_PER_USER", default_value_t = Quotas::DEFAULT.mcp_sessions_per_user)]
    pub max_mcp_sessions_per_user: u32,
}

/// The default limits, named once for the flags and for [`Quotas::default`].
struct QuotaDefaults {
    budgets_per_user: u32,
    api_keys_per_budget: u32,
    workflows_per_user: u32,
    bundles_per_user: u32,
    mcp_sessions_per_user: u32,
}

impl Quotas {
    const DEFAULT: QuotaDefaults = QuotaDefaults {
        budgets_per_user: 20,
        api_keys_per_budget: 20,
        workflows_per_user: 100,
        bundles_per_user: 50,
        mcp_sessions_per_user: 20,
    };
}

impl Default for Quotas {
    fn default() -> Self {
        let d = Quotas::DEFAULT;
        Quotas {
            max_budgets_per_user: d.budgets_per_user,
            max_api_keys_per_budget: d.api_keys_per_budget,
            max_workflows_per_user: d.workflows_per_user,
            max_bundles_per_user: d.bundles_per_user,
            max_mcp_sessions_per_user: d.mcp_sessions_per_user,
        }
    }
}

impl ServeArgs {
    /// The public base URL, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.bind),
        }
    }
}
