//! The application layer: the state the adapters (HTTP, MCP, the embed
//! pages) hand to the use cases, and the settings it runs with. It knows
//! the domain and the store, and nothing of the adapters above it.

mod state;

pub use state::{AppInner, AppState, Settings};
