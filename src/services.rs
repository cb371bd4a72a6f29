//! Use cases that more than one adapter serves: the REST API and the MCP
//! server call the same functions here. Each returns its own error enum,
//! which every adapter maps to its own error shape in one place.

pub mod instances;
pub mod issues;
