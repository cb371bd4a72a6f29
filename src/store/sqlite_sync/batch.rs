//! One ledger batch on the ledger's connection: its reads, and its writes
//! with a cached statement per kind of row.
//!
//! The statements' texts are built once ([`SQL`]), and the connection keeps
//! them prepared for its whole life, so a batch neither formats nor parses
//! SQL.

use crate::id::{BudgetId, GrantId, HoldId, UserId};
use std::sync::LazyLock;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::super::cols::{GRANT_COLS, HOLD_COLS, WALLET_COLS};
use super::super::{
    BatchTx, BatchWrites, BudgetCounterRow, GrantRow, HoldRow, IdempotencyRow, StoreError,
    StoreResult, WalletRow,
};
use super::rows::Rows;
use super::wallet_row;
use crate::money::Credits;

/// Every statement a ledger batch runs.
pub(super) struct Sql {
    pub(super) wallet: String,
    open_grants: String,
    grant: String,
    hold: String,
    idempotency_key: &'static str,
    budget_counters: &'static str,
    spend_since: &'static str,
    insert_grant: String,
    update_grant: &'static str,
    spend_grant: &'static str,
    insert_transaction: &'static str,
    insert_allocation: &'static str,
    delete_hold: &'static str,
    insert_hold: String,
    insert_order: String,
    finish_order: &'static str,
    put_claim: &'static str,
    finish_key: &'static str,
    update_wallet: &'static str,
    put_budget_counters: &'static str,
    add_to_bucket: &'static str,
}

impl Sql {
    /// Every text, for tests that look at the statements' plans.
    #[cfg(test)]
    pub(super) fn all(&self) -> Vec<&str> {
        vec![
            &self.wallet,
            &self.open_grants,
            &self.grant,
            &self.hold,
            self.idempotency_key,
            self.budget_counters,
            self.spend_since,
            &self.insert_grant,
            self.update_grant,
            self.spend_grant,
            self.insert_transaction,
            self.insert_allocation,
            self.delete_hold,
            &self.insert_hold,
            &self.insert_order,
            self.finish_order,
            self.put_claim,
            self.finish_key,
            self.update_wallet,
            self.put_budget_counters,
            self.add_to_bucket,
        ]
    }
}

/// How many statements a batch may keep prepared: all of [`SQL`], with room.
pub(super) const STATEMENTS: usize = 32;

