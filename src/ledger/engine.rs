//! The ledger engine: the one write path for money.
//!
//! Requests hand commands to the writer, which takes whatever is queued (up to
//! [`MAX_BATCH`]), applies it in one transaction, commits once, and only then
//! answers each command: group commit. An answered command is exactly as
//! durable as one committed alone, and the commit's cost is shared by the
//! batch. A command that is refused (insufficient credits, a cap) fails
//! alone; if the database refuses the whole batch, each command is retried in
//! a batch of its own, so one bad command cannot fail its neighbours.
//!
//! Commands of one wallet keep their order: a node runs one writer, whose
//! queue is first in, first out. On SQLite the database has one writer
//! anyway. On PostgreSQL several writers a node would overlap their round
//! trips, but each batch has a fixed cost (its statements' start-up, a WAL
//! flush), so more writers make smaller batches and buy less: on a 2-core
//! machine with the database beside the server, alternating runs of the
//! 200-wallet purchase measured one writer 0.097 and 0.101 × `/health` (16
//! commands a commit), two 0.088 and 0.088 (8), three 0.079 and 0.080, four
//! 0.070; with a batch's reads sent with its lock, round medians of one
//! writer 0.108 and 0.103, two 0.092 and 0.095.
//! Every batch locks its wallets in id order, so the writers of several
//! nodes never deadlock.
//!
//! The writer starts a batch as soon as a command is queued. Waiting for
//! more first, as PostgreSQL's `commit_delay` does, bought nothing on
//! SQLite: up to 200 µs for 16 commands whenever the last batch had 8 or
//! more measured round medians of 0.240 and 0.259 × `/health` against 0.280
//! and 0.270 without. Nor did the writer thread's priority (nice −10: 0.291
//! and 0.262 against 0.274 and 0.294): the writer is busy about half the
//! time, and the machine's two cores are what the purchase waits for.
//!
//! On SQLite the writer is a thread of its own with a connection of its
//! own, and runs each batch's statements synchronously with rusqlite
//! (`store/sqlite_sync.rs` says why); other writes meet it at SQLite's
//! write lock, which it lets them have between two batches.
//! On PostgreSQL the writer is an async task on a thread and runtime of its
//! own, and a batch is a handful of multi-row statements, so its round trips
//! do not grow with its size.

use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::oneshot;

use super::batch::Batch;
use super::{Command, LedgerError, Reply};
use crate::clock::{to_millis, Clock};
use crate::store::{BatchTx, BatchWriter, LedgerWriter, Store, StoreResult, SyncSession};

/// The most commands one batch applies.
pub const MAX_BATCH: usize = 256;
/// Commands a writer's queue holds before senders wait.
const QUEUE: usize = 4096;

struct Envelope {
    command: Command,
    reply: oneshot::Sender<Result<Reply, LedgerError>>,
}

/// Hands commands to the writer.
pub struct Engine {
    writer: flume::Sender<Envelope>,
    stats: Arc<Stats>,
}

/// How much grouping the writer achieved.
#[derive(Debug, Default)]
pub struct Stats {
    /// Batches committed (or attempted).
    pub batches: std::sync::atomic::AtomicU64,
    /// Commands applied.
    pub commands: std::sync::atomic::AtomicU64,
}

impl Engine {
    /// Starts the writer on a thread of its own, off the current runtime's
    /// workers. It stops when the engine is dropped.
    pub fn start(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Engine {
        let stats = Arc::new(Stats::default());
        let (writer, queue) = flume::bounded(QUEUE);
        let thread = std::thread::Builder::new().name("tollgate-ledger".into());
        match store.ledger_writer() {
            LedgerWriter::Sync(_) => {
                // Batches that block their thread run off the runtime's
                // workers, in its context.
                let (store, stats) = (store.clone(), stats.clone());
                let rt = tokio::runtime::Handle::current();
                thread.spawn(move || {
                    let _entered = rt.enter();
                    sync_write_loop(store, clock, queue, stats)
                })
            }
            LedgerWriter::Async(batches) => {
                // The writer has a runtime of its own, which also opens its
                // connection: each round trip's reply wakes it at once
                // instead of queueing behind the request workers' tasks.
                let run = write_loop(batches, clock, queue, stats.clone());
                thread.spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("the ledger writer's runtime starts")
                        .block_on(run)
                })
            }
        }
        .expect("the ledger writer thread starts");
        Engine { writer, stats }
    }

    /// (batches, commands) so far.
    pub fn stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.stats.batches.load(Relaxed),
            self.stats.commands.load(Relaxed),
        )
    }

    /// Runs one command and waits for its batch to commit.
    pub async fn run(&self, command: Command) -> Result<Reply, LedgerError> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send_async(Envelope { command, reply })
            .await
            .map_err(|_| LedgerError::Stopped)?;
        answer.await.map_err(|_| LedgerError::Stopped)?
    }
}

/// How a writer runs one batch.
#[async_trait::async_trait]
trait Runner: Send {
    /// Applies `commands` in one transaction; the per-command results are
    /// valid only once this returns `Ok` (the batch committed).
    async fn run(&mut self, commands: &[&Command]) -> StoreResult<Vec<Result<Reply, LedgerError>>>;
}

