//! The use cases the adapters call: a handler parses and authorises, calls
//! one function here and maps its result; the MCP server calls the same
//! functions where it serves the same use case (a purchase, an issue
//! report, bearer authentication, a quota). Each returns its own error
//! enum, which every adapter maps to its own error shape in one place.

pub mod admin;
pub mod approvals;
pub mod bearer;
pub mod budgets;
pub mod bundles;
pub mod credentials;
pub mod credits;
pub mod embed;
pub mod idempotency;
pub mod instances;
pub mod issues;
pub mod products;
pub mod purchase;
pub mod quotas;
pub mod sessions;
pub mod status;
pub mod toolbox;
pub mod trigger;
pub mod workflows;

/// A header value's text, as HTTP defines it: visible ASCII, spaces and
/// tabs. Any other byte makes the value unreadable (`None`), as it was to
/// every adapter before the services took header text.
pub fn header_text(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}
