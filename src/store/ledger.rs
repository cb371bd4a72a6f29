//! What the ledger engine reads and writes in one batch transaction.
//!
//! The engine loads the rows a batch of commands needs (locking the wallets),
//! applies the commands in memory, and writes every change back with a few
//! multi-row statements, so a batch costs about the same number of
//! statements whatever its size.

use crate::clock::Timestamp;
use crate::id::{BudgetId, GrantId, HoldId, OrderId, TransactionId, UserId};
use async_trait::async_trait;

use crate::money::Credits;

use super::{IdempotencyRow, OrderRow, OrderStatus, StoreResult};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GrantRow {
    pub id: GrantId,
    pub user_id: UserId,
    pub amount_credits: Credits,
    pub remaining_credits: Credits,
    pub credit_type: String,
    pub source_metadata: Option<String>,
    pub date_created: Timestamp,
    pub pooled_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub closed_reason: Option<GrantClosed>,
}

/// Why a grant was closed: nothing is left on a closed grant, and the open
/// grants are those with no `closed_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantClosed {
    /// Its last credit was spent.
    Spent,
    /// It expired with credits left; an `expiration` entry wrote them off.
    Expired,
    /// An operator revoked it; a `revocation` entry wrote off what was left.
    Revoked,
}

super::names::stored_names!(GrantClosed, "grant closing reason", {
    Spent => "spent",
    Expired => "expired",
    Revoked => "revoked",
});

/// What a ledger entry records, stored as the strings of
/// [`EntryKind::as_str`] (the `credit_transactions.transaction_type`
/// column's check allows exactly these) and answered as the spec's
/// `transaction_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Credits added to the wallet (a new grant).
    Grant,
    /// What was left on a grant when it expired.
    Expiration,
    /// What was left on a grant an operator revoked.
    Revocation,
    /// A charged call.
    Purchase,
}

super::names::stored_names!(EntryKind, "ledger entry kind", {
    Grant => "grant",
    Expiration => "expiration",
    Revocation => "revocation",
    Purchase => "purchase",
});

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TransactionRow {
    pub id: TransactionId,
    pub user_id: UserId,
    pub transaction_type: EntryKind,
    pub amount_credits: Credits,
    pub balance_after_credits: Credits,
    pub grant_id: Option<GrantId>,
    pub reference: Option<String>,
    pub date_created: Timestamp,
    /// The budget a purchase was made under.
    pub budget_id: Option<BudgetId>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HoldRow {
    pub id: HoldId,
    pub user_id: UserId,
    pub budget_id: Option<BudgetId>,
    pub amount_credits: Credits,
    pub reference: Option<String>,
    pub created_at: Timestamp,
    pub deadline: i64,
}

/// One grant's share of a debit.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Allocation {
    pub grant_id: GrantId,
    pub amount_credits: Credits,
}

/// A wallet's counters, kept as its rows change.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WalletRow {
    pub user_id: UserId,
    /// The ledger balance: the sum of the wallet's transactions.
    pub balance_credits: Credits,
    /// How many transactions the wallet has; the last one's sequence number.
    pub entry_count: i64,
    /// Credits reserved by holds.
    pub held_credits: Credits,
    /// The soonest expiry among grants with credits left.
    pub next_expiry: Option<Timestamp>,
}

/// A budget's spend counters.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct BudgetCounterRow {
    pub budget_id: BudgetId,
    /// Everything the budget ever spent.
    pub spent_total: Credits,
    /// Reserved by holds in flight.
    pub held_credits: Credits,
    /// The minute of the budget's newest spend bucket.
    pub last_minute: i64,
}

impl BudgetCounterRow {
    /// The counters of a budget that never spent.
    pub fn new(budget_id: BudgetId) -> Self {
        BudgetCounterRow {
            budget_id,
            spent_total: Credits::ZERO,
            held_credits: Credits::ZERO,
            last_minute: 0,
        }
    }
}

/// The end of an order written by a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderFinish {
    pub id: OrderId,
    pub status: OrderStatus,
    pub error_code: Option<String>,
    pub transaction_id: Option<TransactionId>,
    pub completed_at: Timestamp,
    pub duration_ms: i64,
}

/// What [`BatchTx::spending`] reads.
#[derive(Debug, Default)]
pub struct Spending {
    pub grants: Vec<GrantRow>,
    pub counters: Vec<BudgetCounterRow>,
    /// One per probe, in the probes' order.
    pub spend_before: Vec<Option<Credits>>,
}

