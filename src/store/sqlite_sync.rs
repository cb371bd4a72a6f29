//! SQLite's synchronous paths: the ledger engine's batches and the hot point
//! reads (a wallet's counters), with rusqlite.
//!
//! Why not sqlx here: sqlx's SQLite driver runs every statement on a worker
//! thread and sends every row back over a channel, so each statement and each
//! row costs a pair of thread wake-ups. Under the purchase benchmark the
//! ledger writer spent its time waiting on those hand-offs, not in SQLite:
//! the server used about one of its two cores while purchases queued. Here a
//! batch runs from `BEGIN` to `COMMIT` on the ledger engine's own thread.
//!
//! There is still one writer: a batch borrows the very connection sqlx
//! writes with (`lock_handle`), so batches and every other write queue on one
//! connection in order, and never busy-wait on each other. Statements are
//! prepared once per batch and finalised before the connection goes back,
//! because sqlx closes its connections with `sqlite3_close`, which refuses a
//! connection with statements still open.
//!
//! Point reads use a few connections of their own, run on the calling
//! thread: in WAL mode a reader never waits for the writer, and a read of one
//! row through the page cache takes microseconds, less than the hand-off to a
//! worker thread would.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};

use super::cols::{GRANT_COLS, HOLD_COLS, WALLET_COLS};
use super::{
    BatchFn, BatchTx, BatchWrites, BudgetCounterRow, GrantRow, HoldRow, StoreError, StoreResult,
    SyncSession, WalletRow,
};

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Embedded(e.to_string())
    }
}

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

fn wallet_row(r: &Row<'_>) -> rusqlite::Result<WalletRow> {
    Ok(WalletRow {
        user_id: r.get(0)?,
        balance_credits: r.get(1)?,
        entry_count: r.get(2)?,
        held_credits: r.get(3)?,
        next_expiry: r.get(4)?,
    })
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

/// Lends sqlx's connection `conn` to `f` as a [`SyncSession`]: every
/// statement of its batches runs on the calling thread.
#[allow(unsafe_code)]
pub(crate) async fn session_on(
    conn: &mut sqlx::SqliteConnection,
    log: &LogRestart,
    f: &mut (dyn for<'s> FnMut(&'s mut (dyn SyncSession + 's)) + Send),
) -> StoreResult<()> {
    let mut locked = conn.lock_handle().await?;
    let handle = locked.as_raw_handle().as_ptr();
    // SAFETY: `handle` is sqlx's open connection, and `locked` keeps sqlx's
    // worker off it until `locked` is dropped, after the session. A
    // connection made by `from_handle` does not close the handle; dropping
    // it finalises its statements.
    let db = unsafe { Connection::from_handle(handle) }?;
    let mut session = Session { db: Some(db), log };
    f(&mut session);
    drop(session);
    drop(locked);
    Ok(())
}

/// The borrowed writer connection between batches.
struct Session<'a> {
    /// `None` only while a batch holds it (or after a batch panicked).
    db: Option<Connection>,
    log: &'a LogRestart,
}

/// Keeps the write-ahead log from growing without end under steady writes.
///
/// The [`Checkpointer`] copies the log back into the database every 100 ms,
/// but SQLite starts the log over from its beginning only when a write
/// begins with every frame already copied back, and a writer that never
/// pauses never sees that: under a steady purchase load the log grew by
/// over 100 MB a second, and every commit paid for new file blocks. So when
/// the checkpointer finds the log longer than [`RESTART_FRAMES`], it
/// catches up ([`catch_up`]) and then the ledger writer copies back the few
/// frames written since, between two batches with no write open; once a
/// passive checkpoint there finds nothing left (no reader was on an older
/// snapshot), the next batch writes the log from its start again, over
/// blocks the file already has.
pub(crate) struct LogRestart {
    /// Set until a checkpoint on the writer has copied every frame back.
    due: AtomicBool,
    /// [`RESTART_FRAMES`], lower in tests.
    pub(crate) restart_frames: AtomicI64,
}

impl Default for LogRestart {
    fn default() -> Self {
        LogRestart {
            due: AtomicBool::new(false),
            restart_frames: AtomicI64::new(RESTART_FRAMES),
        }
    }
}

/// Frames (pages) in the log past which the writer starts it over: 64 MiB.
/// Each start costs the writer a pause of a few milliseconds (syncing the
/// last frames and the database file), so it comes rarely: under the
/// benchmark's load about every half second.
const RESTART_FRAMES: i64 = 16_384;

/// Frames written since the last pass, below which the checkpointer leaves
/// the rest to the ledger writer at once (about a megabyte).
const HANDOFF_FRAMES: i64 = 256;

/// With the log past its limit and every frame copied back at `frames`,
/// copies back what was written meanwhile, pass after pass (at most four),
/// each shorter than the one before, until little is left; then the ledger
/// writer copies back the rest (and pays for syncing only that) and starts
/// the log over.
fn catch_up(db: &Connection, mut frames: i64, log: &LogRestart) {
    for _ in 0..4 {
        match checkpoint(db) {
            Ok((0, now, copied)) if copied == now => {
                let written = now - frames;
                frames = now;
                if written < HANDOFF_FRAMES {
                    break;
                }
            }
            // A reader on an older snapshot: at the next round.
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "a SQLite checkpoint failed");
                return;
            }
        }
    }
    log.due.store(true, Ordering::Relaxed);
}

