//! Sign-up and sign-in.

use super::openapi::schemas as oa;
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
#[utoipa::path(
    post,
    path = "/auth/signup",
    tag = "Auth",
    operation_id = "auth_signup",
    summary = "Create an account",
    description = "A customer account with its default budget. Refused when sign-up is closed.",
    request_body(content = oa::CredentialsRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The account was created.", body = oa::SignupResponse),
        (status = 400, description = "The body could not be read (`unreadable_body`).", body = oa::ErrorResponse),
        (status = 403, description = "Sign-up is closed on this server (`signup_disabled`).", body = oa::ErrorResponse),
        (status = 409, description = "An account with this email exists (`email_taken`).", body = oa::ErrorResponse),
        (status = 413, description = "The body is larger than this server accepts (`payload_too_large`).", body = oa::ErrorResponse),
        (status = 422, description = "Validation Error", body = oa::HTTPValidationError),
        (status = 500, description = "Unexpected server error (`internal_error`); the body names the request id.", body = oa::ErrorResponse),
    ),
)]
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
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "Auth",
    operation_id = "auth_login",
    summary = "Sign in",
    description = "An access token acting in the user's default budget.",
    request_body(content = oa::CredentialsRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in.", body = oa::LoginResponse),
        (status = 400, description = "The body could not be read (`unreadable_body`).", body = oa::ErrorResponse),
        (status = 401, description = "The email or password is incorrect (`invalid_credentials`).", body = oa::ErrorResponse),
        (status = 413, description = "The body is larger than this server accepts (`payload_too_large`).", body = oa::ErrorResponse),
        (status = 422, description = "Validation Error", body = oa::HTTPValidationError),
        (status = 500, description = "Unexpected server error (`internal_error`); the body names the request id.", body = oa::ErrorResponse),
    ),
)]
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
