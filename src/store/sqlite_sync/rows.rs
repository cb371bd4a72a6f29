//! The rows every ledger batch reads, kept by the writer between batches:
//! wallets, their open grants and budgets' counters.
//!
//! On SQLite one connection, the ledger's own, makes every ledger write, so
//! after a batch commits its own copy of those rows is the database's, and
//! the next batch on the same wallets need not read them again. Under the
//! purchase benchmark those reads were about a fifth of the ledger
//! writer's time, and the writer, one thread, bounds the purchase rate.
//!
//! Why the copy stays true:
//! - a batch's writes are applied to it as they are written, and any
//!   batch that fails (a statement, the commit, a panic) forgets every row;
//! - a commit by another connection (every write outside the ledger's
//!   batches, through sqlx's writer or the `tollgate admin` commands in
//!   another process) changes `PRAGMA data_version`, read at each batch's
//!   start, and then every row is forgotten;
//! - a batch's own writes change nothing else behind its back: no trigger
//!   or cascade writes these tables, and no SQL outside the batches writes
//!   them but a new user's wallet (`tests/it/architecture.rs` keeps both
//!   so).

use std::collections::HashMap;
use std::hash::Hash;

use rusqlite::Connection;

use crate::id::{BudgetId, UserId};
use crate::store::{BatchWrites, BudgetCounterRow, GrantRow, StoreResult, WalletRow};

/// Wallets and budgets kept at most; past this the copy starts over, so
/// it holds no more than this many of each (with the open grants of the
/// wallets) however many wallets buy.
const MAX_KEPT: usize = 50_000;

#[derive(Default)]
pub(crate) struct Rows {
    /// `PRAGMA data_version` at the last batch's start.
    version: Option<i64>,
    wallets: HashMap<UserId, WalletRow>,
    /// Each wallet's whole list of open grants (not closed, credits left).
    grants: HashMap<UserId, Vec<GrantRow>>,
    counters: HashMap<BudgetId, BudgetCounterRow>,
}

impl Rows {
    /// At a batch's start, in its transaction: forgets every row if another
    /// connection has committed since the last batch, or if too many are
    /// kept.
    pub(super) fn check(&mut self, db: &Connection) -> rusqlite::Result<()> {
        let version: i64 = db
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        if self.version != Some(version)
            || self.wallets.len() > MAX_KEPT
            || self.counters.len() > MAX_KEPT
        {
            self.forget();
            self.version = Some(version);
        }
        Ok(())
    }

    /// Forgets every row: a batch failed, and its writes may be undone.
    pub(super) fn forget(&mut self) {
        self.version = None;
        self.wallets.clear();
        self.grants.clear();
        self.counters.clear();
    }

    /// The wallets of `ids` that exist, read from the database where not
    /// kept.
    pub(super) fn wallets(
        &mut self,
        ids: &[UserId],
        read: impl FnOnce(&[UserId]) -> StoreResult<Vec<WalletRow>>,
    ) -> StoreResult<Vec<WalletRow>> {
        through(&mut self.wallets, ids, read, |w| w.user_id)
    }

    /// The counters of the budgets of `ids` that have them.
    pub(super) fn counters(
        &mut self,
        ids: &[BudgetId],
        read: impl FnOnce(&[BudgetId]) -> StoreResult<Vec<BudgetCounterRow>>,
    ) -> StoreResult<Vec<BudgetCounterRow>> {
        through(&mut self.counters, ids, read, |c| c.budget_id)
    }

    /// The open grants of the wallets of `ids`.
    pub(super) fn open_grants(
        &mut self,
        ids: &[UserId],
        read: impl FnOnce(&[UserId]) -> StoreResult<Vec<GrantRow>>,
    ) -> StoreResult<Vec<GrantRow>> {
        let mut missing: Vec<UserId> = ids
            .iter()
            .filter(|id| !self.grants.contains_key(id))
            .copied()
            .collect();
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            // Kept only once read whole: a wallet with none keeps an empty list.
            let mut read_now: HashMap<UserId, Vec<GrantRow>> =
                missing.iter().map(|id| (*id, Vec::new())).collect();
            for g in read(&missing)? {
                if let Some(list) = read_now.get_mut(&g.user_id) {
                    list.push(g);
                }
            }
            self.grants.extend(read_now);
        }
        Ok(ids
            .iter()
            .flat_map(|id| self.grants[id].iter().cloned())
            .collect())
    }

    /// Takes in a batch's writes as they are written.
    pub(super) fn written(&mut self, w: &BatchWrites) {
        for row in &w.wallets {
            self.wallets.insert(row.user_id, row.clone());
        }
        for row in &w.budgets {
            self.counters.insert(row.budget_id, row.clone());
        }
        for g in w.new_grants.iter().chain(&w.grant_updates) {
            let Some(list) = self.grants.get_mut(&g.user_id) else {
                // Not kept: the next batch that needs them reads them all.
                continue;
            };
            list.retain(|kept| kept.id != g.id);
            if g.closed_at.is_none() && g.remaining_credits.is_positive() {
                list.push(g.clone());
            }
        }
    }
}

/// The rows of `keys` from `kept`, reading the ones not kept with `read`
/// and keeping what it finds.
fn through<K: Copy + Eq + Hash, V: Clone>(
    kept: &mut HashMap<K, V>,
    keys: &[K],
    read: impl FnOnce(&[K]) -> StoreResult<Vec<V>>,
    key: impl Fn(&V) -> K,
) -> StoreResult<Vec<V>> {
    let missing: Vec<K> = keys
        .iter()
        .filter(|k| !kept.contains_key(k))
        .copied()
        .collect();
    if !missing.is_empty() {
        for row in read(&missing)? {
            kept.insert(key(&row), row);
        }
    }
    Ok(keys.iter().filter_map(|k| kept.get(k).cloned()).collect())
}
