//! Keyed purchases of paid calls with no outside effect, over HTTP on both
//! backends: the charge claims the key and records the answer in one
//! ledger command, and whatever that one command cannot settle (a failed
//! call, a refusal, a key in use) is answered and recorded exactly as
//! under a claim of its own: once, and replayed.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{TestApp, TestUser};

fn calculator(expression: &str) -> Value {
    json!({"product_id": "calculator", "parameters": {"action": "evaluate", "expression": expression}})
}

/// (status, replayed, body) of a purchase under `key`.
async fn send(
    app: &TestApp,
    user: &TestUser,
    key: &str,
    body: &Value,
) -> (StatusCode, bool, Value) {
    let resp = app
        .client
        .post(format!("{}/products/purchase", app.url))
        .bearer_auth(&user.token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let replayed = resp
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    (status, replayed, resp.json().await.unwrap())
}

/// The ledger commands `f` made.
async fn commands_of<F: std::future::Future>(app: &TestApp, f: F) -> (F::Output, u64) {
    let (_, before) = app.state.ledger.engine_stats();
    let out = f.await;
    let (_, after) = app.state.ledger.engine_stats();
    (out, after - before)
}

/// A keyed calculator call is claimed, charged and answered in one ledger
/// command; its retry replays it, and another request under the key is
/// refused, both charging nothing more.
async fn a_keyed_call_with_no_outside_effect_is_one_ledger_command(app: TestApp) {
    let user = app.funded_user(100).await;
    // The budget's first purchase of a tool records the prices it agrees
    // to, a write of its own: that one runs under a claim.
    let (status, _, warm) = send(&app, &user, "k-0", &calculator("1 + 1")).await;
    assert_eq!(status, StatusCode::OK, "{warm}");
    let ((status, replayed, first), commands) =
        commands_of(&app, send(&app, &user, "k-1", &calculator("6 * 7"))).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(!replayed);
    assert_eq!(first["data"]["result"].as_f64(), Some(42.0), "{first}");
    assert_eq!(commands, 1, "claimed, charged and answered in one command");
    let price = first["price_credits"].as_i64().unwrap();
    assert!(price > 0);

    let (status, replayed, again) = send(&app, &user, "k-1", &calculator("6 * 7")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(replayed, "the retry replays the first answer");
    assert_eq!(again, first);

    let (status, _, other) = send(&app, &user, "k-1", &calculator("1 + 1")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{other}");
    assert_eq!(other["error"], "idempotency_key_reused");

    assert_eq!(app.balance(&user).await["balance"], 100 - 2 * price);
    let orders = app.orders(&user).await;
    assert_eq!(orders.len(), 2, "one order each: {orders:?}");
}

/// A keyed call that fails, or that the wallet cannot pay for, leaves its
/// one-write try nothing: it is answered, recorded and replayed as any
/// keyed request is, with exactly one failed order each.
async fn a_failed_or_refused_keyed_call_is_recorded_once(app: TestApp) {
    let user = app.funded_user(100).await;
    let (status, _, failed) = send(&app, &user, "bad", &calculator("1 +")).await;
    assert!(status.is_client_error(), "{status} {failed}");
    let (again_status, replayed, again) = send(&app, &user, "bad", &calculator("1 +")).await;
    assert_eq!((again_status, replayed), (status, true));
    assert_eq!(again, failed);
    assert_eq!(app.balance(&user).await["balance"], 100);

    let broke = app.funded_user(0).await;
    let (status, _, refused) = send(&app, &broke, "broke", &calculator("2 + 2")).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{refused}");
    assert_eq!(refused["error"], "insufficient_credits");
    let (again_status, replayed, again) = send(&app, &broke, "broke", &calculator("2 + 2")).await;
    assert_eq!(
        (again_status, replayed),
        (StatusCode::PAYMENT_REQUIRED, true)
    );
    assert_eq!(again, refused);

    for who in [&user, &broke] {
        let orders = app.orders(who).await;
        assert_eq!(orders.len(), 1, "one failed order: {orders:?}");
        assert_eq!(orders[0].status, tollgate::store::OrderStatus::Failed);
    }
}

/// Twenty copies of one keyed request at once: one is charged, every
/// other answer is its replay or "in progress", and none charges again.
async fn concurrent_copies_of_a_keyed_call_charge_once(app: TestApp) {
    let user = app.funded_user(100).await;
    let body = calculator("3 * 3");
    let answers =
        futures::future::join_all((0..20).map(|_| send(&app, &user, "same", &body))).await;
    let fresh: Vec<_> = answers
        .iter()
        .filter(|(s, replayed, _)| *s == StatusCode::OK && !replayed)
        .collect();
    assert_eq!(fresh.len(), 1, "{answers:?}");
    let first = &fresh[0].2;
    for (status, replayed, answer) in &answers {
        match *status {
            StatusCode::OK if *replayed => assert_eq!(answer, first),
            StatusCode::OK => {}
            StatusCode::CONFLICT => assert_eq!(answer["error"], "idempotency_key_in_progress"),
            s => panic!("unexpected {s}: {answer}"),
        }
    }
    let price = first["price_credits"].as_i64().unwrap();
    assert_eq!(app.balance(&user).await["balance"], 100 - price);
}

/// Keys and recorded answers holding quotes, backslashes, braces, commas,
/// the word `NULL`, SQL and text beyond ASCII are kept exactly: each retry
/// replays the first answer as it was, and nothing is charged twice.
async fn hostile_text_in_keys_and_answers_is_kept_exactly(app: TestApp) {
    let user = app.funded_user(100).await;
    let key = r#"k'1" \"{a,b}\NULL'); COMMIT; --"#;
    let unit = "é→'\"\\{NULL,}\u{1F4B8}'); DROP TABLE wallets; --";
    let convert = json!({"product_id": "calculator",
        "parameters": {"action": "convert_units", "value": 1, "from": unit, "to": "m"}});
    let (status, replayed, failed) = send(&app, &user, key, &convert).await;
    assert!(status.is_client_error() && !replayed, "{status} {failed}");
    let quoted = json!(unit).to_string();
    let escaped = &quoted[1..quoted.len() - 1];
    assert!(failed.to_string().contains(escaped), "{failed}");
    let (again_status, replayed, again) = send(&app, &user, key, &convert).await;
    assert_eq!((again_status, replayed), (status, true));
    assert_eq!(again, failed);

    let paid_key = format!("{key},{{}}\\");
    let (status, replayed, paid) = send(&app, &user, &paid_key, &calculator("6 * 7")).await;
    assert_eq!((status, replayed), (StatusCode::OK, false), "{paid}");
    let (status, replayed, again) = send(&app, &user, &paid_key, &calculator("6 * 7")).await;
    assert_eq!((status, replayed), (StatusCode::OK, true));
    assert_eq!(again, paid);
    let price = paid["price_credits"].as_i64().unwrap();
    assert_eq!(app.balance(&user).await["balance"], 100 - price);
    let orders = app.orders(&user).await;
    let paid: Vec<_> = orders
        .iter()
        .filter(|o| o.status == tollgate::store::OrderStatus::Succeeded)
        .collect();
    assert_eq!(paid.len(), 1, "{orders:?}");
}

crate::on_both_backends!(
    hostile_text_in_keys_and_answers_is_kept_exactly,
    a_keyed_call_with_no_outside_effect_is_one_ledger_command,
    a_failed_or_refused_keyed_call_is_recorded_once,
    concurrent_copies_of_a_keyed_call_charge_once
);
