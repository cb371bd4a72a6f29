//! Tools: the builtin tools that ship in the binary, and the proxy that
//! forwards paid calls to vendors' HTTP endpoints.

pub mod builtin;
pub mod outbound;
pub mod vendor;

use crate::id::UserId;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::money::Credits;
use crate::store::Store;

/// What a tool call can fail with. None of these is charged.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The parameters passed the schema but the tool cannot use them
    /// (an expression that does not parse, an unknown time zone, ...).
    /// Answered 422, pointing at `field` when given.
    #[error("{message}")]
    InvalidInput {
        field: Option<String>,
        message: String,
    },
    /// The tool ran and failed (an upstream error, a refused address, ...). Answered 502.
    #[error("{0}")]
    Failed(String),
    /// The tool did not finish in time. Answered 504.
    #[error("the tool did not answer in time")]
    Timeout,
}

impl ToolError {
    /// Bad input, pointing at one parameter.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ToolError::InvalidInput {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }
}

/// One action of a tool, as declared in the catalog.
#[derive(Debug, Clone)]
pub struct ActionSpec {
    pub name: &'static str,
    pub description: &'static str,
    /// JSON Schema (draft 2020-12) of the action's parameters; always `"type": "object"`.
    pub parameters: Value,
    pub price_credits: Credits,
}

/// A builtin tool's catalog entry.
#[derive(Debug, Clone)]
pub struct BuiltinSpec {
    /// URL-safe identifier, unique in the catalog: `[a-z0-9-]+`.
    pub slug: &'static str,
    /// The function name agents call it by: `[a-z0-9_]+`.
    pub name: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
    pub category: &'static str,
    pub actions: Vec<ActionSpec>,
}

/// What a tool may use while it runs.
#[derive(Clone)]
pub struct ToolContext {
    pub store: Arc<dyn Store>,
    pub user_id: UserId,
    /// The connection instance the call belongs to.
    pub instance_id: crate::id::InstanceId,
    pub outbound: Arc<outbound::Outbound>,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// A tool implemented inside Tollgate.
#[async_trait]
pub trait BuiltinTool: Send + Sync + 'static {
    fn spec(&self) -> BuiltinSpec;
    /// True when `action` changes something outside the call itself (stored
    /// state, another server). Such calls hold their price before they run;
    /// calls without outside effects run first and are charged in one write.
    fn has_outside_effect(&self, _action: &str) -> bool {
        false
    }
    /// Runs `action` with `params`, which already passed the action's schema
    /// (minus the `action` key itself).
    async fn call(
        &self,
        action: &str,
        params: &Value,
        ctx: &ToolContext,
    ) -> Result<Value, ToolError>;
}

/// Every builtin tool, in catalog order.
pub fn builtins() -> Vec<Arc<dyn BuiltinTool>> {
    builtin::all()
}
