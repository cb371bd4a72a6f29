//! Idempotent requests: the protocol lives in [`crate::app::idempotency`],
//! beneath the services, because the workflow engines claim their steps'
//! keys with it too.

pub use crate::app::idempotency::*;
