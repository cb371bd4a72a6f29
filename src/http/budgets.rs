//! Budgets (agent groups): their policies, tools and API keys. Managing a
//! budget needs the owner signed in; an agent's API key cannot raise its
//! own caps or enable tools.

use super::openapi::schemas as oa;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiResult;
use super::extract::{Body, Fields, FromBody};
use crate::app::AppState;
use crate::auth::Caller;
use crate::clock::{from_millis, iso};
use crate::id::{ApiKeyId, BudgetId};
use crate::money::Credits;
use crate::services::budgets::{self, BudgetError, BudgetView, CAP_NAMES};
use crate::store::{ApiKeyRow, BudgetStatus};

fn key_view(k: ApiKeyRow) -> oa::ApiKey {
    oa::ApiKey {
        id: k.id.to_string(),
        budget_id: k.budget_id.to_string(),
        name: k.name,
        prefix: k.prefix,
        created_at: k.created_at.iso(),
        revoked_at: k.revoked_at.map(|t| t.iso()),
    }
}

impl FromBody for oa::ApiKeyRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let name = f.opt_str("name");
        let name = match name {
            Some(n) => Some(f.str_len("name", Some(n), 1, 100)?),
            None => None,
        };
        Some(oa::ApiKeyRequest { name })
    }
}

/// A budget id from a path: one that is not an id names no budget.
fn path_budget(raw: &str) -> Result<BudgetId, BudgetError> {
    BudgetId::parse(raw).ok_or(BudgetError::NotFound)
}

/// An API key id from a path: one that is not an id names no key.
fn path_key(raw: &str) -> Result<ApiKeyId, BudgetError> {
    ApiKeyId::parse(raw).ok_or(BudgetError::ApiKeyNotFound)
}

/// `POST /budgets/{budget_id}/api-keys`: the key is in this response only.
#[utoipa::path(
    post,
    path = "/budgets/{budget_id}/api-keys",
    tag = "Budgets",
    operation_id = "budgets_create_api_key",
    summary = "Create an API key",
    description = "A key that acts in this budget. The key is in this response only.",
    params(
        ("budget_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The budget's id."),
    ),
    request_body(content = oa::ApiKeyRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The key, shown once.", body = oa::ApiKeyCreatedResponse),
        super::openapi::BodyRefused,
        super::openapi::Unauthorized,
        (status = 403, description = "An API key was used where an access token from POST /auth/login is required (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No budget with this id belongs to the caller (`budget_not_found`).", body = oa::ErrorResponse),
        (status = 409, description = "The account already has as many unrevoked API keys on this budget as it may (`quota_exceeded`; `data.kind` is `api_key`, `data.limit` the limit).", body = oa::ErrorResponse),
        super::openapi::Invalid,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(skip_all, fields(budget_id = %budget_id))]
pub async fn create_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(budget_id): Path<String>,
    Body(body): Body<oa::ApiKeyRequest>,
) -> ApiResult<(StatusCode, Json<oa::ApiKeyCreatedResponse>)> {
    let name = body.name.as_deref().unwrap_or("default");
    let (row, secret) =
        budgets::create_api_key(&state, &caller, path_budget(&budget_id)?, name).await?;
    let k = key_view(row);
    let data = oa::CreatedApiKey {
        id: k.id,
        budget_id: k.budget_id,
        name: k.name,
        prefix: k.prefix,
        created_at: k.created_at,
        revoked_at: k.revoked_at,
        key: secret,
    };
    Ok((
        StatusCode::CREATED,
        Json(oa::ApiKeyCreatedResponse {
            success: true,
            message: "Store this key now: it is not shown again.".into(),
            data,
        }),
    ))
}

