//! The builtin tools. Each file is one tool; `all()` lists them in catalog order.

use std::sync::Arc;

use super::BuiltinTool;

// Tools that need only their input.
// (one `mod` line per tool file)

// Tools that use the store or the network.
mod memory;
mod web_fetch;

/// Every builtin tool, in catalog order.
pub fn all() -> Vec<Arc<dyn BuiltinTool>> {
    vec![
        // (one entry per tool)
        Arc::new(memory::Tool),
        Arc::new(web_fetch::Tool),
    ]
}
