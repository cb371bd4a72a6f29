//! The quota check for handlers: `services::quotas` answered as the API's
//! error (mapped in `error.rs`).

pub use crate::services::quotas::Quota;

use super::error::ApiResult;
use crate::app::AppInner;

/// Refuses one more object when `existing` already reaches the quota.
pub fn check(state: &AppInner, quota: Quota, existing: i64) -> ApiResult<()> {
    crate::services::quotas::check(state, quota, existing).map_err(Into::into)
}
