//! Users, their default budgets and their API keys.

use crate::auth::{api_key, password, Role};
use crate::clock::Timestamp;
use crate::id::ApiKeyId;
use crate::id::ProductId;
use crate::id::{BudgetId, UserId};
use crate::store::{ApiKeyRow, BudgetRow, NewUser, Store, StoreError};

/// A syntactically valid email address, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Checks the shape `local@domain.tld`; the reason on failure reads like
    /// pydantic's `EmailStr` messages.
    pub fn parse(s: &str) -> Result<Email, &'static str> {
        let s = s.trim();
        if s.len() > 254 {
            return Err("The email address is too long.");
        }
        let (local, domain) = s
            .split_once('@')
            .ok_or("An email address must have an @-sign.")?;
        if local.is_empty() {
            return Err("There must be something before the @-sign.");
        }
        if domain.is_empty() {
            return Err("There must be something after the @-sign.");
        }
        if domain.contains('@') || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("The email address contains invalid characters.");
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels
                .iter()
                .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
        {
            return Err("The part after the @-sign is not valid. It should have a period.");
        }
        if !domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
        {
            return Err("The part after the @-sign contains invalid characters.");
        }
        Ok(Email(s.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why an account could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The ids of a new account.
#[derive(Debug, Clone)]
pub struct CreatedUser {
    pub user_id: UserId,
    pub budget_id: BudgetId,
}

/// Creates a user with a default budget and an empty wallet. Hashing runs
/// off the async threads.
pub async fn create_user(
    store: &dyn Store,
    email: &Email,
    pw: &str,
    role: Role,
    enabled_products: Vec<ProductId>,
) -> Result<CreatedUser, AccountError> {
    let hash = password::hash_async(pw.to_string()).await;
    let user = NewUser {
        id: UserId::new(),
        email: email.as_str().to_string(),
        password_hash: hash,
        role,
        budget_id: BudgetId::new(),
        created_at: Timestamp::from_millis(chrono::Utc::now().timestamp_millis()),
        enabled_products,
    };
    store.create_user(&user).await.map_err(|e| match e {
        StoreError::Conflict(_) => AccountError::EmailTaken,
        e => AccountError::Store(e),
    })?;
    Ok(CreatedUser {
        user_id: user.id,
        budget_id: user.budget_id,
    })
}

/// Mints an API key on a budget; returns the stored row and the secret.
pub async fn create_api_key(
    store: &dyn Store,
    budget: &BudgetRow,
    name: &str,
    now: i64,
) -> Result<(ApiKeyRow, String), StoreError> {
    let minted = api_key::mint();
    let row = ApiKeyRow {
        id: ApiKeyId::new(),
        user_id: budget.user_id,
        budget_id: budget.id,
        name: name.to_string(),
        prefix: minted.prefix,
        key_hash: minted.hash,
        created_at: Timestamp::from_millis(now),
        revoked_at: None,
    };
    store.insert_api_key(&row).await?;
    Ok((row, minted.secret))
}

#[cfg(test)]
mod tests {
    use super::Email;
    use proptest::prelude::*;

    #[test]
    fn emails_are_checked_and_lower_cased() {
        assert_eq!(
            Email::parse(" Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a da@example.com",
            "ada@ex@ample.com",
            "ada@-x.com",
            "ada@exa_mple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    proptest! {
        #[test]
        fn any_simple_address_parses(local in "[a-z0-9._+-]{1,20}", domain in "[a-z0-9]{1,10}", tld in "[a-z]{2,6}") {
            let s = format!("{local}@{domain}.{tld}");
            let parsed = Email::parse(&s).unwrap();
            prop_assert_eq!(parsed.as_str(), s.as_str());
        }

        #[test]
        fn nothing_without_an_at_sign_parses(s in "[^@]{0,40}") {
            prop_assert!(Email::parse(&s).is_err());
        }
    }
}
