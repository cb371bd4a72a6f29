//! `GET /credits/balance`, `GET /credits/history` and the admin grant API.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::TestApp;
use tollgate::clock::{iso, Clock};

async fn a_new_account_has_zero_balance_and_null_expiry(app: TestApp) {
    let user = app.new_user().await;
    let (status, body) = app.get("/credits/balance", Some(&user.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"success": true, "message": "Credit balance retrieved", "data": {"balance": 0, "expiration": null, "expires_in_days": null}})
    );
}

async fn the_balance_shows_the_soonest_expiry_of_live_grants(app: TestApp) {
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    let now = app.clock.now();
    app.grant(&admin, &user, 500, None).await;
    app.grant(&admin, &user, 300, Some(iso(now + Duration::days(10))))
        .await;
    app.grant(
        &admin,
        &user,
        200,
        Some(iso(now + Duration::days(3) + Duration::hours(5))),
    )
    .await;
    let b = app.balance(&user).await;
    assert_eq!(b["balance"], 1000);
    assert_eq!(
        b["expiration"],
        iso(now + Duration::days(3) + Duration::hours(5))
    );
    assert_eq!(b["expires_in_days"], 3, "whole days");

    // The 200 expire: from that instant they stop counting, before any sweep.
    app.clock.advance(Duration::days(3) + Duration::hours(5));
    let b = app.balance(&user).await;
    assert_eq!(b["balance"], 800);
    assert_eq!(b["expiration"], iso(now + Duration::days(10)));
    assert_eq!(b["expires_in_days"], 6);
    let (_, h) = app.get("/credits/history", Some(&user.token)).await;
    assert!(h["data"]["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["transaction_type"] == "grant"));

    // The sweeper writes the expiration exactly once.
    assert_eq!(app.state.ledger.sweep_expired(100).await.unwrap(), 1);
    assert_eq!(app.state.ledger.sweep_expired(100).await.unwrap(), 0);
    let (_, h) = app.get("/credits/history", Some(&user.token)).await;
    let txns = h["data"]["transactions"].as_array().unwrap();
    let expirations: Vec<_> = txns
        .iter()
        .filter(|t| t["transaction_type"] == "expiration")
        .collect();
    assert_eq!(expirations.len(), 1);
    assert_eq!(expirations[0]["amount_credits"], -200);
    assert_eq!(expirations[0]["amount_usd"], -2.0);
    assert_eq!(expirations[0]["balance_after_credits"], 800);
    assert_eq!(expirations[0]["balance_after_usd"], 8.0);
}

async fn a_balance_of_only_never_expiring_credits_has_null_expiry(app: TestApp) {
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    app.grant(&admin, &user, 5, None).await;
    let b = app.balance(&user).await;
    assert_eq!(
        b,
        json!({"balance": 5, "expiration": null, "expires_in_days": null})
    );
}

async fn history_lists_grants_and_transactions_newest_first_in_the_spec_shape(app: TestApp) {
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    for (i, credits) in [100, 250, 75].into_iter().enumerate() {
        app.clock.advance(Duration::seconds(10));
        let meta = json!({"user_id": user.user_id, "amount_credits": credits, "credit_type": "referral_signup", "source_metadata": {"n": i}});
        let (status, _) = app.post("/admin/grants", Some(&admin.token), meta).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, body) = app.get("/credits/history", Some(&user.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    let grants = body["data"]["grants"].as_array().unwrap();
    let amounts: Vec<i64> = grants
        .iter()
        .map(|g| g["amount_credits"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [75, 250, 100], "newest first");
    let g = &grants[0];
    for field in [
        "_id",
        "user_id",
        "amount_credits",
        "amount_usd",
        "remaining_credits",
        "credit_type",
        "source_metadata",
        "date_created",
        "pooled_at",
        "expires_at",
    ] {
        assert!(g.get(field).is_some(), "grant field {field}");
    }
    assert_eq!(g["amount_usd"], 0.75);
    assert_eq!(g["source_metadata"], json!({"n": 2}));
    assert_eq!(g["credit_type"], "referral_signup");
    let txns = body["data"]["transactions"].as_array().unwrap();
    let after: Vec<i64> = txns
        .iter()
        .map(|t| t["balance_after_credits"].as_i64().unwrap())
        .collect();
    assert_eq!(after, [425, 350, 100]);
    for field in [
        "_id",
        "user_id",
        "transaction_type",
        "amount_credits",
        "amount_usd",
        "balance_after_credits",
        "balance_after_usd",
        "date_created",
    ] {
        assert!(txns[0].get(field).is_some(), "transaction field {field}");
    }

    let (_, body) = app.get("/credits/history?limit=2", Some(&user.token)).await;
    assert_eq!(body["data"]["grants"].as_array().unwrap().len(), 2);
    assert_eq!(body["data"]["transactions"].as_array().unwrap().len(), 2);
    assert_eq!(body["data"]["grants"][0]["amount_credits"], 75);
}

async fn a_bad_limit_gets_a_fastapi_422(app: TestApp) {
    let user = app.new_user().await;
    let cases = [
        (
            "0",
            json!({"loc": ["query", "limit"], "msg": "Input should be greater than or equal to 1", "type": "greater_than_equal", "input": "0", "ctx": {"ge": 1}}),
        ),
        (
            "501",
            json!({"loc": ["query", "limit"], "msg": "Input should be less than or equal to 500", "type": "less_than_equal", "input": "501", "ctx": {"le": 500}}),
        ),
        (
            "ten",
            json!({"loc": ["query", "limit"], "msg": "Input should be a valid integer, unable to parse string as an integer", "type": "int_parsing", "input": "ten"}),
        ),
        (
            "1.5",
            json!({"loc": ["query", "limit"], "msg": "Input should be a valid integer, unable to parse string as an integer", "type": "int_parsing", "input": "1.5"}),
        ),
    ];
    for (limit, expected) in cases {
        let (status, body) = app
            .get(
                &format!("/credits/history?limit={limit}"),
                Some(&user.token),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "limit={limit}");
        assert_eq!(body, json!({"detail": [expected]}));
    }
    assert_eq!(
        app.get("/credits/history?limit=500", Some(&user.token))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/credits/history?limit=1", Some(&user.token))
            .await
            .0,
        StatusCode::OK
    );
}

async fn history_and_balance_need_a_token_and_show_only_the_callers_own(app: TestApp) {
    assert_eq!(
        app.get("/credits/history", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/credits/balance", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let admin = app.new_admin().await;
    let alice = app.new_user().await;
    let bob = app.new_user().await;
    app.grant(&admin, &alice, 123, None).await;
    let (_, body) = app.get("/credits/history", Some(&bob.token)).await;
    assert_eq!(body["data"]["grants"], json!([]));
    assert_eq!(body["data"]["transactions"], json!([]));
    assert_eq!(app.balance(&bob).await["balance"], 0);
    let (_, body) = app.get("/credits/history", Some(&alice.token)).await;
    assert!(body["data"]["grants"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["user_id"] == alice.user_id.as_str()));
}

async fn only_admins_grant_and_revoke(app: TestApp) {
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    let (status, body) = app
        .post(
            "/admin/grants",
            Some(&user.token),
            json!({"user_id": user.user_id, "amount_credits": 1000}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "admin_required");
    assert_eq!(app.balance(&user).await["balance"], 0);

    let (status, body) = app
        .post(
            "/admin/grants",
            Some(&admin.token),
            json!({"email": user.email, "amount_credits": 1000}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let grant_id = body["data"]["grant"]["_id"].as_str().unwrap().to_string();
    assert_eq!(body["data"]["grant"]["credit_type"], "admin_grant");
    assert_eq!(app.balance(&user).await["balance"], 1000);

    let revoke = format!("/admin/grants/{grant_id}/revoke");
    assert_eq!(
        app.post(&revoke, Some(&user.token), json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, body) = app.post(&revoke, Some(&admin.token), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["transaction"]["transaction_type"],
        "revocation"
    );
    assert_eq!(body["data"]["transaction"]["amount_credits"], -1000);
    assert_eq!(app.balance(&user).await["balance"], 0);
    let (status, body) = app.post(&revoke, Some(&admin.token), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "a revocation is written once");
    assert_eq!(body["error"], "nothing_to_revoke");
    assert_eq!(
        app.post(
            "/admin/grants/0123456789abcdef01234567/revoke",
            Some(&admin.token),
            json!({})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

async fn bad_grant_requests_get_422_and_grant_nothing(app: TestApp) {
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    let cases = [
        (
            json!({"amount_credits": 10}),
            "missing",
            json!(["body", "user_id"]),
        ),
        (
            json!({"user_id": user.user_id, "amount_credits": 0}),
            "greater_than",
            json!(["body", "amount_credits"]),
        ),
        (
            json!({"user_id": user.user_id, "amount_credits": "lots"}),
            "int_parsing",
            json!(["body", "amount_credits"]),
        ),
        (
            json!({"user_id": user.user_id, "amount_credits": 1.5}),
            "int_from_float",
            json!(["body", "amount_credits"]),
        ),
        (
            json!({"user_id": user.user_id, "amount_credits": 10, "expires_at": "tomorrow"}),
            "datetime_from_date_parsing",
            json!(["body", "expires_at"]),
        ),
        (
            json!({"user_id": user.user_id, "amount_credits": 10, "expires_at": "2001-01-01T00:00:00Z"}),
            "datetime_future",
            json!(["body", "expires_at"]),
        ),
        (
            json!({"user_id": user.user_id, "amount_credits": 10, "source_metadata": [1]}),
            "dict_type",
            json!(["body", "source_metadata"]),
        ),
    ];
    for (body, kind, loc) in cases {
        let (status, resp) = app
            .post("/admin/grants", Some(&admin.token), body.clone())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {resp}");
        assert_eq!(resp["detail"][0]["type"], kind, "{body}");
        assert_eq!(resp["detail"][0]["loc"], loc, "{body}");
    }
    let (status, body) = app
        .post(
            "/admin/grants",
            Some(&admin.token),
            json!({"user_id": "0123456789abcdef01234567", "amount_credits": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "user_not_found");
    assert_eq!(app.balance(&user).await["balance"], 0);
    let (_, h) = app.get("/credits/history", Some(&user.token)).await;
    assert_eq!(h["data"]["transactions"], json!([]));
}

crate::on_both_backends!(
    a_new_account_has_zero_balance_and_null_expiry,
    the_balance_shows_the_soonest_expiry_of_live_grants,
    a_balance_of_only_never_expiring_credits_has_null_expiry,
    history_lists_grants_and_transactions_newest_first_in_the_spec_shape,
    a_bad_limit_gets_a_fastapi_422,
    history_and_balance_need_a_token_and_show_only_the_callers_own,
    only_admins_grant_and_revoke,
    bad_grant_requests_get_422_and_grant_nothing,
);

async fn an_admins_api_key_cannot_grant_credits(app: TestApp) {
    let admin = app.new_admin().await;
    let (_, body) = app
        .post(
            &format!("/budgets/{}/api-keys", admin.budget_id),
            Some(&admin.token),
            json!({"name": "agent"}),
        )
        .await;
    let key = body["data"]["key"].as_str().unwrap().to_string();
    let (status, body) = app
        .post(
            "/admin/grants",
            Some(&key),
            json!({"user_id": admin.user_id, "amount_credits": 1000}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "user_token_required");
    assert_eq!(app.balance(&admin).await["balance"], 0);
}

mod keys {
    use super::*;
    crate::on_both_backends!(an_admins_api_key_cannot_grant_credits);
}
