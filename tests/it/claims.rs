//! Idempotency-key claims as ledger commands, on both backends: claims
//! share the ledger's batches, and within one batch a key still goes to one
//! request, a finished key replays, and a dead claim is taken over once.

use std::sync::Arc;

use tollgate::clock::Clock;
use tollgate::clock::Timestamp;
use tollgate::ledger::{KeyAnswer, Ledger, LedgerError};
use tollgate::money::Credits;
use tollgate::store::{IdempotencyClaim, IdempotencyStatus, Store};

use crate::harness::TestApp;
use crate::ledger::{funded, pending_order};

fn parts(app: &TestApp) -> (Arc<dyn Store>, Ledger) {
    (app.state.store.clone(), app.state.ledger.clone())
}

/// The app's clock (a manual one) in milliseconds.
fn now_ms(app: &TestApp) -> i64 {
    app.clock.now().timestamp_millis()
}

/// Moves the app's clock on, so that the claims made so far are older
/// than `now_ms` after it.
fn later(app: &TestApp) {
    app.clock.advance(chrono::Duration::milliseconds(20));
}

/// `body` as the answer to `key` under its claim made at `claimed_at`.
fn answer(key: &str, body: &str, claimed_at: Timestamp) -> KeyAnswer {
    KeyAnswer {
        key: key.to_string(),
        body: body.to_string(),
        claimed_at,
    }
}

/// Twenty requests claim one key at once: they share batches, and exactly
/// one gets the key; the others see it in progress, under its hash.
async fn concurrent_claims_of_one_key_give_it_to_one_request(app: TestApp) {
    let (store, ledger) = parts(&app);
    let user = funded(store.as_ref(), &ledger, 1_000).await;
    let other = funded(store.as_ref(), &ledger, 1_000).await;
    for round in 0..5 {
        let key = format!("k-{round}");
        let (batches_before, commands_before) = ledger.engine_stats();
        let stale_before = now_ms(&app);
        let claims = futures::future::join_all(
            (0..20).map(|_| ledger.claim(user, &key, "hash-a", stale_before)),
        );
        // The same key of another user is another key.
        let theirs = ledger.claim(other, &key, "hash-b", stale_before);
        let (claims, theirs) = tokio::join!(claims, theirs);
        assert!(matches!(theirs.unwrap(), IdempotencyClaim::Claimed(_)));
        let mut claimed = 0;
        for c in claims {
            match c.unwrap() {
                IdempotencyClaim::Claimed(_) => claimed += 1,
                IdempotencyClaim::Existing(row) => {
                    assert_eq!(row.status, IdempotencyStatus::InProgress);
                    assert_eq!(row.request_hash, "hash-a");
                    assert_eq!(row.user_id, user);
                }
            }
        }
        assert_eq!(claimed, 1, "one request has the key");
        let (batches, commands) = ledger.engine_stats();
        assert_eq!(commands - commands_before, 21);
        assert!(
            batches - batches_before < 21,
            "claims share batches ({} batches for 21 claims)",
            batches - batches_before
        );
    }
    // A later request under the key with another body is told whose it is.
    match ledger
        .claim(user, "k-0", "hash-c", now_ms(&app))
        .await
        .unwrap()
    {
        IdempotencyClaim::Existing(row) => assert_eq!(row.request_hash, "hash-a"),
        c => panic!("the key was free again: {c:?}"),
    }
}