/// Batches as async tasks, each on a transaction of its own.
struct AsyncRunner<'a> {
    writer: &'a mut dyn BatchWriter,
    clock: &'a dyn Clock,
}

#[async_trait::async_trait]
impl Runner for AsyncRunner<'_> {
    async fn run(&mut self, commands: &[&Command]) -> StoreResult<Vec<Result<Reply, LedgerError>>> {
        let mut tx = self.writer.begin().await?;
        let results = apply_batch(tx.as_mut(), self.clock, commands).await?;
        tx.commit().await?;
        Ok(results)
    }
}

/// Batches on the ledger's held connection, every statement on this thread.
struct SyncRunner<'a, 's> {
    session: &'a mut (dyn SyncSession + 's),
    clock: &'a dyn Clock,
}

#[async_trait::async_trait]
impl Runner for SyncRunner<'_, '_> {
    async fn run(&mut self, commands: &[&Command]) -> StoreResult<Vec<Result<Reply, LedgerError>>> {
        let clock = self.clock;
        let mut results = None;
        self.session.batch(&mut |tx| {
            results = Some(now(apply_batch(tx, clock, commands))?);
            Ok(())
        })?;
        Ok(results.expect("set before the commit"))
    }
}

/// The value of a future that never waits (a synchronous batch's).
fn now<T>(f: impl std::future::Future<Output = T>) -> T {
    f.now_or_never().expect("a synchronous batch never waits")
}

/// Runs the queued `batch` and answers each command. If the database
/// refuses the batch, each command is retried alone: a failure of the first
/// try may have been a neighbour's.
async fn settle(batch: &mut Vec<Envelope>, runner: &mut dyn Runner, stats: &Stats) {
    use std::sync::atomic::Ordering::Relaxed;
    stats.batches.fetch_add(1, Relaxed);
    stats.commands.fetch_add(batch.len() as u64, Relaxed);
    let outcome = {
        let commands: Vec<&Command> = batch.iter().map(|e| &e.command).collect();
        runner.run(&commands).await
    };
    match outcome {
        Ok(results) => {
            for (envelope, result) in batch.drain(..).zip(results) {
                let _ = envelope.reply.send(result);
            }
        }
        Err(e) => {
            if batch.len() > 1 {
                tracing::warn!(error = %e, size = batch.len(), "a ledger batch failed; retrying its commands one by one");
            }
            for envelope in batch.drain(..) {
                let result = match runner.run(&[&envelope.command]).await {
                    Ok(mut r) => r.pop().expect("one result"),
                    Err(e) => Err(LedgerError::Store(e)),
                };
                let _ = envelope.reply.send(result);
            }
        }
    }
}

async fn write_loop(
    mut writer: Box<dyn BatchWriter>,
    clock: Arc<dyn Clock>,
    queue: flume::Receiver<Envelope>,
    stats: Arc<Stats>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while take_next(&queue, &mut batch).await {
        let mut runner = AsyncRunner {
            writer: writer.as_mut(),
            clock: clock.as_ref(),
        };
        settle(&mut batch, &mut runner, &stats).await;
    }
}

/// Waits for a command and takes it with whatever else is queued, up to
/// [`MAX_BATCH`]. False once every sender is gone.
async fn take_next(queue: &flume::Receiver<Envelope>, batch: &mut Vec<Envelope>) -> bool {
    match queue.recv_async().await {
        Ok(e) => {
            batch.push(e);
            take_queued(queue, batch);
            true
        }
        Err(_) => false,
    }
}

/// Adds what is queued to `batch`, up to [`MAX_BATCH`], without waiting.
fn take_queued(queue: &flume::Receiver<Envelope>, batch: &mut Vec<Envelope>) {
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(e) => batch.push(e),
            Err(_) => break,
        }
    }
}

/// The SQLite writer: waits for a command, then runs batches back to back
/// on the ledger's connection while commands keep coming.
fn sync_write_loop(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    queue: flume::Receiver<Envelope>,
    stats: Arc<Stats>,
) {
    let LedgerWriter::Sync(sync) = store.ledger_writer() else {
        unreachable!("started for a store whose batches run synchronously")
    };
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = queue.recv() {
        batch.push(first);
        take_queued(&queue, &mut batch);
        sync.session(&mut |session| {
            while !batch.is_empty() {
                let mut runner = SyncRunner {
                    session: &mut *session,
                    clock: clock.as_ref(),
                };
                now(settle(&mut batch, &mut runner, &stats));
                take_queued(&queue, &mut batch);
            }
        });
    }
}

/// Loads, applies and writes `commands` in `tx`, without committing.
async fn apply_batch(
    tx: &mut dyn BatchTx,
    clock: &dyn Clock,
    commands: &[&Command],
) -> StoreResult<Vec<Result<Reply, LedgerError>>> {
    let mut state = Batch::load(tx, commands, || to_millis(clock.now())).await?;
    let results: Vec<_> = commands.iter().map(|c| state.apply(c)).collect();
    let writes = state.into_writes();
    if !writes.is_empty() {
        tx.write(&writes).await?;
    }
    Ok(results)
}
