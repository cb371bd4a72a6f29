//! The credentials a product's calls need: the caller's stored ones,
//! opened, or an approval request for each one missing.

use serde_json::{json, Value};

use super::PurchaseError;
use crate::app::approvals::{self, NewApproval};
use crate::app::AppInner;
use crate::auth::Caller;
use crate::catalog::{CredentialSpec, Product};
use crate::store::ApprovalKind;

/// The caller's stored credentials the product needs, opened; or the
/// approval requests for those missing.
pub(super) async fn resolve(
    app: &AppInner,
    caller: &Caller,
    product: &Product,
) -> Result<Vec<(CredentialSpec, String)>, PurchaseError> {
    let stored = app
        .store
        .credentials_for(caller.user_id, product.id())
        .await?;
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let mut request_ids = Vec::new();
    for spec in &product.credentials {
        match stored.iter().find(|c| c.name == spec.name) {
            Some(c) => {
                let value = app
                    .master
                    .open(&c.value_sealed)
                    .map_err(PurchaseError::Internal)?;
                found.push((spec.clone(), String::from_utf8_lossy(&value).into_owned()));
            }
            None => {
                missing.push(missing_credential(product, spec));
                request_ids
                    .push(approvals::open(app, credential_request(caller, product, spec)).await?);
            }
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(PurchaseError::MissingCredentials {
            missing,
            request_ids,
        })
    }
}

/// The request asking for a credential `product` needs: the same whether a
/// purchase or a workflow trigger finds it missing.
pub fn credential_request(
    caller: &Caller,
    product: &Product,
    spec: &CredentialSpec,
) -> NewApproval {
    NewApproval::by(
        caller,
        ApprovalKind::Credential,
        format!("{}:{}", product.row.id, spec.name),
        json!({"product_id": product.row.id, "product_name": product.row.name, "credential": spec.name}),
    )
}

/// A missing credential, as a refusal lists it.
pub fn missing_credential(product: &Product, spec: &CredentialSpec) -> Value {
    json!({"product_id": product.row.id, "name": spec.name, "location": spec.location, "field": spec.field})
}
