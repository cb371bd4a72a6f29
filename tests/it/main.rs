//! Integration tests: real servers on 127.0.0.1, driven over HTTP.

mod harness;

mod accounts;
mod architecture;
mod browser;
mod caching;
mod callbacks;
mod catalog;
mod claims;
mod cli;
mod client;
mod clock_steps;
mod consent;
mod crash;
mod credits;
mod embed;
mod issues;
mod keyed;
mod ledger;
mod llm;
mod mcp;
mod openapi;
mod public;
mod purchase;
mod quotas;
mod run_limits;
mod scoping;
mod security;
mod tokens;
mod vendor;
mod workflows;