/// `GET /budgets/{budget_id}/api-keys`: never shows the keys themselves.
#[utoipa::path(
    get,
    path = "/budgets/{budget_id}/api-keys",
    tag = "Budgets",
    operation_id = "budgets_list_api_keys",
    summary = "List API keys",
    description = "The budget's keys, without their secrets.",
    params(
        ("budget_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The budget's id."),
    ),
    responses(
        (status = 200, description = "The keys.", body = oa::ApiKeyListResponse),
        super::openapi::Unauthorized,
        (status = 403, description = "An API key was used where an access token from POST /auth/login is required (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No budget with this id belongs to the caller (`budget_not_found`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn list_api_keys(
    State(state): State<AppState>,
    caller: Caller,
    Path(budget_id): Path<String>,
) -> ApiResult<Json<oa::ApiKeyListResponse>> {
    let keys = budgets::list_api_keys(&state, &caller, path_budget(&budget_id)?).await?;
    Ok(Json(oa::ApiKeyListResponse {
        success: true,
        data: oa::ApiKeyList {
            api_keys: keys.into_iter().map(key_view).collect(),
        },
    }))
}

/// `DELETE /budgets/{budget_id}/api-keys/{key_id}`: the key stops working at once.
#[utoipa::path(
    delete,
    path = "/budgets/{budget_id}/api-keys/{key_id}",
    tag = "Budgets",
    operation_id = "budgets_revoke_api_key",
    summary = "Revoke an API key",
    description = "The key stops working at once.",
    params(
        ("budget_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The budget's id."),
        ("key_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The key's id."),
    ),
    responses(
        (status = 200, description = "Revoked.", body = oa::ApiKeyRevokedResponse),
        super::openapi::Unauthorized,
        (status = 403, description = "An API key was used where an access token from POST /auth/login is required (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No such budget (`budget_not_found`) or no live key with this id on it (`api_key_not_found`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((budget_id, key_id)): Path<(String, String)>,
) -> ApiResult<Json<oa::ApiKeyRevokedResponse>> {
    let revoked_at = budgets::revoke_api_key(
        &state,
        &caller,
        path_budget(&budget_id)?,
        path_key(&key_id)?,
    )
    .await?;
    Ok(Json(oa::ApiKeyRevokedResponse {
        success: true,
        data: oa::ApiKeyRevoked {
            id: key_id,
            revoked_at: iso(from_millis(revoked_at)),
        },
    }))
}

fn budget_view(view: BudgetView) -> oa::Budget {
    let b = view.budget;
    oa::Budget {
        caps: oa::BudgetCaps {
            per_call: b.cap_per_call.map(Credits::get),
            hourly: b.cap_hourly.map(Credits::get),
            daily: b.cap_daily.map(Credits::get),
            weekly: b.cap_weekly.map(Credits::get),
            monthly: b.cap_monthly.map(Credits::get),
            total: b.cap_total.map(Credits::get),
        },
        id: b.id.to_string(),
        name: b.name,
        status: b.status.to_string(),
        is_default: b.is_default,
        product_ids: view.product_ids.iter().map(ToString::to_string).collect(),
        created_at: b.created_at.iso(),
    }
}

fn budget_response(view: BudgetView) -> Json<oa::BudgetResponse> {
    Json(oa::BudgetResponse {
        success: true,
        data: budget_view(view),
    })
}

/// A whole number of credits, 0 or more, also when written `5.0` (which
/// JSON Schema's `integer` includes).
fn whole_credits(n: &serde_json::Number) -> Option<i64> {
    let whole = n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..9_223_372_036_854_775_808.0).contains(f))
            .map(|f| f as i64)
    });
    whole.filter(|n| *n >= 0)
}

