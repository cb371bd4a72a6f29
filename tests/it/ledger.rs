//! The money rules, checked on both backends through the ledger's domain API:
//! property tests over random sequences, and concurrency tests.

use std::collections::HashMap;
use std::sync::Arc;
use tollgate::id::{GrantId, HoldId, OrderId, UserId};

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use tollgate::clock::{to_millis, Clock, ManualClock, Timestamp};
use tollgate::id::new_id;
use tollgate::ledger::{Ledger, LedgerError, NewGrant};
use tollgate::money::Credits;
use tollgate::store::{self, EntryKind, NewUser, OrderStatus, Store};

use crate::harness::{fresh_db, rows_naming_what_is_not_there, Backend, TestDb};

const HOLD_TTL_MINUTES: i64 = 30;

// Amounts that refusals are matched against.
const SIX: Credits = Credits::new(6);
const SEVEN: Credits = Credits::new(7);
const FORTY: Credits = Credits::new(40);
const FIFTY: Credits = Credits::new(50);

async fn open(backend: Backend) -> Option<(TestDb, Arc<dyn Store>)> {
    let db = fresh_db(backend).await?;
    let store = store::connect(&db.url).await.unwrap();
    Some((db, store))
}

/// A wallet owner made directly in the store (no password hashing needed).
async fn make_user(store: &dyn Store) -> UserId {
    let id = UserId::new();
    store
        .create_user(&NewUser {
            id,
            email: format!("{id}@example.com"),
            password_hash: "not a login".into(),
            role: tollgate::store::Role::Customer,
            budget_id: tollgate::id::BudgetId::new(),
            created_at: Timestamp::from_millis(0),
            enabled_products: vec![],
        })
        .await
        .unwrap();
    id
}

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 1, 1, 0, 0, 0).unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    Grant {
        credits: i64,
        expires_in_minutes: Option<i64>,
    },
    Reserve {
        credits: i64,
    },
    Capture {
        hold: usize,
    },
    Release {
        hold: usize,
    },
    Revoke {
        grant: usize,
    },
    Advance {
        minutes: i64,
    },
    SweepExpired,
    SweepHolds,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1i64..500, proptest::option::of(1i64..180)).prop_map(|(credits, expires_in_minutes)| Op::Grant { credits, expires_in_minutes }),
        4 => (1i64..400).prop_map(|credits| Op::Reserve { credits }),
        3 => any::<usize>().prop_map(|hold| Op::Capture { hold }),
        1 => any::<usize>().prop_map(|hold| Op::Release { hold }),
        1 => any::<usize>().prop_map(|grant| Op::Revoke { grant }),
        2 => (1i64..90).prop_map(|minutes| Op::Advance { minutes }),
        1 => Just(Op::SweepExpired),
        1 => Just(Op::SweepHolds),
    ]
}

#[derive(Debug, Clone)]
struct MGrant {
    id: GrantId,
    remaining: i64,
    expires_at: Option<i64>,
    created: i64,
}

#[derive(Debug, Clone)]
struct MHold {
    id: HoldId,
    amount: i64,
    deadline: i64,
}

/// What the ledger should do, written as simply as possible.
#[derive(Debug, Clone, Default)]
struct Model {
    grants: Vec<MGrant>,
    holds: Vec<MHold>,
}

impl Model {
    fn expire_due(&mut self, now: i64) {
        for g in &mut self.grants {
            if g.expires_at.is_some_and(|e| e <= now) {
                g.remaining = 0;
            }
        }
    }

    fn held(&self) -> i64 {
        self.holds.iter().map(|h| h.amount).sum()
    }

    fn live(&self, now: i64) -> i64 {
        self.grants
            .iter()
            .filter(|g| g.expires_at.is_none_or(|e| e > now))
            .map(|g| g.remaining)
            .sum()
    }

    fn total(&self) -> i64 {
        self.grants.iter().map(|g| g.remaining).sum()
    }