/// A passive checkpoint: (busy, frames in the log, frames copied back).
fn checkpoint(db: &Connection) -> rusqlite::Result<(i64, i64, i64)> {
    db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
}

impl LogRestart {
    fn after_commit(&self, db: &Connection) {
        if !self.due.load(Ordering::Relaxed) {
            return;
        }
        match checkpoint(db) {
            Ok((0, log, copied)) if copied == log => self.due.store(false, Ordering::Relaxed),
            // A reader on an older snapshot, or the checkpointer, was in the
            // way: again after the next batch.
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "a checkpoint on the ledger writer failed"),
        }
    }
}

impl SyncSession for Session<'_> {
    fn batch(&mut self, f: &mut BatchFn<'_>) -> StoreResult<()> {
        let db = self.db.take().ok_or_else(|| {
            StoreError::Embedded("the ledger connection was lost to a panic".into())
        })?;
        if let Err(e) = db.execute_batch("BEGIN IMMEDIATE") {
            self.db = Some(db);
            return Err(e.into());
        }
        let mut tx = SyncTx { db: Some(db) };
        let out = f(&mut tx).and_then(|()| Ok(tx.db().execute_batch("COMMIT")?));
        tx.roll_back_if_open();
        if out.is_ok() {
            self.log.after_commit(tx.db());
        }
        self.db = tx.db.take();
        out
    }
}

/// One batch's transaction on the borrowed writer connection. Its futures
/// never wait: every statement runs to its end on the calling thread.
pub(crate) struct SyncTx {
    /// Always `Some` until the batch gives the connection back.
    db: Option<Connection>,
}

impl SyncTx {
    fn db(&self) -> &Connection {
        self.db.as_ref().expect("held for the batch")
    }

    fn roll_back_if_open(&self) {
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
        let mut out = Vec::with_capacity(keys.len());
        if keys.is_empty() {
            return Ok(out);
        }
        let mut stmt = self.db().prepare_cached(sql)?;
        for k in keys {
            let mut rows = stmt.query(bind(k).as_slice())?;
            while let Some(r) = rows.next()? {
                out.push(row(r)?);
            }
        }
        Ok(out)
    }
}

/// A batch that panics rolls back before the connection goes back to sqlx.
impl Drop for SyncTx {
    fn drop(&mut self) {
        self.roll_back_if_open();
    }
}

#[async_trait]
impl BatchTx for SyncTx {
    async fn lock_wallets(&mut self, user_ids: &[String]) -> StoreResult<Vec<WalletRow>> {
        // `BEGIN IMMEDIATE` already holds the write lock; reading is enough.
        let mut ids: Vec<&String> = user_ids.iter().collect();
        ids.sort();
        self.each(
            &format!("SELECT {WALLET_COLS} FROM wallets WHERE user_id = ?1"),
            &ids,
            |id| vec![*id],
            wallet_row,
        )
    }

    async fn open_grants(&mut self, user_ids: &[String]) -> StoreResult<Vec<GrantRow>> {
        self.each(
            &format!(
                "SELECT {GRANT_COLS} FROM grants WHERE user_id = ?1 AND remaining_credits > 0"
            ),
            user_ids,
            |id| vec![id],
            grant_row,
        )
    }

