//! Sign-up and sign-in.

use std::time::Duration;

use super::openapi::schemas as oa;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{bearer_token, Body, ClientAddr, Fields, FromBody};
use crate::accounts::Email;
use crate::app::AppState;
use crate::auth::{api_key, password};
use crate::services::sessions::{self, SessionError};

/// Why a sign-in or sign-up was refused.
#[derive(Debug)]
pub enum AuthRefusal {
    Api(ApiError),
    /// Too many attempts: 429 with `Retry-After`.
    Throttled(Duration),
}

impl From<ApiError> for AuthRefusal {
    fn from(e: ApiError) -> Self {
        AuthRefusal::Api(e)
    }
}

impl From<SessionError> for AuthRefusal {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Throttled(wait) => AuthRefusal::Throttled(wait),
            e => AuthRefusal::Api(e.into()),
        }
    }
}

impl IntoResponse for AuthRefusal {
    fn into_response(self) -> Response {
        match self {
            AuthRefusal::Api(e) => e.into_response(),
            AuthRefusal::Throttled(wait) => {
                let secs = super::error::retry_after_secs(wait);
                let mut response = ApiError::from(SessionError::Throttled(wait)).into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                response
            }
        }
    }
}

fn parse_email(f: &mut Fields<'_>) -> Option<Email> {
    let email = f.req_str("email");
    email.and_then(|e| match Email::parse(&e) {
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
    })
}

/// Sign-in takes any password up to the longest allowed, so passwords set
/// before the current rules still work.
impl FromBody for oa::CredentialsRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let email = parse_email(f);
        let password = f.req_str("password");
        let password = f.str_len("password", password, 1, password::MAX_LENGTH);
        Some(oa::CredentialsRequest {
            email: email?.as_str().to_string(),
            password: password?,
        })
    }
}

/// Sign-up credentials: the password must meet [`password::check_new`].
impl FromBody for oa::NewCredentialsRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let email = parse_email(f);
        let password = f
            .req_str("password")
            .and_then(|p| new_password(f, "password", p));
        Some(oa::NewCredentialsRequest {
            email: email?.as_str().to_string(),
            password: password?,
        })
    }
}

/// Records why a chosen password is refused. The password itself is not
/// echoed back in `input`.
pub fn new_password(f: &mut Fields<'_>, name: &str, pw: String) -> Option<String> {
    use password::WeakPassword;
    let (kind, msg, ctx) = match password::check_new(&pw) {
        Ok(()) => return Some(pw),
        Err(WeakPassword::TooShort) => (
            "string_too_short",
            format!(
                "String should have at least {} characters",
                password::MIN_LENGTH
            ),
            json!({"min_length": password::MIN_LENGTH}),
        ),
        Err(WeakPassword::TooLong) => (
            "string_too_long",
            format!(
                "String should have at most {} characters",
                password::MAX_LENGTH
            ),
            json!({"max_length": password::MAX_LENGTH}),
        ),
        Err(WeakPassword::Common) => (
            "password_too_common",
            "This password is one of the most common passwords; choose another".to_string(),
            json!({"reason": "common_password"}),
        ),
    };
    f.error(name, kind, msg, Value::Null, Some(ctx));
    None
}

/// `POST /auth/signup`: a customer account with its default budget.
#[utoipa::path(
    post,
    path = "/auth/signup",
    tag = "Auth",
    operation_id = "auth_signup",
    summary = "Create an account",
    description = "A customer account with its default budget. Refused when sign-up is closed. The password must have at least 12 characters and not be one of the most common passwords (compared case-insensitively, also with digits or punctuation appended); a refused password answers 422 with type `string_too_short` or `password_too_common`, and the password is not echoed.",
    request_body(content = oa::NewCredentialsRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The account was created.", body = oa::SignupResponse),
        (status = 400, description = "The body could not be read (`unreadable_body`).", body = oa::ErrorResponse),
        (status = 403, description = "Sign-up is closed on this server (`signup_disabled`).", body = oa::ErrorResponse),
        (status = 409, description = "An account with this email exists (`email_taken`).", body = oa::ErrorResponse),
        (status = 413, description = "The body is larger than this server accepts (`payload_too_large`).", body = oa::ErrorResponse),
        super::openapi::Invalid,
        (status = 429, description = "Too many sign-ups from this address (`too_many_attempts`); `Retry-After` says how many seconds to wait.", body = oa::ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again."))),
        super::openapi::Internal,
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn signup(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    Body(c): Body<oa::NewCredentialsRequest>,
) -> Result<(StatusCode, Json<oa::SignupResponse>), AuthRefusal> {
    let email = Email::parse(&c.email).expect("the body's parser checked the email");
    let created = sessions::sign_up(&state, ip, &email, &c.password).await?;
    Ok((
        StatusCode::CREATED,
        Json(oa::SignupResponse {
            success: true,
            data: oa::SignupData {
                user_id: created.user_id.to_string(),
                budget_id: created.budget_id.to_string(),
            },
        }),
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
        super::openapi::Invalid,
        (status = 429, description = "Too many sign-in attempts from this address or for this account (`too_many_attempts`); `Retry-After` says how many seconds to wait, and the wait grows each time the limit is passed again.", body = oa::ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again."))),
        super::openapi::Internal,
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    Body(c): Body<oa::CredentialsRequest>,
) -> Result<Json<oa::LoginResponse>, AuthRefusal> {
    let email = Email::parse(&c.email).expect("the body's parser checked the email");
    let session = sessions::sign_in(&state, ip, &email, &c.password).await?;
    Ok(Json(oa::LoginResponse {
        access_token: session.access_token,
        token_type: "bearer".into(),
        expires_in: session.expires_in.as_secs() as i64,
    }))
}

/// `POST /auth/logout`: ends the session of the access token sent.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "Auth",
    operation_id = "auth_logout",
    summary = "Sign out",
    description = "Ends the session of the access token in the Authorization header: from now on it answers 401 on every node. Other sessions of the user and the budgets' API keys keep working.",
    responses(
        (status = 200, description = "Signed out.", body = oa::LogoutResponse),
        (status = 401, description = "Missing or invalid bearer token, or a session already ended (`missing_token`, `invalid_token`).", body = oa::ErrorResponse),
        (status = 403, description = "An API key was sent; keys are not sessions, revoke one with DELETE /budgets/{budget_id}/api-keys/{key_id} (`user_token_required`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(skip_all)]
pub async fn logout(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Json<oa::LogoutResponse>, ApiError> {
    let token = bearer_token(&headers)?;
    if token.starts_with(api_key::PREFIX) {
        return Err(ApiError::forbidden(
            "user_token_required",
            "API keys are not sessions; revoke the key with DELETE /budgets/{budget_id}/api-keys/{key_id}.",
        ));
    }
    sessions::sign_out(&state, token).await?;
    Ok(Json(oa::LogoutResponse {
        success: true,
        message: "Signed out; this access token no longer works.".into(),
    }))
}