/// A charge that records its answer for a key, with claims of the same key
/// sent beside it (in its batch or the next): each claim sees the key in
/// progress or replays the charge's answer, never gets it, and the key ends
/// done.
async fn a_claim_beside_the_charge_that_finishes_its_key_replays_or_waits(app: TestApp) {
    let (store, ledger) = parts(&app);
    let user = funded(store.as_ref(), &ledger, 1_000).await;
    let mut replayed = 0;
    for round in 0..10 {
        let key = format!("charge-{round}");
        let body = format!("{{\"round\":{round}}}");
        let IdempotencyClaim::Claimed(at) =
            ledger.claim(user, &key, "h", now_ms(&app)).await.unwrap()
        else {
            panic!("a new key is claimed")
        };
        let o = pending_order(user, Credits::new(1));
        let charge = ledger.charge(Credits::new(1), None, &o, Some(answer(&key, &body, at)));
        let stale_before = now_ms(&app);
        let claims =
            futures::future::join_all((0..8).map(|_| ledger.claim(user, &key, "h", stale_before)));
        let (charge, claims) = tokio::join!(charge, claims);
        charge.unwrap();
        for c in claims {
            match c.unwrap() {
                IdempotencyClaim::Existing(row) if row.status == IdempotencyStatus::Done => {
                    assert_eq!(row.response_body.as_deref(), Some(body.as_str()));
                    assert_eq!(row.response_status, Some(200));
                    replayed += 1;
                }
                IdempotencyClaim::Existing(row) => {
                    assert_eq!(row.status, IdempotencyStatus::InProgress)
                }
                IdempotencyClaim::Claimed(_) => panic!("a claim took a key in use"),
            }
        }
        match ledger.claim(user, &key, "h", now_ms(&app)).await.unwrap() {
            IdempotencyClaim::Existing(row) => {
                assert_eq!(row.status, IdempotencyStatus::Done);
                assert_eq!(row.response_body.as_deref(), Some(body.as_str()));
            }
            c => panic!("the finished key was claimed again: {c:?}"),
        }
    }
    assert!(replayed > 0, "some claims came after their key's charge");
    let b = ledger.balance(user).await.unwrap();
    assert_eq!(b.live, Credits::new(990), "each round charged once");
}

/// A claim whose request died (older than `stale_before`, unfinished) is
/// taken over by exactly one of the retries that come at once, and the
/// dead claim's release leaves the key to it; a finished key is never
/// taken over, however old.
async fn a_dead_claim_is_taken_over_once(app: TestApp) {
    let (store, ledger) = parts(&app);
    let user = funded(store.as_ref(), &ledger, 1_000).await;
    let IdempotencyClaim::Claimed(dead) =
        ledger.claim(user, "dies", "h", now_ms(&app)).await.unwrap()
    else {
        panic!("a new key is claimed")
    };
    later(&app);
    let stale_before = now_ms(&app);
    let retries =
        futures::future::join_all((0..10).map(|_| ledger.claim(user, "dies", "h", stale_before)))
            .await;
    let taken: Vec<Timestamp> = retries
        .iter()
        .filter_map(|c| match c {
            Ok(IdempotencyClaim::Claimed(at)) => Some(*at),
            _ => None,
        })
        .collect();
    assert_eq!(taken.len(), 1, "{retries:?}");
    let taker = taken[0];
    // The request counted dead ends late after all: its charge under the
    // key is refused and its answer is not recorded, so the retry that
    // took the key over is the one run charged.
    let late = pending_order(user, Credits::new(1));
    let refused = ledger
        .charge(
            Credits::new(1),
            None,
            &late,
            Some(answer("dies", "late", dead)),
        )
        .await;
    assert!(
        matches!(refused, Err(LedgerError::ClaimLost)),
        "{refused:?}"
    );
    ledger
        .finish_key(user, answer("dies", "late", dead), 200)
        .await
        .unwrap();
    assert_eq!(
        ledger.balance(user).await.unwrap().live,
        Credits::new(1_000)
    );
    let orders = store.orders_for_user(user, 20).await.unwrap();
    let late_order = orders.iter().find(|o| o.id == late.id).expect("recorded");
    assert_eq!(
        late_order.error_code.as_deref(),
        Some("idempotency_key_taken_over")
    );
    // The request counted dead fails after all and gives its key up: the
    // key stays with the request that took it over, so no third runs.
    store
        .release_idempotency_key(user, "dies", dead)
        .await
        .unwrap();
    match ledger.claim(user, "dies", "h", now_ms(&app)).await.unwrap() {
        IdempotencyClaim::Existing(row) => {
            assert_eq!(row.status, IdempotencyStatus::InProgress);
            assert!(row.created_at > dead, "the taker's claim");
        }
        c => panic!("a key taken over was freed by its dead claim: {c:?}"),
    }
    // Another request's body never takes a key over, dead or not.
    later(&app);
    assert!(matches!(
        ledger
            .claim(user, "dies", "other", now_ms(&app))
            .await
            .unwrap(),
        IdempotencyClaim::Existing(_)
    ));
    // The taker's charge records its answer; a finished key stays
    // finished, and the dead claim's late finish leaves it as it is.
    let o = pending_order(user, Credits::new(1));
    ledger
        .charge(Credits::new(1), None, &o, Some(answer("dies", "{}", taker)))
        .await
        .unwrap();
    ledger
        .finish_key(user, answer("dies", "late", dead), 200)
        .await
        .unwrap();
    later(&app);
    match ledger.claim(user, "dies", "h", now_ms(&app)).await.unwrap() {
        IdempotencyClaim::Existing(row) => {
            assert_eq!(row.status, IdempotencyStatus::Done);
            assert_eq!(row.response_body.as_deref(), Some("{}"));
        }
        c => panic!("a finished key was taken over: {c:?}"),
    }
    assert_eq!(ledger.balance(user).await.unwrap().live, Credits::new(999));
}