    async fn grants_by_id(&mut self, ids: &[String]) -> StoreResult<Vec<GrantRow>> {
        self.each(
            &format!("SELECT {GRANT_COLS} FROM grants WHERE id = ?1"),
            ids,
            |id| vec![id],
            grant_row,
        )
    }

    async fn holds_by_id(&mut self, ids: &[String]) -> StoreResult<Vec<HoldRow>> {
        self.each(
            &format!("SELECT {HOLD_COLS} FROM holds WHERE id = ?1"),
            ids,
            |id| vec![id],
            hold_row,
        )
    }

    async fn budget_counters(
        &mut self,
        budget_ids: &[String],
    ) -> StoreResult<Vec<BudgetCounterRow>> {
        self.each(
            "SELECT budget_id, spent_total, held_credits, last_minute FROM budget_counters WHERE budget_id = ?1",
            budget_ids,
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
    }

    async fn spend_before(&mut self, probes: &[(String, i64)]) -> StoreResult<Vec<Option<i64>>> {
        let mut out = Vec::with_capacity(probes.len());
        if probes.is_empty() {
            return Ok(out);
        }
        // One indexed seek per probe.
        let mut stmt = self.db().prepare_cached(
            "SELECT cumulative - amount FROM spend_buckets WHERE budget_id = ?1 AND minute >= ?2 ORDER BY minute LIMIT 1",
        )?;
        for (budget_id, minute) in probes {
            out.push(
                stmt.query_row(params![budget_id, minute], |r| r.get::<_, i64>(0))
                    .optional()?,
            );
        }
        Ok(out)
    }

    async fn write(&mut self, w: &BatchWrites) -> StoreResult<()> {
        write_batch(self.db(), w)
    }

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.db().execute_batch("COMMIT")?;
        Ok(())
    }
}

