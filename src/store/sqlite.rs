//! The embedded SQLite backend: one file, WAL, `BEGIN IMMEDIATE` for writes.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::sqlite_sync::{Checkpointer, KeptStatements, LogRestart, Readers};
use super::{SyncBatches, SyncSession};

/// A store on a SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    /// The ledger batches' statements on the writer's connection. First, so
    /// that the last clone of the store finalises them before its pools
    /// close their connections.
    kept: Arc<KeptStatements>,
    /// Readers: WAL lets them run beside the writer.
    pool: SqlitePool,
    /// The one writing connection. SQLite has a single writer anyway;
    /// queueing writers here, in order, avoids the busy-wait sleeps that
    /// connections racing for the write lock would take. Ledger batches
    /// borrow it too (`sqlite_sync.rs`).
    writer: SqlitePool,
    /// Point reads on the calling thread; `None` for an in-memory database.
    readers: Option<Arc<Readers>>,
    /// Stops when the last clone of the store is dropped.
    _checkpointer: Option<Arc<Checkpointer>>,
    /// When the ledger writer next starts the log over.
    log_restart: Arc<LogRestart>,
}

fn in_memory(file: &Path) -> bool {
    let name = file.to_string_lossy();
    name.is_empty() || name == ":memory:" || name.starts_with("file::memory:")
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
            .busy_timeout(Duration::from_secs(30));
        restrict_database_files(options.get_filename())?;
        let file = options.get_filename().to_path_buf();
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            // Never closed while the server runs: ledger batches borrow its handle.
            .idle_timeout(None)
            .max_lifetime(None)
            // Checkpoints run on a thread of their own (`Checkpointer`), so
            // no commit pays for copying the log back and syncing the file.
            .connect_with(
                options
                    .clone()
                    // SQLite's own mutex on the writer: the ledger's kept
                    // statements (`sqlite_sync`) live on this handle beside
                    // sqlx's worker thread, and are finalised when the store
                    // drops, which may be while the worker still finishes a
                    // command whose future was dropped with its runtime.
                    // Serialised, the two cannot touch the connection at
                    // once; the lock costs nanoseconds a call.
                    .serialized(true)
                    .pragma(
                        "wal_autocheckpoint",
                        if in_memory(&file) { "1000" } else { "0" },
                    )
                    // When the log starts over after a burst, it is cut back
                    // to 512 MiB (`LogRestart` starts it over at about 64,
                    // or 256 with 4 KiB pages).
                    .pragma("journal_size_limit", "536870912"),
            )
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.read_only(false))
            .await?;
        let on_disk = !in_memory(&file);
        let readers = on_disk.then(|| Arc::new(Readers::new(file.clone())));
        let log_restart = Arc::new(LogRestart::default());
        let checkpointer = on_disk.then(|| Checkpointer::start(file.clone(), log_restart.clone()));
        Ok(SqliteStore {
            kept: Arc::default(),
            pool,
            writer,
            readers,
            _checkpointer: checkpointer,
            log_restart,
        })
    }

    fn readers(&self) -> Option<&Readers> {
        self.readers.as_deref()
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
    if in_memory(path) {
        return Ok(());
    }
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

#[async_trait::async_trait]
impl SyncBatches for SqliteStore {
    async fn session(
        &self,
        f: &mut (dyn for<'s> FnMut(&'s mut (dyn SyncSession + 's)) + Send),
    ) -> super::StoreResult<()> {
        let mut conn = self.writer.acquire().await?;
        super::sqlite_sync::session_on(&mut conn, &self.log_restart, &self.kept, f).await
    }

    async fn release(&self) -> super::StoreResult<()> {
        let mut conn = self.writer.acquire().await?;
        super::sqlite_sync::release_on(&mut conn, &self.kept).await
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

        use crate::store::{BatchWrites, BucketAdd, SyncBatches};

        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("busy.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        // 64 frames rather than 64 MiB, so the test writes little.
        store
            .log_restart
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
            store
                .session(&mut |session| {
                    for _ in 0..256 {
                        commits += 1;
                        let writes = BatchWrites {
                            buckets: vec![BucketAdd {
                                budget_id: budgets[(commits % 500) as usize],
                                minute: commits,
                                amount: Credits::new(1),
                                cumulative: Credits::new(commits),
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
                })
                .await
                .unwrap();
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
