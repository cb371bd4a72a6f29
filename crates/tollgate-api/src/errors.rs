//! Wire types: errors.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::Object;
/// One item of `loc`: a field name or an array index.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LocItem {
    Name(String),
    Index(i64),
}

/// One validation problem, in FastAPI's (pydantic v2's) shape.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct ValidationError {
    /// Where the problem is: `body`, `query` or `header`, then the field path.
    pub loc: Vec<LocItem>,
    /// What is wrong, for a person.
    pub msg: String,
    /// The pydantic error type, such as `missing`, `int_parsing` or `json_invalid`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The offending input.
    #[serde(default)]
    pub input: Value,
    /// Extra context for the error type (limits, expected values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Object>,
}

/// The 422 body of request validation errors.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
#[allow(clippy::upper_case_acronyms)]
pub struct HTTPValidationError {
    #[serde(default)]
    pub detail: Vec<ValidationError>,
}

/// A refusal: a stable code and a message saying what to do.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// Always `false`.
    #[schema(value_type = bool, example = false)]
    pub success: bool,
    /// Stable machine-readable error code.
    pub error: String,
    /// Human-readable error message.
    pub message: String,
    /// The same message, for clients written against FastAPI's error shape.
    pub detail: String,
    /// Facts about the refusal, for some codes (for example the balance and
    /// price of `insufficient_credits`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Object>,
    /// The request id, on internal errors (500), to quote when reporting them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorResponse {
    /// A refusal with its stable `code`; `detail` repeats the message.
    pub fn refusal(
        code: impl Into<String>,
        message: impl Into<String>,
        data: Option<Object>,
    ) -> Self {
        let message = message.into();
        ErrorResponse {
            success: false,
            error: code.into(),
            detail: message.clone(),
            message,
            data,
            request_id: None,
        }
    }

    /// The body of a generic internal error (`internal_error`), which says
    /// nothing of its cause; the server logs that under the request id.
    pub fn internal(request_id: Option<&str>) -> Self {
        ErrorResponse {
            success: false,
            error: "internal_error".into(),
            message: "Internal server error. Quote the request id when reporting it.".into(),
            detail: "Internal server error".into(),
            data: None,
            request_id: request_id.map(str::to_owned),
        }
    }
}