/// Writes every change of a batch, a cached statement per kind of row.
fn write_batch(db: &Connection, w: &BatchWrites) -> StoreResult<()> {
    if !w.new_grants.is_empty() {
        let mut s = db.prepare_cached(&format!(
            "INSERT INTO grants ({GRANT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ))?;
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
    if !w.grant_updates.is_empty() {
        let mut s = db.prepare_cached(
            "UPDATE grants SET remaining_credits = ?2, closed_at = ?3, closed_reason = ?4 WHERE id = ?1",
        )?;
        for g in &w.grant_updates {
            s.execute(params![
                g.id,
                g.remaining_credits,
                g.closed_at,
                g.closed_reason
            ])?;
        }
    }
    if !w.transactions.is_empty() {
        let mut s = db.prepare_cached(
            "INSERT INTO credit_transactions (id, user_id, transaction_type, amount_credits, balance_after_credits, grant_id, reference, date_created, budget_id, seq) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for (t, seq) in &w.transactions {
            s.execute(params![
                t.id,
                t.user_id,
                t.transaction_type,
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
        let mut s = db.prepare_cached(
            "INSERT INTO ledger_allocations (transaction_id, grant_id, amount_credits) VALUES (?1, ?2, ?3)",
        )?;
        for (txn, a) in &w.allocations {
            s.execute(params![txn, a.grant_id, a.amount_credits])?;
        }
    }
    if !w.deleted_holds.is_empty() {
        let mut s = db.prepare_cached("DELETE FROM holds WHERE id = ?1")?;
        for id in &w.deleted_holds {
            s.execute(params![id])?;
        }
    }
    if !w.new_holds.is_empty() {
        let mut s = db.prepare_cached(&format!(
            "INSERT INTO holds ({HOLD_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ))?;
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
        let mut s = db.prepare_cached(
            "INSERT INTO orders (id, user_id, budget_id, product_id, action, price_credits, status, error_code, instance_id, run_id, transaction_id, created_at, completed_at, duration_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?;
        for o in &w.new_orders {
            s.execute(params![
                o.id,
                o.user_id,
                o.budget_id,
                o.product_id,
                o.action,
                o.price_credits,
                o.status,
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
        let mut s = db.prepare_cached(
            "UPDATE orders SET status = ?2, error_code = ?3, transaction_id = ?4, completed_at = ?5, duration_ms = ?6 WHERE id = ?1",
        )?;
        for o in &w.finished_orders {
            s.execute(params![
                o.id,
                o.status,
                o.error_code,
                o.transaction_id,
                o.completed_at,
                o.duration_ms
            ])?;
        }
    }
    if !w.idempotency.is_empty() {
        let mut s = db.prepare_cached(
            "UPDATE idempotency_keys SET status = 'done', response_status = ?3, response_body = ?4 WHERE user_id = ?1 AND key = ?2",
        )?;
        for i in &w.idempotency {
            s.execute(params![i.user_id, i.key, i.status, i.body])?;
        }
    }
    if !w.wallets.is_empty() {
        let mut s = db.prepare_cached(
            "UPDATE wallets SET balance_credits = ?2, entry_count = ?3, held_credits = ?4, next_expiry = ?5, updated_at = ?6 WHERE user_id = ?1",
        )?;
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
        let mut s = db.prepare_cached(
            "INSERT INTO budget_counters (budget_id, spent_total, held_credits, last_minute) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (budget_id) DO UPDATE SET spent_total = excluded.spent_total, held_credits = excluded.held_credits, last_minute = excluded.last_minute",
        )?;
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
        let mut s = db.prepare_cached(
            "INSERT INTO spend_buckets (budget_id, minute, amount, cumulative) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (budget_id, minute) DO UPDATE SET amount = spend_buckets.amount + excluded.amount, cumulative = excluded.cumulative",
        )?;
        for b in &w.buckets {
            s.execute(params![b.budget_id, b.minute, b.amount, b.cumulative])?;
        }
    }
    Ok(())
}

/// A few reading connections of the database file, used on the calling thread.
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// Idle reading connections kept; more may open under a burst.
const IDLE_READERS: usize = 8;

impl Readers {
    pub(crate) fn new(path: PathBuf) -> Readers {
        Readers {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let conn = self.idle.lock().expect("readers lock").pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(5))?;
                c
            }
        };
        let out = f(&conn);
        let mut idle = self.idle.lock().expect("readers lock");
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        Ok(out?)
    }

    pub(crate) fn wallet(&self, user_id: &str) -> StoreResult<Option<WalletRow>> {
        self.with(|c| {
            c.prepare_cached(&format!(
                "SELECT {WALLET_COLS} FROM wallets WHERE user_id = ?1"
            ))?
            .query_row(params![user_id], wallet_row)
            .optional()
        })
    }

    pub(crate) fn live_grants_sum(
        &self,
        user_id: &str,
        now: i64,
    ) -> StoreResult<(i64, Option<i64>)> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT COALESCE(SUM(remaining_credits), 0), MIN(expires_at) FROM grants \
                 WHERE user_id = ?1 AND remaining_credits > 0 AND (expires_at IS NULL OR expires_at > ?2)",
            )?
            .query_row(params![user_id, now], |r| Ok((r.get(0)?, r.get(1)?)))
        })
    }
}

/// Copies the write-ahead log back into the database file on a thread of
/// its own, every [`CHECKPOINT_EVERY`], so that no commit pays for it (the
/// writer's own automatic checkpoints are off). Passive: it never blocks the
/// writer or a reader.
pub(crate) struct Checkpointer {
    stop: Arc<AtomicBool>,
}

const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

impl Checkpointer {
    pub(crate) fn start(path: PathBuf, log: Arc<LogRestart>) -> Arc<Checkpointer> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let run = move || {
            let db = match Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE) {
                Ok(db) => db,
                Err(e) => {
                    tracing::error!(error = %e, "the SQLite checkpointer cannot open the database");
                    return;
                }
            };
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(CHECKPOINT_EVERY);
                match checkpoint(&db) {
                    Ok((_, frames, _)) if frames > log.restart_frames.load(Ordering::Relaxed) => {
                        catch_up(&db, frames, &log)
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "a SQLite checkpoint failed"),
                }
            }
        };
        if let Err(e) = std::thread::Builder::new()
            .name("tollgate-checkpoint".into())
            .spawn(run)
        {
            tracing::error!(error = %e, "the SQLite checkpointer did not start");
        }
        Arc::new(Checkpointer { stop })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
