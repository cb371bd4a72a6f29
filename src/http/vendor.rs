//! The vendor side: publishing and updating products. Vendors touch only
//! their own products; administrators touch any.

use super::openapi::schemas as oa;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{json_body, require_user_token};
use crate::app::AppState;
use crate::auth::{Caller, Role};
use crate::catalog::{
    is_function_name, is_slug, parse_actions, parse_credentials, CredentialSpec, DefinitionErrors,
};
use crate::clock::{from_millis, iso, to_millis};
use crate::id::new_id;
use crate::store::{ProductRow, StoreError};

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
        product_id: p.id.clone(),
        slug: p.slug.clone(),
        name: p.name.clone(),
        display_name: p.display_name.clone(),
        description: p.description.clone(),
        category: p.category.clone(),
        kind: p.kind.clone(),
        endpoint: p.endpoint.clone(),
        required_credentials: serde_json::from_str(&p.required_credentials).unwrap_or_default(),
        actions: serde_json::from_str(&p.actions).unwrap_or_default(),
        status: p.status.clone(),
        timeout_ms: p.timeout_ms,
        vendor_id: p.vendor_id.clone(),
        created_at: iso(from_millis(p.created_at)),
        updated_at: iso(from_millis(p.updated_at)),
    }
}

fn product_response(p: &ProductRow) -> Json<oa::VendorProductResponse> {
    Json(oa::VendorProductResponse {
        success: true,
        data: product_view(p),
    })
}

fn errors_to_api(errors: DefinitionErrors, body: &Value) -> ApiError {
    ApiError::Validation(
        errors
            .into_iter()
            .map(|(loc, msg)| {
                let mut input = body;
                for part in &loc {
                    input = match part {
                        Value::String(k) => input.get(k.as_str()).unwrap_or(&Value::Null),
                        Value::Number(n) => input
                            .get(n.as_u64().unwrap_or(0) as usize)
                            .unwrap_or(&Value::Null),
                        _ => &Value::Null,
                    };
                }
                let mut full = vec![Value::from("body")];
                full.extend(loc);
                FieldError::new(
                    full,
                    "value_error",
                    format!("Value error, {msg}"),
                    input.clone(),
                )
                .with_ctx(json!({"error": msg}))
            })
            .collect(),
    )
}

/// Headers a vendor call carries itself: a credential there would replace
/// or shadow the call's token, or break the request.
const RESERVED_HEADERS: [&str; 6] = [
    "authorization",
    "content-type",
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
];

/// Fields of the call body a credential would overwrite.
const RESERVED_BODY_FIELDS: [&str; 5] = [
    "order_id",
    "product_id",
    "action",
    "parameters",
    "instance_id",
];