pub(super) static SQL: LazyLock<Sql> = LazyLock::new(|| {
    Sql {
    wallet: format!("SELECT {WALLET_COLS} FROM wallets WHERE user_id = ?1"),
    open_grants: format!(
        "SELECT {GRANT_COLS} FROM grants WHERE user_id = ?1 AND closed_at IS NULL AND remaining_credits > 0"
    ),
    grant: format!("SELECT {GRANT_COLS} FROM grants WHERE id = ?1"),
    hold: format!("SELECT {HOLD_COLS} FROM holds WHERE id = ?1"),
    idempotency_key: "SELECT user_id, key, request_hash, status, response_status, response_body, created_at \
         FROM idempotency_keys WHERE user_id = ?1 AND key = ?2",
    budget_counters: "SELECT budget_id, spent_total, held_credits, last_minute FROM budget_counters WHERE budget_id = ?1",
    // One indexed seek per probe.
    spend_since: "SELECT cumulative - amount FROM spend_buckets WHERE budget_id = ?1 AND minute >= ?2 ORDER BY minute LIMIT 1",
    insert_grant: format!(
        "INSERT INTO grants ({GRANT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ),
    update_grant: "UPDATE grants SET remaining_credits = ?2, closed_at = ?3, closed_reason = ?4 WHERE id = ?1",
    // A grant that stays open: SQLite rewrites the entries of every index
    // whose condition names a column an UPDATE sets, even to the same
    // value, and the open-grant indexes name `closed_at`.
    spend_grant: "UPDATE grants SET remaining_credits = ?2 WHERE id = ?1",
    insert_transaction: "INSERT INTO credit_transactions (id, user_id, transaction_type, amount_credits, balance_after_credits, grant_id, reference, date_created, budget_id, seq) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    insert_allocation: "INSERT INTO ledger_allocations (transaction_id, grant_id, amount_credits) VALUES (?1, ?2, ?3)",
    delete_hold: "DELETE FROM holds WHERE id = ?1",
    insert_hold: format!("INSERT INTO holds ({HOLD_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
    insert_order: format!(
        "INSERT INTO orders ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        super::super::cols::ORDER_COLS
    ),
    finish_order: "UPDATE orders SET status = ?2, error_code = ?3, transaction_id = ?4, completed_at = ?5, duration_ms = ?6 WHERE id = ?1",
    put_claim: "INSERT INTO idempotency_keys (user_id, key, request_hash, status, response_status, response_body, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (user_id, key) DO UPDATE SET request_hash = excluded.request_hash, \
         status = excluded.status, response_status = excluded.response_status, response_body = excluded.response_body, created_at = excluded.created_at \
         WHERE idempotency_keys.status = 'in_progress'",
    finish_key: "UPDATE idempotency_keys SET status = 'done', response_status = ?3, response_body = ?4 \
         WHERE user_id = ?1 AND key = ?2 AND status = 'in_progress' AND created_at = ?5",
    update_wallet: "UPDATE wallets SET balance_credits = ?2, entry_count = ?3, held_credits = ?4, next_expiry = ?5, updated_at = ?6 WHERE user_id = ?1",
    put_budget_counters: "INSERT INTO budget_counters (budget_id, spent_total, held_credits, last_minute) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (budget_id) DO UPDATE SET spent_total = excluded.spent_total, held_credits = excluded.held_credits, last_minute = excluded.last_minute",
    add_to_bucket: "INSERT INTO spend_buckets (budget_id, minute, amount, cumulative) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (budget_id, minute) DO UPDATE SET amount = spend_buckets.amount + excluded.amount, cumulative = excluded.cumulative",
}
});

/// Maps a unique-constraint violation to `Conflict(what)`.
fn on_unique(e: rusqlite::Error, what: &'static str) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Conflict(what)
        }
        _ => e.into(),
    }
}

fn grant_row(r: &Row<'_>) -> rusqlite::Result<GrantRow> {
    Ok(GrantRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        amount_credits: r.get(2)?,
        remaining_credits: r.get(3)?,
        credit_type: r.get(4)?,
        source_metadata: r.get(5)?,
        date_created: r.get(6)?,
        pooled_at: r.get(7)?,
        expires_at: r.get(8)?,
        closed_at: r.get(9)?,
        closed_reason: r.get(10)?,
    })
}

fn hold_row(r: &Row<'_>) -> rusqlite::Result<HoldRow> {
    Ok(HoldRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        budget_id: r.get(2)?,
        amount_credits: r.get(3)?,
        reference: r.get(4)?,
        created_at: r.get(5)?,
        deadline: r.get(6)?,
    })
}

/// One batch's transaction on the ledger's connection. Its futures
/// never wait: every statement runs to its end on the calling thread.
pub(crate) struct SyncTx<'r> {
    /// Always `Some` until the batch gives the connection back.
    pub(super) db: Option<Connection>,
    /// The rows the writer keeps between batches ([`Rows`]).
    pub(super) rows: &'r mut Rows,
}

impl SyncTx<'_> {
    pub(super) fn db(&self) -> &Connection {
        self.db.as_ref().expect("held for the batch")
    }

    pub(super) fn roll_back_if_open(&self) {
        if let Some(db) = &self.db {
            if !db.is_autocommit() {
                if let Err(e) = db.execute_batch("ROLLBACK") {
                    tracing::warn!(error = %e, "rolling back a ledger batch failed");
                }
            }
        }
    }

    /// Runs `sql` once per key, collecting what each finds.
    fn each<K, T>(
        &self,
        sql: &str,
        keys: &[K],
        bind: impl Fn(&K) -> Vec<&dyn rusqlite::ToSql>,
        row: impl Fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> StoreResult<Vec<T>> {
        each(self.db(), sql, keys, bind, row)
    }
}

