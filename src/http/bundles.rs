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
use super::extract::{json_body, require_user_token, Fields};
use crate::app::AppState;
use crate::auth::Caller;
use crate::clock::{from_millis, iso, to_millis};
use crate::embed::bundle::MAX_MEMBERS;
use crate::embed::{resolve_members, BundleError};
use crate::id::{new_id, ObjectId};
use crate::services::quotas::{self, Quota};
use crate::store::BundleRow;

fn bundle_view(state: &AppState, b: &BundleRow) -> oa::Bundle {
    oa::Bundle {
        bundle_id: b.id.clone(),
        owner_id: b.owner_id.clone(),
        name: b.name.clone(),
        description: b.description.clone(),
        visibility: b.visibility.clone(),
        product_ids: b.products(),
        workflow_ids: b.workflows(),
        embed_url: format!("{}/embed/bundle/{}", state.settings.public_url, b.id),
        created_at: iso(from_millis(b.created_at)),
        updated_at: iso(from_millis(b.updated_at)),
    }
}

fn bundle_response(state: &AppState, b: &BundleRow) -> Json<oa::BundleResponse> {
    Json(oa::BundleResponse {
        success: true,
        data: bundle_view(state, b),
    })
}

/// A list of up to [`MAX_MEMBERS`] strings, or errors located under it.
fn string_list(body: &Value, name: &str, errors: &mut Vec<FieldError>) -> Option<Vec<String>> {
    let loc = |extra: Option<usize>| {
        let mut l: Vec<Value> = vec!["body".into(), name.into()];
        l.extend(extra.map(Value::from));
        l
    };
    let items = match body.get(name) {
        None | Some(Value::Null) => return None,
        Some(Value::Array(items)) => items,
        Some(other) => {
            errors.push(FieldError::new(
                loc(None),
                "list_type",
                "Input should be a valid list",
                other.clone(),
            ));
            return None;
        }
    };
    if items.len() > MAX_MEMBERS {
        errors.push(
            FieldError::new(
                loc(None),
                "too_long",
                format!("List should have at most {MAX_MEMBERS} items after validation, not {}", items.len()),
                Value::Null,
            )
            .with_ctx(json!({"field_type": "List", "max_length": MAX_MEMBERS, "actual_length": items.len()})),
        );
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) => out.push(s.clone()),
            other => errors.push(FieldError::new(
                loc(Some(i)),
                "string_type",
                "Input should be a valid string",
                other.clone(),
            )),
        }
    }
    Some(out)
}

/// Applies the body's fields to `b`, checking that every member exists
/// and may be offered by the bundle's owner.
async fn apply(state: &AppState, b: &mut BundleRow, body: &Value, creating: bool) -> ApiResult<()> {
    let mut f = Fields::body(body)?;
    if creating || f.has("name") {
        let name = f.req_str("name");
        if let Some(n) = f.str_len("name", name, 1, 200) {
            b.name = n;
        }
    }
    if let Some(d) = f.opt_str("description") {
        if let Some(d) = f.str_len("description", Some(d), 0, 4000) {
            b.description = d;
        }
    }
    if let Some(v) = f.opt_str("visibility") {
        if v == "private" || v == "public" {
            b.visibility = v;
        } else {
            f.error(
                "visibility",
                "enum",
                "Input should be 'private' or 'public'",
                Value::String(v),
                Some(json!({"expected": "'private' or 'public'"})),
            );
        }
    }
    let mut list_errors = Vec::new();
    let products = string_list(body, "product_ids", &mut list_errors);
    let workflows = string_list(body, "workflow_ids", &mut list_errors);
    match f.finish() {
        Err(ApiError::Validation(mut errors)) => {
            errors.extend(list_errors);
            return Err(ApiError::Validation(errors));
        }
        Err(other) => return Err(other),
        Ok(()) if !list_errors.is_empty() => return Err(ApiError::Validation(list_errors)),
        Ok(()) => {}
    }
    let products = products.unwrap_or_else(|| b.products());
    let workflows = workflows.unwrap_or_else(|| b.workflows());
    match resolve_members(state, &b.owner_id, &products, &workflows).await {
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
    request_body(content = oa::BundleRequest, content_type = "application/json"),
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
    req: axum::extract::Request,
) -> ApiResult<(StatusCode, Json<oa::BundleResponse>)> {
    require_user_token(&caller, "Creating and changing bundles")?;
    let body = json_body(req, &state).await?;
    let now = to_millis(state.clock.now());
    let mut b = BundleRow {
        id: new_id(),
        owner_id: caller.user_id.clone(),
        name: String::new(),
        description: String::new(),
        visibility: "private".into(),
        product_ids: "[]".into(),
        workflow_ids: "[]".into(),
        created_at: now,
        updated_at: now,
    };
    apply(&state, &mut b, &body, true).await?;
    let owned = state.store.count_bundles_owned_by(&caller.user_id).await?;
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
    let rows = state.store.bundles_visible_to(&caller.user_id).await?;
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
    if b.owner_id != caller.user_id && b.visibility != "public" && !caller.is_admin() {
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
        ("bundle_id" = String, Path, description = "The bundle's id."),
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
        ("bundle_id" = String, Path, description = "The bundle's id."),
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
    req: axum::extract::Request,
) -> ApiResult<Json<oa::BundleResponse>> {
    require_user_token(&caller, "Creating and changing bundles")?;
    let mut b = visible(&state, &caller, &id).await?;
    if b.owner_id != caller.user_id && !caller.is_admin() {
        return Err(ApiError::not_found(
            "bundle_not_found",
            "No bundle with this id belongs to you.",
        ));
    }
    let body = json_body(req, &state).await?;
    apply(&state, &mut b, &body, false).await?;
    b.updated_at = to_millis(state.clock.now());
    state.store.update_bundle(&b).await?;
    Ok(bundle_response(&state, &b))
}