/// A call held under a key that a retry then took over: its capture is
/// refused, its hold released and its order failed, and the key keeps the
/// taker's claim; the taker's capture charges. One charge in all.
async fn a_capture_under_a_key_taken_over_is_released(app: TestApp) {
    let (store, ledger) = parts(&app);
    let user = funded(store.as_ref(), &ledger, 100).await;
    let hold = |order| {
        let ledger = ledger.clone();
        async move {
            ledger
                .reserve(
                    user,
                    Credits::new(10),
                    chrono::Duration::minutes(5),
                    None,
                    Some(&order),
                )
                .await
                .unwrap()
        }
    };
    let IdempotencyClaim::Claimed(dead) =
        ledger.claim(user, "slow", "h", now_ms(&app)).await.unwrap()
    else {
        panic!("a new key is claimed")
    };
    let late = pending_order(user, Credits::new(10));
    let late_hold = hold(late.clone()).await;
    later(&app);
    let IdempotencyClaim::Claimed(taker) =
        ledger.claim(user, "slow", "h", now_ms(&app)).await.unwrap()
    else {
        panic!("the dead claim is taken over")
    };
    let retry = pending_order(user, Credits::new(10));
    let retry_hold = hold(retry.clone()).await;
    assert_eq!(ledger.balance(user).await.unwrap().held, Credits::new(20));

    let refused = ledger
        .capture_with(user, late_hold.id, 5, Some(answer("slow", "late", dead)))
        .await;
    assert!(
        matches!(refused, Err(LedgerError::ClaimLost)),
        "{refused:?}"
    );
    let b = ledger.balance(user).await.unwrap();
    assert_eq!((b.live, b.held), (Credits::new(100), Credits::new(10)));
    ledger
        .capture_with(user, retry_hold.id, 5, Some(answer("slow", "{}", taker)))
        .await
        .unwrap();
    let b = ledger.balance(user).await.unwrap();
    assert_eq!((b.live, b.held), (Credits::new(90), Credits::ZERO));
    let orders = store.orders_for_user(user, 20).await.unwrap();
    let status = |id| {
        let o = orders.iter().find(|o| o.id == id).expect("recorded");
        (o.status.as_str().to_string(), o.error_code.clone())
    };
    assert_eq!(
        status(late.id),
        ("failed".into(), Some("idempotency_key_taken_over".into()))
    );
    assert_eq!(status(retry.id), ("succeeded".into(), None));
    match ledger.claim(user, "slow", "h", now_ms(&app)).await.unwrap() {
        IdempotencyClaim::Existing(row) => {
            assert_eq!(row.status, IdempotencyStatus::Done);
            assert_eq!(row.response_body.as_deref(), Some("{}"));
        }
        c => panic!("the finished key was claimed again: {c:?}"),
    }
}

/// A dead claim's late charge sent beside a retry's takeover of its key
/// (mostly in one batch, in either order): either the late charge lands
/// first and the retry replays it, or the retry takes the key and the late
/// charge is refused and the retry's own charge records. Each key is
/// charged exactly once.
async fn a_late_charge_beside_the_takeover_charges_the_key_once(app: TestApp) {
    let (store, ledger) = parts(&app);
    let user = funded(store.as_ref(), &ledger, 1_000).await;
    let (mut replayed, mut refused) = (0, 0);
    for round in 0..20 {
        let key = format!("late-{round}");
        let IdempotencyClaim::Claimed(dead) =
            ledger.claim(user, &key, "h", now_ms(&app)).await.unwrap()
        else {
            panic!("a new key is claimed")
        };
        later(&app);
        let late = pending_order(user, Credits::new(1));
        let charge = ledger.charge(
            Credits::new(1),
            None,
            &late,
            Some(answer(&key, "late", dead)),
        );
        let takeover = ledger.claim(user, &key, "h", now_ms(&app));
        let (charge, takeover) = if round % 2 == 0 {
            tokio::join!(charge, takeover)
        } else {
            let (t, c) = tokio::join!(takeover, charge);
            (c, t)
        };
        match (charge, takeover.unwrap()) {
            (Ok(_), IdempotencyClaim::Existing(row)) => {
                assert_eq!(row.status, IdempotencyStatus::Done);
                assert_eq!(row.response_body.as_deref(), Some("late"));
                replayed += 1;
            }
            (Err(LedgerError::ClaimLost), IdempotencyClaim::Claimed(taker)) => {
                let retry = pending_order(user, Credits::new(1));
                ledger
                    .charge(
                        Credits::new(1),
                        None,
                        &retry,
                        Some(answer(&key, "retry", taker)),
                    )
                    .await
                    .unwrap();
                refused += 1;
            }
            (c, t) => panic!("round {round}: the charge gave {c:?} and the takeover {t:?}"),
        }
    }
    assert_eq!(replayed + refused, 20);
    assert_eq!(ledger.balance(user).await.unwrap().live, Credits::new(980));
}