/// Refuses credentials put where the call already puts something.
fn reserved_fields(specs: &[CredentialSpec]) -> Result<(), DefinitionErrors> {
    let errors: DefinitionErrors = specs
        .iter()
        .enumerate()
        .filter(|(_, c)| match c.location.as_str() {
            "header" => RESERVED_HEADERS.contains(&c.field.to_ascii_lowercase().as_str()),
            "body" => RESERVED_BODY_FIELDS.contains(&c.field.as_str()),
            _ => false,
        })
        .map(|(i, c)| {
            (
                vec!["required_credentials".into(), i.into(), "field".into()],
                format!(
                    "the call sets the {} {:?} itself; put the credential elsewhere",
                    c.location, c.field
                ),
            )
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Applies the fields present in `body` to `row`, checking each.
fn apply(
    state: &AppState,
    row: &mut ProductRow,
    body: &Value,
    creating: bool,
) -> Result<(), DefinitionErrors> {
    let mut errors: DefinitionErrors = Vec::new();
    let text =
        |name: &str, min: usize, max: usize, errors: &mut DefinitionErrors| -> Option<String> {
            match body.get(name) {
                None | Some(Value::Null) => {
                    if creating && min > 0 {
                        errors.push((vec![name.into()], "this field is required".into()));
                    }
                    None
                }
                Some(Value::String(s)) if (min..=max).contains(&s.chars().count()) => {
                    Some(s.clone())
                }
                Some(_) => {
                    errors.push((
                        vec![name.into()],
                        format!("must be a string of {min} to {max} characters"),
                    ));
                    None
                }
            }
        };
    if let Some(slug) = text("slug", 1, 64, &mut errors) {
        if is_slug(&slug) {
            row.slug = slug
        } else {
            errors.push((
                vec!["slug".into()],
                "a slug is lower-case letters, digits and single hyphens".into(),
            ))
        }
    }
    if let Some(name) = text("name", 1, 64, &mut errors) {
        if is_function_name(&name) {
            row.name = name
        } else {
            errors.push((
                vec!["name".into()],
                "a name is 1-64 characters of a-z, A-Z, 0-9, _ or -".into(),
            ))
        }
    }
    if let Some(v) = text("display_name", 1, 200, &mut errors) {
        row.display_name = v;
    }
    if let Some(v) = text("description", 0, 4000, &mut errors) {
        row.description = v;
    }
    if let Some(v) = text("category", 0, 64, &mut errors) {
        row.category = v;
    }
    match body.get("kind").and_then(Value::as_str) {
        None | Some("http") => {}
        Some(_) => errors.push((
            vec!["kind".into()],
            "vendors publish http tools; builtin tools ship in the server".into(),
        )),
    }
    if let Some(endpoint) = text("endpoint", 1, 2048, &mut errors) {
        match state.outbound.check_url(&endpoint) {
            Ok(_) => row.endpoint = Some(endpoint),
            Err(e) => errors.push((
                vec!["endpoint".into()],
                format!("the endpoint is not allowed: {e}"),
            )),
        }
    }
    if let Some(status) = body.get("status").filter(|v| !v.is_null()) {
        match status.as_str() {
            Some(s @ ("active" | "disabled")) => row.status = s.into(),
            _ => errors.push((vec!["status".into()], "status is active or disabled".into())),
        }
    }
    match body.get("timeout_ms") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_i64().filter(|ms| (100..=120_000).contains(ms)) {
            Some(ms) => row.timeout_ms = Some(ms),
            None => errors.push((
                vec!["timeout_ms".into()],
                "timeout_ms is 100 to 120000".into(),
            )),
        },
    }
    if let Some(creds) = body.get("required_credentials") {
        match parse_credentials(creds).and_then(|specs| reserved_fields(&specs)) {
            Ok(()) => {
                row.required_credentials = if creds.is_null() {
                    "[]".into()
                } else {
                    creds.to_string()
                }
            }
            Err(e) => errors.extend(e),
        }
    }
    match body.get("actions") {
        Some(actions) => match parse_actions(actions) {
            Ok(_) => row.actions = actions.to_string(),
            Err(e) => errors.extend(e),
        },
        None if creating => errors.push((
            vec!["actions".into()],
            "a product needs at least one action".into(),
        )),
        None => {}
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Slugs and names share one lookup (`product_id` may be either), so neither
/// may equal another product's slug or name, nor look like an id.
fn check_identifiers(state: &AppState, row: &ProductRow) -> ApiResult<()> {
    let snapshot = state.catalog.snapshot();
    for ident in [&row.slug, &row.name] {
        if crate::id::ObjectId::is_valid(ident) {
            return Err(ApiError::conflict(
                "product_exists",
                "A slug or name may not look like a product id.",
            ));
        }
        if snapshot
            .resolve(ident)
            .is_some_and(|(p, _)| p.row.id != row.id)
        {
            return Err(ApiError::conflict(
                "product_exists",
                format!("Another product already answers to {ident:?}."),
            ));
        }
    }
    Ok(())
}

fn conflict(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::conflict(
            "product_exists",
            "A product with this slug or name already exists.",
        ),
        e => e.into(),
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
    req: axum::extract::Request,
) -> ApiResult<(StatusCode, Json<oa::VendorProductResponse>)> {
    vendor_or_admin(&caller)?;
    let body = json_body(req, &state).await?;
    if !body.is_object() {
        return Err(super::extract::Fields::body(&body)
            .err()
            .expect("not an object"));
    }
    let now = to_millis(state.clock.now());
    let mut row = ProductRow {
        id: new_id(),
        slug: String::new(),
        name: String::new(),
        display_name: String::new(),
        description: String::new(),
        category: "general".into(),
        vendor_id: Some(caller.user_id.clone()),
        kind: "http".into(),
        endpoint: None,
        required_credentials: "[]".into(),
        actions: "[]".into(),
        status: "active".into(),
        timeout_ms: None,
        created_at: now,
        updated_at: now,
    };
    apply(&state, &mut row, &body, true).map_err(|e| errors_to_api(e, &body))?;
    if row.endpoint.is_none() {
        return Err(errors_to_api(
            vec![(
                vec!["endpoint".into()],
                "an http tool needs an endpoint".into(),
            )],
            &body,
        ));
    }
    check_identifiers(&state, &row)?;
    state.store.insert_product(&row).await.map_err(conflict)?;
    state.catalog.reload().await?;
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
    let rows = state.store.products().await?;
    let products = rows
        .iter()
        .filter(|p| caller.is_admin() || p.vendor_id.as_deref() == Some(caller.user_id.as_str()))
        .map(product_view)
        .collect();
    Ok(Json(oa::VendorProductListResponse {
        success: true,
        data: oa::VendorProductList { products },
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
    req: axum::extract::Request,
) -> ApiResult<Json<oa::VendorProductResponse>> {
    vendor_or_admin(&caller)?;
    let body = json_body(req, &state).await?;
    if !body.is_object() {
        return Err(super::extract::Fields::body(&body)
            .err()
            .expect("not an object"));
    }
    let not_found = || {
        ApiError::not_found(
            "product_not_found",
            "No product with this id belongs to you.",
        )
    };
    let mut row = state
        .store
        .products()
        .await?
        .into_iter()
        .find(|p| p.id == product_id)
        .ok_or_else(not_found)?;
    if !caller.is_admin() && row.vendor_id.as_deref() != Some(caller.user_id.as_str()) {
        return Err(not_found());
    }
    if row.kind == "builtin" {
        // Only the status of a builtin can change; the rest ships with the server.
        let keys: Vec<&String> = body
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        if keys.iter().any(|k| *k != "status") {
            return Err(errors_to_api(
                vec![(
                    vec![],
                    "only the status of a builtin tool can be changed".into(),
                )],
                &body,
            ));
        }
    }
    apply(&state, &mut row, &body, false).map_err(|e| errors_to_api(e, &body))?;
    row.updated_at = to_millis(state.clock.now()).max(row.updated_at + 1);
    check_identifiers(&state, &row)?;
    state.store.update_product(&row).await.map_err(conflict)?;
    state.catalog.reload().await?;
    Ok(product_response(&row))
}
