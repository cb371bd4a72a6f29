//! Sign-up, sign-in and sign-out. Attempts are throttled per address (and
//! sign-in also per account) before any password is hashed, so a flood of
//! guesses costs the server nothing but a counter.

use std::net::IpAddr;
use std::time::Duration;

use crate::accounts::{self, AccountError, CreatedUser, Email};
use crate::app::AppInner;
use crate::auth::throttle::address_key;
use crate::auth::tokens::TokenError;
use crate::auth::{password, Role};
use crate::store::StoreError;

/// Why a sign-up, sign-in or sign-out was refused.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// This server does not take sign-ups.
    #[error("sign-up is closed")]
    SignupClosed,
    #[error("an account with this email exists")]
    EmailTaken,
    /// The email or the password is wrong; which one is not said.
    #[error("the email or password is incorrect")]
    InvalidCredentials,
    /// Too many attempts; the wait before the next one is let through.
    #[error("too many attempts")]
    Throttled(Duration),
    /// The token to end is not a live session's.
    #[error("the token is invalid, expired or revoked")]
    InvalidToken,
    #[error(transparent)]
    Internal(anyhow::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A signed-in session's access token.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub access_token: String,
    pub expires_in: Duration,
}

/// Creates a customer account with its default budget.
pub async fn sign_up(
    app: &AppInner,
    ip: Option<IpAddr>,
    email: &Email,
    password: &str,
) -> Result<CreatedUser, SessionError> {
    if !app.settings.signup_enabled {
        return Err(SessionError::SignupClosed);
    }
    let now = app.clock.now().timestamp_millis();
    let address = address_key(ip);
    if let Err(wait) = app.throttles.signup_by_address.attempt(&address, now) {
        tracing::warn!(%address, "sign-up throttled");
        return Err(SessionError::Throttled(wait));
    }
    let created = accounts::create_user(
        app.store.as_ref(),
        email,
        password,
        Role::Customer,
        app.default_products(),
    )
    .await
    .map_err(|e| match e {
        AccountError::EmailTaken => SessionError::EmailTaken,
        AccountError::Store(e) => SessionError::Store(e),
    })?;
    tracing::info!(user_id = %created.user_id, "account created");
    Ok(created)
}

/// Signs a user in: an access token acting in their default budget.
pub async fn sign_in(
    app: &AppInner,
    ip: Option<IpAddr>,
    email: &Email,
    password: &str,
) -> Result<SignedIn, SessionError> {
    // Checked before the password, so a refused attempt costs no hashing.
    // An address already over its limit does not count against the
    // account, so one noisy address cannot lock others out of it.
    let now = app.clock.now().timestamp_millis();
    let address = address_key(ip);
    let throttles = &app.throttles;
    if let Err(wait) = throttles
        .login_by_address
        .attempt(&address, now)
        .and_then(|()| throttles.login_by_account.attempt(email.as_str(), now))
    {
        tracing::warn!(%address, "sign-in throttled");
        return Err(SessionError::Throttled(wait));
    }
    let user = app.store.user_by_email(email.as_str()).await?;
    let ok = password::verify_async(
        password.to_string(),
        user.as_ref().map(|u| u.password_hash.clone()),
    )
    .await;
    let user = match (ok, user) {
        (true, Some(u)) => u,
        _ => return Err(SessionError::InvalidCredentials),
    };
    throttles.login_by_account.forget(email.as_str());
    let ttl = app.settings.token_ttl;
    let access_token = app
        .tokens
        .issue_access(user.id, user.default_budget_id, user.role.as_str(), ttl)
        .map_err(SessionError::Internal)?;
    Ok(SignedIn {
        access_token,
        expires_in: ttl,
    })
}

/// Ends the session of an access token, on every node.
pub async fn sign_out(app: &AppInner, token: &str) -> Result<(), SessionError> {
    let claims = app.tokens.verify_access(token).await.map_err(|e| match e {
        TokenError::Store(e) => SessionError::Store(e),
        _ => SessionError::InvalidToken,
    })?;
    app.tokens.revoke(&claims).await?;
    tracing::info!(user_id = %claims.sub, "signed out");
    Ok(())
}