/// Runs `sql` on `db` once per key, collecting what each finds.
fn each<K, T>(
    db: &Connection,
    sql: &str,
    keys: &[K],
    bind: impl Fn(&K) -> Vec<&dyn rusqlite::ToSql>,
    row: impl Fn(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut out = Vec::with_capacity(keys.len());
    if keys.is_empty() {
        return Ok(out);
    }
    let mut stmt = db.prepare_cached(sql)?;
    for k in keys {
        let mut rows = stmt.query(bind(k).as_slice())?;
        while let Some(r) = rows.next()? {
            out.push(row(r)?);
        }
    }
    Ok(out)
}

/// A batch that panics rolls back before the connection goes back to sqlx,
/// and forgets the rows it may have changed.
impl Drop for SyncTx<'_> {
    fn drop(&mut self) {
        if self.db.as_ref().is_some_and(|db| !db.is_autocommit()) {
            self.rows.forget();
        }
        self.roll_back_if_open();
    }
}

#[async_trait]
impl BatchTx for SyncTx<'_> {
    async fn lock_wallets(&mut self, user_ids: &[UserId]) -> StoreResult<Vec<WalletRow>> {
        // `BEGIN IMMEDIATE` already holds the write lock; reading is enough.
        let db = self.db.as_ref().expect("held for the batch");
        self.rows.wallets(user_ids, |ids| {
            each(db, &SQL.wallet, ids, |id| vec![id], wallet_row)
        })
    }

    async fn open_grants(&mut self, user_ids: &[UserId]) -> StoreResult<Vec<GrantRow>> {
        let db = self.db.as_ref().expect("held for the batch");
        self.rows.open_grants(user_ids, |ids| {
            each(db, &SQL.open_grants, ids, |id| vec![id], grant_row)
        })
    }

    async fn grants_by_id(&mut self, ids: &[GrantId]) -> StoreResult<Vec<GrantRow>> {
        self.each(&SQL.grant, ids, |id| vec![id], grant_row)
    }

    async fn holds_by_id(&mut self, ids: &[HoldId]) -> StoreResult<Vec<HoldRow>> {
        self.each(&SQL.hold, ids, |id| vec![id], hold_row)
    }

    async fn idempotency_keys(
        &mut self,
        keys: &[(UserId, String)],
    ) -> StoreResult<Vec<IdempotencyRow>> {
        self.each(
            SQL.idempotency_key,
            keys,
            |(user_id, key)| vec![user_id, key],
            |r| {
                Ok(IdempotencyRow {
                    user_id: r.get(0)?,
                    key: r.get(1)?,
                    request_hash: r.get(2)?,
                    status: r.get(3)?,
                    response_status: r.get(4)?,
                    response_body: r.get(5)?,
                    created_at: r.get(6)?,
                })
            },
        )
    }

    async fn budget_counters(
        &mut self,
        budget_ids: &[BudgetId],
    ) -> StoreResult<Vec<BudgetCounterRow>> {
        let db = self.db.as_ref().expect("held for the batch");
        self.rows.counters(budget_ids, |ids| {
            each(
                db,
                SQL.budget_counters,
                ids,
                |id| vec![id],
                |r| {
                    Ok(BudgetCounterRow {
                        budget_id: r.get(0)?,
                        spent_total: r.get(1)?,
                        held_credits: r.get(2)?,
                        last_minute: r.get(3)?,
                    })
                },
            )
        })
    }

    async fn spend_before(
        &mut self,
        probes: &[(BudgetId, i64)],
    ) -> StoreResult<Vec<Option<Credits>>> {
        let mut out = Vec::with_capacity(probes.len());
        if probes.is_empty() {
            return Ok(out);
        }
        // One indexed seek per probe.
        let mut stmt = self.db().prepare_cached(SQL.spend_since)?;
        for (budget_id, minute) in probes {
            out.push(
                stmt.query_row(params![budget_id, minute], |r| r.get::<_, Credits>(0))
                    .optional()?,
            );
        }
        Ok(out)
    }

    async fn write(&mut self, w: &BatchWrites) -> StoreResult<()> {
        write_batch(self.db(), w)?;
        // Should the batch not commit after all, `Session::batch` (or a
        // panic's drop) forgets every row.
        self.rows.written(w);
        Ok(())
    }

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.db().execute_batch("COMMIT")?;
        Ok(())
    }
}

