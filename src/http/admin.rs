//! Operator endpoints: credit grants and revocations, and users' roles.

use super::openapi::schemas as oa;
use crate::id::{GrantId, UserId};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::credits::{grant_view, transaction_view};
use super::error::{ApiError, ApiResult};
use super::extract::{Body, Fields, FromBody};
use crate::app::AppState;
use crate::auth::{Caller, Role};
use crate::money::Credits;
use crate::services::admin;

fn require_admin(caller: &Caller) -> ApiResult<()> {
    // An agent holding an admin's budget key is not the admin.
    if caller.api_key_id.is_some() {
        return Err(ApiError::forbidden(
            "user_token_required",
            "Administrative calls need an access token from POST /auth/login, not an API key.",
        ));
    }
    if !caller.is_admin() {
        return Err(ApiError::forbidden(
            "admin_required",
            "Only administrators may do this.",
        ));
    }
    Ok(())
}

impl FromBody for oa::GrantRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let user_id = f.opt_str("user_id");
        let email = f.opt_str("email");
        if !f.has("user_id") && !f.has("email") {
            f.error(
                "user_id",
                "missing",
                "Field required: give user_id or email",
                Value::Null,
                None,
            );
        }
        let amount = f.req_int("amount_credits");
        let amount_credits = f.positive("amount_credits", amount);
        let credit_type = f.opt_str("credit_type");
        let credit_type = f.str_len("credit_type", credit_type, 1, 64);
        let expires_at = f.opt_datetime("expires_at").map(|t| t.to_rfc3339());
        let source_metadata = f.opt_object("source_metadata");
        Some(oa::GrantRequest {
            user_id,
            email,
            amount_credits: amount_credits?,
            credit_type,
            expires_at,
            source_metadata,
        })
    }
}

/// The grant an operator asked for, from a body [`FromBody`] checked.
fn grant_credits(req: oa::GrantRequest) -> admin::GrantCredits {
    let to = match (req.user_id, req.email) {
        (Some(id), _) => admin::Recipient::Id(id),
        (None, email) => admin::Recipient::Email(email.unwrap_or_default()),
    };
    admin::GrantCredits {
        to,
        amount: Credits::new(req.amount_credits),
        credit_type: req.credit_type.unwrap_or_else(|| "admin_grant".into()),
        expires_at: req
            .expires_at
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&chrono::Utc)),
        source_metadata: req.source_metadata,
    }
}

/// `POST /admin/grants`.
#[utoipa::path(
    post,
    path = "/admin/grants",
    tag = "Admin",
    operation_id = "admin_create_grant",
    summary = "Grant credits",
    description = "Credits for a user named by `user_id` or `email`.",
    request_body(content = oa::GrantRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The grant and its transaction.", body = oa::GrantCreatedResponse),
        super::openapi::BodyRefused,
        super::openapi::Unauthorized,
        (status = 403, description = "Not an administrator (`admin_required`), or an API key was used (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No such user (`user_not_found`).", body = oa::ErrorResponse),
        super::openapi::Invalid,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(skip_all)]
pub async fn create_grant(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<oa::GrantRequest>,
) -> ApiResult<(StatusCode, Json<oa::GrantCreatedResponse>)> {
    require_admin(&caller)?;
    let (grant, txn) = admin::grant_credits(&state, grant_credits(req)).await?;
    let data = oa::GrantCreated {
        grant: grant_view(&grant),
        transaction: transaction_view(&txn),
    };
    Ok((
        StatusCode::CREATED,
        Json(oa::GrantCreatedResponse {
            success: true,
            data,
        }),
    ))
}

/// `POST /admin/grants/{grant_id}/revoke`: takes back what is left.
#[utoipa::path(
    post,
    path = "/admin/grants/{grant_id}/revoke",
    tag = "Admin",
    operation_id = "admin_revoke_grant",
    summary = "Revoke a grant",
    description = "Takes back what is left of the grant.",
    params(
        ("grant_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The grant's id."),
    ),
    responses(
        (status = 200, description = "The revocation transaction.", body = oa::GrantRevokedResponse),
        super::openapi::Unauthorized,
        (status = 403, description = "Not an administrator (`admin_required`), or an API key was used (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No such grant (`grant_not_found`).", body = oa::ErrorResponse),
        (status = 409, description = "The grant has no credits left (`nothing_to_revoke`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(skip_all, fields(grant_id = %grant_id))]
pub async fn revoke_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(grant_id): Path<String>,
) -> ApiResult<Json<oa::GrantRevokedResponse>> {
    require_admin(&caller)?;
    let id = GrantId::parse(&grant_id).ok_or(admin::AdminError::from(
        crate::ledger::LedgerError::UnknownGrant,
    ))?;
    let txn = admin::revoke_grant(&state, id).await?;
    Ok(Json(oa::GrantRevokedResponse {
        success: true,
        data: oa::GrantRevoked {
            transaction: transaction_view(&txn),
        },
    }))
}

impl FromBody for oa::RoleRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let role = f.req_str("role")?;
        if Role::parse(&role).is_none() {
            f.error(
                "role",
                "enum",
                "Input should be 'admin', 'vendor' or 'customer'",
                Value::String(role),
                Some(json!({"expected": "'admin', 'vendor' or 'customer'"})),
            );
            return None;
        }
        Some(oa::RoleRequest { role })
    }
}

/// `PUT /admin/users/{user_id}/role`: changes a role and ends the user's sessions.
#[utoipa::path(
    put,
    path = "/admin/users/{user_id}/role",
    tag = "Admin",
    operation_id = "admin_set_user_role",
    summary = "Change a user's role",
    description = "Sets the role and ends every signed-in session of the user at once: their access tokens answer 401 and the next sign-in carries the new role. Their API keys keep working, with the new role.",
    params(
        ("user_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The user's id."),
    ),
    request_body(content = oa::RoleRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The role was set.", body = oa::RoleChangedResponse),
        super::openapi::BodyRefused,
        super::openapi::Unauthorized,
        (status = 403, description = "Not an administrator (`admin_required`), or an API key was used (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No such user (`user_not_found`).", body = oa::ErrorResponse),
        super::openapi::Invalid,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(skip_all, fields(user_id = %user_id))]
pub async fn set_user_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    Body(req): Body<oa::RoleRequest>,
) -> ApiResult<Json<oa::RoleChangedResponse>> {
    require_admin(&caller)?;
    let role = Role::parse(&req.role).expect("the body names a role");
    let id = UserId::parse(&user_id).ok_or(admin::AdminError::UserNotFound)?;
    admin::set_role(&state, id, role, caller.user_id).await?;
    Ok(Json(oa::RoleChangedResponse {
        success: true,
        data: oa::RoleChangedData {
            user_id,
            role: req.role,
        },
    }))
}
