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
//! The ledger writer has a connection of its own ([`LedgerConnection`]),
//! with its statements prepared once for the life of the connection; sqlx's
//! one writer connection makes every other write. The two meet at SQLite's
//! write lock. It used to be one connection, which the ledger borrowed from
//! sqlx for a few milliseconds at a time: each hand-off woke sqlx's worker
//! thread and a task of the runtime three times (a ping as the pool took the
//! connection back, another as it gave it out, the handle's lock), and
//! under load a hand-off took 0.3 to 1 ms at the median and 5 to 15 ms at
//! the 99th percentile, while purchases queued. Now nothing is handed off:
//! a write through sqlx that finds the lock taken polls for it every
//! [`LOCK_POLL`] ([`writer_waits`]) and raises a flag, and the ledger lets
//! it in before its next batch ([`LET_IN`]).
//!
//! Where the writer's time goes, under the 200-wallet purchase benchmark
//! (`perf`, 2 cores): about two fifths of the server's CPU. Of that, the
//! statements are about half and the commit about a third, nearly all of it
//! writing the log: a batch of 9 or 10 purchases on as many wallets writes
//! about 30 pages (one wallet's batches about 17), each frame two `pwrite`s.
//! Per purchase the writer spends about twice as long on 200 wallets as on
//! one, for the rows and index pages each wallet adds.
//!
//! Point reads use a few connections of their own, run on the calling
//! thread: in WAL mode a reader never waits for the writer, and a read of one
//! row through the page cache takes microseconds, less than the hand-off to a
//! worker thread would.

use crate::clock::Timestamp;
use crate::id::UserId;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};

use super::{BatchFn, StoreError, StoreResult, SyncSession, WalletRow};
use crate::money::Credits;

mod batch;
mod rows;

pub(crate) use batch::SyncTx;
use rows::Rows;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Embedded(e.to_string())
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

/// The ledger writer's own connection to the database file, and the rows
/// its batches keep ([`Rows`]). Only the ledger engine's thread uses it.
pub(crate) struct LedgerConnection(Mutex<Session>);

/// The ledger connection between batches.
struct Session {
    path: PathBuf,
    /// `None` after a batch that panicked, until the next batch opens it again.
    db: Option<Connection>,
    log: Arc<LogRestart>,
    rows: Rows,
    /// Set when a write through sqlx found the write lock taken.
    waiting: &'static AtomicBool,
}

impl LedgerConnection {
    /// Opens the ledger's connection to the database file at `path`; sqlx's
    /// writer calls its connection's busy handler [`writer_waits`] with
    /// `waiting`.
    pub(crate) fn open(
        path: PathBuf,
        log: Arc<LogRestart>,
        waiting: &'static AtomicBool,
    ) -> StoreResult<LedgerConnection> {
        let db = open_ledger_connection(&path)?;
        Ok(LedgerConnection(Mutex::new(Session {
            path,
            db: Some(db),
            log,
            rows: Rows::default(),
            waiting,
        })))
    }

    /// The log's restart point, which tests lower.
    #[cfg(test)]
    pub(crate) fn log(&self) -> Arc<LogRestart> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).log.clone()
    }

    /// Hands the connection to `f`, which may run several batches in a row.
    pub(crate) fn session(
        &self,
        f: &mut (dyn for<'s> FnMut(&'s mut (dyn SyncSession + 's)) + Send),
    ) {
        // A batch that panicked left no transaction open and its connection
        // dropped (`batch` takes it out first): the session is sound.
        let mut session = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut *session);
    }
}

