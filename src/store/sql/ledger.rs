//! The ledger engine's SQL, shared by both backends. `Dialect` says how a
//! batch locks the wallets it reads and how many writers run; where a
//! backend runs batches synchronously (SQLite, `sqlite_sync.rs`) the engine
//! takes those instead.
//!
//! Every read and write takes whole lists, so a batch of many commands costs
//! a handful of statements. Bulk updates go through a `WITH v(...) AS
//! (VALUES ...)` table, which both SQLite (3.33+) and PostgreSQL accept.

use async_trait::async_trait;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Transaction, Type};

use crate::store::backend::{Backend, Dialect, RowsAffected};
use crate::store::cols::{GRANT_COLS, HOLD_COLS, ORDER_COLS, WALLET_COLS};
use crate::store::{
    BatchTx, BatchWrites, BudgetCounterRow, GrantRow, HoldRow, LedgerStore, StoreError,
    StoreResult, SyncBatches, WalletRow,
};

const TXN_COLS: &str = "id, user_id, transaction_type, amount_credits, balance_after_credits, grant_id, reference, date_created, budget_id, seq";

/// One batch's transaction.
pub(crate) struct Batch<DB: Database> {
    tx: Transaction<'static, DB>,
}

/// `SELECT {cols} FROM {table} WHERE {column} IN (...)`.
fn select_in<'a, DB: Database>(
    cols: &str,
    table: &str,
    column: &str,
    ids: &'a [String],
    tail: &str,
) -> QueryBuilder<'a, DB>
where
    &'a str: Encode<'a, DB> + Type<DB>,
{
    let mut q = QueryBuilder::new(format!("SELECT {cols} FROM {table} WHERE {column} IN ("));
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(id.as_str());
    }
    q.push(")");
    q.push(tail);
    q
}

#[async_trait]
impl<S, DB> LedgerStore for S
where
    S: Backend<Db = DB>,
    DB: Dialect,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'r> WalletRow: FromRow<'r, DB::Row>,
    for<'r> GrantRow: FromRow<'r, DB::Row>,
    for<'r> HoldRow: FromRow<'r, DB::Row>,
    for<'r> BudgetCounterRow: FromRow<'r, DB::Row>,
    for<'r> (i64, Option<i64>): FromRow<'r, DB::Row>,
{
    async fn begin_batch(&self) -> StoreResult<Box<dyn BatchTx>> {
        Ok(Box::new(Batch {
            tx: self.begin_write().await?,
        }))
    }

    fn ledger_writers(&self) -> usize {
        DB::LEDGER_WRITERS
    }

    fn sync_batches(&self) -> Option<&dyn SyncBatches> {
        self.sync_runner()
    }

    async fn wallet(&self, user_id: &str) -> StoreResult<Option<WalletRow>> {
        if let Some(r) = self.readers() {
            return r.wallet(user_id);
        }
        Ok(sqlx::query_as(&format!(
            "SELECT {WALLET_COLS} FROM wallets WHERE user_id = $1"
        ))
        .bind(user_id)
        .fetch_optional(self.pool())
        .await?)
    }

    async fn live_grants_sum(&self, user_id: &str, now: i64) -> StoreResult<(i64, Option<i64>)> {
        if let Some(r) = self.readers() {
            return r.live_grants_sum(user_id, now);
        }
        Ok(sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(remaining_credits), 0) AS BIGINT), MIN(expires_at) FROM grants \
             WHERE user_id = $1 AND remaining_credits > 0 AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(user_id)
        .bind(now)
        .fetch_one(self.pool())
        .await?)
    }

    async fn prune_spend_buckets(&self, before_minute: i64) -> StoreResult<u64> {
        Ok(sqlx::query("DELETE FROM spend_buckets WHERE minute < $1")
            .bind(before_minute)
            .execute(self.writer())
            .await?
            .rows_affected())
    }
}

