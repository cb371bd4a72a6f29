//! A user's stored credentials for tools: sealed at rest, never shown again.

use super::openapi::schemas as oa;
use crate::id::ProductId;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{require_user_token, Body, Fields, FromBody};
use crate::app::AppState;
use crate::auth::Caller;
use crate::clock::Timestamp;
use crate::store::{ApprovalKind, ApprovalStatus, CredentialRow};

impl FromBody for oa::CredentialValueRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let value = f.req_str("value");
        let value = f.str_len("value", value, 1, 8192)?;
        Some(oa::CredentialValueRequest { value })
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
    let snapshot = state.catalog.snapshot();
    let (p, _) = snapshot
        .resolve(&product)
        .ok_or_else(|| ApiError::not_found("product_not_found", "No such tool."))?;
    let Some(spec) = p.credentials.iter().find(|c| c.name == name) else {
        return Err(ApiError::not_found(
            "credential_not_declared",
            format!("The tool declares no credential named {name:?}."),
        ));
    };
    // A value that is not a valid header value could never be sent.
    if spec.location == "header" && axum::http::HeaderValue::from_str(&body.value).is_err() {
        let msg =
            "a credential sent in a header cannot contain control characters such as line breaks";
        return Err(ApiError::field(
            FieldError::new(
                vec!["body".into(), "value".into()],
                "value_error",
                format!("Value error, {msg}"),
                // The secret is not echoed back.
                Value::Null,
            )
            .with_ctx(json!({"error": msg})),
        ));
    }
    let now = Timestamp::from(state.clock.now());
    state
        .store
        .put_credential(&CredentialRow {
            user_id: caller.user_id,
            product_id: p.row.id,
            name: name.clone(),
            value_sealed: state.master.seal(body.value.as_bytes()),
            created_at: now,
            updated_at: now,
        })
        .await?;
    // The request an agent opened for this credential is now satisfied.
    let subject = format!("{}:{}", p.row.id, name);
    state
        .store
        .resolve_approvals_for(
            caller.user_id,
            ApprovalKind::Credential,
            &subject,
            ApprovalStatus::Approved,
            now,
        )
        .await?;
    Ok(Json(oa::StoredCredentialResponse {
        success: true,
        data: oa::StoredCredential {
            product_id: p.row.id.to_string(),
            name,
            updated_at: now.iso(),
        },
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
    let rows = state.store.credentials_of_user(caller.user_id).await?;
    let credentials = rows
        .into_iter()
        .map(|c| oa::StoredCredential {
            product_id: c.product_id.to_string(),
            name: c.name,
            updated_at: c.updated_at.iso(),
        })
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
    let snapshot = state.catalog.snapshot();
    // A tool since removed from the catalog is named by its id.
    let id = snapshot
        .resolve(&product)
        .map(|(p, _)| p.row.id)
        .or_else(|| ProductId::parse(&product));
    let deleted = match id {
        Some(id) => {
            state
                .store
                .delete_credential(caller.user_id, id, &name)
                .await?
        }
        None => false,
    };
    let Some(id) = id.filter(|_| deleted) else {
        return Err(ApiError::not_found(
            "credential_not_found",
            "No stored credential with this name for this tool.",
        ));
    };
    Ok(Json(oa::DeletedCredentialResponse {
        success: true,
        data: oa::DeletedCredential {
            product_id: id.to_string(),
            name,
            deleted: true,
        },
    }))
}