impl FromBody for oa::BudgetRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let name = f.opt_str("name");
        let name = match name {
            Some(n) => Some(f.str_len("name", Some(n), 1, 100)?),
            None => None,
        };
        let status = match f.opt_str("status") {
            Some(s) => match serde_json::from_value(Value::String(s.clone())) {
                Ok(status) => Some(status),
                Err(_) => {
                    f.error(
                        "status",
                        "enum",
                        "Input should be 'active' or 'paused'",
                        Value::String(s),
                        Some(json!({"expected": "'active' or 'paused'"})),
                    );
                    None
                }
            },
            None => None,
        };
        let caps = f.opt_object("caps").map(|obj| {
            let mut caps = oa::BudgetCapsRequest::default();
            for (k, v) in &obj {
                let slot = match k.as_str() {
                    "per_call" => &mut caps.per_call,
                    "hourly" => &mut caps.hourly,
                    "daily" => &mut caps.daily,
                    "weekly" => &mut caps.weekly,
                    "monthly" => &mut caps.monthly,
                    "total" => &mut caps.total,
                    _ => {
                        f.error(
                            "caps",
                            "extra_forbidden",
                            format!("Unknown cap {k:?}; caps are {}", CAP_NAMES.join(", ")),
                            v.clone(),
                            None,
                        );
                        continue;
                    }
                };
                match v {
                    Value::Null => *slot = Some(None),
                    Value::Number(n) if whole_credits(n).is_some() => {
                        *slot = Some(whole_credits(n))
                    }
                    other => f.error(
                        "caps",
                        "int_type",
                        format!("Cap {k} should be a whole number of credits, 0 or more, or null"),
                        other.clone(),
                        None,
                    ),
                }
            }
            caps
        });
        Some(oa::BudgetRequest { name, status, caps })
    }
}

/// The service's patch of a budget from the request.
fn budget_patch(req: oa::BudgetRequest) -> budgets::BudgetPatch {
    let caps = req.caps.unwrap_or_default();
    let caps = [
        ("per_call", caps.per_call),
        ("hourly", caps.hourly),
        ("daily", caps.daily),
        ("weekly", caps.weekly),
        ("monthly", caps.monthly),
        ("total", caps.total),
    ];
    budgets::BudgetPatch {
        name: req.name,
        status: req.status.map(|s| match s {
            oa::BudgetStatus::Active => BudgetStatus::Active,
            oa::BudgetStatus::Paused => BudgetStatus::Paused,
        }),
        caps: caps
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name, v.map(Credits::new))))
            .collect(),
    }
}