#[async_trait]
impl<DB> BatchTx for Batch<DB>
where
    DB: Dialect,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'r> WalletRow: FromRow<'r, DB::Row>,
    for<'r> GrantRow: FromRow<'r, DB::Row>,
    for<'r> HoldRow: FromRow<'r, DB::Row>,
    for<'r> BudgetCounterRow: FromRow<'r, DB::Row>,
    for<'r> (i64, Option<i64>): FromRow<'r, DB::Row>,
{
    async fn lock_wallets(&mut self, user_ids: &[String]) -> StoreResult<Vec<WalletRow>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let tail = format!(" ORDER BY user_id{}", DB::LOCK_ROWS);
        let mut q = select_in(WALLET_COLS, "wallets", "user_id", user_ids, &tail);
        Ok(DB::fetch_all_built(&mut q, &mut *self.tx).await?)
    }

    async fn open_grants(&mut self, user_ids: &[String]) -> StoreResult<Vec<GrantRow>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = select_in(
            GRANT_COLS,
            "grants",
            "user_id",
            user_ids,
            " AND remaining_credits > 0",
        );
        Ok(DB::fetch_all_built(&mut q, &mut *self.tx).await?)
    }

    async fn grants_by_id(&mut self, ids: &[String]) -> StoreResult<Vec<GrantRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = select_in(GRANT_COLS, "grants", "id", ids, "");
        Ok(DB::fetch_all_built(&mut q, &mut *self.tx).await?)
    }

    async fn holds_by_id(&mut self, ids: &[String]) -> StoreResult<Vec<HoldRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = select_in(HOLD_COLS, "holds", "id", ids, "");
        Ok(DB::fetch_all_built(&mut q, &mut *self.tx).await?)
    }

    async fn budget_counters(
        &mut self,
        budget_ids: &[String],
    ) -> StoreResult<Vec<BudgetCounterRow>> {
        if budget_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = select_in(
            "budget_id, spent_total, held_credits, last_minute",
            "budget_counters",
            "budget_id",
            budget_ids,
            "",
        );
        Ok(DB::fetch_all_built(&mut q, &mut *self.tx).await?)
    }

    async fn spend_before(&mut self, probes: &[(String, i64)]) -> StoreResult<Vec<Option<i64>>> {
        if probes.is_empty() {
            return Ok(Vec::new());
        }
        // One indexed seek per probe, all in one statement.
        let mut q: QueryBuilder<'_, DB> = QueryBuilder::new("");
        for (i, (budget_id, minute)) in probes.iter().enumerate() {
            if i > 0 {
                q.push(" UNION ALL ");
            }
            q.push(format!("SELECT CAST({i} AS BIGINT) AS i, (SELECT cumulative - amount FROM spend_buckets WHERE budget_id = "));
            q.push_bind(budget_id.as_str());
            q.push(" AND minute >= ");
            q.push_bind(*minute);
            q.push(" ORDER BY minute LIMIT 1) AS base");
        }
        let rows: Vec<(i64, Option<i64>)> = DB::fetch_all_built(&mut q, &mut *self.tx).await?;
        let mut out = vec![None; probes.len()];
        for (i, base) in rows {
            out[i as usize] = base;
        }
        Ok(out)
    }

    async fn write(&mut self, w: &BatchWrites) -> StoreResult<()> {
        let tx = &mut self.tx;
        if !w.new_grants.is_empty() {
            let mut q: QueryBuilder<'_, DB> =
                QueryBuilder::new(format!("INSERT INTO grants ({GRANT_COLS}) "));
            q.push_values(&w.new_grants, |mut b, g| {
                b.push_bind(g.id.as_str())
                    .push_bind(g.user_id.as_str())
                    .push_bind(g.amount_credits)
                    .push_bind(g.remaining_credits)
                    .push_bind(g.credit_type.as_str())
                    .push_bind(g.source_metadata.as_deref())
                    .push_bind(g.date_created)
                    .push_bind(g.pooled_at)
                    .push_bind(g.expires_at)
                    .push_bind(g.closed_at)
                    .push_bind(g.closed_reason.as_deref());
            });
            DB::execute_built(&mut q, &mut **tx).await?;
        }
        if !w.grant_updates.is_empty() {
            let mut q: QueryBuilder<'_, DB> =
                QueryBuilder::new("WITH v(id, remaining, closed_at, closed_reason) AS (");
            q.push_values(&w.grant_updates, |mut b, g| {
                b.push_bind(g.id.as_str())
                    .push_bind(g.remaining_credits)
                    .push_bind(g.closed_at)
                    .push_bind(g.closed_reason.as_deref());
            });
            q.push(") UPDATE grants SET remaining_credits = v.remaining, closed_at = v.closed_at, closed_reason = v.closed_reason FROM v WHERE grants.id = v.id");
            DB::execute_built(&mut q, &mut **tx).await?;
        }
        if !w.transactions.is_empty() {
            let mut q: QueryBuilder<'_, DB> =
                QueryBuilder::new(format!("INSERT INTO credit_transactions ({TXN_COLS}) "));
            q.push_values(&w.transactions, |mut b, (t, seq)| {
                b.push_bind(t.id.as_str())
                    .push_bind(t.user_id.as_str())
                    .push_bind(t.transaction_type.as_str())
                    .push_bind(t.amount_credits)
                    .push_bind(t.balance_after_credits)
                    .push_bind(t.grant_id.as_deref())
                    .push_bind(t.reference.as_deref())
                    .push_bind(t.date_created)
                    .push_bind(t.budget_id.as_deref())
                    .push_bind(*seq);
            });
            DB::execute_built(&mut q, &mut **tx)
                .await
                .map_err(|e| StoreError::on_unique(e, "ledger entry"))?;
        }
        if !w.allocations.is_empty() {
            let mut q: QueryBuilder<'_, DB> = QueryBuilder::new(
                "INSERT INTO ledger_allocations (transaction_id, grant_id, amount_credits) ",
            );
            q.push_values(&w.allocations, |mut b, (txn, a)| {
                b.push_bind(txn.as_str())
                    .push_bind(a.grant_id.as_str())
                    .push_bind(a.amount_credits);
            });
            DB::execute_built(&mut q, &mut **tx).await?;
        }
        if !w.deleted_holds.is_empty() {
            let mut q: QueryBuilder<'_, DB> = QueryBuilder::new("DELETE FROM holds WHERE id IN (");
            let mut list = q.separated(", ");
            for id in &w.deleted_holds {
                list.push_bind(id.as_str());
            }
            q.push(")");
            DB::execute_built(&mut q, &mut **tx).await?;
        }
        if !w.new_holds.is_empty() {
            let mut q: QueryBuilder<'_, DB> =
                QueryBuilder::new(format!("INSERT INTO holds ({HOLD_COLS}) "));
            q.push_values(&w.new_holds, |mut b, h| {
                b.push_bind(h.id.as_str())
                    .push_bind(h.user_id.as_str())
                    .push_bind(h.budget_id.as_deref())
                    .push_bind(h.amount_credits)
                    .push_bind(h.reference.as_deref())
                    .push_bind(h.created_at)
                    .push_bind(h.deadline);
            });
            DB::execute_built(&mut q, &mut **tx).await?;
        }
        if !w.new_orders.is_empty() {
            let mut q: QueryBuilder<'_, DB> =
                QueryBuilder::new(format!("INSERT INTO orders ({ORDER_COLS}) "));
            q.push_values(&w.new_orders, |mut b, o| {
                b.push_bind(o.id.as_str())
                    .push_bind(o.user_id.as_str())
                    .push_bind(o.budget_id.as_str())
                    .push_bind(o.product_id.as_str())
                    .push_bind(o.action.as_str())
                    .push_bind(o.price_credits)
                    .push_bind(o.status.as_str())
                    .push_bind(o.error_code.as_deref())
                    .push_bind(o.instance_id.as_deref())
                    .push_bind(o.run_id.as_deref())
                    .push_bind(o.transaction_id.as_deref())
                    .push_bind(o.created_at)
                    .push_bind(o.completed_at)
                    .push_bind(o.duration_ms);
            });
            DB::execute_built(&mut q, &mut **tx).await?;
        }
        if !w.finished_orders.is_empty() {
            let mut q: QueryBuilder<'_, DB> = QueryBuilder::new(
                "WITH v(id, status, error_code, transaction_id, completed_at, duration_ms) AS (",
            );
            q.push_values(&w.finished_orders, |mut b, o| {
                b.push_bind(o.id.as_str())
                    .push_bind(o.status.as_str())
                    .push_bind(o.error_code.as_deref())
                    .push_bind(o.transaction_id.as_deref())
                    .push_bind(o.completed_at)
                    .push_bind(o.duration_ms);
            });
            q.push(") UPDATE orders SET status = v.status, error_code = v.error_code, transaction_id = v.transaction_id, completed_at = v.completed_at, duration_ms = v.duration_ms FROM v WHERE orders.id = v.id");
            DB::execute_built(&mut q, &mut **tx).await?;
        }
        if !w.idempotency.is_empty() {
            let mut q: QueryBuilder<'_, DB> =
                QueryBuilder::new("WITH v(user_id, key, status, body) AS (");
            q.push_values(&w.idempotency, |mut b, i| {
                b.push_bind(i.user_id.as_str())
                    .push_bind(i.key.as_str())
                    .push_bind(i.status)
                    .push_bind(i.body.as_str());
            });
            q.push(") UPDATE idempotency_keys SET status = 'done', response_status = v.status, response_body = v.body FROM v \
                    WHERE idempotency_keys.user_id = v.user_id AND idempotency_keys.key = v.key");
            DB::execute_built(&mut q, &mut **tx).await?;
        }
        if !w.wallets.is_empty() {
            let mut q: QueryBuilder<'_, DB> = QueryBuilder::new(
                "WITH v(user_id, balance, entries, held, next_expiry, updated_at) AS (",
            );
            q.push_values(&w.wallets, |mut b, r| {
                b.push_bind(r.user_id.as_str())
                    .push_bind(r.balance_credits)
                    .push_bind(r.entry_count)
                    .push_bind(r.held_credits)
                    .push_bind(r.next_expiry)
                    .push_bind(w.now);
            });
            q.push(") UPDATE wallets SET balance_credits = v.balance, entry_count = v.entries, held_credits = v.held, \
                    next_expiry = v.next_expiry, updated_at = v.updated_at FROM v WHERE wallets.user_id = v.user_id");
            DB::execute_built(&mut q, &mut **tx).await?;
        }
        if !w.budgets.is_empty() {
            let mut q: QueryBuilder<'_, DB> = QueryBuilder::new(
                "INSERT INTO budget_counters (budget_id, spent_total, held_credits, last_minute) ",
            );
            q.push_values(&w.budgets, |mut b, c| {
                b.push_bind(c.budget_id.as_str())
                    .push_bind(c.spent_total)
                    .push_bind(c.held_credits)
                    .push_bind(c.last_minute);
            });
            q.push(" ON CONFLICT (budget_id) DO UPDATE SET spent_total = excluded.spent_total, held_credits = excluded.held_credits, last_minute = excluded.last_minute");
            DB::execute_built(&mut q, &mut **tx).await?;
        }
        if !w.buckets.is_empty() {
            let mut q: QueryBuilder<'_, DB> = QueryBuilder::new(
                "INSERT INTO spend_buckets (budget_id, minute, amount, cumulative) ",
            );
            q.push_values(&w.buckets, |mut b, s| {
                b.push_bind(s.budget_id.as_str())
                    .push_bind(s.minute)
                    .push_bind(s.amount)
                    .push_bind(s.cumulative);
            });
            q.push(" ON CONFLICT (budget_id, minute) DO UPDATE SET amount = spend_buckets.amount + excluded.amount, cumulative = excluded.cumulative");
            DB::execute_built(&mut q, &mut **tx).await?;
        }
        Ok(())
    }

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.tx.commit().await?;
        Ok(())
    }
}
