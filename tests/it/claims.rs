//! Idempotency-key claims as ledger commands, on both backends: claims
//! share the ledger's batches, and within one batch a key still goes to one
//! request, a finished key replays, and a dead claim is taken over once.

use std::sync::Arc;

use tollgate::clock::Clock;
use tollgate::ledger::Ledger;
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
        assert!(matches!(
            ledger.claim(user, &key, "h", now_ms(&app)).await.unwrap(),
            IdempotencyClaim::Claimed(_)
        ));
        let o = pending_order(user, Credits::new(1));
        let charge = ledger.charge(Credits::new(1), None, &o, Some((&key, &body)));
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
    let taken = retries
        .iter()
        .filter(|c| matches!(c, Ok(IdempotencyClaim::Claimed(_))))
        .count();
    assert_eq!(taken, 1, "{retries:?}");
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
    // A finished key stays finished.
    let o = pending_order(user, Credits::new(1));
    ledger
        .charge(Credits::new(1), None, &o, Some(("dies", "{}")))
        .await
        .unwrap();
    later(&app);
    match ledger.claim(user, "dies", "h", now_ms(&app)).await.unwrap() {
        IdempotencyClaim::Existing(row) => assert_eq!(row.status, IdempotencyStatus::Done),
        c => panic!("a finished key was taken over: {c:?}"),
    }
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
            ledger.finish_key(user, &key, 200, "{}"),
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
    a_dead_claim_is_taken_over_once
);
