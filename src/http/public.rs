//! Endpoints that need no token: health, readiness and the signing keys.

use super::openapi::schemas as oa;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;

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
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<oa::ReadyResponse>) {
    let r = crate::services::status::readiness(&state).await;
    let (status, word) = if r.ready {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    let body = oa::ReadyResponse {
        status: word.into(),
        database: r.database.into(),
    };
    (status, Json(body))
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
        super::openapi::Internal,
    ),
)]
pub async fn jwt_public_key(
    State(state): State<AppState>,
) -> ApiResult<Json<oa::JwtPublicKeyResponse>> {
    let current = state
        .tokens
        .public_keys()
        .into_iter()
        .next()
        .ok_or_else(|| super::error::ApiError::internal(anyhow::anyhow!("no signing key")))?;
    Ok(Json(oa::JwtPublicKeyResponse {
        success: true,
        public_key: current.pem,
        algorithm: "EdDSA".into(),
        kid: current.kid,
        issuer: state.tokens.issuer().into(),
        message: "Verify tokens issued by this server with this Ed25519 key (algorithm EdDSA). Older keys still in use are listed at /.well-known/jwks.json.".into(),
    }))
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
pub async fn jwks(State(state): State<AppState>) -> Json<oa::JwksResponse> {
    let keys = state
        .tokens
        .public_keys()
        .into_iter()
        .map(|k| oa::Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: k.x,
            kid: k.kid,
            alg: "EdDSA".into(),
            use_: "sig".into(),
        })
        .collect();
    Json(oa::JwksResponse { keys })
}
