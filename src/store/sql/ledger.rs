//! The ledger's reads outside batches, shared by both backends. The
//! batches themselves are each backend's own: SQLite runs them
//! synchronously on the engine's thread (`sqlite_sync.rs`), PostgreSQL as a
//! few array-bound statements (`postgres/ledger.rs`).

use crate::clock::Timestamp;
use crate::id::UserId;
use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};

use crate::money::Credits;
use crate::store::backend::{Backend, Dialect, RowsAffected};
use crate::store::cols::WALLET_COLS;
use crate::store::{LedgerStore, LedgerWriter, StoreResult, WalletRow};

static WALLET: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {WALLET_COLS} FROM wallets WHERE user_id = $1"));

#[async_trait]
impl<S, DB> LedgerStore for S
where
    S: Backend<Db = DB>,
    DB: Dialect,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> UserId: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> WalletRow: FromRow<'r, DB::Row>,
    for<'r> (i64, Option<i64>): FromRow<'r, DB::Row>,
{
    fn ledger_writer(&self) -> LedgerWriter<'_> {
        self.ledger_writer()
    }

    async fn wallet(&self, user_id: UserId) -> StoreResult<Option<WalletRow>> {
        if let Some(r) = self.readers() {
            return r.wallet(user_id);
        }
        Ok(sqlx::query_as(&WALLET)
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?)
    }

    async fn live_grants_sum(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> StoreResult<(Credits, Option<Timestamp>)> {
        if let Some(r) = self.readers() {
            return r.live_grants_sum(user_id, now);
        }
        let (live, next): (i64, Option<i64>) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(remaining_credits), 0) AS BIGINT), MIN(expires_at) FROM grants \
             WHERE user_id = $1 AND closed_at IS NULL AND remaining_credits > 0 AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(user_id)
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok((Credits::new(live), next.map(Timestamp::from_millis)))
    }

    async fn prune_spend_buckets(&self, before_minute: i64) -> StoreResult<u64> {
        Ok(sqlx::query("DELETE FROM spend_buckets WHERE minute < $1")
            .bind(before_minute)
            .execute(self.writer())
            .await?
            .rows_affected())
    }
}
