//! The PostgreSQL backend for several stateless nodes on one database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::bundles_sql::impl_bundle_store;
use super::catalog_sql::impl_catalog_store;
use super::common::impl_store;
use super::ledger_sql::impl_ledger_store;
use super::sessions_sql::impl_session_store;
use super::workflows_sql::impl_workflow_store;

/// A store on a PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The same pool: PostgreSQL has many writers.
    writer: PgPool,
}

impl PgStore {
    /// Connects and applies migrations. sqlx's migrator takes an advisory
    /// lock, so nodes starting together apply each migration once.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(PgStore {
            writer: pool.clone(),
            pool,
        })
    }

    // Nodes claiming at once skip each other's rows.
    pub(crate) const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";

    /// Adds a row to the cache invalidation log inside `tx`.
    async fn log_invalidation(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        kind: &str,
        key: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO cache_invalidations (kind, key, created_at) VALUES ($1, $2, $3)")
            .bind(kind)
            .bind(key)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    // Run claims take turns across every node, so two claims cannot both
    // count a user under the running limit before either commits.
    pub(crate) const CLAIM_LOCK: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(7411001)");

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    // The row locks serialise ledger work on each wallet across every node.
    const LOCK_ROWS: &'static str = " FOR UPDATE";
    // Writers on PostgreSQL overlap their round trips; each owns a share of
    // the wallets, and all lock in id order.
    const LEDGER_WRITERS: usize = 4;

    // Batches run as async tasks, each statement one round trip.
    fn sync_runner(&self) -> Option<&dyn crate::store::SyncBatches> {
        None
    }

    fn readers(&self) -> Option<&super::sqlite_sync::Readers> {
        None
    }
}

impl_store!(PgStore, "postgres");

impl_ledger_store!(PgStore, sqlx::Postgres);

/// Names the sqlx database type for the shared SQL.
pub(crate) trait HasDb {
    type Db: sqlx::Database;
}

impl HasDb for PgStore {
    type Db = sqlx::Postgres;
}

impl_catalog_store!(PgStore);

impl_workflow_store!(PgStore);

impl_bundle_store!(PgStore);

impl_session_store!(PgStore);
