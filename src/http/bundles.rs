//! Bundles: named sets of products and workflows that their owners offer
//! together, mainly through the embed widget. `POST /bundles`,
//! `GET /bundles` (the caller's own and public ones), `GET` and
//! `PATCH /bundles/{id}`. A private bundle answers 404 to everyone but its
//! owner (and admins), as if it did not exist.

use super::openapi::schemas as oa;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{listing_fields, require_user_token, Body, Fields, FromBody};
use crate::app::AppState;
use crate::auth::Caller;
use crate::clock::Timestamp;
use crate::embed::bundle::MAX_MEMBERS;
use crate::embed::{resolve_members, BundleError};
use crate::id::{BundleId, ObjectId};
use crate::services::quotas::{self, Quota};
use crate::store::{BundleRow, Visibility};

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

/// Applies a request's fields to `b`, checking that every member exists
/// and may be offered by the bundle's owner.
async fn apply(state: &AppState, b: &mut BundleRow, req: oa::BundleRequest) -> ApiResult<()> {
    if let Some(name) = req.name {
        b.name = name;
    }
    if let Some(description) = req.description {
        b.description = description;
    }
    if let Some(visibility) = req.visibility {
        b.visibility = super::extract::stored_visibility(visibility);
    }
    let (products, workflows) = (req.product_ids, req.workflow_ids);
    let products = products.unwrap_or_else(|| b.products());
    let workflows = workflows.unwrap_or_else(|| b.workflows());
    match resolve_members(state, b.owner_id, &products, &workflows).await {
        Ok((products, workflows)) => {
            b.product_ids = json!(products).to_string();
            b.workflow_ids = json!(workflows).to_string();
            Ok(())
        }
        Err(BundleError::Invalid(errors)) => Err(ApiError::Validation(
            errors
                .into_iter()
                .map(|(field, i, msg)| {
                    let input = if field == "product_ids" {
                        products.get(i)
                    } else {
                        workflows.get(i)
                    };
                    FieldError::new(
                        vec!["body".into(), field.into(), i.into()],
                        "value_error",
                        format!("Value error, {msg}"),
                        input.cloned().map(Value::String).unwrap_or(Value::Null),
                    )
                    .with_ctx(json!({"error": msg}))
                })
                .collect(),
        )),
        Err(BundleError::Store(e)) => Err(e.into()),
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
    let now = Timestamp::from(state.clock.now());
    let mut b = BundleRow {
        id: BundleId::new(),
        owner_id: caller.user_id,
        name: String::new(),
        description: String::new(),
        visibility: Visibility::Private,
        product_ids: "[]".into(),
        workflow_ids: "[]".into(),
        created_at: now,
        updated_at: now,
    };
    apply(&state, &mut b, body.into()).await?;
    let owned = state.store.count_bundles_owned_by(caller.user_id).await?;
    quotas::check(&state, Quota::BundlesPerUser, owned)?;
    state.store.insert_bundle(&b).await?;
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
    let rows = state.store.bundles_visible_to(caller.user_id).await?;
    let bundles = rows.iter().map(|b| bundle_view(&state, b)).collect();
    Ok(Json(oa::BundleListResponse {
        success: true,
        data: oa::BundleList { bundles },
    }))
}

fn not_found() -> ApiError {
    ApiError::not_found(
        "bundle_not_found",
        "No bundle with this id is visible to you.",
    )
}

async fn visible(state: &AppState, caller: &Caller, id: &str) -> ApiResult<BundleRow> {
    if !ObjectId::is_valid(id) {
        return Err(not_found());
    }
    let b = state
        .store
        .bundle_by_id(&id.to_ascii_lowercase())
        .await?
        .ok_or_else(not_found)?;
    if b.owner_id != caller.user_id && b.visibility != Visibility::Public && !caller.is_admin() {
        return Err(not_found());
    }
    Ok(b)
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
    let b = visible(&state, &caller, &id).await?;
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
    let mut b = visible(&state, &caller, &id).await?;
    if b.owner_id != caller.user_id && !caller.is_admin() {
        return Err(ApiError::not_found(
            "bundle_not_found",
            "No bundle with this id belongs to you.",
        ));
    }
    apply(&state, &mut b, body).await?;
    b.updated_at = Timestamp::from(state.clock.now());
    state.store.update_bundle(&b).await?;
    Ok(bundle_response(&state, &b))
}
