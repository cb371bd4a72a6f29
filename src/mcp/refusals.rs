//! The `/mcp` gate's own refusals, before a request reaches the SDK: the
//! REST API's error shape, `{"success":false,"error","message","detail"}`
//! (with `data` when there is more to say), and its generic 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use tollgate_api::ErrorResponse;

use crate::app::InternalErrorMarker;
use crate::services::bearer::AuthError;
use crate::services::quotas::QuotaExceeded;
use crate::store::StoreError;

/// A refusal with a status and a stable code.
pub(crate) fn refusal(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
    data: Option<Value>,
) -> Response {
    let data = match data {
        Some(Value::Object(data)) => Some(data),
        _ => None,
    };
    (status, Json(ErrorResponse::refusal(code, message, data))).into_response()
}

/// A request without a valid bearer token.
pub(crate) fn unauthenticated(e: AuthError) -> Response {
    match e {
        AuthError::Store(e) => internal(e),
        e => refusal(StatusCode::UNAUTHORIZED, e.code(), e.to_string(), None),
    }
}

/// A session more than the user's quota allows.
pub(crate) fn over_quota(e: QuotaExceeded) -> Response {
    refusal(
        StatusCode::CONFLICT,
        "quota_exceeded",
        e.message(),
        Some(e.data()),
    )
}

/// A fault: logged with its cause, answered with the generic body, which
/// the middleware completes with the request id.
fn internal(e: StoreError) -> Response {
    tracing::error!(
        error = format!("{:#}", anyhow::Error::from(e)),
        "internal error"
    );
    let body = ErrorResponse::internal(None);
    let mut response = (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
    response.extensions_mut().insert(InternalErrorMarker);
    response
}
