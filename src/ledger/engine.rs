//! The ledger engine: the one write path for money.
//!
//! Requests hand commands to a writer, which takes whatever is queued (up to
//! [`MAX_BATCH`]), applies it in one transaction, commits once, and only then
//! answers each command: group commit. An answered command is exactly as
//! durable as one committed alone, and the commit's cost is shared by the
//! batch. A command that is refused (insufficient credits, a cap) fails
//! alone; if the database refuses the whole batch, each command is retried in
//! a batch of its own, so one bad command cannot fail its neighbours.
//!
//! Commands of one wallet keep their order: each wallet belongs to one writer
//! (by a hash of its id), whose queue is first in, first out. SQLite has one
//! writer; PostgreSQL several, and every batch locks its wallets in id order,
//! so writers on several nodes never deadlock.
//!
//! Why sqlx and not a dedicated rusqlite thread on SQLite: sqlx hands each
//! statement to its worker thread, which costs tens of microseconds per
//! statement. A batch here is a fixed handful of multi-row statements however
//! many commands it holds, so under load that hand-off is paid once per
//! batch, not per purchase, and stops dominating (see the README's benchmark).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};

use super::batch::Batch;
use super::{Command, LedgerError, Reply};
use crate::clock::{to_millis, Clock};
use crate::store::{BatchTx, Store};

/// The most commands one batch applies.
pub const MAX_BATCH: usize = 256;
/// Commands a writer's queue holds before senders wait.
const QUEUE: usize = 4096;

struct Envelope {
    command: Command,
    reply: oneshot::Sender<Result<Reply, LedgerError>>,
}

/// Hands commands to the writers.
pub struct Engine {
    writers: Vec<mpsc::Sender<Envelope>>,
    stats: Arc<Stats>,
}

/// How much grouping the writers achieved.
#[derive(Debug, Default)]
pub struct Stats {
    /// Batches committed (or attempted).
    pub batches: std::sync::atomic::AtomicU64,
    /// Commands applied.
    pub commands: std::sync::atomic::AtomicU64,
}

impl Engine {
    /// Starts the store's number of writers on the current runtime. They
    /// stop when the engine is dropped.
    pub fn start(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Engine {
        let n = store.ledger_writers().max(1);
        let stats = Arc::new(Stats::default());
        let sync = store.sync_batches().is_some();
        let writers = (0..n)
            .map(|_| {
                let (tx, rx) = mpsc::channel(QUEUE);
                let writer = write_loop(store.clone(), clock.clone(), rx, stats.clone());
                if sync {
                    // Batches that block their thread get a thread of their
                    // own, off the runtime's workers.
                    let rt = tokio::runtime::Handle::current();
                    std::thread::Builder::new()
                        .name("tollgate-ledger".into())
                        .spawn(move || rt.block_on(writer))
                        .expect("the ledger writer thread starts");
                } else {
                    tokio::spawn(writer);
                }
                tx
            })
            .collect();
        Engine { writers, stats }
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
        let writer = if self.writers.len() == 1 {
            &self.writers[0]
        } else {
            let mut h = DefaultHasher::new();
            command_user(&command).hash(&mut h);
            &self.writers[(h.finish() % self.writers.len() as u64) as usize]
        };
        let (reply, answer) = oneshot::channel();
        writer
            .send(Envelope { command, reply })
            .await
            .map_err(|_| LedgerError::Stopped)?;
        answer.await.map_err(|_| LedgerError::Stopped)?
    }
}

fn command_user(c: &Command) -> &str {
    match c {
        Command::Grant(g) => &g.user_id,
        Command::Revoke { user_id, .. }
        | Command::Reserve { user_id, .. }
        | Command::Capture { user_id, .. }
        | Command::Release { user_id, .. }
        | Command::FinishOrder { user_id, .. }
        | Command::ExpireDue { user_id } => user_id,
        Command::Charge { order, .. } | Command::RecordOrder(order) => &order.user_id,
    }
}

async fn write_loop(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    mut queue: mpsc::Receiver<Envelope>,
    stats: Arc<Stats>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        stats.batches.fetch_add(1, Relaxed);
        stats.commands.fetch_add(batch.len() as u64, Relaxed);
        let outcome = {
            let commands: Vec<&Command> = batch.iter().map(|e| &e.command).collect();
            run_batch(store.as_ref(), clock.as_ref(), &commands).await
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
                // Each alone: a failure of the first try may have been a neighbour's.
                for envelope in batch.drain(..) {
                    let result =
                        match run_batch(store.as_ref(), clock.as_ref(), &[&envelope.command]).await
                        {
                            Ok(mut r) => r.pop().expect("one result"),
                            Err(e) => Err(LedgerError::Store(e)),
                        };
                    let _ = envelope.reply.send(result);
                }
            }
        }
    }
}

/// Applies `commands` in one transaction; the per-command results are valid
/// only once this returns `Ok` (the batch committed).
async fn run_batch(
    store: &dyn Store,
    clock: &dyn Clock,
    commands: &[&Command],
) -> crate::store::StoreResult<Vec<Result<Reply, LedgerError>>> {
    if let Some(sync) = store.sync_batches() {
        let mut results = None;
        sync.run_sync(&mut |tx| {
            let r = apply_batch(tx, clock, commands)
                .now_or_never()
                .expect("a synchronous batch never waits")?;
            results = Some(r);
            Ok(())
        })
        .await?;
        return Ok(results.expect("set before the commit"));
    }
    let mut tx = store.begin_batch().await?;
    let results = apply_batch(tx.as_mut(), clock, commands).await?;
    tx.commit().await?;
    Ok(results)
}

/// Loads, applies and writes `commands` in `tx`, without committing.
async fn apply_batch(
    tx: &mut dyn BatchTx,
    clock: &dyn Clock,
    commands: &[&Command],
) -> crate::store::StoreResult<Vec<Result<Reply, LedgerError>>> {
    let mut state = Batch::load(tx, commands, || to_millis(clock.now())).await?;
    let results: Vec<_> = commands.iter().map(|c| state.apply(c)).collect();
    let writes = state.into_writes();
    if !writes.is_empty() {
        tx.write(&writes).await?;
    }
    Ok(results)
}
