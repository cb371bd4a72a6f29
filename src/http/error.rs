//! How errors reach clients.
//!
//! - Request validation on the spec's endpoints answers 422 in FastAPI's
//!   shape, `{"detail":[{"loc","msg","type","input","ctx"?}]}`, with pydantic
//!   v2's type codes.
//! - Every other refusal is `{"success":false,"error":"<stable code>",
//!   "message":"<what to do>","detail":"<same message>"}` with its status.
//!   `detail` is there for clients written against FastAPI's error shape.
//! - Internal failures are logged with their cause chain and answered with a
//!   generic 500 that names the request id, never the cause.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use super::openapi::schemas as oa;
use crate::services::idempotency::SavedResponse;

/// One item of a FastAPI validation error.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldError {
    pub loc: Vec<Value>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub input: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Value>,
}

impl FieldError {
    pub fn new(loc: Vec<Value>, kind: &'static str, msg: impl Into<String>, input: Value) -> Self {
        FieldError {
            loc,
            msg: msg.into(),
            kind,
            input,
            ctx: None,
        }
    }

    /// A rule beyond the field's type that the value breaks: pydantic's
    /// `value_error`, with the message in `ctx.error`.
    pub fn value_error(loc: Vec<Value>, message: &str, input: Value) -> Self {
        FieldError::new(loc, "value_error", format!("Value error, {message}"), input)
            .with_ctx(json!({ "error": message }))
    }

    pub fn with_ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(ctx);
        self
    }
}

/// An error answered to a client.
#[derive(Debug)]
pub enum ApiError {
    /// 422 in FastAPI's shape.
    Validation(Vec<FieldError>),
    /// A refusal with a status and a stable code.
    Coded {
        status: StatusCode,
        code: &'static str,
        message: String,
        data: Option<Value>,
    },
    /// Something broke inside; logged, never shown.
    Internal(anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

mod mapping;

pub use crate::app::InternalErrorMarker;

impl ApiError {
    pub fn coded(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Coded {
            status,
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(self, extra: Value) -> Self {
        match self {
            ApiError::Coded {
                status,
                code,
                message,
                ..
            } => ApiError::Coded {
                status,
                code,
                message,
                data: Some(extra),
            },
            other => other,
        }
    }

    pub fn field(err: FieldError) -> Self {
        ApiError::Validation(vec![err])
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::coded(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::coded(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::coded(StatusCode::FORBIDDEN, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::coded(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::coded(StatusCode::CONFLICT, code, message)
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(err.into())
    }
}

/// Whole seconds to wait, at least one: what `Retry-After` says.
pub fn retry_after_secs(wait: std::time::Duration) -> u64 {
    wait.as_millis().div_ceil(1000).max(1) as u64
}

/// A JSON object, or nothing: `data` and `ctx` are objects by contract.
fn object(value: Option<Value>) -> Option<oa::Object> {
    match value? {
        Value::Object(map) => Some(map),
        other => {
            debug_assert!(false, "error data that is not an object: {other}");
            None
        }
    }
}

impl From<FieldError> for oa::ValidationError {
    fn from(e: FieldError) -> Self {
        oa::ValidationError {
            loc: e
                .loc
                .into_iter()
                .map(|item| match item {
                    Value::Number(n) if n.is_i64() => oa::LocItem::Index(n.as_i64().unwrap_or(0)),
                    Value::String(s) => oa::LocItem::Name(s),
                    other => oa::LocItem::Name(other.to_string()),
                })
                .collect(),
            msg: e.msg,
            kind: e.kind.into(),
            input: e.input,
            ctx: object(e.ctx),
        }
    }
}

/// The body of a refusal.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum RefusalBody {
    Validation(oa::HTTPValidationError),
    Coded(oa::ErrorResponse),
}

impl ApiError {
    /// A refusal's status and body; `Err` with the fault of an internal one.
    fn refusal(self) -> Result<(StatusCode, RefusalBody), anyhow::Error> {
        match self {
            ApiError::Validation(errors) => {
                let body = oa::HTTPValidationError {
                    detail: errors.into_iter().map(Into::into).collect(),
                };
                Ok((
                    StatusCode::UNPROCESSABLE_ENTITY,
                    RefusalBody::Validation(body),
                ))
            }
            ApiError::Coded {
                status,
                code,
                message,
                data,
            } => {
                let body = oa::ErrorResponse::refusal(code, message, object(data));
                Ok((status, RefusalBody::Coded(body)))
            }
            ApiError::Internal(err) => Err(err),
        }
    }

    /// A refusal as it is recorded for an `Idempotency-Key` and replayed;
    /// an internal fault is not recorded and comes back as `Err`.
    pub fn recorded(self) -> Result<SavedResponse, ApiError> {
        let (status, body) = self.refusal().map_err(ApiError::Internal)?;
        Ok(SavedResponse {
            status: status.as_u16(),
            body: serde_json::to_string(&body).map_err(ApiError::internal)?,
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.refusal() {
            Ok((status, body)) => (status, Json(body)).into_response(),
            Err(err) => {
                tracing::error!(error = format!("{err:#}"), "internal error");
                let mut response = (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(oa::ErrorResponse::internal(None)),
                )
                    .into_response();
                response.extensions_mut().insert(InternalErrorMarker);
                response
            }
        }
    }
}
