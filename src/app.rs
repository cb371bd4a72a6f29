//! The application layer: the state the adapters (HTTP, MCP, the embed
//! pages) hand to the use cases, and the settings it runs with; and what
//! the purchase path, the workflow engines and the services share beneath
//! them (opening approval requests, the idempotency protocol, the
//! internal-error mark). It knows the domain and the store, and nothing of
//! the adapters above it.

pub mod approvals;
pub mod idempotency;
mod marker;
mod state;

pub use marker::InternalErrorMarker;
pub use state::{AppInner, AppState, Settings};
