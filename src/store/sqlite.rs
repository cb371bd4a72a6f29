//! The embedded SQLite backend: one file, WAL, `BEGIN IMMEDIATE` for writes.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::sqlite_sync::{
    writer_waits, Checkpointer, LedgerConnection, LogRestart, Readers, LOCK_WAIT,
};
use super::{SyncBatches, SyncSession};

/// A store on a SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    /// The ledger engine's own writing connection (`sqlite_sync.rs`).
    ledger: Arc<LedgerConnection>,
    /// Readers: WAL lets them run beside the writer.
    pool: SqlitePool,
    /// The one connection for every write but the ledger's. Queueing
    /// those writes here, in order, avoids the busy-wait sleeps that
    /// connections racing for the write lock would take; it meets the
    /// ledger's connection at the lock (`sqlite_sync::writer_waits`).
    writer: SqlitePool,
    /// Point reads on the calling thread.
    readers: Arc<Readers>,
    /// Stops when the last clone of the store is dropped.
    _checkpointer: Arc<Checkpointer>,
}

/// Whether `url` names a database in memory (sqlx names such a file
/// `file:sqlx-in-memory-N`).
fn in_memory(url: &str, file: &Path) -> bool {
    let name = file.to_string_lossy();
    url.contains(":memory:")
        || url.contains("mode=memory")
        || name.is_empty()
        || name.starts_with("file:sqlx-in-memory")
        || name.starts_with("file::memory:")
}

impl SqliteStore {
    /// Opens (creating if needed) the database and applies migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            // A new database gets 1 KiB pages (one made before keeps its
            // own). A ledger batch changes a few rows in each of many
            // wallets, and every changed page is written to the log whole
            // at each commit, so the log's bytes a batch grow with the
            // page. Alternating runs of the 200-wallet purchase measured
            // 1 KiB pages 0.322 and 0.317 x `/health` (round medians 0.305
            // and 0.310), 2 KiB 0.306 (0.307), 4 KiB 0.297 and 0.294
            // (0.293 and 0.300).
            .page_size(1024)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(LOCK_WAIT);
        let file = options.get_filename().to_path_buf();
        if in_memory(url, &file) {
            // The ledger writes through a connection of its own, which
            // could not see a database that lives in another's memory.
            anyhow::bail!(
                "Tollgate keeps its SQLite database in a file; name one, as in sqlite://tollgate.db"
            );
        }
        restrict_database_files(&file)?;
        // Lives as long as the process: SQLite may call the writer's busy
        // handler with it until the connection closes, and the pool closes
        // it whenever it likes. One flag a store opened.
        let waiting: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            // A ping to sqlx's worker thread per write buys nothing: a
            // broken connection fails its statement just as well.
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .idle_timeout(None)
            .max_lifetime(None)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    let mut locked = conn.lock_handle().await?;
                    // SAFETY: the handle is this open connection's, kept
                    // from sqlx's worker while `locked` lives, and
                    // `waiting` lives as long as the process.
                    #[allow(unsafe_code)]
                    unsafe {
                        rusqlite::ffi::sqlite3_busy_handler(
                            locked.as_raw_handle().as_ptr(),
                            Some(writer_waits),
                            waiting as *const AtomicBool as *mut std::ffi::c_void,
                        );
                    }
                    Ok(())
                })
            })
            .connect_with(
                options
                    .clone()
                    // Checkpoints run on a thread of their own
                    // (`Checkpointer`), so no commit pays for copying the
                    // log back and syncing the file.
                    .pragma("wal_autocheckpoint", "0")
                    // Whichever writer starts the log over cuts it back to
                    // 512 MiB (`LogRestart` starts it over at about 64, or
                    // 256 with 4 KiB pages).
                    .pragma("journal_size_limit", "536870912"),
            )
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.read_only(false))
            .await?;
        let log_restart = Arc::new(LogRestart::default());
        let ledger = LedgerConnection::open(file.clone(), log_restart.clone(), waiting)?;
        Ok(SqliteStore {
            ledger: Arc::new(ledger),
            pool,
            writer,
            readers: Arc::new(Readers::new(file.clone())),
            _checkpointer: Checkpointer::start(file, log_restart),
        })
    }

    fn readers(&self) -> Option<&Readers> {
        Some(&self.readers)
    }

    /// A write transaction that takes SQLite's write lock up front, so a
    /// read-then-write never fails with BUSY half-way.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }
}

