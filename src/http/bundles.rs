//! Bundles: named sets of products and workflows that their owners offer
//! together, mainly through the embed widget. `POST /bundles`,
//! `GET /bundles` (the caller's own and public ones), `GET` and
//! `PATCH /bundles/{id}`. A private bundle answers 404 to everyone but its
//! owner (and admins), as if it did not exist.

use super::openapi::schemas as oa;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::error::ApiResult;
use super::extract::{listing_fields, require_user_token, Body, Fields, FromBody};
use crate::app::AppState;
use crate::auth::Caller;
use crate::services::bundles::{self as service, BundleChanges, MAX_MEMBERS};
use crate::store::BundleRow;

fn bundle_view(state: &AppState, b: &BundleRow) -> oa::Bundle {
    oa::Bundle {
        bundle_id: b.id.to_string(),
        owner_id: b.owner_id.to_string(),
        name: b.name.clone(),
        description: b.description.clone(),
        visibility: super::extract::wire_visibility(b.visibility),
        product_ids: b.products(),
        workflow_ids: b.workflows(),
        embed_url: format!("{}/embed/bundle/{}", state.settings.public_url, b.id),
        created_at: b.created_at.iso(),
        updated_at: b.updated_at.iso(),
    }
}

fn bundle_response(state: &AppState, b: &BundleRow) -> Json<oa::BundleResponse> {
    Json(oa::BundleResponse {
        success: true,
        data: bundle_view(state, b),
    })
}

/// A bundle's fields from a body; on create `name` is required.
fn bundle_fields(f: &mut Fields<'_>, creating: bool) -> Option<oa::BundleRequest> {
    let (name, description, visibility) = listing_fields(f, creating);
    Some(oa::BundleRequest {
        name,
        description,
        visibility,
        product_ids: f.opt_string_list("product_ids", MAX_MEMBERS),
        workflow_ids: f.opt_string_list("workflow_ids", MAX_MEMBERS),
    })
}

impl FromBody for oa::NewBundleRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let b = bundle_fields(f, true)?;
        Some(oa::NewBundleRequest {
            name: b.name?,
            description: b.description,
            visibility: b.visibility,
            product_ids: b.product_ids,
            workflow_ids: b.workflow_ids,
        })
    }
}

impl FromBody for oa::BundleRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        bundle_fields(f, false)
    }
}

/// The changes a request asks for, in stored terms.
fn changes(req: oa::BundleRequest) -> BundleChanges {
    BundleChanges {
        name: req.name,
        description: req.description,
        visibility: req.visibility.map(super::extract::stored_visibility),
        product_ids: req.product_ids,
        workflow_ids: req.workflow_ids,
    }
}

/// `POST /bundles`.
#[utoipa::path(
    post,
    path = "/bundles",
    tag = "Bundles",
    operation_id = "bundles_create",
    summary = "Create a bundle",
    request_body(content = oa::NewBundleRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The bundle, with its embed URL.", body = oa::BundleResponse),
        super::openapi::BodyRefused,
        super::openapi::Unauthorized,
        (status = 409, description = "The account already has as many bundles as it may (`quota_exceeded`; `data.kind` is `bundle`, `data.limit` the limit).", body = oa::ErrorResponse),
        (status = 403, description = "A budget API key was used; creating and changing bundles needs an access token from POST /auth/login (`user_token_required`).", body = oa::ErrorResponse),
        super::openapi::Invalid,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<oa::NewBundleRequest>,
) -> ApiResult<(StatusCode, Json<oa::BundleResponse>)> {
    require_user_token(&caller, "Creating and changing bundles")?;
    let b = service::create(&state, &caller, changes(body.into())).await?;
    Ok((StatusCode::CREATED, bundle_response(&state, &b)))
}

/// `GET /bundles`: the caller's own bundles and every public one.
#[utoipa::path(
    get,
    path = "/bundles",
    tag = "Bundles",
    operation_id = "bundles_list",
    summary = "List bundles",
    description = "The caller's bundles and public ones.",
    responses(
        (status = 200, description = "The bundles.", body = oa::BundleListResponse),
        super::openapi::Unauthorized,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<oa::BundleListResponse>> {
    let rows = service::list(&state, &caller).await?;
    let bundles = rows.iter().map(|b| bundle_view(&state, b)).collect();
    Ok(Json(oa::BundleListResponse {
        success: true,
        data: oa::BundleList { bundles },
    }))
}

/// `GET /bundles/{id}`.
#[utoipa::path(
    get,
    path = "/bundles/{bundle_id}",
    tag = "Bundles",
    operation_id = "bundles_get",
    summary = "Get a bundle",
    params(
        ("bundle_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The bundle's id."),
    ),
    responses(
        (status = 200, description = "The bundle.", body = oa::BundleResponse),
        super::openapi::Unauthorized,
        (status = 404, description = "No bundle with this id is visible to the caller (`bundle_not_found`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<oa::BundleResponse>> {
    let b = service::visible(&state, &caller, &id).await?;
    Ok(bundle_response(&state, &b))
}

/// `PATCH /bundles/{id}`: owners and admins.
#[utoipa::path(
    patch,
    path = "/bundles/{bundle_id}",
    tag = "Bundles",
    operation_id = "bundles_update",
    summary = "Update a bundle",
    description = "Absent fields are left as they are.",
    params(
        ("bundle_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The bundle's id."),
    ),
    request_body(content = oa::BundleRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The bundle.", body = oa::BundleResponse),
        super::openapi::BodyRefused,
        super::openapi::Unauthorized,
        (status = 403, description = "A budget API key was used; creating and changing bundles needs an access token from POST /auth/login (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No bundle with this id belongs to the caller (`bundle_not_found`).", body = oa::ErrorResponse),
        super::openapi::Invalid,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id, bundle_id = %id))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<oa::BundleRequest>,
) -> ApiResult<Json<oa::BundleResponse>> {
    require_user_token(&caller, "Creating and changing bundles")?;
    let b = service::update(&state, &caller, &id, changes(body)).await?;
    Ok(bundle_response(&state, &b))
}