/// `GET /budgets`: the caller's budgets.
#[utoipa::path(
    get,
    path = "/budgets",
    tag = "Budgets",
    operation_id = "budgets_list_budgets",
    summary = "List my budgets",
    responses(
        (status = 200, description = "The caller's budgets.", body = oa::BudgetListResponse),
        super::openapi::Unauthorized,
        (status = 403, description = "An API key was used where an access token from POST /auth/login is required (`user_token_required`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn list_budgets(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<oa::BudgetListResponse>> {
    let budgets = budgets::list(&state, &caller)
        .await?
        .into_iter()
        .map(budget_view)
        .collect();
    Ok(Json(oa::BudgetListResponse {
        success: true,
        data: oa::BudgetList { budgets },
    }))
}

/// `POST /budgets`: a new budget with no tools enabled.
#[utoipa::path(
    post,
    path = "/budgets",
    tag = "Budgets",
    operation_id = "budgets_create_budget",
    summary = "Create a budget",
    description = "A new budget with no tools enabled.",
    request_body(content = oa::BudgetRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The budget.", body = oa::BudgetResponse),
        super::openapi::BodyRefused,
        super::openapi::Unauthorized,
        (status = 403, description = "An API key was used where an access token from POST /auth/login is required (`user_token_required`).", body = oa::ErrorResponse),
        (status = 409, description = "The account already has as many budgets as it may (`quota_exceeded`; `data.kind` is `budget`, `data.limit` the limit).", body = oa::ErrorResponse),
        super::openapi::Invalid,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn create_budget(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<oa::BudgetRequest>,
) -> ApiResult<(StatusCode, Json<oa::BudgetResponse>)> {
    let b = budgets::create(&state, &caller, &budget_patch(body)).await?;
    let view = BudgetView {
        budget: b,
        product_ids: Vec::new(),
    };
    Ok((StatusCode::CREATED, budget_response(view)))
}

/// `GET /budgets/{budget_id}`.
#[utoipa::path(
    get,
    path = "/budgets/{budget_id}",
    tag = "Budgets",
    operation_id = "budgets_get_budget",
    summary = "Get a budget",
    params(
        ("budget_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The budget's id."),
    ),
    responses(
        (status = 200, description = "The budget.", body = oa::BudgetResponse),
        super::openapi::Unauthorized,
        (status = 403, description = "An API key was used where an access token from POST /auth/login is required (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No budget with this id belongs to the caller (`budget_not_found`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn get_budget(
    State(state): State<AppState>,
    caller: Caller,
    Path(budget_id): Path<String>,
) -> ApiResult<Json<oa::BudgetResponse>> {
    let view = budgets::get(&state, &caller, path_budget(&budget_id)?).await?;
    Ok(budget_response(view))
}

/// `PATCH /budgets/{budget_id}`: rename, pause or resume, set caps (null clears one).
#[utoipa::path(
    patch,
    path = "/budgets/{budget_id}",
    tag = "Budgets",
    operation_id = "budgets_update_budget",
    summary = "Update a budget",
    description = "Rename, pause or resume, set caps (null clears one).",
    params(
        ("budget_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The budget's id."),
    ),
    request_body(content = oa::BudgetRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The budget.", body = oa::BudgetResponse),
        super::openapi::BodyRefused,
        super::openapi::Unauthorized,
        (status = 403, description = "An API key was used where an access token from POST /auth/login is required (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No budget with this id belongs to the caller (`budget_not_found`).", body = oa::ErrorResponse),
        super::openapi::Invalid,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn update_budget(
    State(state): State<AppState>,
    caller: Caller,
    Path(budget_id): Path<String>,
    Body(body): Body<oa::BudgetRequest>,
) -> ApiResult<Json<oa::BudgetResponse>> {
    let view = budgets::update(
        &state,
        &caller,
        path_budget(&budget_id)?,
        &budget_patch(body),
    )
    .await?;
    Ok(budget_response(view))
}

/// `PUT /budgets/{budget_id}/products/{product_id}`: enables a tool.
#[utoipa::path(
    put,
    path = "/budgets/{budget_id}/products/{product_id}",
    tag = "Budgets",
    operation_id = "budgets_enable_product",
    summary = "Enable a tool on a budget",
    params(
        ("budget_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The budget's id."),
        ("product_id" = String, Path, description = "The tool's id, slug or name."),
    ),
    responses(
        (status = 200, description = "Enabled.", body = oa::BudgetProductResponse),
        super::openapi::Unauthorized,
        (status = 403, description = "An API key was used where an access token from POST /auth/login is required (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No such budget (`budget_not_found`) or tool (`product_not_found`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn enable_product(
    State(state): State<AppState>,
    caller: Caller,
    Path((budget_id, product_id)): Path<(String, String)>,
) -> ApiResult<Json<oa::BudgetProductResponse>> {
    let (b, product_id) =
        budgets::enable_product(&state, &caller, path_budget(&budget_id)?, &product_id).await?;
    Ok(Json(oa::BudgetProductResponse {
        success: true,
        data: oa::BudgetProduct {
            budget_id: b.id.to_string(),
            product_id,
            enabled: true,
        },
    }))
}

/// `DELETE /budgets/{budget_id}/products/{product_id}`: disables a tool.
#[utoipa::path(
    delete,
    path = "/budgets/{budget_id}/products/{product_id}",
    tag = "Budgets",
    operation_id = "budgets_disable_product",
    summary = "Disable a tool on a budget",
    params(
        ("budget_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The budget's id."),
        ("product_id" = String, Path, description = "The tool's id, slug or name."),
    ),
    responses(
        (status = 200, description = "Disabled.", body = oa::BudgetProductResponse),
        super::openapi::Unauthorized,
        (status = 403, description = "An API key was used where an access token from POST /auth/login is required (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No such budget (`budget_not_found`), or the tool is not enabled on it (`product_not_on_budget`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn disable_product(
    State(state): State<AppState>,
    caller: Caller,
    Path((budget_id, product_id)): Path<(String, String)>,
) -> ApiResult<Json<oa::BudgetProductResponse>> {
    let (b, id) =
        budgets::disable_product(&state, &caller, path_budget(&budget_id)?, &product_id).await?;
    Ok(Json(oa::BudgetProductResponse {
        success: true,
        data: oa::BudgetProduct {
            budget_id: b.id.to_string(),
            product_id: id.to_string(),
            enabled: false,
        },
    }))
}