/// The ledger's connection, set as sqlx's writer is: the file is in WAL
/// mode already (sqlx made or opened it first), and `synchronous`, foreign
/// keys, the automatic checkpoint and the log's size limit are per
/// connection.
fn open_ledger_connection(path: &std::path::Path) -> rusqlite::Result<Connection> {
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    db.pragma_update(None, "synchronous", "NORMAL")?;
    db.pragma_update(None, "foreign_keys", true)?;
    // Checkpoints run on a thread of their own ([`Checkpointer`]).
    db.pragma_update(None, "wal_autocheckpoint", 0)?;
    // When the log starts over after a burst, it is cut back to 512 MiB.
    db.pragma_update(None, "journal_size_limit", 536_870_912)?;
    db.busy_handler(Some(ledger_waits))?;
    db.set_prepared_statement_cache_capacity(batch::STATEMENTS);
    Ok(db)
}

/// How often a writer that found the write lock taken tries again.
const LOCK_POLL: Duration = Duration::from_micros(50);

/// How long a batch that found a write through sqlx in the way lets it
/// in first: longer than that writer's [`LOCK_POLL`] and a wake-up.
const LET_IN: Duration = Duration::from_micros(300);

/// How long either writer waits for the write lock before its statement
/// fails with `SQLITE_BUSY` (sqlx's `busy_timeout`).
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(30);

thread_local! {
    /// When this thread's current wait for the write lock began.
    static WAIT_BEGAN: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
}

/// A busy handler's answer for its `attempts`-th call: wait [`LOCK_POLL`]
/// and try again, up to [`LOCK_WAIT`]. SQLite's own handler sleeps 1, 2,
/// 5, ... up to 100 ms between tries, and the ledger takes the lock again
/// within microseconds of letting it go, so a writer sleeping that long
/// would hardly ever find it free.
fn keep_waiting(attempts: i32) -> bool {
    let now = std::time::Instant::now();
    let began = WAIT_BEGAN.with(|b| {
        if attempts == 0 || b.get().is_none() {
            b.set(Some(now));
        }
        b.get().unwrap_or(now)
    });
    if now.duration_since(began) >= LOCK_WAIT {
        return false;
    }
    std::thread::sleep(LOCK_POLL);
    true
}

/// The ledger connection's busy handler: a write through sqlx (or another
/// process) holds the lock, which it gives up at its commit.
fn ledger_waits(attempts: i32) -> bool {
    keep_waiting(attempts)
}

/// The busy handler of sqlx's writer connection, set with
/// [`sqlite3_busy_handler`](rusqlite::ffi::sqlite3_busy_handler): it tells
/// the ledger writer, through the flag `waiting` points to, that a write
/// waits, and the ledger lets it in before its next batch.
///
/// # Safety
///
/// `waiting` points to an `AtomicBool` that lives as long as the
/// connection (the store's, leaked for the process's life).
#[allow(unsafe_code)]
pub(crate) unsafe extern "C" fn writer_waits(
    waiting: *mut std::ffi::c_void,
    attempts: std::ffi::c_int,
) -> std::ffi::c_int {
    // SAFETY: the caller set `waiting` to a live `AtomicBool`.
    let waiting = unsafe { &*(waiting as *const AtomicBool) };
    waiting.store(true, Ordering::Release);
    // A panic must not cross into SQLite's C frames.
    std::panic::catch_unwind(|| keep_waiting(attempts))
        .unwrap_or(false)
        .into()
}

/// Keeps the write-ahead log from growing without end under steady writes.
///
/// The [`Checkpointer`] copies the log back into the database as it grows,
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

/// Frames (pages) in the log past which the writer starts it over: 64 MiB
/// of a new database's 1 KiB pages (256 MiB of 4 KiB pages, in a database
/// made before them).
/// Each start costs the writer a pause of a few milliseconds (syncing the
/// last frames and the database file), so it comes rarely: under the
/// benchmark's load every few seconds.
const RESTART_FRAMES: i64 = 65_536;

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