    /// Consumes in the documented order; false when it cannot cover `amount`.
    fn consume(&mut self, amount: i64) -> bool {
        if self.total() < amount {
            return false;
        }
        let mut order: Vec<usize> = (0..self.grants.len()).collect();
        order.sort_by(|&a, &b| {
            let (ga, gb) = (&self.grants[a], &self.grants[b]);
            (ga.expires_at.is_none(), ga.expires_at, ga.created, &ga.id).cmp(&(
                gb.expires_at.is_none(),
                gb.expires_at,
                gb.created,
                &gb.id,
            ))
        });
        let mut left = amount;
        for i in order {
            let take = left.min(self.grants[i].remaining);
            self.grants[i].remaining -= take;
            left -= take;
        }
        true
    }
}

async fn run_case(store: Arc<dyn Store>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = ManualClock::new(start_time());
    let ledger = Ledger::new(store.clone(), Arc::new(clock.clone()));
    let user = make_user(store.as_ref()).await;
    let mut model = Model::default();
    for (step, op) in ops.into_iter().enumerate() {
        let now = Timestamp::from(clock.now());
        match op.clone() {
            Op::Grant {
                credits,
                expires_in_minutes,
            } => {
                let expires_at = expires_in_minutes.map(|m| clock.now() + Duration::minutes(m));
                let (grant, _) = ledger
                    .grant(NewGrant {
                        user_id: user,
                        amount_credits: Credits::new(credits),
                        credit_type: "admin_grant".into(),
                        expires_at,
                        source_metadata: None,
                    })
                    .await
                    .map_err(|e| TestCaseError::fail(format!("grant failed: {e}")))?;
                model.expire_due(now.millis());
                model.grants.push(MGrant {
                    id: grant.id,
                    remaining: credits,
                    expires_at: expires_at.map(to_millis),
                    created: now.millis(),
                });
            }
            Op::Reserve { credits } => {
                // Expired grants do not count, but reserving writes nothing for them.
                let available = (model.live(now.millis()) - model.held()).max(0);
                let result = ledger
                    .reserve(
                        user,
                        Credits::new(credits),
                        Duration::minutes(HOLD_TTL_MINUTES),
                        None,
                        None,
                    )
                    .await;
                match result {
                    Ok(hold) => {
                        prop_assert!(
                            available >= credits,
                            "step {step}: reserved {credits} with only {available} available"
                        );
                        model.holds.push(MHold {
                            id: hold.id,
                            amount: credits,
                            deadline: now.millis() + HOLD_TTL_MINUTES * 60_000,
                        });
                    }
                    Err(LedgerError::InsufficientCredits {
                        available: said,
                        requested,
                    }) => {
                        prop_assert!(
                            available < credits,
                            "step {step}: refused {credits} with {available} available"
                        );
                        prop_assert_eq!(said.get(), available.max(0));
                        prop_assert_eq!(requested.get(), credits);
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("reserve: {e}"))),
                }
            }
            Op::Capture { hold } => {
                if model.holds.is_empty() {
                    let r = ledger.capture(user, HoldId::new(), 0).await;
                    prop_assert!(matches!(r, Err(LedgerError::UnknownHold)));
                    continue;
                }
                let h = model.holds.remove(hold % model.holds.len());
                model.expire_due(now.millis());
                let covered = model.consume(h.amount);
                let result = ledger.capture(user, h.id, 0).await;
                match result {
                    Ok(txn) => {
                        prop_assert!(
                            covered,
                            "step {step}: captured what the model could not cover"
                        );
                        prop_assert_eq!(txn.amount_credits.get(), -h.amount);
                    }
                    Err(LedgerError::InsufficientCredits { .. }) => {
                        prop_assert!(!covered, "step {step}: refused a coverable capture")
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("capture: {e}"))),
                }
            }
            Op::Release { hold } => {
                if model.holds.is_empty() {
                    continue;
                }
                let h = model.holds.remove(hold % model.holds.len());
                ledger
                    .release(user, h.id, "released", 0)
                    .await
                    .map_err(|e| TestCaseError::fail(format!("release: {e}")))?;
            }
            Op::Revoke { grant } => {
                if model.grants.is_empty() {
                    continue;
                }
                let i = grant % model.grants.len();
                let mut next = model.clone();
                next.expire_due(now.millis());
                let result = ledger.revoke(model.grants[i].id).await;
                match result {
                    Ok(txn) => {
                        prop_assert!(next.grants[i].remaining > 0);
                        prop_assert_eq!(txn.amount_credits.get(), -next.grants[i].remaining);
                        next.grants[i].remaining = 0;
                        model = next;
                    }
                    // Nothing was written: the whole operation rolled back.
                    Err(LedgerError::NothingToRevoke) => {
                        prop_assert_eq!(next.grants[i].remaining, 0)
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("revoke: {e}"))),
                }
            }
            Op::Advance { minutes } => clock.advance(Duration::minutes(minutes)),
            Op::SweepExpired => {
                ledger
                    .sweep_expired(10_000)
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.expire_due(now.millis());
            }
            Op::SweepHolds => {
                ledger
                    .sweep_holds(10_000)
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.holds.retain(|h| h.deadline > now.millis());
            }
        }
        check_invariants(
            store.as_ref(),
            &ledger,
            user,
            &model,
            to_millis(clock.now()),
            step,
            &op,
        )
        .await?;
    }
    Ok(())
}

