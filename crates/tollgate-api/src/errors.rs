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
