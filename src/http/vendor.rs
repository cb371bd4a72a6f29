//! The vendor side: publishing and updating products. Vendors touch only
//! their own products; administrators touch any.

use super::openapi::schemas as oa;
use crate::id::ProductId;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::error::{ApiError, ApiResult};
use super::extract::{require_user_token, Body, Fields, FromBody};
use crate::app::AppState;
use crate::auth::{Caller, Role};
use crate::services::products;
use crate::store::ProductRow;

fn vendor_or_admin(caller: &Caller) -> ApiResult<()> {
    // An agent holding a vendor's budget key is not the vendor.
    require_user_token(caller, "Publishing tools")?;
    match caller.role {
        Role::Admin | Role::Vendor => Ok(()),
        Role::Customer => Err(ApiError::forbidden(
            "vendor_required",
            "Only vendors and administrators may publish tools.",
        )),
    }
}

fn product_view(p: &ProductRow) -> oa::VendorProduct {
    oa::VendorProduct {
        product_id: p.id.to_string(),
        slug: p.slug.clone(),
        name: p.name.clone(),
        display_name: p.display_name.clone(),
        description: p.description.clone(),
        category: p.category.clone(),
        kind: p.kind.to_string(),
        endpoint: p.endpoint.clone(),
        required_credentials: serde_json::from_str(&p.required_credentials).unwrap_or_default(),
        actions: serde_json::from_str(&p.actions).unwrap_or_default(),
        status: p.status.to_string(),
        timeout_ms: p.timeout_ms,
        vendor_id: p.vendor_id.map(|id| id.to_string()),
        created_at: p.created_at.iso(),
        updated_at: p.updated_at.iso(),
    }
}

fn product_response(p: &ProductRow) -> Json<oa::VendorProductResponse> {
    Json(oa::VendorProductResponse {
        success: true,
        data: product_view(p),
    })
}

/// Most actions one tool declares, and most credentials it asks for.
const MAX_ACTIONS: usize = 100;
const MAX_CREDENTIALS: usize = 32;

/// Each field is checked for its type and length here; the catalog's rules
/// (slugs, schemas, credentials, the endpoint) are the service's.
impl FromBody for oa::VendorProductRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let mut text = |name: &str, min: usize, max: usize| {
            let value = f.opt_str(name);
            f.str_len(name, value, min, max)
        };
        let slug = text("slug", 1, 64);
        let name = text("name", 1, 64);
        let display_name = text("display_name", 1, 200);
        let description = text("description", 0, 4000);
        let category = text("category", 0, 64);
        let endpoint = text("endpoint", 1, 2048);
        let kind = f.opt_choice("kind", &[("http", oa::PublishedKind::Http)]);
        let status = f.opt_choice(
            "status",
            &[
                ("active", oa::ActiveStatus::Active),
                ("disabled", oa::ActiveStatus::Disabled),
            ],
        );
        let timeout_ms = f.opt_int("timeout_ms");
        let timeout_ms = f.int_range("timeout_ms", timeout_ms, 100, 120_000);
        // An explicit null clears the credentials; an absent field keeps them.
        let required_credentials = if f.is_null("required_credentials") {
            Some(Vec::new())
        } else {
            f.opt_object_list("required_credentials", MAX_CREDENTIALS)
        };
        let actions = f.opt_object_list("actions", MAX_ACTIONS);
        Some(oa::VendorProductRequest {
            slug,
            name,
            display_name,
            description,
            category,
            kind,
            endpoint,
            status,
            timeout_ms,
            required_credentials,
            actions,
        })
    }
}

/// `POST /vendor/products`: publishes an HTTP tool.
#[utoipa::path(
    post,
    path = "/vendor/products",
    tag = "Vendor",
    operation_id = "vendor_create",
    summary = "Publish a tool",
    description = "An `http` tool: its endpoint, actions (with JSON Schemas of their parameters and prices) and required credentials.",
    request_body(content = oa::VendorProductRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The tool.", body = oa::VendorProductResponse),
        super::openapi::BodyRefused,
        super::openapi::Unauthorized,
        (status = 403, description = "Not a vendor or administrator (`vendor_required`), or an API key was used (`user_token_required`).", body = oa::ErrorResponse),
        (status = 409, description = "Another tool answers to this slug or name (`product_exists`).", body = oa::ErrorResponse),
        super::openapi::Invalid,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<oa::VendorProductRequest>,
) -> ApiResult<(StatusCode, Json<oa::VendorProductResponse>)> {
    vendor_or_admin(&caller)?;
    let row = products::publish(&state, &caller, &req).await?;
    Ok((StatusCode::CREATED, product_response(&row)))
}

/// `GET /vendor/products`: the caller's products (every product, for admins).
#[utoipa::path(
    get,
    path = "/vendor/products",
    tag = "Vendor",
    operation_id = "vendor_list",
    summary = "List my tools",
    description = "The vendor's tools (every tool, for administrators).",
    responses(
        (status = 200, description = "The tools.", body = oa::VendorProductListResponse),
        super::openapi::Unauthorized,
        (status = 403, description = "Not a vendor or administrator (`vendor_required`), or an API key was used (`user_token_required`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<oa::VendorProductListResponse>> {
    vendor_or_admin(&caller)?;
    let rows = products::list(&state, &caller).await?;
    Ok(Json(oa::VendorProductListResponse {
        success: true,
        data: oa::VendorProductList {
            products: rows.iter().map(product_view).collect(),
        },
    }))
}

/// `PATCH /vendor/products/{product_id}`: updates, disables or re-enables a product.
#[utoipa::path(
    patch,
    path = "/vendor/products/{product_id}",
    tag = "Vendor",
    operation_id = "vendor_update",
    summary = "Update a tool",
    description = "Absent fields are left as they are; only the status of a builtin tool may change.",
    params(
        ("product_id" = String, Path, description = "The tool's id."),
    ),
    request_body(content = oa::VendorProductRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The tool.", body = oa::VendorProductResponse),
        super::openapi::BodyRefused,
        super::openapi::Unauthorized,
        (status = 403, description = "Not a vendor or administrator (`vendor_required`), or an API key was used (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No tool with this id belongs to the caller (`product_not_found`).", body = oa::ErrorResponse),
        (status = 409, description = "Another tool answers to this slug or name (`product_exists`).", body = oa::ErrorResponse),
        super::openapi::Invalid,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id, product_id = %product_id))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(product_id): Path<String>,
    Body(req): Body<oa::VendorProductRequest>,
) -> ApiResult<Json<oa::VendorProductResponse>> {
    vendor_or_admin(&caller)?;
    let id = ProductId::parse(&product_id).ok_or(products::ProductError::NotFound)?;
    let row = products::update(&state, &caller, id, &req).await?;
    Ok(product_response(&row))
}
