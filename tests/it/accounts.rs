//! Sign-up, sign-in and budget API keys.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Backend, TestApp};

async fn signup_creates_an_account_with_a_default_budget(app: TestApp) {
    let (status, body) = app
        .post(
            "/auth/signup",
            None,
            json!({"email": "Ada@Example.com", "password": "long enough password"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["success"], true);
    let user_id = body["data"]["user_id"].as_str().unwrap();
    let budget_id = body["data"]["budget_id"].as_str().unwrap();
    assert!(
        tollgate::id::ObjectId::is_valid(user_id) && tollgate::id::ObjectId::is_valid(budget_id)
    );
    let user = app
        .state
        .store
        .user_by_email("ada@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.id.to_string(), user_id);
    assert_eq!(user.default_budget_id.to_string(), budget_id);
    assert_eq!(user.role, tollgate::store::Role::Customer);
    assert!(
        user.password_hash.starts_with("$argon2id$"),
        "passwords are stored as argon2id hashes"
    );
    assert!(!user.password_hash.contains("long enough password"));
}

async fn a_duplicate_email_gets_409(app: TestApp) {
    let user = app.new_user().await;
    let (status, body) = app
        .post(
            "/auth/signup",
            None,
            json!({"email": user.email.to_uppercase(), "password": "another long password"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "email_taken");
}

async fn bad_emails_and_short_passwords_get_422(app: TestApp) {
    let (status, body) = app
        .post(
            "/auth/signup",
            None,
            json!({"email": "not-an-email", "password": "long enough password"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "email"]));
    assert_eq!(body["detail"][0]["type"], "value_error");
    let (status, body) = app
        .post(
            "/auth/signup",
            None,
            json!({"email": "ok@example.com", "password": "1234567"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["detail"][0],
        json!({"loc": ["body", "password"], "msg": "String should have at least 12 characters", "type": "string_too_short", "input": null, "ctx": {"min_length": 12}})
    );
    assert!(app
        .state
        .store
        .user_by_email("ok@example.com")
        .await
        .unwrap()
        .is_none());
}

async fn common_passwords_are_refused_at_signup_in_any_case(app: TestApp) {
    for common in ["1qaz2wsx3edc", "QWERTYUIOP123", "Password12345!"] {
        let (status, body) = app
            .post(
                "/auth/signup",
                None,
                json!({"email": "common@example.com", "password": common}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{common}: {body}");
        let item = &body["detail"][0];
        assert_eq!(item["loc"], json!(["body", "password"]));
        assert_eq!(item["type"], "password_too_common");
        assert!(
            !body.to_string().contains(common),
            "the password is not echoed"
        );
    }
    assert!(app
        .state
        .store
        .user_by_email("common@example.com")
        .await
        .unwrap()
        .is_none());
}

async fn passwords_set_before_the_rules_still_sign_in(app: TestApp) {
    let email = tollgate::accounts::Email::parse("old@example.com").unwrap();
    tollgate::accounts::create_user(
        app.state.store.as_ref(),
        &email,
        "short1",
        tollgate::auth::Role::Customer,
        Vec::new(),
    )
    .await
    .unwrap();
    app.login("old@example.com", "short1").await;
}

async fn login_returns_a_bearer_token_that_works(app: TestApp) {
    let user = app.new_user().await;
    let (status, body) = app
        .post(
            "/auth/login",
            None,
            json!({"email": user.email, "password": user.password}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/credits/balance", Some(token)).await.0,
        StatusCode::OK
    );
}

async fn bad_credentials_get_401_without_saying_which_part_was_wrong(app: TestApp) {
    let user = app.new_user().await;
    let (s1, wrong_password) = app
        .post(
            "/auth/login",
            None,
            json!({"email": user.email, "password": "not the password"}),
        )
        .await;
    let (s2, unknown_email) = app
        .post(
            "/auth/login",
            None,
            json!({"email": "nobody@example.com", "password": "not the password"}),
        )
        .await;
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!(s2, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password, unknown_email);
    assert_eq!(wrong_password["error"], "invalid_credentials");
}

async fn api_keys_are_shown_once_work_and_stop_working_when_revoked(app: TestApp) {
    let user = app.new_user().await;
    let path = format!("/budgets/{}/api-keys", user.budget_id);
    let (status, body) = app
        .post(&path, Some(&user.token), json!({"name": "my agent"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let key = body["data"]["key"].as_str().unwrap().to_string();
    let key_id = body["data"]["id"].as_str().unwrap().to_string();
    assert!(key.starts_with("tg_"));
    assert_eq!(body["data"]["name"], "my agent");

    assert_eq!(
        app.get("/credits/balance", Some(&key)).await.0,
        StatusCode::OK
    );

    let (status, list) = app.get(&path, Some(&user.token)).await;
    assert_eq!(status, StatusCode::OK);
    let keys = list["data"]["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].get("key").is_none(), "a key is never shown again");
    assert!(!list.to_string().contains(&key));

    let stored = app
        .state
        .store
        .api_keys_for_budget(user.budget())
        .await
        .unwrap();
    assert_ne!(stored[0].key_hash, key);
    assert!(
        !stored[0].key_hash.contains(&key[3..]),
        "only a hash is stored"
    );

    let (status, _) = app
        .request(
            Method::DELETE,
            &format!("{path}/{key_id}"),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.get("/credits/balance", Some(&key)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_token");
    let (status, _) = app
        .request(
            Method::DELETE,
            &format!("{path}/{key_id}"),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a revoked key cannot be revoked again"
    );
}

async fn another_users_budget_answers_404(app: TestApp) {
    let alice = app.new_user().await;
    let bob = app.new_user().await;
    let path = format!("/budgets/{}/api-keys", alice.budget_id);
    let (status, body) = app
        .post(&path, Some(&bob.token), json!({"name": "theft"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "budget_not_found");
    assert_eq!(
        app.get(&path, Some(&bob.token)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/budgets/not-an-id/api-keys", Some(&bob.token))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(
            "/budgets/0123456789abcdef01234567/api-keys",
            Some(&bob.token)
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert!(app
        .state
        .store
        .api_keys_for_budget(alice.budget())
        .await
        .unwrap()
        .is_empty());
}

async fn an_api_key_cannot_mint_more_keys(app: TestApp) {
    let user = app.new_user().await;
    let path = format!("/budgets/{}/api-keys", user.budget_id);
    let (_, body) = app
        .post(&path, Some(&user.token), json!({"name": "agent"}))
        .await;
    let key = body["data"]["key"].as_str().unwrap();
    let (status, body) = app.post(&path, Some(key), json!({"name": "more"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "user_token_required");
}

async fn missing_or_malformed_authorization_gets_401(app: TestApp) {
    let (status, body) = app.get("/credits/balance", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "missing_token");
    for header in [
        "Basic abc",
        "Bearer",
        "Bearer ",
        "tg_abc",
        "Bearer tg_short",
        "Bearer tg_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Bearer not.a.jwt",
    ] {
        let resp = app
            .client
            .get(format!("{}/credits/balance", app.url))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
}

crate::on_both_backends!(
    signup_creates_an_account_with_a_default_budget,
    a_duplicate_email_gets_409,
    bad_emails_and_short_passwords_get_422,
    common_passwords_are_refused_at_signup_in_any_case,
    passwords_set_before_the_rules_still_sign_in,
    login_returns_a_bearer_token_that_works,
    bad_credentials_get_401_without_saying_which_part_was_wrong,
    api_keys_are_shown_once_work_and_stop_working_when_revoked,
    another_users_budget_answers_404,
    an_api_key_cannot_mint_more_keys,
    missing_or_malformed_authorization_gets_401,
);

#[tokio::test]
async fn signup_can_be_switched_off() {
    let app = TestApp::spawn_with(Backend::Sqlite, |a| a.disable_signup = true)
        .await
        .unwrap();
    let (status, body) = app
        .post(
            "/auth/signup",
            None,
            json!({"email": "x@example.com", "password": "long enough password"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "signup_disabled");
    assert!(app
        .state
        .store
        .user_by_email("x@example.com")
        .await
        .unwrap()
        .is_none());
}
