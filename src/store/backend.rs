//! What the shared SQL needs from a backend, and the few places the two
//! dialects differ.
//!
//! The SQL of each area (`store/sql/*.rs`) is written once, generic over a
//! [`Backend`]: a store that names its sqlx database, hands out its pools and
//! starts write transactions. The bounds those functions need of the
//! database (which Rust types it binds and decodes, that its connections
//! execute queries) head each area's `impl`; see `sql.rs`.

use std::future::Future;

use sqlx::{Database, Pool, Transaction};

use super::sqlite_sync::Readers;
use super::LedgerWriter;

/// A store over one sqlx database, as the shared SQL sees it.
pub(crate) trait Backend: Send + Sync {
    type Db: Dialect;

    /// Readers; on SQLite they run beside the one writer.
    fn pool(&self) -> &Pool<Self::Db>;
    /// The writing connections (SQLite: exactly one, beside the ledger's own).
    fn writer(&self) -> &Pool<Self::Db>;
    /// A write transaction (SQLite: `BEGIN IMMEDIATE`, which takes the
    /// write lock up front, so a read-then-write never fails with BUSY).
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Db>, sqlx::Error>> + Send;
    /// How the next ledger writer runs its batches.
    fn ledger_writer(&self) -> LedgerWriter<'_>;
    /// Point reads on the calling thread, where the backend has them.
    fn readers(&self) -> Option<&Readers>;
}

/// The dialect differences, one constant each.
pub(crate) trait Dialect: Database<QueryResult: RowsAffected> {
    /// `sqlite` or `postgres`.
    const NAME: &'static str;
    /// Appended to a queue claim's inner `SELECT`, so nodes claiming at once
    /// skip each other's rows.
    const SKIP_LOCKED: &'static str;
    /// Run first in a run claim's transaction where claims are not already
    /// serialised by a single writer.
    const CLAIM_LOCK: Option<&'static str>;
}

impl Dialect for sqlx::Sqlite {
    const NAME: &'static str = "sqlite";
    // One writer: a claim is already exclusive.
    const SKIP_LOCKED: &'static str = "";
    const CLAIM_LOCK: Option<&'static str> = None;
}

impl Dialect for sqlx::Postgres {
    const NAME: &'static str = "postgres";
    // Nodes claiming at once skip each other's rows.
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    // Run claims take turns across every node, so two claims cannot both
    // count a user under the running limit before either commits.
    const CLAIM_LOCK: Option<&'static str> = Some("SELECT pg_advisory_xact_lock(7411001)");
}

/// How many rows a statement changed; both drivers say so, in methods of
/// their own.
pub(crate) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::sqlite::SqliteQueryResult::rows_affected(self)
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::postgres::PgQueryResult::rows_affected(self)
    }
}