/// Makes the database file readable by its owner only, creating it empty
/// if missing: it holds password hashes, sealed secrets and the ledger.
/// SQLite gives the `-wal` and `-shm` files the database file's mode; any
/// left from an earlier, looser run are tightened too.
fn restrict_database_files(path: &Path) -> anyhow::Result<()> {
    let name = path.to_string_lossy();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    create_private(path)
        .map_err(|e| anyhow::anyhow!("cannot create the database file {}: {e}", path.display()))?;
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{name}{suffix}"));
        if file.exists() {
            set_private(&file).map_err(|e| {
                anyhow::anyhow!("cannot restrict access to {}: {e}", file.display())
            })?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn set_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn create_private(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(not(unix))]
fn set_private(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

impl SyncBatches for SqliteStore {
    fn session(&self, f: &mut (dyn for<'s> FnMut(&'s mut (dyn SyncSession + 's)) + Send)) {
        self.ledger.session(f);
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::SqliteStore;
    use crate::money::Credits;
    use crate::store::AccountStore;

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// The store on the database at `db`, after one write through it.
    async fn opened_and_written(db: &std::path::Path) -> SqliteStore {
        let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        assert!(store
            .claim_marker("test", "x", crate::clock::Timestamp::from_millis(1))
            .await
            .unwrap());
        store
    }

    /// One ledger batch in `session` that adds a spend bucket of `budget`
    /// at minute `n`, committed.
    fn commit_a_bucket(
        session: &mut dyn crate::store::SyncSession,
        budget: crate::id::BudgetId,
        n: i64,
    ) {
        let writes = crate::store::BatchWrites {
            buckets: vec![crate::store::BucketAdd {
                budget_id: budget,
                minute: n,
                amount: Credits::new(1),
                cumulative: Credits::new(n),
            }],
            ..Default::default()
        };
        session
            .batch(&mut |tx| {
                futures::FutureExt::now_or_never(tx.write(&writes))
                    .expect("a synchronous batch never waits")
            })
            .unwrap();
    }

    #[tokio::test]
    async fn the_database_and_its_wal_and_shm_files_are_private_to_the_owner() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data").join("tollgate.db");
        let _store = opened_and_written(&db).await;
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
            assert!(file.exists(), "{} should exist", file.display());
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }

    /// Under writes that never pause, the write-ahead log starts over from
    /// its beginning again and again instead of growing with every commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_starts_over_under_writes_that_never_pause() {
        use std::sync::atomic::Ordering;

        use crate::store::SyncBatches;

        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("busy.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        // 64 frames rather than 64 MiB, so the test writes little.
        store
            .ledger
            .log()
            .restart_frames
            .store(64, Ordering::Relaxed);
        let wal = dir.path().join("busy.db-wal");
        // The log's header counts its restarts (its checkpoint sequence
        // number, bytes 12 to 16).
        let restarts = || {
            use std::io::Read;
            let mut header = [0u8; 16];
            match std::fs::File::open(&wal).and_then(|mut f| f.read_exact(&mut header)) {
                Ok(()) => u32::from_be_bytes(header[12..16].try_into().unwrap()),
                Err(_) => 0,
            }
        };
        let mut commits = 0i64;
        let budgets: Vec<crate::id::BudgetId> =
            (0..500).map(|_| crate::id::BudgetId::new()).collect();
        let first = restarts();
        let started = std::time::Instant::now();
        // Writes until the log has started over three times, for at most 15
        // seconds (on an idle machine it takes well under three): the
        // checkpointer looks every 10 ms, and a machine busy with other work
        // slows the writes and it alike.
        while restarts().wrapping_sub(first) < 3
            && started.elapsed() < std::time::Duration::from_secs(15)
        {
            store.session(&mut |session| {
                for _ in 0..256 {
                    commits += 1;
                    commit_a_bucket(session, budgets[(commits % 500) as usize], commits);
                }
            });
        }
        let restarted = restarts().wrapping_sub(first);
        assert!(
            restarted >= 3,
            "the log started over {restarted} times in {commits} commits"
        );
    }

    /// A new database has 1 KiB pages; one made with SQLite's 4 KiB pages
    /// keeps them, and takes the migrations and writes as before.
    #[tokio::test]
    async fn a_new_database_has_small_pages_and_an_older_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let page_size = |db: &std::path::Path| -> i64 {
            rusqlite::Connection::open(db)
                .unwrap()
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .unwrap()
        };
        let new = dir.path().join("new.db");
        SqliteStore::connect(&format!("sqlite://{}", new.display()))
            .await
            .unwrap();
        assert_eq!(page_size(&new), 1024);

        let old = dir.path().join("old.db");
        {
            let db = rusqlite::Connection::open(&old).unwrap();
            db.execute_batch(
                "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE before (x);",
            )
            .unwrap();
        }
        drop(opened_and_written(&old).await);
        assert_eq!(page_size(&old), 4096);
    }

    /// The ledger's batches follow each other with no pause on a thread of
    /// their own, and a write through sqlx still gets in within moments,
    /// again and again, while the batches go on after it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_gets_in_between_ledger_batches_that_never_pause() {
        use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
        use std::time::{Duration, Instant};

        use crate::store::SyncBatches;

        let dir = tempfile::tempdir().unwrap();
        let store = opened_and_written(&dir.path().join("busy.db")).await;
        let (stop, commits) = (
            std::sync::Arc::new(AtomicBool::new(false)),
            std::sync::Arc::new(AtomicI64::new(0)),
        );
        let ledger = {
            let (store, stop, commits) = (store.clone(), stop.clone(), commits.clone());
            std::thread::spawn(move || {
                let budget = crate::id::BudgetId::new();
                store.session(&mut |session| {
                    while !stop.load(Ordering::Relaxed) {
                        let n = commits.fetch_add(1, Ordering::Relaxed) + 1;
                        commit_a_bucket(session, budget, n);
                    }
                });
            })
        };
        while commits.load(Ordering::Relaxed) < 100 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut slowest = Duration::ZERO;
        for i in 0..20 {
            let before = commits.load(Ordering::Relaxed);
            let started = Instant::now();
            let claimed = store
                .claim_marker(
                    &format!("between-{i}"),
                    "x",
                    crate::clock::Timestamp::from_millis(1),
                )
                .await
                .unwrap();
            assert!(claimed);
            slowest = slowest.max(started.elapsed());
            // The batches went on while the write waited and after it.
            while commits.load(Ordering::Relaxed) < before + 10 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        stop.store(true, Ordering::Relaxed);
        ledger.join().unwrap();
        // Each write waited under a millisecond here. With SQLite's own
        // busy handler, which sleeps up to 100 ms between tries and seldom
        // finds the lock free, the slowest of them waited 0.4 to 1.4 s.
        assert!(
            slowest < Duration::from_millis(100),
            "a write waited {slowest:?}"
        );
    }

    /// A database in memory is refused with a clear message: the ledger's
    /// own connection could not see it.
    #[tokio::test]
    async fn an_in_memory_database_is_refused_clearly() {
        let Err(e) = SqliteStore::connect("sqlite::memory:").await else {
            panic!("an in-memory database was opened");
        };
        assert!(e.to_string().contains("in a file"), "{e}");
    }

    #[tokio::test]
    async fn a_world_readable_database_from_an_earlier_run_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("old.db");
        std::fs::write(&db, b"").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        SqliteStore::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        assert_eq!(mode(&db), 0o600);
    }
}

impl super::backend::Backend for SqliteStore {
    type Db = sqlx::Sqlite;

    fn pool(&self) -> &sqlx::Pool<sqlx::Sqlite> {
        &self.pool
    }

    fn writer(&self) -> &sqlx::Pool<sqlx::Sqlite> {
        &self.writer
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        SqliteStore::begin_write(self).await
    }

    /// SQLite's batches run on the ledger engine's thread through
    /// [`SyncBatches`](super::SyncBatches), never as async tasks.
    fn ledger_writer(&self) -> super::LedgerWriter<'_> {
        super::LedgerWriter::Sync(self)
    }

    fn readers(&self) -> Option<&super::sqlite_sync::Readers> {
        SqliteStore::readers(self)
    }
}
