//! The PostgreSQL backend for several stateless nodes on one database.

mod ledger;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// A store on a PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The same pool: PostgreSQL has many writers.
    writer: PgPool,
    /// Where each ledger writer opens its own connection.
    options: PgConnectOptions,
}

impl PgStore {
    /// Connects and applies migrations. sqlx's migrator takes an advisory
    /// lock, so nodes starting together apply each migration once.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // sqlx pings a connection before lending it by default: one more
            // round trip before every read and every ledger batch. A
            // connection that broke meanwhile fails its next statement
            // instead, and the pool drops it.
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(PgStore {
            writer: pool.clone(),
            pool,
            options,
        })
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    fn readers(&self) -> Option<&super::sqlite_sync::Readers> {
        None
    }
}

impl super::backend::Backend for PgStore {
    type Db = sqlx::Postgres;

    fn pool(&self) -> &sqlx::Pool<sqlx::Postgres> {
        &self.pool
    }

    fn writer(&self) -> &sqlx::Pool<sqlx::Postgres> {
        &self.writer
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        PgStore::begin_write(self).await
    }

    // Batches run as async tasks, each statement one round trip.
    fn ledger_writer(&self) -> super::LedgerWriter<'_> {
        super::LedgerWriter::Async(Box::new(ledger::PgWriter::new(self.options.clone())))
    }

    fn readers(&self) -> Option<&super::sqlite_sync::Readers> {
        PgStore::readers(self)
    }
}