async fn check_invariants(
    store: &dyn Store,
    ledger: &Ledger,
    user: UserId,
    model: &Model,
    now: i64,
    step: usize,
    op: &Op,
) -> Result<(), TestCaseError> {
    let grants = store.grants_for_user(user, 10_000).await.unwrap();
    let txns = store.transactions_for_user(user, 100_000).await.unwrap();
    let ctx = format!("after step {step} ({op:?})");

    // Never negative.
    for g in &grants {
        prop_assert!(
            g.remaining_credits >= Credits::ZERO && g.remaining_credits <= g.amount_credits,
            "{ctx}: grant {g:?}"
        );
        // The store finds open grants by `closed_at`: a grant is closed
        // exactly when nothing is left on it.
        prop_assert_eq!(
            g.closed_at.is_some(),
            g.remaining_credits == Credits::ZERO,
            "{}: grant {:?} open with nothing left, or closed with credits left",
            ctx,
            g
        );
    }
    for t in &txns {
        prop_assert!(
            t.balance_after_credits >= Credits::ZERO,
            "{ctx}: negative balance in {t:?}"
        );
    }
    // Conservation: transactions sum to the balance, which is what grants hold.
    let txn_sum: i64 = txns.iter().map(|t| t.amount_credits.get()).sum();
    let remaining_sum: i64 = grants.iter().map(|g| g.remaining_credits.get()).sum();
    prop_assert_eq!(
        txn_sum,
        remaining_sum,
        "{}: sum of transactions vs remaining credits",
        ctx
    );
    if let Some(latest) = txns.first() {
        prop_assert_eq!(
            latest.balance_after_credits.get(),
            txn_sum,
            "{}: balance_after of the latest transaction",
            ctx
        );
    }
    let live: i64 = grants
        .iter()
        .filter(|g| g.expires_at.is_none_or(|e| e > Timestamp::from_millis(now)))
        .map(|g| g.remaining_credits.get())
        .sum();
    let balance = ledger.balance(user).await.unwrap();
    prop_assert_eq!(balance.live.get(), live, "{}: live credits", ctx);
    prop_assert_eq!(balance.held.get(), model.held(), "{}: held credits", ctx);
    prop_assert_eq!(
        balance.available.get(),
        (live - model.held()).max(0),
        "{}: available",
        ctx
    );
    // Order of consumption: every grant holds exactly what the model says.
    let by_id: HashMap<GrantId, i64> = grants
        .iter()
        .map(|g| (g.id, g.remaining_credits.get()))
        .collect();
    for g in &model.grants {
        prop_assert_eq!(
            by_id.get(&g.id).copied(),
            Some(g.remaining),
            "{}: remaining of grant {}",
            ctx,
            g.id
        );
    }
    // No expiration or revocation written twice.
    let mut seen: HashMap<(Option<GrantId>, String), usize> = HashMap::new();
    for t in txns.iter().filter(|t| {
        t.transaction_type == EntryKind::Expiration || t.transaction_type == EntryKind::Revocation
    }) {
        *seen
            .entry((t.grant_id, t.transaction_type.to_string()))
            .or_default() += 1;
    }
    prop_assert!(
        seen.values().all(|n| *n == 1),
        "{}: duplicated {:?}",
        ctx,
        seen
    );
    // An expired grant with credits left has not been written off yet; one
    // written off has no credits left.
    for t in txns
        .iter()
        .filter(|t| t.transaction_type == EntryKind::Expiration)
    {
        let g = grants
            .iter()
            .find(|g| Some(&g.id) == t.grant_id.as_ref())
            .unwrap();
        prop_assert_eq!(g.remaining_credits, Credits::ZERO);
    }
    Ok(())
}

