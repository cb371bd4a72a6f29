//! Endpoints that need no token: health, readiness and the signing keys.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiResult;
use super::AppState;

/// `GET /health`: the process is accepting requests.
pub async fn health() -> impl IntoResponse {
    // A constant body: the cheapest answer the server can give, and the
    // baseline the purchase benchmark is measured against.
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

/// `GET /ready`: the database answers too.
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": state.store.backend()})),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "database": state.store.backend()})),
            )
        }
    }
}

/// `GET /public/jwt-public-key`: the PEM (SubjectPublicKeyInfo) of the current key.
pub async fn jwt_public_key(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let keys = state.tokens.public_keys();
    let current = keys
        .first()
        .ok_or_else(|| super::error::ApiError::internal(anyhow::anyhow!("no signing key")))?;
    Ok(Json(json!({
        "success": true,
        "public_key": current.pem,
        "algorithm": "EdDSA",
        "kid": current.kid,
        "issuer": state.tokens.issuer(),
        "message": "Verify tokens issued by this server with this Ed25519 key (algorithm EdDSA). Older keys still in use are listed at /.well-known/jwks.json.",
    })))
}

/// `GET /.well-known/jwks.json`: every key that may still verify a token.
pub async fn jwks(State(state): State<AppState>) -> Json<Value> {
    let keys: Vec<Value> = state
        .tokens
        .public_keys()
        .into_iter()
        .map(|k| json!({"kty": "OKP", "crv": "Ed25519", "x": k.x, "kid": k.kid, "alg": "EdDSA", "use": "sig"}))
        .collect();
    Json(json!({ "keys": keys }))
}
