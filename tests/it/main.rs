//! Integration tests: real servers on 127.0.0.1, driven over HTTP.

mod harness;

mod accounts;
mod browser;
mod callbacks;
mod catalog;
mod cli;
mod client;
mod credits;
mod embed;
mod issues;
mod ledger;
mod llm;
mod mcp;
mod openapi;
mod public;
mod purchase;
mod run_limits;
mod tokens;
mod vendor;
mod workflows;
