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

use crate::ledger::LedgerError;
use crate::services::instances::InstanceUseError;
use crate::services::issues::ReportError;
use crate::store::StoreError;

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

/// Marks a response as an internal error, so the request-id middleware can
/// name the request in its body.
#[derive(Clone, Copy, Debug)]
pub struct InternalErrorMarker;

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

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.into())
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::InsufficientCredits { available, requested } => ApiError::coded(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_credits",
                format!("This call costs {requested} credits but only {available} are available. Ask the account owner to add credits."),
            )
            .with_data(json!({"balance": available, "price": requested})),
            LedgerError::CapReached { window, cap, spent, requested } => ApiError::coded(
                StatusCode::TOO_MANY_REQUESTS,
                "budget_cap_reached",
                format!("This call costs {requested} credits, which would take the budget past its {window} cap of {cap} credits ({spent} already committed). Wait for the window to pass or ask the owner to raise the cap."),
            )
            .with_data(json!({"window": window, "cap": cap, "spent": spent, "price": requested})),
            LedgerError::InvalidAmount => ApiError::field(
                FieldError::new(vec!["body".into(), "amount_credits".into()], "greater_than", "Input should be greater than 0", Value::Null)
                    .with_ctx(json!({"gt": 0})),
            ),
            LedgerError::ExpiryInPast => ApiError::field(FieldError::new(
                vec!["body".into(), "expires_at".into()],
                "datetime_future",
                "Input should be in the future",
                Value::Null,
            )),
            LedgerError::UnknownWallet => ApiError::not_found("user_not_found", "No such user."),
            LedgerError::UnknownGrant => ApiError::not_found("grant_not_found", "No such grant."),
            LedgerError::UnknownHold => ApiError::not_found("hold_not_found", "No such hold."),
            LedgerError::NothingToRevoke => {
                ApiError::conflict("nothing_to_revoke", "The grant has no credits left to revoke.")
            }
            LedgerError::Stopped => ApiError::coded(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "The server is shutting down; retry on another node or in a moment.",
            ),
            LedgerError::Store(e) => ApiError::Internal(e.into()),
        }
    }
}

impl From<InstanceUseError> for ApiError {
    fn from(e: InstanceUseError) -> Self {
        let header = || vec!["header".into(), "x-instance-metadata".into()];
        match e {
            InstanceUseError::MetadataNotObject(input) => ApiError::field(FieldError::new(
                header(),
                "dict_type",
                "Input should be a valid dictionary",
                input,
            )),
            InstanceUseError::MetadataNotJson { text, error } => ApiError::field(
                FieldError::new(header(), "json_invalid", "Invalid JSON", text.into())
                    .with_ctx(json!({ "error": error })),
            ),
            InstanceUseError::NotFound => ApiError::not_found(
                "instance_not_found",
                "No connection instance with this id belongs to you; omit x-instance-id to use your own default instance.",
            ),
            InstanceUseError::Store(e) => e.into(),
        }
    }
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::RateLimited { per_hour } => ApiError::coded(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("At most {per_hour} issue reports an hour are accepted per account; try again later."),
            ),
            ReportError::Store(e) => e.into(),
        }
    }
}

/// The body of a generic internal error.
pub fn internal_body(request_id: Option<&str>) -> Value {
    json!({
        "success": false,
        "error": "internal_error",
        "message": "Internal server error. Quote the request id when reporting it.",
        "detail": "Internal server error",
        "request_id": request_id,
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Validation(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "detail": errors })),
            )
                .into_response(),
            ApiError::Coded {
                status,
                code,
                message,
                data,
            } => {
                let mut body =
                    json!({"success": false, "error": code, "message": message, "detail": message});
                if let Some(data) = data {
                    body["data"] = data;
                }
                (status, Json(body)).into_response()
            }
            ApiError::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "internal error");
                let mut response =
                    (StatusCode::INTERNAL_SERVER_ERROR, Json(internal_body(None))).into_response();
                response.extensions_mut().insert(InternalErrorMarker);
                response
            }
        }
    }
}
