//! The request and response bodies of the Tollgate HTTP API, one typed
//! source for the server's handlers, its OpenAPI document and the client
//! crate. Each type derives its JSON Schema (`utoipa::ToSchema`) with the
//! constraints the server enforces. For the AgentPMT Programmatic Access
//! endpoints the names, types, required-ness and descriptions are the
//! spec's.

use serde_json::Value;

/// A free-form JSON object.
pub type Object = serde_json::Map<String, Value>;

/// Who may see a workflow or a bundle.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Only its owner.
    Private,
    /// Every account, which may enable it on a budget of its own.
    Public,
}

/// Whether a workflow or a tool can be used.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ActiveStatus {
    Active,
    Disabled,
}

impl Visibility {
    /// The stored and answered name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Public => "public",
        }
    }
}

impl ActiveStatus {
    /// The stored and answered name.
    pub fn as_str(&self) -> &'static str {
        match self {
            ActiveStatus::Active => "active",
            ActiveStatus::Disabled => "disabled",
        }
    }
}

pub mod admin;
pub mod approvals;
pub mod auth;
pub mod budgets;
pub mod bundles;
pub mod credentials;
pub mod credits;
pub mod errors;
pub mod issues;
pub mod products;
pub mod public;
pub mod runs;
pub mod vendor;
pub mod webhooks;
pub mod workflows;

pub use admin::*;
pub use approvals::*;
pub use auth::*;
pub use budgets::*;
pub use bundles::*;
pub use credentials::*;
pub use credits::*;
pub use errors::*;
pub use issues::*;
pub use products::*;
pub use public::*;
pub use runs::*;
pub use vendor::*;
pub use webhooks::*;
pub use workflows::*;
