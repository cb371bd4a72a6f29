//! Sign-up and sign-in.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::{Body, Fields, FromBody};
use super::AppState;
use crate::accounts::{self, AccountError, Email};
use crate::auth::{password, Role};

pub struct Credentials {
    email: Email,
    password: String,
}

impl FromBody for Credentials {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let email = f.req_str("email");
        let email = email.and_then(|e| match Email::parse(&e) {
            Ok(email) => Some(email),
            Err(reason) => {
                f.error(
                    "email",
                    "value_error",
                    format!("value is not a valid email address: {reason}"),
                    Value::String(e),
                    Some(json!({ "reason": reason })),
                );
                None
            }
        });
        let password = f.req_str("password");
        let password = f.str_len("password", password, 8, 1024);
        Some(Credentials {
            email: email?,
            password: password?,
        })
    }
}

/// `POST /auth/signup`: a customer account with its default budget.
#[tracing::instrument(skip_all)]
pub async fn signup(
    State(state): State<AppState>,
    Body(c): Body<Credentials>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if !state.settings.signup_enabled {
        return Err(ApiError::forbidden(
            "signup_disabled",
            "Sign-up is closed on this server; ask an administrator for an account.",
        ));
    }
    let created = accounts::create_user(
        state.store.as_ref(),
        &c.email,
        &c.password,
        Role::Customer,
        state.default_products(),
    )
    .await
    .map_err(|e| match e {
        AccountError::EmailTaken => ApiError::conflict(
            "email_taken",
            "An account with this email already exists; sign in instead.",
        ),
        AccountError::Store(e) => e.into(),
    })?;
    tracing::info!(user_id = %created.user_id, "account created");
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"success": true, "data": {"user_id": created.user_id, "budget_id": created.budget_id}}),
        ),
    ))
}

/// `POST /auth/login`: an access token acting in the user's default budget.
#[tracing::instrument(skip_all)]
pub async fn login(
    State(state): State<AppState>,
    Body(c): Body<Credentials>,
) -> ApiResult<Json<Value>> {
    let user = state.store.user_by_email(c.email.as_str()).await?;
    let ok = password::verify_async(
        c.password.clone(),
        user.as_ref().map(|u| u.password_hash.clone()),
    )
    .await;
    let user = match (ok, user) {
        (true, Some(u)) => u,
        _ => {
            return Err(ApiError::unauthorized(
                "invalid_credentials",
                "The email or password is incorrect.",
            ))
        }
    };
    let ttl = state.settings.token_ttl;
    let token = state
        .tokens
        .issue_access(&user.id, &user.default_budget_id, &user.role, ttl)
        .map_err(ApiError::internal)?;
    Ok(Json(
        json!({"access_token": token, "token_type": "bearer", "expires_in": ttl.as_secs()}),
    ))
}
