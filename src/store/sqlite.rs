//! The embedded SQLite backend: one file, WAL, `BEGIN IMMEDIATE` for writes.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::bundles_sql::impl_bundle_store;
use super::catalog_sql::impl_catalog_store;
use super::common::impl_store;
use super::workflows_sql::impl_workflow_store;

/// A store on a SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    /// Readers: WAL lets them run beside the writer.
    pool: SqlitePool,
    /// The one writing connection. SQLite has a single writer anyway;
    /// queueing writers here, in order, avoids the busy-wait sleeps that
    /// connections racing for the write lock would take.
    writer: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database and applies migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.read_only(false))
            .await?;
        Ok(SqliteStore { pool, writer })
    }

    /// A write transaction that takes SQLite's write lock up front, so a
    /// read-then-write never fails with BUSY half-way.
    // One writer: a claim is already exclusive.
    pub(crate) const SKIP_LOCKED: &'static str = "";
    pub(crate) const CLAIM_LOCK: Option<&'static str> = None;

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }

    // `BEGIN IMMEDIATE` already serialises writers, so reading the row is enough.
    const LOCK_WALLET: &'static str =
        "SELECT balance_credits, entry_count FROM wallets WHERE user_id = $1";
}

impl_store!(SqliteStore, SqliteLedgerTx, sqlx::Sqlite, "sqlite");

/// Names the sqlx database type for the shared SQL.
pub(crate) trait HasDb {
    type Db: sqlx::Database;
}

impl HasDb for SqliteStore {
    type Db = sqlx::Sqlite;
}

impl_catalog_store!(SqliteStore);

impl_workflow_store!(SqliteStore);

impl_bundle_store!(SqliteStore);