/// One-write charges that claim one key at once: exactly one charges and
/// records its answer; the others find the key and charge nothing. A
/// refused one leaves neither a claim nor an order.
async fn charges_that_claim_one_key_charge_once(app: TestApp) {
    let (store, ledger) = parts(&app);
    let user = funded(store.as_ref(), &ledger, 5).await;
    let stale_before = now_ms(&app);
    let tries = futures::future::join_all((0..10).map(|_| {
        let ledger = ledger.clone();
        let order = pending_order(user, Credits::new(1));
        async move {
            ledger
                .charge_claiming(
                    Credits::new(1),
                    None,
                    &order,
                    "once",
                    "{}",
                    "h",
                    stale_before,
                )
                .await
        }
    }))
    .await;
    let charged = tries.iter().filter(|t| matches!(t, Ok(Some(_)))).count();
    assert_eq!(charged, 1, "{tries:?}");
    assert!(tries.iter().all(|t| t.is_ok()), "{tries:?}");
    assert_eq!(ledger.balance(user).await.unwrap().live, Credits::new(4));
    match ledger.claim(user, "once", "h", now_ms(&app)).await.unwrap() {
        IdempotencyClaim::Existing(row) => {
            assert_eq!(row.status, IdempotencyStatus::Done);
            assert_eq!(row.response_body.as_deref(), Some("{}"));
        }
        c => panic!("the charged key was claimed again: {c:?}"),
    }

    let order = pending_order(user, Credits::new(50));
    let refused = ledger
        .charge_claiming(
            Credits::new(50),
            None,
            &order,
            "dear",
            "{}",
            "h",
            now_ms(&app),
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(tollgate::ledger::LedgerError::InsufficientCredits { .. })
        ),
        "{refused:?}"
    );
    assert!(matches!(
        ledger.claim(user, "dear", "h", now_ms(&app)).await.unwrap(),
        IdempotencyClaim::Claimed(_)
    ));
    let orders = store.orders_for_user(user, 20).await.unwrap();
    assert!(orders.iter().all(|o| o.id != order.id), "{orders:?}");
}

/// A finish of a key that does not exist, sent just before a claim of it
/// (so mostly in the claim's batch), writes nothing: the claim stands, in
/// progress, on both backends.
async fn a_finish_of_a_missing_key_leaves_a_later_claim_in_progress(app: TestApp) {
    let (store, ledger) = parts(&app);
    let user = funded(store.as_ref(), &ledger, 10).await;
    for round in 0..10 {
        let key = format!("gone-{round}");
        let (finished, claim) = tokio::join!(
            ledger.finish_key(user, answer(&key, "{}", Timestamp::from_millis(0)), 200),
            ledger.claim(user, &key, "h", now_ms(&app))
        );
        finished.unwrap();
        assert!(matches!(claim.unwrap(), IdempotencyClaim::Claimed(_)));
        match ledger.claim(user, &key, "h", now_ms(&app)).await.unwrap() {
            IdempotencyClaim::Existing(row) => {
                assert_eq!(row.status, IdempotencyStatus::InProgress, "round {round}")
            }
            c => panic!("the claim was lost: {c:?}"),
        }
    }
}

crate::on_both_backends!(
    a_finish_of_a_missing_key_leaves_a_later_claim_in_progress,
    charges_that_claim_one_key_charge_once,
    concurrent_claims_of_one_key_give_it_to_one_request,
    a_claim_beside_the_charge_that_finishes_its_key_replays_or_waits,
    a_dead_claim_is_taken_over_once,
    a_capture_under_a_key_taken_over_is_released,
    a_late_charge_beside_the_takeover_charges_the_key_once
);