fn property_test(backend: Backend, cases: u32) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some((db, store)) = rt.block_on(open(backend)) else {
        return;
    };
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(op(), 1..60), |ops| {
            rt.block_on(run_case(store.clone(), ops))
        })
        .unwrap();
    // Every case wrote to the same database.
    assert_eq!(
        rt.block_on(rows_naming_what_is_not_there(&db)),
        Vec::<String>::new()
    );
}

#[test]
fn money_rules_hold_for_random_sequences_on_sqlite() {
    property_test(Backend::Sqlite, 128);
}

#[test]
fn money_rules_hold_for_random_sequences_on_postgres() {
    property_test(Backend::Postgres, 96);
}

/// 64 tasks hold and capture against a wallet with credits for exactly K calls.
async fn concurrent_spending_never_overdraws(backend: Backend) {
    let Some((db, store)) = open(backend).await else {
        return;
    };
    let ledger = Ledger::new(store.clone(), Arc::new(tollgate::clock::SystemClock));
    let user = make_user(store.as_ref()).await;
    const K: i64 = 20;
    const PRICE: i64 = 7;
    ledger
        .grant(NewGrant {
            user_id: user,
            amount_credits: Credits::new(K * PRICE),
            credit_type: "admin_grant".into(),
            expires_at: None,
            source_metadata: None,
        })
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            let hold = ledger
                .reserve(user, Credits::new(PRICE), Duration::minutes(5), None, None)
                .await?;
            ledger.capture(user, hold.id, 0).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(LedgerError::InsufficientCredits { .. }) => {}
            Err(e) => panic!("only 'insufficient credits' may fail a call, got {e}"),
        }
    }
    assert_eq!(ok, K);
    let balance = ledger.balance(user).await.unwrap();
    assert_eq!(balance.available, Credits::ZERO);
    assert_eq!(balance.live, Credits::ZERO);
    let txns = store.transactions_for_user(user, 1000).await.unwrap();
    assert_eq!(
        txns.iter().map(|t| t.amount_credits).sum::<Credits>(),
        Credits::ZERO
    );
    assert_eq!(
        txns.iter()
            .filter(|t| t.transaction_type == EntryKind::Purchase)
            .count() as i64,
        K
    );
    assert_eq!(txns[0].balance_after_credits, Credits::ZERO);
    assert_eq!(
        rows_naming_what_is_not_there(&db).await,
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_spending_never_overdraws_on_sqlite() {
    concurrent_spending_never_overdraws(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_spending_never_overdraws_on_postgres() {
    concurrent_spending_never_overdraws(Backend::Postgres).await;
}

/// Two nodes (two stores, two ledgers) sweep one database at the same time.
async fn two_sweepers_write_each_expiration_once(backend: Backend) {
    let Some((db, store_a)) = open(backend).await else {
        return;
    };
    let store_b = store::connect(&db.url).await.unwrap();
    let clock = ManualClock::new(Utc::now());
    let a = Ledger::new(store_a.clone(), Arc::new(clock.clone()));
    let b = Ledger::new(store_b, Arc::new(clock.clone()));
    let mut users = Vec::new();
    for _ in 0..5 {
        let user = make_user(store_a.as_ref()).await;
        for i in 0..10 {
            a.grant(NewGrant {
                user_id: user,
                amount_credits: Credits::new(10 + i),
                credit_type: "admin_grant".into(),
                expires_at: Some(clock.now() + Duration::minutes(1 + i)),
                source_metadata: None,
            })
            .await
            .unwrap();
        }
        users.push(user);
    }
    clock.advance(Duration::hours(1));
    let (ra, rb) = tokio::join!(
        tollgate::ledger::sweeper::sweep_once(&a),
        tollgate::ledger::sweeper::sweep_once(&b)
    );
    assert_eq!(
        ra.unwrap().0 + rb.unwrap().0,
        50,
        "each grant expired by exactly one node"
    );
    for user in users {
        let txns = store_a.transactions_for_user(user, 1000).await.unwrap();
        assert_eq!(
            txns.iter()
                .filter(|t| t.transaction_type == EntryKind::Expiration)
                .count(),
            10
        );
        assert_eq!(
            txns.iter().map(|t| t.amount_credits).sum::<Credits>(),
            Credits::ZERO
        );
        assert_eq!(a.balance(user).await.unwrap().live, Credits::ZERO);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sweepers_write_each_expiration_once_on_sqlite() {
    two_sweepers_write_each_expiration_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sweepers_write_each_expiration_once_on_postgres() {
    two_sweepers_write_each_expiration_once(Backend::Postgres).await;
}

/// A call that never finished (its hold outlived its deadline) costs nothing.
async fn stranded_holds_are_released_by_the_sweeper(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let clock = ManualClock::new(Utc::now());
    let ledger = Ledger::new(store.clone(), Arc::new(clock.clone()));
    let user = funded(store.as_ref(), &ledger, 100).await;
    let hold = ledger
        .reserve(user, Credits::new(60), Duration::minutes(2), None, None)
        .await
        .unwrap();
    assert_eq!(
        ledger.balance(user).await.unwrap().available,
        Credits::new(40)
    );
    assert!(matches!(
        ledger
            .reserve(user, Credits::new(50), Duration::minutes(2), None, None)
            .await,
        Err(LedgerError::InsufficientCredits {
            available: FORTY,
            requested: FIFTY
        })
    ));
    assert_eq!(
        ledger.sweep_holds(100).await.unwrap(),
        0,
        "not before its deadline"
    );
    clock.advance(Duration::minutes(3));
    assert_eq!(ledger.sweep_holds(100).await.unwrap(), 1);
    assert_eq!(
        ledger.balance(user).await.unwrap().available,
        Credits::new(100)
    );
    assert!(matches!(
        ledger.capture(user, hold.id, 0).await,
        Err(LedgerError::UnknownHold)
    ));
    assert!(store
        .transactions_for_user(user, 10)
        .await
        .unwrap()
        .iter()
        .all(|t| t.transaction_type == EntryKind::Grant));
}

#[tokio::test]
async fn stranded_holds_are_released_by_the_sweeper_on_sqlite() {
    stranded_holds_are_released_by_the_sweeper(Backend::Sqlite).await;
}

#[tokio::test]
async fn stranded_holds_are_released_by_the_sweeper_on_postgres() {
    stranded_holds_are_released_by_the_sweeper(Backend::Postgres).await;
}

/// A purchase records which grants paid for it.
async fn a_capture_records_its_allocations_in_consumption_order(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let clock = ManualClock::new(Utc::now());
    let ledger = Ledger::new(store.clone(), Arc::new(clock.clone()));
    let user = make_user(store.as_ref()).await;
    let grant = |credits: i64, days: Option<i64>| NewGrant {
        user_id: user,
        amount_credits: Credits::new(credits),
        credit_type: "admin_grant".into(),
        expires_at: days.map(|d| clock.now() + Duration::days(d)),
        source_metadata: None,
    };
    let (never, _) = ledger.grant(grant(100, None)).await.unwrap();
    let (late, _) = ledger.grant(grant(30, Some(9))).await.unwrap();
    let (soon, _) = ledger.grant(grant(20, Some(2))).await.unwrap();
    let hold = ledger
        .reserve(user, Credits::new(60), Duration::minutes(1), None, None)
        .await
        .unwrap();
    let txn = ledger.capture(user, hold.id, 0).await.unwrap();
    let mut alloc = store.allocations_for_transaction(txn.id).await.unwrap();
    alloc.sort_by_key(|a| a.amount_credits);
    let got: Vec<(GrantId, i64)> = alloc
        .into_iter()
        .map(|a| (a.grant_id, a.amount_credits.get()))
        .collect();
    assert_eq!(got, vec![(never.id, 10), (soon.id, 20), (late.id, 30)]);
    assert_eq!(
        store
            .grant_by_id(&never.id.to_string())
            .await
            .unwrap()
            .unwrap()
            .remaining_credits,
        Credits::new(90)
    );
}

#[tokio::test]
async fn a_capture_records_its_allocations_in_consumption_order_on_sqlite() {
    a_capture_records_its_allocations_in_consumption_order(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_capture_records_its_allocations_in_consumption_order_on_postgres() {
    a_capture_records_its_allocations_in_consumption_order(Backend::Postgres).await;
}

pub(crate) async fn funded(store: &dyn Store, ledger: &Ledger, credits: i64) -> UserId {
    let user = make_user(store).await;
    ledger
        .grant(NewGrant {
            user_id: user,
            amount_credits: Credits::new(credits),
            credit_type: "admin_grant".into(),
            expires_at: None,
            source_metadata: None,
        })
        .await
        .unwrap();
    user
}

/// A pending order of `user`'s, at `price`, for the one-write charge.
pub(crate) fn pending_order(user: UserId, price: Credits) -> tollgate::store::OrderRow {
    tollgate::store::OrderRow {
        id: OrderId::new(),
        user_id: user,
        budget_id: tollgate::id::BudgetId::new(),
        product_id: new_id(),
        action: "run".into(),
        price_credits: price,
        status: OrderStatus::Pending,
        error_code: None,
        instance_id: None,
        run_id: None,
        transaction_id: None,
        created_at: Timestamp::from_millis(0),
        completed_at: None,
        duration_ms: Some(3),
    }
}

/// Many commands at once share batches; the ones the wallet cannot pay for
/// fail alone and their neighbours, on this wallet and another, go through.
async fn a_refused_command_fails_alone_in_its_batch(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let ledger = Ledger::new(store.clone(), Arc::new(tollgate::clock::SystemClock));
    let poor = funded(store.as_ref(), &ledger, 3 * 5).await;
    let rich = funded(store.as_ref(), &ledger, 1_000).await;
    let (batches_before, commands_before) = ledger.engine_stats();
    let calls = (0..40).map(|i| {
        let ledger = ledger.clone();
        let user = if i % 2 == 0 { poor } else { rich };
        async move {
            let r = ledger
                .reserve(user, Credits::new(5), Duration::minutes(5), None, None)
                .await;
            (user, r)
        }
    });
    let results = futures::future::join_all(calls).await;
    let ok = |u: UserId| {
        results
            .iter()
            .filter(|(user, r)| *user == u && r.is_ok())
            .count()
    };
    assert_eq!(ok(poor), 3, "exactly what the poor wallet can pay for");
    assert_eq!(ok(rich), 20, "the rich wallet's calls all go through");
    for (user, r) in &results {
        if user == &poor {
            if let Err(e) = r {
                assert!(matches!(e, LedgerError::InsufficientCredits { .. }), "{e}");
            }
        }
    }
    let (batches, commands) = ledger.engine_stats();
    assert_eq!(commands - commands_before, 40);
    assert!(
        batches - batches_before < 40,
        "concurrent commands share batches ({} batches for 40 commands)",
        batches - batches_before
    );
    let poor_balance = ledger.balance(poor).await.unwrap();
    assert_eq!(
        (poor_balance.held.get(), poor_balance.available.get()),
        (15, 0)
    );
}

/// A command the database refuses (here, an order id that exists) does not
/// take its batch down: the others are retried alone and go through.
async fn a_batch_the_database_refuses_is_retried_command_by_command(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let ledger = Ledger::new(store.clone(), Arc::new(tollgate::clock::SystemClock));
    let user = funded(store.as_ref(), &ledger, 1_000).await;
    let order = tollgate::store::OrderRow {
        id: OrderId::new(),
        user_id: user,
        budget_id: tollgate::id::BudgetId::new(),
        product_id: new_id(),
        action: "run".into(),
        price_credits: Credits::ZERO,
        status: OrderStatus::Succeeded,
        error_code: None,
        instance_id: None,
        run_id: None,
        transaction_id: None,
        created_at: Timestamp::from_millis(0),
        completed_at: Some(Timestamp::from_millis(0)),
        duration_ms: Some(0),
    };
    ledger.record_order(&order).await.unwrap();
    for _ in 0..5 {
        let dup = ledger.record_order(&order);
        let reserves = futures::future::join_all(
            (0..10)
                .map(|_| ledger.reserve(user, Credits::new(1), Duration::minutes(5), None, None)),
        );
        let (dup, reserves) = tokio::join!(dup, reserves);
        assert!(matches!(dup, Err(LedgerError::Store(_))), "{dup:?}");
        assert!(reserves.iter().all(|r| r.is_ok()), "{reserves:?}");
    }
    assert_eq!(ledger.balance(user).await.unwrap().held, Credits::new(50));
}

/// The one-write charge: refused whole when the credits no longer cover it,
/// with nothing charged and the order recorded as failed.
async fn a_charge_the_wallet_cannot_cover_is_refused_whole(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let ledger = Ledger::new(store.clone(), Arc::new(tollgate::clock::SystemClock));
    let user = funded(store.as_ref(), &ledger, 10).await;
    // Another call holds 4 of the 10 credits.
    ledger
        .reserve(user, Credits::new(4), Duration::minutes(5), None, None)
        .await
        .unwrap();
    let order = |price| pending_order(user, price);
    let refused = order(Credits::new(7));
    let r = ledger.charge(Credits::new(7), None, &refused, None).await;
    assert!(
        matches!(
            r,
            Err(LedgerError::InsufficientCredits {
                available: SIX,
                requested: SEVEN
            })
        ),
        "{r:?}"
    );
    let row = store
        .order_by_id(&refused.id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.status.as_str(), row.error_code.as_deref()),
        ("failed", Some("insufficient_credits"))
    );
    let paid = order(Credits::new(6));
    let txn = ledger
        .charge(Credits::new(6), None, &paid, None)
        .await
        .unwrap();
    assert_eq!(txn.amount_credits, Credits::new(-6));
    let row = store
        .order_by_id(&paid.id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, OrderStatus::Succeeded);
    assert_eq!(row.transaction_id, Some(txn.id));
    let b = ledger.balance(user).await.unwrap();
    assert_eq!((b.live.get(), b.held.get(), b.available.get()), (4, 4, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_command_fails_alone_in_its_batch_on_sqlite() {
    a_refused_command_fails_alone_in_its_batch(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_command_fails_alone_in_its_batch_on_postgres() {
    a_refused_command_fails_alone_in_its_batch(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_database_refuses_is_retried_command_by_command_on_sqlite() {
    a_batch_the_database_refuses_is_retried_command_by_command(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_database_refuses_is_retried_command_by_command_on_postgres() {
    a_batch_the_database_refuses_is_retried_command_by_command(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_the_wallet_cannot_cover_is_refused_whole_on_sqlite() {
    a_charge_the_wallet_cannot_cover_is_refused_whole(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_the_wallet_cannot_cover_is_refused_whole_on_postgres() {
    a_charge_the_wallet_cannot_cover_is_refused_whole(Backend::Postgres).await
}

/// While ledger commands keep coming, other writes still get the database:
/// the ledger's writer lets go of it between runs of batches.
async fn other_writes_get_in_while_the_ledger_streams(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let ledger = Ledger::new(store.clone(), Arc::new(tollgate::clock::SystemClock));
    let user = funded(store.as_ref(), &ledger, 1_000_000).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let streams: Vec<_> = (0..16)
        .map(|_| {
            let (ledger, stop) = (ledger.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let hold = ledger
                        .reserve(user, Credits::new(1), Duration::minutes(5), None, None)
                        .await
                        .unwrap();
                    ledger.release(user, hold.id, "test", 0).await.unwrap();
                }
            })
        })
        .collect();
    // The stream is under way before the first write.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut slowest = std::time::Duration::ZERO;
    let (_, commands_before) = ledger.engine_stats();
    for _ in 0..20 {
        let started = std::time::Instant::now();
        make_user(store.as_ref()).await;
        slowest = slowest.max(started.elapsed());
    }
    let (_, commands_during) = ledger.engine_stats();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for s in streams {
        s.await.unwrap();
    }
    assert!(
        commands_during - commands_before >= 20,
        "the ledger kept writing meanwhile ({} commands)",
        commands_during - commands_before
    );
    assert!(
        slowest < std::time::Duration::from_millis(500),
        "a write waited {slowest:?} for the ledger's writer"
    );
    let b = ledger.balance(user).await.unwrap();
    assert_eq!((b.held.get(), b.available.get()), (0, 1_000_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_writes_get_in_while_the_ledger_streams_on_sqlite() {
    other_writes_get_in_while_the_ledger_streams(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_writes_get_in_while_the_ledger_streams_on_postgres() {
    other_writes_get_in_while_the_ledger_streams(Backend::Postgres).await
}

/// A ledger row that names a missing user: SQLite's foreign key refuses
/// it; PostgreSQL, which keeps no foreign keys on the rows purchases
/// append, takes it, and the check the ledger tests run finds it.
async fn a_row_naming_a_missing_user_is_refused_or_found(backend: Backend) {
    let Some((db, _store)) = open(backend).await else {
        return;
    };
    let insert = "INSERT INTO orders (id, user_id, budget_id, product_id, action, price_credits, status, created_at) \
                  VALUES ('o-stray', 'nobody', 'b', 'p', 'run', 0, 'succeeded', 0)";
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::query("PRAGMA foreign_keys = ON")
                .execute(&pool)
                .await
                .unwrap();
            let refused = sqlx::query(insert).execute(&pool).await.unwrap_err();
            assert!(refused.to_string().contains("FOREIGN KEY"), "{refused}");
            assert_eq!(
                rows_naming_what_is_not_there(&db).await,
                Vec::<String>::new()
            );
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query(insert).execute(&pool).await.unwrap();
            assert_eq!(
                rows_naming_what_is_not_there(&db).await,
                vec!["order o-stray".to_string()]
            );
        }
    }
}

#[tokio::test]
async fn a_row_naming_a_missing_user_is_refused_or_found_on_sqlite() {
    a_row_naming_a_missing_user_is_refused_or_found(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_row_naming_a_missing_user_is_refused_or_found_on_postgres() {
    a_row_naming_a_missing_user_is_refused_or_found(Backend::Postgres).await;
}
