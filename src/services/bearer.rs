//! Who a request comes from: the bearer token of its `Authorization`
//! header, an API key or an access token, resolved to a [`Caller`]. The
//! REST API's `Caller` extractor and the `/mcp` gate both call [`caller`]
//! with the header's bytes; this module knows nothing of HTTP types.

use crate::app::AppInner;
use crate::auth::tokens::TokenError;
use crate::auth::{api_key, Caller, Role};
use crate::store::StoreError;

/// Why a request has no caller. The message of each refusal is what the
/// caller is told, the same by every adapter.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("Send Authorization: Bearer <access token or API key>.")]
    MissingToken,
    /// An `Authorization` header that is not `Bearer <token>`.
    #[error("The Authorization header must be 'Bearer <token>'.")]
    MalformedHeader,
    /// A token that is invalid, expired or revoked.
    #[error("The bearer token is invalid, expired or revoked.")]
    InvalidToken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    /// The stable code of a refusal (`Store` is a fault, not a refusal).
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::MalformedHeader | AuthError::InvalidToken => "invalid_token",
            AuthError::Store(_) => "internal_error",
        }
    }
}

/// The caller a request authenticates as, given its `Authorization`
/// header (`None` when it has none).
pub async fn caller(app: &AppInner, authorization: Option<&[u8]>) -> Result<Caller, AuthError> {
    let token = bearer_token(authorization)?;
    authenticate(app, token).await
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(authorization: Option<&[u8]>) -> Result<&str, AuthError> {
    let header = authorization.ok_or(AuthError::MissingToken)?;
    super::header_text(header)
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::MalformedHeader)
}

/// Resolves a bearer token (API key or access token) to a caller.
pub async fn authenticate(app: &AppInner, token: &str) -> Result<Caller, AuthError> {
    if token.starts_with(api_key::PREFIX) {
        if !api_key::looks_like_key(token) {
            return Err(AuthError::InvalidToken);
        }
        // Cached: a revoked key stops working everywhere within `cache::BOUND`.
        let principal = app
            .caches
            .principal(&api_key::hash(token))
            .await?
            .ok_or(AuthError::InvalidToken)?;
        return Ok(Caller {
            user_id: principal.user_id,
            budget_id: principal.budget_id,
            role: principal.role,
            api_key_id: Some(principal.key_id),
        });
    }
    let claims = app.tokens.verify_access(token).await.map_err(|e| match e {
        TokenError::Store(e) => AuthError::Store(e),
        _ => AuthError::InvalidToken,
    })?;
    Ok(Caller {
        user_id: claims.sub,
        budget_id: claims.bid,
        role: Role::parse(&claims.role).ok_or(AuthError::InvalidToken)?,
        api_key_id: None,
    })
}
