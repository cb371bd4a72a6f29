//! Connection instances (`x-instance-id`): per-caller state that tools such
//! as instance memory keep between calls.
//!
//! A caller that names no instance uses its own default one: one per API key,
//! and one per budget for a signed-in user. So an agent that never sends the
//! header keeps its memory between calls and never piles up instances.

use crate::auth::Caller;
use crate::cache::{Caches, InstanceOwner};
use crate::clock::Timestamp;
use crate::id::InstanceId;
use crate::store::Store;
use crate::store::{InstanceRow, StoreError};

/// Why a named instance cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// Not an instance of this caller (or of this key's budget): it does not
    /// exist as far as the caller can tell.
    #[error("no such instance")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who a default instance belongs to.
fn owner(caller: &Caller) -> InstanceOwner {
    match caller.api_key_id {
        Some(key) => InstanceOwner::Key(key),
        None => InstanceOwner::User(caller.user_id, caller.budget_id),
    }
}

/// The instance a request uses: `named` (which must be the caller's; a
/// budget API key reaches only its own budget's), or the caller's default.
/// `metadata`, a JSON object's text, is stored on it.
pub async fn resolve(
    caches: &Caches,
    store: &dyn Store,
    now: chrono::DateTime<chrono::Utc>,
    caller: &Caller,
    named: Option<&str>,
    metadata: Option<String>,
) -> Result<InstanceId, InstanceError> {
    let now = Timestamp::from(now);
    let id = match named {
        Some(raw) => {
            let id = InstanceId::parse(raw.trim()).ok_or(InstanceError::NotFound)?;
            let instance = caches.instance(id).await?.ok_or(InstanceError::NotFound)?;
            let scoped_out = caller.api_key_id.is_some() && instance.budget_id != caller.budget_id;
            if instance.user_id != caller.user_id || scoped_out {
                return Err(InstanceError::NotFound);
            }
            id
        }
        None => {
            let owner = owner(caller);
            match caches.default_instance(owner) {
                Some(id) => id,
                None => {
                    let fresh = InstanceRow {
                        id: InstanceId::new(),
                        user_id: caller.user_id,
                        budget_id: caller.budget_id,
                        metadata: metadata.clone().unwrap_or_else(|| "{}".into()),
                        created_at: now,
                        last_seen_at: now,
                    };
                    let id = store.default_instance(&owner.to_string(), &fresh).await?;
                    caches.remember_default_instance(owner, id);
                    if id == fresh.id {
                        return Ok(id);
                    }
                    id
                }
            }
        }
    };
    if metadata.is_some() {
        store.touch_instance(id, metadata.as_deref(), now).await?;
    }
    Ok(id)
}