/// Writes every change of a batch, a cached statement per kind of row.
fn write_batch(db: &Connection, w: &BatchWrites) -> StoreResult<()> {
    if !w.new_grants.is_empty() {
        let mut s = db.prepare_cached(&SQL.insert_grant)?;
        for g in &w.new_grants {
            s.execute(params![
                g.id,
                g.user_id,
                g.amount_credits,
                g.remaining_credits,
                g.credit_type,
                g.source_metadata,
                g.date_created,
                g.pooled_at,
                g.expires_at,
                g.closed_at,
                g.closed_reason
            ])?;
        }
    }
    // Each statement is taken from the cache once a batch, not once a row.
    let (mut spend, mut update) = (None, None);
    for g in &w.grant_updates {
        if g.closed_at.is_none() {
            let s = match &mut spend {
                Some(s) => s,
                None => spend.insert(db.prepare_cached(SQL.spend_grant)?),
            };
            s.execute(params![g.id, g.remaining_credits])?;
        } else {
            let s = match &mut update {
                Some(s) => s,
                None => update.insert(db.prepare_cached(SQL.update_grant)?),
            };
            s.execute(params![
                g.id,
                g.remaining_credits,
                g.closed_at,
                g.closed_reason
            ])?;
        }
    }
    if !w.transactions.is_empty() {
        let mut s = db.prepare_cached(SQL.insert_transaction)?;
        for (t, seq) in &w.transactions {
            s.execute(params![
                t.id,
                t.user_id,
                t.transaction_type.as_str(),
                t.amount_credits,
                t.balance_after_credits,
                t.grant_id,
                t.reference,
                t.date_created,
                t.budget_id,
                seq
            ])
            .map_err(|e| on_unique(e, "ledger entry"))?;
        }
    }
    if !w.allocations.is_empty() {
        let mut s = db.prepare_cached(SQL.insert_allocation)?;
        for (txn, a) in &w.allocations {
            s.execute(params![txn, a.grant_id, a.amount_credits])?;
        }
    }
    if !w.deleted_holds.is_empty() {
        let mut s = db.prepare_cached(SQL.delete_hold)?;
        for id in &w.deleted_holds {
            s.execute(params![id])?;
        }
    }
    if !w.new_holds.is_empty() {
        let mut s = db.prepare_cached(&SQL.insert_hold)?;
        for h in &w.new_holds {
            s.execute(params![
                h.id,
                h.user_id,
                h.budget_id,
                h.amount_credits,
                h.reference,
                h.created_at,
                h.deadline
            ])?;
        }
    }
    if !w.new_orders.is_empty() {
        let mut s = db.prepare_cached(&SQL.insert_order)?;
        for o in &w.new_orders {
            s.execute(params![
                o.id,
                o.user_id,
                o.budget_id,
                o.product_id,
                o.action,
                o.price_credits,
                o.status.as_str(),
                o.error_code,
                o.instance_id,
                o.run_id,
                o.transaction_id,
                o.created_at,
                o.completed_at,
                o.duration_ms
            ])?;
        }
    }
    if !w.finished_orders.is_empty() {
        let mut s = db.prepare_cached(SQL.finish_order)?;
        for o in &w.finished_orders {
            s.execute(params![
                o.id,
                o.status.as_str(),
                o.error_code,
                o.transaction_id,
                o.completed_at,
                o.duration_ms
            ])?;
        }
    }
    if !w.claims.is_empty() {
        let mut s = db.prepare_cached(SQL.put_claim)?;
        for k in &w.claims {
            s.execute(params![
                k.user_id,
                k.key,
                k.request_hash,
                k.status,
                k.response_status,
                k.response_body,
                k.created_at
            ])?;
        }
    }
    if !w.idempotency.is_empty() {
        let mut s = db.prepare_cached(SQL.finish_key)?;
        for i in &w.idempotency {
            s.execute(params![i.user_id, i.key, i.status, i.body, i.claimed_at])?;
        }
    }
    if !w.wallets.is_empty() {
        let mut s = db.prepare_cached(SQL.update_wallet)?;
        for r in &w.wallets {
            s.execute(params![
                r.user_id,
                r.balance_credits,
                r.entry_count,
                r.held_credits,
                r.next_expiry,
                w.now
            ])?;
        }
    }
    if !w.budgets.is_empty() {
        let mut s = db.prepare_cached(SQL.put_budget_counters)?;
        for c in &w.budgets {
            s.execute(params![
                c.budget_id,
                c.spent_total,
                c.held_credits,
                c.last_minute
            ])?;
        }
    }
    if !w.buckets.is_empty() {
        let mut s = db.prepare_cached(SQL.add_to_bucket)?;
        for b in &w.buckets {
            s.execute(params![b.budget_id, b.minute, b.amount, b.cumulative])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::SQL;
    use crate::store::sqlite::SqliteStore;

    /// A migrated database in `dir`, and a plain connection to it.
    async fn migrated(dir: &tempfile::TempDir) -> (SqliteStore, Connection) {
        let file = dir.path().join("ledger.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap();
        (store, Connection::open(&file).unwrap())
    }

    /// The opcodes of the program SQLite compiles `sql` to.
    fn opcodes(db: &Connection, sql: &str) -> Vec<String> {
        let mut plan = db.prepare(&format!("EXPLAIN {sql}")).unwrap();
        let nulls = vec![rusqlite::types::Null; plan.parameter_count()];
        plan.query_map(rusqlite::params_from_iter(nulls), |r| r.get(1))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// No statement of a ledger batch builds a temporary B-tree for every row
    /// it writes, as SQLite does to check a CHECK's `IN` list of more than
    /// two values; and the checks written as comparisons still refuse what
    /// they refused.
    #[tokio::test]
    async fn no_batch_statement_builds_a_temporary_tree_and_the_checks_still_hold() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, db) = migrated(&dir).await;
        // Rows without their users: only the checks are under test here.
        db.pragma_update(None, "foreign_keys", false).unwrap();
        for sql in SQL.all() {
            let ops = opcodes(&db, sql);
            assert!(
                !ops.iter().any(|op| op == "OpenEphemeral"),
                "{sql} builds a temporary B-tree: {ops:?}"
            );
        }
        let refused = |sql: &str| match db.execute(sql, []) {
            Err(e) => e.to_string(),
            Ok(_) => String::new(),
        };
        let bad_entry = refused(
            "INSERT INTO credit_transactions (id, user_id, transaction_type, amount_credits, balance_after_credits, date_created, seq) \
             VALUES ('t1', 'u1', 'gift', 5, 5, 0, 1)",
        );
        assert!(bad_entry.contains("CHECK constraint failed"), "{bad_entry}");
        let bad_order = refused(
            "INSERT INTO orders (id, user_id, budget_id, product_id, action, price_credits, status, created_at) \
             VALUES ('o1', 'u1', 'b1', 'p1', 'a', 1, 'lost', 0)",
        );
        assert!(bad_order.contains("CHECK constraint failed"), "{bad_order}");
        for (kind, id) in [
            ("grant", "t2"),
            ("expiration", "t3"),
            ("revocation", "t4"),
            ("purchase", "t5"),
        ] {
            db.execute(
                "INSERT INTO credit_transactions (id, user_id, transaction_type, amount_credits, balance_after_credits, date_created, seq) \
                 VALUES (?1, 'u1', ?2, 5, 5, 0, ?3)",
                rusqlite::params![id, kind, id],
            )
            .unwrap();
        }
    }

    /// A purchase lowers a grant's credits: that update rewrites the
    /// grant's row and no index entry (migration 0013; before it, the
    /// open-grant indexes named `remaining_credits` in their conditions and
    /// the same update deleted and inserted an entry in each).
    #[tokio::test]
    async fn spending_from_a_grant_writes_no_index_entry() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, db) = migrated(&dir).await;
        let index_writes = |ops: &[String]| {
            ops.iter()
                .filter(|op| *op == "IdxInsert" || *op == "IdxDelete")
                .count()
        };
        let spend = opcodes(&db, SQL.spend_grant);
        assert!(spend.iter().any(|op| op == "Insert"), "{spend:?}");
        assert_eq!(index_writes(&spend), 0, "{spend:?}");
        // Closing a grant still takes it out of both open-grant indexes.
        assert_eq!(index_writes(&opcodes(&db, SQL.update_grant)), 4);
    }
}
