//! Loading a batch: the rows its commands need, in a handful of reads.

use crate::id::{BudgetId, GrantId, HoldId, UserId};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{rolling_caps, window_start, Batch, Budget, Key, Wallet, WINDOWS};
use crate::ledger::Command;
use crate::store::{BatchTx, BudgetCounterRow, GrantRow, HoldRow, StoreResult};

impl Batch {
    /// Loads what `commands` need, locking their wallets.
    pub(in crate::ledger) async fn load(
        tx: &mut dyn BatchTx,
        commands: &[&Command],
        now_ms: impl Fn() -> i64,
    ) -> StoreResult<Batch> {
        let users: BTreeSet<UserId> = commands.iter().map(|c| c.user_id()).collect();
        let users: Vec<UserId> = users.into_iter().collect();
        // What the commands themselves name is read with the lock (on
        // PostgreSQL in its round trip): the open grants of wallets that
        // spend or change them, the counters of budgets that reserve or
        // charge, and their capped windows' spend.
        let needs_grants: BTreeSet<UserId> = commands
            .iter()
            .filter(|c| c.needs_grants())
            .map(|c| c.user_id())
            .collect();
        let needs_grants: Vec<UserId> = needs_grants.into_iter().collect();
        // Per budget, which rolling windows have a cap.
        let mut capped: BTreeMap<BudgetId, [bool; 4]> = BTreeMap::new();
        for c in commands {
            match c {
                Command::Reserve {
                    budget: Some(b), ..
                }
                | Command::Charge {
                    budget: Some(b), ..
                } => {
                    let entry = capped.entry(b.id).or_insert([false; 4]);
                    for (slot, cap) in entry.iter_mut().zip(rolling_caps(b)) {
                        *slot |= cap.is_some();
                    }
                }
                _ => {}
            }
        }
        let charged: Vec<BudgetId> = capped.keys().copied().collect();
        // The windows' starts come from the time read before the lock: no
        // later than the time read under it, so a window counts at least its
        // true spend and a cap may refuse early, never late. A clock that
        // stepped back meanwhile has the probes read again.
        let before_lock = now_ms();
        let probes = |now: i64| {
            let mut probes = Vec::new();
            let mut slots = Vec::new();
            for (id, windows) in &capped {
                for (i, has_cap) in windows.iter().enumerate() {
                    if *has_cap {
                        probes.push((*id, window_start(now, WINDOWS[i].1)));
                        slots.push((*id, i));
                    }
                }
            }
            (probes, slots)
        };
        let (mut early_probes, slots) = probes(before_lock);
        let (rows, mut spending) = tx
            .lock_and_spend(&users, &needs_grants, &charged, &early_probes)
            .await?;
        // Time is read under the wallets' locks, so each wallet's entries are
        // dated in the order they were written.
        let now = now_ms();
        if now < before_lock {
            early_probes = probes(now).0;
            spending.spend_before = tx.spending(&[], &[], &early_probes).await?.spend_before;
        }
        let mut wallets: HashMap<UserId, Wallet> = rows
            .into_iter()
            .map(|row| {
                (
                    row.user_id,
                    Wallet {
                        row,
                        grants: None,
                        dirty: false,
                    },
                )
            })
            .collect();

        let hold_ids: Vec<HoldId> = commands
            .iter()
            .filter_map(|c| match c {
                Command::Capture { hold_id, .. } | Command::Release { hold_id, .. } => {
                    Some(*hold_id)
                }
                _ => None,
            })
            .collect();
        let holds: HashMap<HoldId, HoldRow> = tx
            .holds_by_id(&hold_ids)
            .await?
            .into_iter()
            .map(|h| (h.id, h))
            .collect();
        // Every key a command claims, or records an answer under (only
        // while the key is still the answering request's claim).
        let mut claimed: Vec<(UserId, String)> = commands
            .iter()
            .filter_map(|c| match c {
                Command::Claim { user_id, key, .. } => Some((*user_id, key.clone())),
                Command::Charge {
                    order,
                    key: Some(key),
                    ..
                } => Some((order.user_id, key.key().to_string())),
                Command::Capture {
                    user_id,
                    idempotent: Some(answer),
                    ..
                }
                | Command::FinishKey {
                    user_id, answer, ..
                } => Some((*user_id, answer.key.clone())),
                _ => None,
            })
            .collect();
        claimed.sort();
        claimed.dedup();
        let mut keys: HashMap<(UserId, String), Key> = HashMap::new();
        for row in tx.idempotency_keys(&claimed).await? {
            keys.insert(
                (row.user_id, row.key.clone()),
                Key {
                    row: Some(row),
                    claimed: false,
                },
            );
        }
        // A key looked up and not found is known missing: a finish of it
        // before its claim in the batch writes nothing.
        for k in claimed {
            keys.entry(k).or_default();
        }
        let named: Vec<GrantId> = commands
            .iter()
            .filter_map(|c| match c {
                Command::Revoke { grant_id, .. } => Some(*grant_id),
                _ => None,
            })
            .collect();
        let named_grants: HashMap<GrantId, GrantRow> = tx
            .grants_by_id(&named)
            .await?
            .into_iter()
            .map(|g| (g.id, g))
            .collect();

        // Grants are read only where a command spends or changes them, or
        // where a due grant makes the balance differ from the live credits.
        let mut grant_users: BTreeSet<UserId> = needs_grants.iter().copied().collect();
        let mut late_users = Vec::new();
        for w in wallets.values() {
            if w.row
                .next_expiry
                .is_some_and(|e| e <= crate::clock::Timestamp::from_millis(now))
                && grant_users.insert(w.row.user_id)
            {
                late_users.push(w.row.user_id);
            }
        }
        // Budget counters: of budgets that reserve or charge, and of holds.
        let mut budget_ids: BTreeSet<BudgetId> = charged.iter().copied().collect();
        let mut late_budgets = Vec::new();
        for h in holds.values() {
            if let Some(b) = h.budget_id {
                if budget_ids.insert(b) {
                    late_budgets.push(b);
                }
            }
        }
        if !late_users.is_empty() || !late_budgets.is_empty() {
            late_users.sort();
            late_budgets.sort();
            let late = tx.spending(&late_users, &late_budgets, &[]).await?;
            spending.grants.extend(late.grants);
            spending.counters.extend(late.counters);
        }
        let mut budgets: HashMap<BudgetId, Budget> = budget_ids
            .iter()
            .map(|&id| {
                (
                    id,
                    Budget {
                        row: BudgetCounterRow::new(id),
                        before: [None; 4],
                        dirty: false,
                    },
                )
            })
            .collect();
        for u in &grant_users {
            if let Some(w) = wallets.get_mut(u) {
                w.grants = Some(Vec::new());
            }
        }
        for g in spending.grants {
            if let Some(list) = wallets.get_mut(&g.user_id).and_then(|w| w.grants.as_mut()) {
                list.push(g);
            }
        }
        for row in spending.counters {
            if let Some(b) = budgets.get_mut(&row.budget_id) {
                b.row = row;
            }
        }
        // Each capped window's spend is the running total less what was
        // spent before it: one indexed read per window, whatever the history.
        for ((id, i), before) in slots.into_iter().zip(spending.spend_before) {
            let b = budgets.get_mut(&id).expect("loaded");
            // No bucket since the window began: nothing was spent in it.
            b.before[i] = Some(before.unwrap_or(b.row.spent_total));
        }

        Ok(Batch {
            now,
            wallets,
            holds,
            named_grants,
            budgets,
            dirty_grants: BTreeSet::new(),
            new_grants: BTreeSet::new(),
            new_holds: BTreeMap::new(),
            deleted_holds: BTreeSet::new(),
            new_orders: BTreeMap::new(),
            finished_orders: BTreeMap::new(),
            transactions: Vec::new(),
            allocations: Vec::new(),
            idempotency: Vec::new(),
            keys,
            buckets: BTreeMap::new(),
        })
    }
}
