//! A user's stored credentials for tools: sealed at rest, never shown again.

use super::openapi::schemas as oa;
use axum::extract::{Path, State};
use axum::Json;

use super::error::ApiResult;
use super::extract::{require_user_token, Body, Fields, FromBody};
use crate::app::AppState;
use crate::auth::Caller;
use crate::services::credentials as service;

impl FromBody for oa::CredentialValueRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let value = f.req_str("value");
        let value = f.str_len("value", value, 1, 8192)?;
        Some(oa::CredentialValueRequest { value })
    }
}

fn stored_view(c: service::Stored) -> oa::StoredCredential {
    oa::StoredCredential {
        product_id: c.product_id.to_string(),
        name: c.name,
        updated_at: c.updated_at.iso(),
    }
}

/// `PUT /credentials/{product_id}/{name}`: stores or replaces a credential.
#[utoipa::path(
    put,
    path = "/credentials/{product_id}/{name}",
    tag = "Credentials",
    operation_id = "credentials_put",
    summary = "Store a credential",
    description = "Stores or replaces a credential a tool declares. It is sealed at rest and never shown again; open approval requests for it are resolved.",
    params(
        ("product_id" = String, Path, description = "The tool's id, slug or name."),
        ("name" = String, Path, description = "The credential's name, as the tool declares it."),
    ),
    request_body(content = oa::CredentialValueRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored.", body = oa::StoredCredentialResponse),
        super::openapi::BodyRefused,
        super::openapi::Unauthorized,
        (status = 403, description = "An API key was used where an access token from POST /auth/login is required (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No such tool (`product_not_found`), or it declares no credential with this name (`credential_not_declared`).", body = oa::ErrorResponse),
        super::openapi::Invalid,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path((product, name)): Path<(String, String)>,
    Body(body): Body<oa::CredentialValueRequest>,
) -> ApiResult<Json<oa::StoredCredentialResponse>> {
    require_user_token(&caller, "Managing credentials")?;
    let stored = service::put(&state, &caller, &product, name, &body.value).await?;
    Ok(Json(oa::StoredCredentialResponse {
        success: true,
        data: stored_view(stored),
    }))
}

/// `GET /credentials`: names only, never values.
#[utoipa::path(
    get,
    path = "/credentials",
    tag = "Credentials",
    operation_id = "credentials_list",
    summary = "List my stored credentials",
    description = "Names only, never values.",
    responses(
        (status = 200, description = "The credentials.", body = oa::CredentialListResponse),
        super::openapi::Unauthorized,
        (status = 403, description = "An API key was used where an access token from POST /auth/login is required (`user_token_required`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<oa::CredentialListResponse>> {
    require_user_token(&caller, "Managing credentials")?;
    let credentials = service::list(&state, &caller)
        .await?
        .into_iter()
        .map(stored_view)
        .collect();
    Ok(Json(oa::CredentialListResponse {
        success: true,
        data: oa::CredentialList { credentials },
    }))
}

/// `DELETE /credentials/{product_id}/{name}`.
#[utoipa::path(
    delete,
    path = "/credentials/{product_id}/{name}",
    tag = "Credentials",
    operation_id = "credentials_delete",
    summary = "Delete a credential",
    params(
        ("product_id" = String, Path, description = "The tool's id, slug or name."),
        ("name" = String, Path, description = "The credential's name, as the tool declares it."),
    ),
    responses(
        (status = 200, description = "Deleted.", body = oa::DeletedCredentialResponse),
        super::openapi::Unauthorized,
        (status = 403, description = "An API key was used where an access token from POST /auth/login is required (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No stored credential with this name for this tool (`credential_not_found`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((product, name)): Path<(String, String)>,
) -> ApiResult<Json<oa::DeletedCredentialResponse>> {
    require_user_token(&caller, "Managing credentials")?;
    let id = service::delete(&state, &caller, &product, &name).await?;
    Ok(Json(oa::DeletedCredentialResponse {
        success: true,
        data: oa::DeletedCredential {
            product_id: id.to_string(),
            name,
            deleted: true,
        },
    }))
}
