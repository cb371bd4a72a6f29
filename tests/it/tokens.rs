//! Access tokens, checked with a JWT library against the published key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestApp;

fn claims(app: &TestApp, user: &crate::harness::TestUser) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": app.url, "aud": "tollgate-api", "sub": user.user_id, "bid": user.budget_id, "role": "customer",
           "iat": now, "exp": now + 600, "jti": "t"})
}

async fn status_with(app: &TestApp, token: &str) -> StatusCode {
    app.get("/credits/balance", Some(token)).await.0
}

async fn issued_tokens_verify_with_the_published_pem(app: TestApp) {
    let user = app.new_user().await;
    let (status, body) = app.get("/public/jwt-public-key", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    assert_eq!(body["algorithm"], "EdDSA");
    let pem = body["public_key"].as_str().unwrap();
    assert!(
        pem.starts_with("-----BEGIN PUBLIC KEY-----"),
        "SubjectPublicKeyInfo PEM"
    );
    assert!(body["message"].is_string());

    // Verified by the jsonwebtoken crate alone, from the PEM.
    let key = DecodingKey::from_ed_pem(pem.as_bytes()).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["tollgate-api"]);
    validation.set_issuer(&[&app.url]);
    let data =
        jsonwebtoken::decode::<Value>(&user.token, &key, &validation).expect("the token verifies");
    assert_eq!(data.claims["sub"], user.user_id);
    assert_eq!(data.claims["bid"], user.budget_id);
    assert_eq!(data.header.kid.as_deref(), body["kid"].as_str());

    // The JWK set carries the same key.
    let (_, jwks) = app.get("/.well-known/jwks.json", None).await;
    let jwk = &jwks["keys"][0];
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert_eq!(jwk["kid"], body["kid"]);
    let from_jwk = DecodingKey::from_ed_components(jwk["x"].as_str().unwrap()).unwrap();
    jsonwebtoken::decode::<Value>(&user.token, &from_jwk, &validation)
        .expect("verifies with the JWK too");
}

async fn forged_and_tampered_tokens_get_401(app: TestApp) {
    let user = app.new_user().await;
    let (_, body) = app.get("/public/jwt-public-key", None).await;
    let pem = body["public_key"].as_str().unwrap();
    let c = claims(&app, &user);

    // alg: none.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(c.to_string())
    );
    assert_eq!(
        status_with(&app, &none).await,
        StatusCode::UNAUTHORIZED,
        "alg none"
    );

    // HS256 signed with the public key as the secret.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = body["kid"].as_str().map(str::to_string);
    let hs = jsonwebtoken::encode(&header, &c, &EncodingKey::from_secret(pem.as_bytes())).unwrap();
    assert_eq!(
        status_with(&app, &hs).await,
        StatusCode::UNAUTHORIZED,
        "HS256 with the public key"
    );

    // A different Ed25519 key.
    let seed = [7u8; 32];
    let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let der = sk.to_pkcs8_der().unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = body["kid"].as_str().map(str::to_string);
    let forged =
        jsonwebtoken::encode(&header, &c, &EncodingKey::from_ed_der(der.as_bytes())).unwrap();
    assert_eq!(
        status_with(&app, &forged).await,
        StatusCode::UNAUTHORIZED,
        "signed by another key"
    );

    // A tampered payload on a real token.
    let parts: Vec<&str> = user.token.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["role"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    assert_eq!(
        status_with(&app, &tampered).await,
        StatusCode::UNAUTHORIZED,
        "tampered payload"
    );

    // Signed by the server's own key, but with a wrong issuer, audience or expiry.
    let sign = |v: Value| app.state.tokens.sign(&v).unwrap();
    let mut wrong_iss = c.clone();
    wrong_iss["iss"] = json!("https://evil.example");
    assert_eq!(
        status_with(&app, &sign(wrong_iss)).await,
        StatusCode::UNAUTHORIZED,
        "wrong iss"
    );
    let mut wrong_aud = c.clone();
    wrong_aud["aud"] = json!("some-product");
    assert_eq!(
        status_with(&app, &sign(wrong_aud)).await,
        StatusCode::UNAUTHORIZED,
        "wrong aud"
    );
    let mut expired = c.clone();
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 60);
    assert_eq!(
        status_with(&app, &sign(expired)).await,
        StatusCode::UNAUTHORIZED,
        "expired"
    );
    let mut no_exp = c.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        status_with(&app, &sign(no_exp)).await,
        StatusCode::UNAUTHORIZED,
        "no exp"
    );

    // And the well-formed one is accepted, so the refusals above are meaningful.
    assert_eq!(status_with(&app, &sign(c)).await, StatusCode::OK);
}

async fn rotation_keeps_old_tokens_verifiable_by_kid(app: TestApp) {
    let user = app.new_user().await;
    let old_token = user.token.clone();
    let (_, before) = app.get("/public/jwt-public-key", None).await;
    let new_kid = app.state.tokens.rotate().await.unwrap();
    let (_, after) = app.get("/public/jwt-public-key", None).await;
    assert_eq!(after["kid"], new_kid);
    assert_ne!(after["public_key"], before["public_key"]);
    assert_eq!(
        status_with(&app, &old_token).await,
        StatusCode::OK,
        "old tokens still verify"
    );
    let new_token = app.login(&user.email, &user.password).await;
    let header = jsonwebtoken::decode_header(&new_token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(new_kid.as_str()));
    let (_, jwks) = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
}

crate::on_both_backends!(
    issued_tokens_verify_with_the_published_pem,
    forged_and_tampered_tokens_get_401,
    rotation_keeps_old_tokens_verifiable_by_kid,
);
