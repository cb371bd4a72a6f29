//! Endpoints that need no token: health, readiness and the signing keys.

use super::openapi::schemas as oa;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiResult;
use crate::app::AppState;

/// `GET /health`: the process is accepting requests.
#[utoipa::path(
    get,
    path = "/health",
    tag = "Public",
    operation_id = "public_health",
    summary = "API health probe",
    description = "The process is accepting requests. Needs no token.",
    responses(
        (status = 200, description = "Successful Response", body = oa::HealthResponse),
    ),
)]
pub async fn health() -> impl IntoResponse {
    // A constant body: the cheapest answer the server can give, and the
    // baseline the purchase benchmark is measured against.
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

/// `GET /ready`: the database answers too.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "Public",
    operation_id = "public_ready",
    summary = "Readiness probe",
    description = "The process and its database answer.",
    responses(
        (status = 200, description = "Ready.", body = oa::ReadyResponse),
        (status = 503, description = "The database does not answer (`status` is `unavailable`).", body = oa::ReadyResponse),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/public/jwt-public-key",
    tag = "Public",
    operation_id = "public_jwt_public_key",
    summary = "Fetch the JWT verification public key",
    description = "Get the JWT public key for verifying vendor access tokens.",
    responses(
        (status = 200, description = "Successful Response", body = oa::JwtPublicKeyResponse),
        (status = 500, description = "Unexpected server error (`internal_error`); the body names the request id.", body = oa::ErrorResponse),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "Public",
    operation_id = "public_jwks",
    summary = "JSON Web Key Set",
    description = "Every Ed25519 key that may still verify a token issued by this server.",
    responses(
        (status = 200, description = "The key set.", body = oa::JwksResponse),
    ),
)]
pub async fn jwks(State(state): State<AppState>) -> Json<Value> {
    let keys: Vec<Value> = state
        .tokens
        .public_keys()
        .into_iter()
        .map(|k| json!({"kty": "OKP", "crv": "Ed25519", "x": k.x, "kid": k.kid, "alg": "EdDSA", "use": "sig"}))
        .collect();
    Json(json!({ "keys": keys }))
}
