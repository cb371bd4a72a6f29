//! A user's stored credentials for tools: sealed at rest with the master
//! key, listed by name only, never shown again.

use crate::app::AppInner;
use crate::auth::Caller;
use crate::clock::Timestamp;
use crate::id::ProductId;
use crate::store::{ApprovalKind, ApprovalStatus, CredentialRow, StoreError};

/// Why a credential cannot be stored or deleted.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// No tool matches the id, slug or name.
    #[error("no such tool")]
    ProductNotFound,
    /// The tool declares no credential with the name.
    #[error("the tool declares no credential named {0:?}")]
    NotDeclared(String),
    /// The tool sends the credential in a header, and the value could never
    /// be one (a line break, another control character).
    #[error("a credential sent in a header cannot contain control characters")]
    NotHeaderSafe,
    /// The caller stores no credential with the name for the tool.
    #[error("no stored credential with this name for this tool")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A credential as it was stored: never its value.
#[derive(Debug, Clone)]
pub struct Stored {
    pub product_id: ProductId,
    pub name: String,
    pub updated_at: Timestamp,
}

/// Stores or replaces the caller's credential `name` for the tool `product`
/// (its id, slug or name), and resolves the approval requests agents opened
/// for it.
pub async fn put(
    app: &AppInner,
    caller: &Caller,
    product: &str,
    name: String,
    value: &str,
) -> Result<Stored, CredentialError> {
    let snapshot = app.catalog.snapshot();
    let (p, _) = snapshot
        .resolve(product)
        .ok_or(CredentialError::ProductNotFound)?;
    let Some(spec) = p.credentials.iter().find(|c| c.name == name) else {
        return Err(CredentialError::NotDeclared(name));
    };
    if spec.location == "header" && reqwest::header::HeaderValue::from_str(value).is_err() {
        return Err(CredentialError::NotHeaderSafe);
    }
    let now = Timestamp::from(app.clock.now());
    app.store
        .put_credential(&CredentialRow {
            user_id: caller.user_id,
            product_id: p.row.id,
            name: name.clone(),
            value_sealed: app.master.seal(value.as_bytes()),
            created_at: now,
            updated_at: now,
        })
        .await?;
    // The request an agent opened for this credential is now satisfied.
    let subject = format!("{}:{}", p.row.id, name);
    app.store
        .resolve_approvals_for(
            caller.user_id,
            ApprovalKind::Credential,
            &subject,
            ApprovalStatus::Approved,
            now,
        )
        .await?;
    Ok(Stored {
        product_id: p.row.id,
        name,
        updated_at: now,
    })
}

/// The caller's stored credentials.
pub async fn list(app: &AppInner, caller: &Caller) -> Result<Vec<Stored>, StoreError> {
    Ok(app
        .store
        .credentials_of_user(caller.user_id)
        .await?
        .into_iter()
        .map(|c| Stored {
            product_id: c.product_id,
            name: c.name,
            updated_at: c.updated_at,
        })
        .collect())
}

/// Deletes the caller's credential `name` for the tool `product`; a tool
/// since removed from the catalog is named by its id. Answers the tool's id.
pub async fn delete(
    app: &AppInner,
    caller: &Caller,
    product: &str,
    name: &str,
) -> Result<ProductId, CredentialError> {
    let id = app
        .catalog
        .snapshot()
        .resolve(product)
        .map(|(p, _)| p.row.id)
        .or_else(|| ProductId::parse(product))
        .ok_or(CredentialError::NotFound)?;
    if app
        .store
        .delete_credential(caller.user_id, id, name)
        .await?
    {
        Ok(id)
    } else {
        Err(CredentialError::NotFound)
    }
}
