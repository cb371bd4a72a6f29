//! `GET /webhooks/secret` and `POST /webhooks/secret/rotate`: the secret
//! that signs a user's run callbacks (see [`crate::delivery`]). Both need
//! the user signed in; an agent's API key cannot read or replace it.

use super::openapi::schemas as oa;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::{ApiError, ApiResult};
use super::extract::require_user_token;
use crate::app::AppState;
use crate::auth::Caller;
use crate::delivery;

/// The answer both routes give; never cached, since it holds the secret.
fn secret_response(secret: String, message: &str) -> Response {
    let mut response = Json(oa::WebhookSecretResponse {
        success: true,
        message: message.into(),
        data: oa::WebhookSecret {
            secret,
            algorithm: "HMAC-SHA256".into(),
            scheme: "Standard Webhooks".into(),
        },
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /webhooks/secret`: the caller's signing secret, made on first use.
#[utoipa::path(
    get,
    path = "/webhooks/secret",
    tag = "Webhooks",
    operation_id = "webhooks_get_secret",
    summary = "Get my webhook signing secret",
    description = "The secret that signs the caller's run callbacks (Standard Webhooks), made on first use. Not cached.",
    responses(
        (status = 200, description = "The secret.", body = oa::WebhookSecretResponse),
        super::openapi::Unauthorized,
        (status = 403, description = "An API key was used where an access token from POST /auth/login is required (`user_token_required`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn get_secret(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    require_user_token(&caller, "Managing the webhook signing secret")?;
    let secret = delivery::secret_for(&state, caller.user_id)
        .await
        .map_err(ApiError::internal)?;
    Ok(secret_response(secret, "Webhook signing secret retrieved"))
}

/// `POST /webhooks/secret/rotate`: replaces the secret; callbacks from now
/// on are signed with the new one only.
#[utoipa::path(
    post,
    path = "/webhooks/secret/rotate",
    tag = "Webhooks",
    operation_id = "webhooks_rotate_secret",
    summary = "Rotate my webhook signing secret",
    description = "Callbacks from now on are signed with the new secret only.",
    responses(
        (status = 200, description = "The new secret.", body = oa::WebhookSecretResponse),
        super::openapi::Unauthorized,
        (status = 403, description = "An API key was used where an access token from POST /auth/login is required (`user_token_required`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn rotate_secret(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    require_user_token(&caller, "Managing the webhook signing secret")?;
    let secret = delivery::rotate_secret(&state, caller.user_id)
        .await
        .map_err(ApiError::internal)?;
    Ok(secret_response(secret, "Webhook signing secret rotated"))
}
