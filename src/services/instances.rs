//! The connection instance a request uses, named by its `x-instance-id`
//! header (or the caller's default one), with the metadata of its
//! `x-instance-metadata` header stored on it.

use serde_json::Value;

use crate::app::AppInner;
use crate::auth::Caller;
use crate::instances::{self, InstanceError};
use crate::store::StoreError;

/// Why a request's connection instance cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InstanceUseError {
    /// `x-instance-metadata` is JSON, but not an object.
    #[error("x-instance-metadata is not a JSON object")]
    MetadataNotObject(Value),
    /// `x-instance-metadata` is not JSON at all.
    #[error("x-instance-metadata is not JSON: {error}")]
    MetadataNotJson { text: String, error: String },
    /// `x-instance-id` names no instance of this caller.
    #[error("no such instance")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a request says about its connection instance: the text of its
/// `x-instance-id` and `x-instance-metadata` headers.
#[derive(Debug, Clone, Default)]
pub struct InstanceHeaders {
    pub id: Option<String>,
    pub metadata: Option<String>,
}

impl InstanceHeaders {
    /// The headers of a request, their values read by name with `header`
    /// as the adapter received them. A value that is not header text reads
    /// as empty: an unknown instance, or metadata that is not JSON.
    pub fn read<'a>(header: impl Fn(&str) -> Option<&'a [u8]>) -> InstanceHeaders {
        let text = |v: &[u8]| super::header_text(v).unwrap_or_default().to_owned();
        InstanceHeaders {
            id: header("x-instance-id").map(text),
            metadata: header("x-instance-metadata").map(text),
        }
    }
}

/// The id of the instance a request with `headers` uses.
pub async fn resolve(
    app: &AppInner,
    caller: &Caller,
    headers: &InstanceHeaders,
) -> Result<crate::id::InstanceId, InstanceUseError> {
    let metadata = match headers.metadata.as_deref() {
        None => None,
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => Some(Value::Object(m).to_string()),
            Ok(other) => return Err(InstanceUseError::MetadataNotObject(other)),
            Err(e) => {
                return Err(InstanceUseError::MetadataNotJson {
                    text: text.into(),
                    error: e.to_string(),
                })
            }
        },
    };
    let named = headers.id.as_deref();
    instances::resolve(
        &app.caches,
        app.store.as_ref(),
        app.clock.now(),
        caller,
        named,
        metadata,
    )
    .await
    .map_err(|e| match e {
        InstanceError::NotFound => InstanceUseError::NotFound,
        InstanceError::Store(e) => InstanceUseError::Store(e),
    })
}
