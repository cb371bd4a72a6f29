//! Tollgate: a self-hostable platform on which AI agents pay for and use
//! tools, implementing the AgentPMT Programmatic Access API.

// The one exception: setting the busy handler of sqlx's SQLite writer
// connection (`store::sqlite` and `store::sqlite_sync::writer_waits`).
#![deny(unsafe_code)]

pub mod accounts;
pub mod app;
pub mod auth;
pub mod cache;
pub mod catalog;
pub mod cli;
pub mod client_cli;
pub mod clock;
pub mod column;
pub mod config;
pub mod delivery;
pub mod embed;
pub mod html;
pub mod http;
pub mod id;
pub mod instances;
pub mod ledger;
pub mod mcp;
pub mod money;
pub mod purchase;
pub mod secret;
pub mod services;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tools;
pub mod workflows;