/// A finished idempotent request's response.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyFinish {
    pub user_id: UserId,
    pub key: String,
    /// The finishing request's claim: the key is finished only while it
    /// is still in progress under this claim.
    pub claimed_at: Timestamp,
    pub status: i64,
    pub body: String,
}

/// Spend added to one budget's minute bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketAdd {
    pub budget_id: BudgetId,
    pub minute: i64,
    /// Added to the bucket's amount.
    pub amount: Credits,
    /// The budget's whole spend after this batch (the bucket's new `cumulative`).
    pub cumulative: Credits,
}

/// Every change one batch makes, each row once, in an order the foreign keys accept.
#[derive(Debug, Clone, Default)]
pub struct BatchWrites {
    pub now: Timestamp,
    pub new_grants: Vec<GrantRow>,
    /// Grants whose remaining credits or closing changed.
    pub grant_updates: Vec<GrantRow>,
    /// Transactions with their sequence numbers in the wallet's ledger.
    pub transactions: Vec<(TransactionRow, i64)>,
    /// (transaction id, allocation).
    pub allocations: Vec<(TransactionId, Allocation)>,
    pub new_holds: Vec<HoldRow>,
    pub deleted_holds: Vec<HoldId>,
    pub new_orders: Vec<OrderRow>,
    pub finished_orders: Vec<OrderFinish>,
    /// Keys claimed by the batch, each written whole (inserted, or over a
    /// dead claim); never a key that `idempotency` also finishes.
    pub claims: Vec<IdempotencyRow>,
    pub idempotency: Vec<IdempotencyFinish>,
    pub wallets: Vec<WalletRow>,
    pub budgets: Vec<BudgetCounterRow>,
    pub buckets: Vec<BucketAdd>,
}

impl BatchWrites {
    pub fn is_empty(&self) -> bool {
        self.new_grants.is_empty()
            && self.grant_updates.is_empty()
            && self.transactions.is_empty()
            && self.new_holds.is_empty()
            && self.deleted_holds.is_empty()
            && self.new_orders.is_empty()
            && self.finished_orders.is_empty()
            && self.claims.is_empty()
            && self.idempotency.is_empty()
            && self.wallets.is_empty()
            && self.budgets.is_empty()
            && self.buckets.is_empty()
    }
}

/// Where the ledger engine writes.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// How the engine's writer runs its batches.
    fn ledger_writer(&self) -> LedgerWriter<'_>;
    /// The wallet's counters, read without a lock.
    async fn wallet(&self, user_id: UserId) -> StoreResult<Option<WalletRow>>;
    /// Remaining credits of grants live at `now`, and the soonest expiry
    /// among them; for wallets whose counters show a due grant.
    async fn live_grants_sum(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> StoreResult<(Credits, Option<Timestamp>)>;
    /// Forgets spend buckets older than every cap window.
    async fn prune_spend_buckets(&self, before_minute: i64) -> StoreResult<u64>;
}

/// How a backend's ledger batches run: the one place the two differ.
pub enum LedgerWriter<'a> {
    /// Synchronously, on the engine's own thread, through a connection of
    /// its own (SQLite; see `sqlite_sync.rs`).
    Sync(&'a dyn SyncBatches),
    /// As async tasks: a writer of its own, whose connections live and die
    /// with it, on its thread (PostgreSQL).
    Async(Box<dyn BatchWriter>),
}

/// One async ledger writer's connection to the database.
#[async_trait]
pub trait BatchWriter: Send {
    /// Starts a write transaction for one batch.
    async fn begin(&mut self) -> StoreResult<Box<dyn BatchTx + '_>>;
}

