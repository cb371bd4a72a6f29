//! Workflows and runs: definitions, the engines that execute them (a step
//! graph, and an LLM agent loop), the workers that claim queued runs under
//! leases, and what a step may do (call a tool as a purchase).

pub mod definition;
pub mod demo;
pub mod engine;
pub mod graph;
pub mod llm;
pub mod template;
pub mod versions;
pub mod view;
pub mod worker;

pub use engine::{Engine, EngineOutcome, RunCtx, StepError};