impl SyncSession for Session {
    fn batch(&mut self, f: &mut BatchFn<'_>) -> StoreResult<()> {
        let db = match self.db.take() {
            Some(db) => db,
            None => {
                // Dropped in a batch that panicked, which may have changed
                // the kept rows half-way.
                self.rows.forget();
                open_ledger_connection(&self.path)?
            }
        };
        // Read first: a swap would write the flag's cache line every batch.
        if self.waiting.load(Ordering::Relaxed) && self.waiting.swap(false, Ordering::AcqRel) {
            // A write through sqlx waits for the lock: it goes first.
            std::thread::sleep(LET_IN);
        }
        if let Err(e) = db
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
            .and_then(|_| self.rows.check(&db))
        {
            if !db.is_autocommit() {
                let _ = db.execute_batch("ROLLBACK");
            }
            self.db = Some(db);
            return Err(e.into());
        }
        let mut tx = SyncTx {
            db: Some(db),
            rows: &mut self.rows,
        };
        let out = f(&mut tx).and_then(|()| {
            tx.db().prepare_cached("COMMIT")?.execute([])?;
            Ok(())
        });
        tx.roll_back_if_open();
        let db = tx.db.take();
        drop(tx);
        if out.is_ok() {
            if let Some(db) = &db {
                self.log.after_commit(db);
            }
        } else {
            // Its writes may be undone: what the batch kept may be wrong.
            self.rows.forget();
        }
        self.db = db;
        out
    }
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

    pub(crate) fn wallet(&self, user_id: UserId) -> StoreResult<Option<WalletRow>> {
        self.with(|c| {
            // The very statement a batch reads the wallet with.
            c.prepare_cached(&batch::SQL.wallet)?
                .query_row(params![user_id], wallet_row)
                .optional()
        })
    }

    pub(crate) fn live_grants_sum(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> StoreResult<(Credits, Option<Timestamp>)> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT COALESCE(SUM(remaining_credits), 0), MIN(expires_at) FROM grants \
                 WHERE user_id = ?1 AND closed_at IS NULL AND remaining_credits > 0 AND (expires_at IS NULL OR expires_at > ?2)",
            )?
            .query_row(params![user_id, now], |r| Ok((r.get(0)?, r.get(1)?)))
        })
    }
}

/// Copies the write-ahead log back into the database file on a thread of
/// its own, so that no commit pays for it (the writer's own automatic
/// checkpoints are off). Passive: it takes no lock the writer or a reader
/// waits for.
///
/// Under writes it runs every [`CHECKPOINT_EVERY`], because each pass first
/// syncs the log to disk, and while the kernel writes the log's dirty pages
/// back, the writer's appends to those pages wait: with a pass every 100 ms
/// each sync had about 100 ms of log to write, and commits stalled for
/// 10 to 50 ms at every pass (over 100 ms at one pass a second). A shorter
/// pass keeps the syncs small and the stalls short; but each pass copies
/// back the newest version of every page written since the last, so the
/// hot pages (wallets, counters, the ends of the ledger's indexes) are copied
/// once a pass, and passes too close together copy them over and over. In
/// alternating benchmark runs of the 200-wallet purchase (ratio to `/health`,
/// median of rounds): 10 ms 0.295, 25 ms 0.307 and 0.315, 50 ms 0.314 and
/// 0.319, 100 ms 0.319 and 0.326; but the purchase p99 went from 6 ms at
/// 10 and 25 ms to 11 ms at 50, and p99/p50 at half the peak rate past 3 at
/// 100. 25 ms keeps the tail and most of the gain. With no writes it backs
/// off to [`CHECKPOINT_IDLE`].
pub(crate) struct Checkpointer {
    stop: Arc<AtomicBool>,
}

const CHECKPOINT_EVERY: Duration = Duration::from_millis(25);
const CHECKPOINT_IDLE: Duration = Duration::from_millis(500);

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
            let (mut wait, mut last) = (CHECKPOINT_EVERY, -1);
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(wait);
                match checkpoint(&db) {
                    Ok((_, frames, _)) => {
                        wait = if frames == last {
                            (wait * 2).min(CHECKPOINT_IDLE)
                        } else {
                            CHECKPOINT_EVERY
                        };
                        last = frames;
                        if frames > log.restart_frames.load(Ordering::Relaxed) {
                            catch_up(&db, frames, &log);
                        }
                    }
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