/// One batch's transaction; dropped without `commit`, it rolls back.
#[async_trait]
pub trait BatchTx: Send {
    /// Locks the wallets in id order (a stable order, so batches on several
    /// nodes never deadlock) and reads their counters.
    async fn lock_wallets(&mut self, user_ids: &[UserId]) -> StoreResult<Vec<WalletRow>>;
    /// Grants with credits left, of these wallets.
    async fn open_grants(&mut self, user_ids: &[UserId]) -> StoreResult<Vec<GrantRow>>;
    async fn grants_by_id(&mut self, ids: &[GrantId]) -> StoreResult<Vec<GrantRow>>;
    async fn holds_by_id(&mut self, ids: &[HoldId]) -> StoreResult<Vec<HoldRow>>;
    /// The idempotency keys of these (user, key) pairs that exist.
    async fn idempotency_keys(
        &mut self,
        keys: &[(UserId, String)],
    ) -> StoreResult<Vec<IdempotencyRow>>;
    async fn budget_counters(
        &mut self,
        budget_ids: &[BudgetId],
    ) -> StoreResult<Vec<BudgetCounterRow>>;
    /// For each (budget, minute): the budget's spend before its first bucket
    /// at or after that minute, or `None` when it has none since.
    async fn spend_before(
        &mut self,
        probes: &[(BudgetId, i64)],
    ) -> StoreResult<Vec<Option<Credits>>>;
    /// What spending needs once the wallets are locked: the open grants of
    /// `grant_users`, the counters of `budget_ids` and, per probe, the
    /// spend before it. A backend where each read is a round trip reads
    /// them together.
    async fn spending(
        &mut self,
        grant_users: &[UserId],
        budget_ids: &[BudgetId],
        probes: &[(BudgetId, i64)],
    ) -> StoreResult<Spending> {
        Ok(Spending {
            grants: self.open_grants(grant_users).await?,
            counters: self.budget_counters(budget_ids).await?,
            spend_before: self.spend_before(probes).await?,
        })
    }
    /// [`lock_wallets`](BatchTx::lock_wallets), then
    /// [`spending`](BatchTx::spending) once the locks are held: one round
    /// trip on a backend that can send both at once.
    async fn lock_and_spend(
        &mut self,
        user_ids: &[UserId],
        grant_users: &[UserId],
        budget_ids: &[BudgetId],
        probes: &[(BudgetId, i64)],
    ) -> StoreResult<(Vec<WalletRow>, Spending)> {
        let wallets = self.lock_wallets(user_ids).await?;
        let spending = self.spending(grant_users, budget_ids, probes).await?;
        Ok((wallets, spending))
    }
    async fn write(&mut self, writes: &BatchWrites) -> StoreResult<()>;
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}

/// One batch's work on its transaction.
pub type BatchFn<'a> = dyn for<'t> FnMut(&'t mut (dyn BatchTx + 't)) -> StoreResult<()> + Send + 'a;

/// The ledger's connection, held for a run of batches.
pub trait SyncSession: Send {
    /// Runs `f` in one write transaction whose statements all run on the
    /// calling thread (the [`BatchTx`] futures never wait); commits when `f`
    /// returns `Ok` and rolls back otherwise.
    fn batch(&mut self, f: &mut BatchFn<'_>) -> StoreResult<()>;
}

/// A backend whose ledger batches run synchronously on the engine's own
/// thread (SQLite; see `sqlite_sync.rs`).
pub trait SyncBatches: Send + Sync {
    /// Hands the ledger's connection to `f`, which may run several batches
    /// in a row.
    fn session(&self, f: &mut (dyn for<'s> FnMut(&'s mut (dyn SyncSession + 's)) + Send));
}

/// The ledger's rows as history and sweepers read them, outside the engine's batches.
#[async_trait]
pub trait LedgerHistory: Send + Sync {
    async fn grant_by_id(&self, id: &str) -> StoreResult<Option<GrantRow>>;
    async fn hold_by_id(&self, id: &str) -> StoreResult<Option<HoldRow>>;
    async fn grants_for_user(&self, user_id: UserId, limit: i64) -> StoreResult<Vec<GrantRow>>;
    async fn transactions_for_user(
        &self,
        user_id: UserId,
        limit: i64,
    ) -> StoreResult<Vec<TransactionRow>>;
    /// A wallet's transactions, newest first, less the purchases made under
    /// budgets other than `budget_id`.
    async fn transactions_for_budget(
        &self,
        user_id: UserId,
        budget_id: BudgetId,
        limit: i64,
    ) -> StoreResult<Vec<TransactionRow>>;
    async fn allocations_for_transaction(
        &self,
        transaction_id: TransactionId,
    ) -> StoreResult<Vec<Allocation>>;
    /// Users with grants that expired by `now` and still hold credits.
    async fn users_with_due_expirations(
        &self,
        now: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<UserId>>;
    /// Holds whose deadline passed by `now`.
    async fn overdue_holds(&self, now: Timestamp, limit: i64) -> StoreResult<Vec<HoldRow>>;
    /// Holds made before `before`.
    async fn holds_created_before(
        &self,
        before: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<HoldRow>>;
}
