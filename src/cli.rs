//! The `tollgate` command line.

use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::accounts::{self, Email};
use crate::auth::tokens::TokenService;
use crate::auth::Role;
use crate::clock::{SystemClock, Timestamp};
use crate::config::{DatabaseArgs, LogFormat, ServeArgs};
use crate::ledger::{Ledger, NewGrant};
use crate::money::Credits;
use crate::startup::{self, App};
use crate::store::redact_url;

/// Tollgate: a self-hostable platform on which AI agents pay for and use tools.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Operator commands against the configured database; they work with the
    /// server running or stopped.
    #[command(subcommand)]
    Admin(AdminCommand),
    #[command(flatten)]
    Client(crate::client_cli::ClientCommand),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a user with a default budget.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long, env = "TOLLGATE_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, default_value = "customer", value_parser = ["admin", "vendor", "customer"])]
        role: String,
    },
    /// Mint an API key on a user's default budget and print it.
    CreateApiKey {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Grant credits to a user.
    Grant {
        #[arg(long)]
        email: String,
        #[arg(long)]
        credits: i64,
        /// RFC 3339 time at which the credits expire.
        #[arg(long)]
        expires_at: Option<chrono::DateTime<chrono::FixedOffset>>,
        #[arg(long, default_value = "admin_grant")]
        credit_type: String,
    },
    /// Make a new signing key current; tokens signed by older keys still verify.
    RotateSigningKey,
    /// Take a signing key out of use: tokens it signed stop working on every
    /// running server within about a second. For after a rotation, once the
    /// old tokens should die, or after a key leak. The current key cannot be
    /// retired; rotate first.
    RetireSigningKey {
        /// The key's id (`kid` in /.well-known/jwks.json and token headers).
        #[arg(long)]
        kid: String,
    },
    /// Change a user's role; their signed-in sessions end at once (API keys
    /// keep working, with the new role).
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["admin", "vendor", "customer"])]
        role: String,
    },
}

fn init_logging(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only for a person at a terminal, never in a file or a pipe.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        // Each line carries its spans, so every line of a request has its request id.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(serve) => {
            init_logging(serve.log_format, "info,sqlx=warn,tower_http=info");
            serve_command(cli.db, *serve).await
        }
        Command::Client(cmd) => crate::client_cli::run(cmd).await,
        Command::Admin(cmd) => {
            init_logging(LogFormat::Text, "warn");
            admin_command(cli.db, cmd).await
        }
    }
}

/// Prints a line of the server's banner. A closed or broken stdout must not
/// stop a running server, so write errors are ignored (`println!` panics).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

async fn serve_command(db: DatabaseArgs, serve: ServeArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(serve.bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", serve.bind))?;
    let addr = listener.local_addr()?;
    let public_url = match &serve.public_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => format!("http://{addr}"),
    };
    let app = App::new(&db, &serve, public_url.clone(), Arc::new(SystemClock)).await?;
    say!(
        "Tollgate is listening on http://{addr} (public URL {public_url}, database {})",
        redact_url(&db.database_url)
    );
    if !serve.no_demo {
        if let Some(demo) = app.ensure_demo().await? {
            say!();
            say!(
                "A demo account was created with {} credits:",
                startup::DEMO_CREDITS
            );
            say!("  email:    {}", demo.email);
            say!("  password: {}", demo.password);
            say!("  API key:  {}", demo.api_key);
            say!();
            say!("Try it:");
            say!(
                "  curl -H \"Authorization: Bearer {}\" {public_url}/credits/balance",
                demo.api_key
            );
            say!();
        }
    }
    app.run(listener, startup::shutdown_signal()).await
}

async fn admin_command(db: DatabaseArgs, cmd: AdminCommand) -> anyhow::Result<()> {
    let (store, master) = startup::open_store(&db).await?;
    let user_for = |email: String| {
        let store = store.clone();
        async move {
            let parsed = Email::parse(&email).map_err(|e| anyhow::anyhow!("invalid email: {e}"))?;
            store
                .user_by_email(parsed.as_str())
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user with email {email}"))
        }
    };
    async {
        match cmd {
            AdminCommand::CreateUser {
                email,
                password,
                role,
            } => {
                let parsed = Email::parse(&email).map_err(|e| anyhow::anyhow!("invalid email: {e}"))?;
                crate::auth::password::check_new(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
                let role = Role::parse(&role).expect("clap checked the role");
                let builtins = crate::catalog::Catalog::load(store.clone(), crate::tools::builtins())
                    .await?
                    .builtin_ids();
                let created =
                    accounts::create_user(store.as_ref(), &parsed, &password, role, builtins).await?;
                println!(
                    "created {} user {} (id {}, default budget {})",
                    role.as_str(),
                    parsed.as_str(),
                    created.user_id,
                    created.budget_id
                );
            }
            AdminCommand::CreateApiKey { email, name } => {
                let user = user_for(email).await?;
                let budget = store
                    .budget_by_id(user.default_budget_id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("the user has no default budget"))?;
                let now = chrono::Utc::now().timestamp_millis();
                let (_, secret) = accounts::create_api_key(store.as_ref(), &budget, &name, now).await?;
                println!("{secret}");
            }
            AdminCommand::Grant {
                email,
                credits,
                expires_at,
                credit_type,
            } => {
                let user = user_for(email).await?;
                let ledger = Ledger::new(store.clone(), Arc::new(SystemClock));
                let (grant, txn) = ledger
                    .grant(NewGrant {
                        user_id: user.id,
                        amount_credits: Credits::new(credits),
                        credit_type,
                        expires_at: expires_at.map(|t| t.with_timezone(&chrono::Utc)),
                        source_metadata: Some(serde_json::json!({"source": "tollgate admin grant"})),
                    })
                    .await?;
                println!(
                    "granted {credits} credits (grant {}); balance is now {}",
                    grant.id, txn.balance_after_credits
                );
            }
            AdminCommand::RotateSigningKey => {
                let tokens = TokenService::load(store.clone(), master, String::new()).await?;
                let kid = tokens.rotate().await?;
                println!("new signing key {kid} is current; running servers pick it up within seconds, older keys still verify until retired");
            }
            AdminCommand::RetireSigningKey { kid } => {
                let tokens = TokenService::load(store.clone(), master, String::new()).await?;
                tokens.retire(&kid).await?;
                println!("signing key {kid} is retired; tokens it signed stop working within a second");
            }
            AdminCommand::SetRole { email, role } => {
                let user = user_for(email).await?;
                let role = Role::parse(&role).expect("clap checked the role");
                anyhow::ensure!(
                    store.set_user_role(user.id, role, Timestamp::from(chrono::Utc::now())).await?,
                    "the user vanished"
                );
                println!(
                    "{} is now {role}; their signed-in sessions have ended",
                    user.email
                );
            }
        }
        Ok::<(), anyhow::Error>(())
    }
    .await
}
