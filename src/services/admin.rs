//! What operators do: grant credits to a user, revoke what is left of a
//! grant, and change a user's role. The adapters check that the caller is
//! an administrator signed in.

use crate::clock::Timestamp;
use crate::id::GrantId;
use crate::id::UserId;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::accounts::Email;
use crate::app::AppInner;
use crate::auth::Role;
use crate::cache;
use crate::ledger::{LedgerError, NewGrant};
use crate::money::Credits;
use crate::store::{GrantRow, StoreError, TransactionRow};

/// Why an operator's change was not made.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No user has the id or email.
    #[error("no such user")]
    UserNotFound,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who receives a grant.
#[derive(Debug, Clone)]
pub enum Recipient {
    Id(String),
    Email(String),
}

/// A grant of credits, as an operator asks for it.
#[derive(Debug, Clone)]
pub struct GrantCredits {
    pub to: Recipient,
    pub amount: Credits,
    pub credit_type: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub source_metadata: Option<Map<String, Value>>,
}

/// Adds credits to the user's wallet: the grant and its ledger entry.
pub async fn grant_credits(
    app: &AppInner,
    g: GrantCredits,
) -> Result<(GrantRow, TransactionRow), AdminError> {
    let user = match &g.to {
        Recipient::Id(id) => match UserId::parse(id) {
            Some(id) => app.store.user_by_id(id).await?,
            None => None,
        },
        Recipient::Email(email) => match Email::parse(email) {
            Ok(e) => app.store.user_by_email(e.as_str()).await?,
            Err(_) => None,
        },
    }
    .ok_or(AdminError::UserNotFound)?;
    let (grant, txn) = app
        .ledger
        .grant(NewGrant {
            user_id: user.id,
            amount_credits: g.amount,
            credit_type: g.credit_type,
            expires_at: g.expires_at,
            source_metadata: g.source_metadata.map(Value::Object),
        })
        .await?;
    tracing::info!(grant_id = %grant.id, credits = grant.amount_credits.get(), "credits granted");
    Ok((grant, txn))
}

/// Takes back what is left of a grant.
pub async fn revoke_grant(app: &AppInner, grant_id: GrantId) -> Result<TransactionRow, AdminError> {
    Ok(app.ledger.revoke(grant_id).await?)
}

/// Sets the user's role and ends their signed-in sessions at once; their
/// API keys keep working, with the new role.
pub async fn set_role(
    app: &AppInner,
    user_id: UserId,
    role: Role,
    by: UserId,
) -> Result<(), AdminError> {
    // The wall clock, as tokens are stamped with it: the cut-off must fall
    // after every token issued so far, whatever the app's clock says.
    let now = chrono::Utc::now().timestamp_millis();
    if !app
        .store
        .set_user_role(user_id, role, Timestamp::from_millis(now))
        .await?
    {
        return Err(AdminError::UserNotFound);
    }
    app.caches
        .invalidate(cache::kind::USER, &user_id.to_string());
    tracing::info!(role = role.as_str(), %by, "role changed; sessions ended");
    Ok(())
}
