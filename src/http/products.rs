//! `GET /products/fetch` and `POST /products/purchase`.

use super::openapi::schemas as oa;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{bounded_int, Body, Fields, FromBody};
use crate::app::AppState;
use crate::auth::Caller;
use crate::catalog::Product;
use crate::money::Credits;
use crate::services::idempotency::IdempotencyKey;
use crate::services::instances::{self, InstanceHeaders};
use crate::services::purchase::{self, Answer, NewPurchase};

/// The highest page number, `i64::MAX / 1024` (2^53 - 1), as documented.
const MAX_PAGE: i64 = i64::MAX / 1024;

/// A page number or size from the header (which wins) or the query.
fn page_param(
    query: Option<&str>,
    headers: &HeaderMap,
    query_name: &str,
    header_name: &str,
    default: i64,
    max: i64,
) -> ApiResult<(i64, &'static str)> {
    let raw = query.and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .unwrap_or_default()
            .into_iter()
            .rev()
            .find(|(k, _)| k == query_name)
            .map(|(_, v)| v)
    });
    // The query is checked even when the header wins: an invalid value is
    // refused wherever it is sent.
    let from_query = match raw {
        Some(text) => Some(bounded_int(
            vec!["query".into(), query_name.into()],
            &text,
            1,
            max,
        )?),
        None => None,
    };
    if let Some(raw) = headers.get(header_name) {
        let text = raw.to_str().unwrap_or_default();
        return Ok((
            bounded_int(vec!["header".into(), header_name.into()], text, 1, max)?,
            "header",
        ));
    }
    Ok((from_query.unwrap_or(default), "query"))
}

fn tool_view(p: &Product) -> oa::ProductsFetchTool {
    let cheapest = p
        .actions
        .iter()
        .map(|a| a.price_credits)
        .min()
        .unwrap_or(Credits::ZERO);
    oa::ProductsFetchTool {
        product_id: p.row.id.to_string(),
        name: p.row.name.clone(),
        display_name: p.row.display_name.clone(),
        description: p.row.description.clone(),
        slug: p.row.slug.clone(),
        category: p.row.category.clone(),
        kind: p.row.kind.to_string(),
        price_credits: cheapest.get(),
        actions: p
            .actions
            .iter()
            .map(|a| oa::ToolAction {
                name: a.name.clone(),
                description: a.description.clone(),
                parameters: a.parameters.clone(),
                price_credits: a.price_credits.get(),
            })
            .collect(),
        required_credentials: p.credentials.iter().map(|c| c.name.clone()).collect(),
        function: p.function_definition(),
    }
}

/// Example parameters for an action: its required properties with placeholders.
fn example_params(p: &Product) -> Value {
    let Some(a) = p.actions.first() else {
        return json!({});
    };
    let mut params = Map::new();
    params.insert("action".into(), Value::String(a.name.clone()));
    if let Some(required) = a.parameters["required"].as_array() {
        for name in required.iter().filter_map(Value::as_str) {
            let schema = &a.parameters["properties"][name];
            let example = schema
                .get("examples")
                .and_then(|e| e.get(0))
                .cloned()
                .or_else(|| schema.get("default").cloned())
                .unwrap_or_else(|| match schema["type"].as_str() {
                    Some("integer") | Some("number") => json!(1),
                    Some("boolean") => json!(true),
                    Some("array") => json!([]),
                    Some("object") => json!({}),
                    _ => schema["enum"].get(0).cloned().unwrap_or(json!("value")),
                });
            params.insert(name.into(), example);
        }
    }
    Value::Object(params)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `GET /products/fetch`: the budget's active tools, a page at a time.
#[utoipa::path(
    get,
    path = "/products/fetch",
    tag = "Tool Calls Via REST API",
    operation_id = "products_fetch",
    summary = "List tools available in your budget",
    description = "List tools available in your budget.",
    params(
        ("page" = Option<i64>, Query, minimum = 1, maximum = 9007199254740991i64, description = "Page number (1-based)"),
        ("page_size" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Items per page (max 100)"),
        ("X-Page" = Option<i64>, Header, nullable = false, minimum = 1, maximum = 9007199254740991i64, description = "Page number from header (alternative to query param); wins over `page`."),
        ("X-Page-Size" = Option<i64>, Header, nullable = false, minimum = 1, maximum = 100, description = "Page size from header (alternative to query param); wins over `page_size`."),
        ("x-instance-id" = Option<String>, Header, description = "Connection instance ID for persistent storage"),
        ("x-instance-metadata" = Option<String>, Header, description = "Instance metadata as JSON string"),
    ),
    responses(
        (status = 200, description = "Paginated list of tools available to the caller, plus a pre-prompt and a sample tool-call curl.", body = oa::ProductsFetchResponse),
        super::openapi::Unauthorized,
        (status = 404, description = "`x-instance-id` names no connection instance of the caller (`instance_not_found`).", body = oa::ErrorResponse),
        super::openapi::Invalid,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %caller.user_id))]
pub async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    instance: InstanceHeaders,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let (page, page_source) =
        page_param(query.as_deref(), &headers, "page", "x-page", 1, MAX_PAGE)?;
    let (page_size, page_size_source) = page_param(
        query.as_deref(),
        &headers,
        "page_size",
        "x-page-size",
        10,
        100,
    )?;
    let instance_id = instances::resolve(&state, &caller, &instance).await?;
    let tools = crate::services::toolbox::enabled(&state, caller.budget_id).await?;
    let total = tools.len() as i64;
    let total_pages = (total + page_size - 1) / page_size;
    let start = ((page - 1).saturating_mul(page_size)).min(total) as usize;
    let end = (start + page_size as usize).min(tools.len());
    let page_tools = &tools[start..end];
    let base = &state.settings.public_url;
    let preprompt = if total == 0 {
        format!(
            "No paid tools are enabled on this budget yet, so there is nothing to call. Ask the account owner to enable tools on the budget, or report a problem with POST {base}/issues/report."
        )
    } else {
        let names: Vec<&str> = tools.iter().take(20).map(|p| p.row.name.as_str()).collect();
        format!(
            "You can use {total} paid tool(s) through Tollgate: {}{}. Call a tool with POST {base}/products/purchase and a JSON body {{\"product_id\": \"<product_id or name>\", \"parameters\": {{\"action\": \"<action>\", ...}}}}, passing the parameters each action's schema declares. Each call costs the action's price in credits (100 credits = 1 USD) and is charged only if it succeeds. Check your balance with GET {base}/credits/balance, and report a broken tool with POST {base}/issues/report.",
            names.join(", "),
            if total > 20 { ", ..." } else { "" }
        )
    };
    let example = page_tools.first().map(|p| {
        let body = json!({"product_id": p.row.id, "parameters": example_params(p)});
        format!(
            "curl -X POST {} -H \"Authorization: Bearer $TOLLGATE_API_KEY\" -H \"Content-Type: application/json\" -H \"x-instance-id: {instance_id}\" -d {}",
            shell_quote(&format!("{base}/products/purchase")),
            shell_quote(&body.to_string())
        )
    });
    let body = FetchResponse {
        success: true,
        instance_id,
        details: oa::ProductsFetchDetails {
            tools_on_this_page: page_tools.len() as i64,
            total_qualified_tools: total,
            page_returned: page,
            page_size_requested: page_size,
            page_source: page_source.into(),
            page_size_source: page_size_source.into(),
            total_pages,
            has_next_page: page < total_pages,
            has_previous_page: page > 1,
        },
        preprompt,
        tools: page_tools.iter().map(|p| listing(p)).collect(),
        pagination: oa::ProductsFetchPagination {
            page,
            page_size,
            total_count: total,
            total_pages,
            has_next: page < total_pages,
            has_prev: page > 1,
        },
        example_tool_call: example,
    };
    Ok(Json(body).into_response())
}

/// The body of `GET /products/fetch`: [`oa::ProductsFetchResponse`] field
/// for field, with each tool entry an [`oa::ProductsFetchTool`] serialised
/// once per catalog version rather than on every request. The test of
/// live responses against the document checks that the two agree.
#[derive(serde::Serialize)]
struct FetchResponse<'a> {
    success: bool,
    instance_id: crate::id::InstanceId,
    details: oa::ProductsFetchDetails,
    preprompt: String,
    tools: Vec<&'a serde_json::value::RawValue>,
    pagination: oa::ProductsFetchPagination,
    example_tool_call: Option<String>,
}

/// A product's listing entry, serialised once per catalog version.
fn listing(p: &Product) -> &serde_json::value::RawValue {
    p.listing.get_or_init(|| {
        serde_json::value::to_raw_value(&tool_view(p)).expect("a tool entry serialises")
    })
}

/// A purchase body: `product_id` (or `name`), `parameters` (whose `action`,
/// when given, is a string) and `max_price_credits`.
impl FromBody for oa::PurchaseRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let product = if f.has("product_id") {
            f.req_str("product_id")
        } else if f.has("name") {
            f.req_str("name")
        } else {
            f.req_str("product_id")
        };
        let parameters = f.opt_object("parameters");
        match parameters.as_ref().and_then(|p| p.get("action")) {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(other) => f.error(
                "parameters",
                "string_type",
                "Input should be a valid string",
                other.clone(),
                None,
            ),
        }
        let product = product.and_then(|p| f.str_len("product_id", Some(p), 1, 200));
        let max_price_credits = f.opt_int("max_price_credits");
        if let Some(max) = max_price_credits.filter(|m| *m < 0) {
            f.error(
                "max_price_credits",
                "greater_than_equal",
                "Input should be greater than or equal to 0",
                max.into(),
                Some(json!({"ge": 0})),
            );
        }
        Some(oa::PurchaseRequest {
            product_id: product?,
            parameters,
            max_price_credits,
        })
    }
}

/// The purchase a body asks for, its `action` taken out of `parameters`.
fn new_purchase(body: oa::PurchaseRequest) -> NewPurchase {
    let mut params = body.parameters.unwrap_or_default();
    let action = match params.remove("action") {
        Some(Value::String(s)) => Some(s),
        // `from_fields` refused any other type.
        _ => None,
    };
    NewPurchase {
        product: body.product_id,
        action,
        params,
        max_price_credits: body.max_price_credits.map(Credits::new),
    }
}

/// `POST /products/purchase`: purchase and invoke a tool.
#[utoipa::path(
    post,
    path = "/products/purchase",
    tag = "Tool Calls Via REST API",
    operation_id = "products_purchase",
    summary = "Purchase Products Endpoint",
    description = "Purchase and invoke a tool. Returns the tool's response with the order id and the instance_id for connection tracking. A call is charged only when it succeeds. With an `Idempotency-Key` header a retry replays the first answer (header `Idempotent-Replayed: true`) instead of charging again.",
    params(
        ("x-instance-id" = Option<String>, Header, description = "Connection instance ID for persistent storage"),
        ("x-instance-metadata" = Option<String>, Header, description = "Instance metadata as JSON string (AI agent info)"),
        ("Idempotency-Key" = Option<String>, Header, max_length = 255, pattern = "^[ -~]*[!-~][ -~]*$", description = "1 to 255 characters: a retry with the same key and request replays the first answer instead of charging again."),
    ),
    request_body(content = oa::PurchaseRequest, content_type = "application/json", description = "Purchase-and-invoke request envelope. The `parameters` field is tool-specific; retrieve the declared action schema from `GET /products/fetch` or the product's marketplace page."),
    responses(
        (status = 200, description = "Tool invocation result along with an `instance_id` that the caller can persist for follow-up calls to the same connection.", body = oa::PurchaseResponse),
        super::openapi::BodyRefused,
        super::openapi::Unauthorized,
        (status = 402, description = "Not enough credits (`insufficient_credits`); `data` has `balance` and `price`.", body = oa::ErrorResponse),
        (status = 403, description = "The tool is disabled (`product_disabled`), the budget is paused (`budget_paused`), or the tool is not enabled on the budget (`product_not_on_budget`; an approval request was opened, `data.approval_request_id`).", body = oa::ErrorResponse),
        (status = 404, description = "No such tool (`product_not_found`), or `x-instance-id` names no instance of the caller (`instance_not_found`).", body = oa::ErrorResponse),
        (status = 409, description = "The tool needs credentials the caller has not stored (`missing_credentials`; `data.missing_credentials`, `data.credential_request_ids`), a request with this Idempotency-Key is still running (`idempotency_key_in_progress`) or took this request's key over after it ran past the time limit (`idempotency_key_taken_over`), the tool's price rose above what the budget's owner agreed to (`price_not_approved`; an approval request was opened, `data.approval_request_id`), or it costs more than `max_price_credits` (`price_above_max`). Nothing is charged.", body = oa::ErrorResponse),
        (status = 422, description = "Validation Error: the body, the action or its parameters are invalid (HTTPValidationError), or the Idempotency-Key was used with a different request (ErrorResponse `idempotency_key_reused`).", body = oa::HTTPValidationError),
        (status = 429, description = "The call would pass one of the budget's caps (`budget_cap_reached`); `data` has `window`, `cap`, `spent`, `price`.", body = oa::ErrorResponse),
        super::openapi::Internal,
        (status = 502, description = "The tool failed and nothing was charged (`tool_failed`, `vendor_error`); `data.order_id`.", body = oa::ErrorResponse),
        (status = 504, description = "The tool did not answer in time and nothing was charged (`tool_timeout`); `data.order_id`.", body = oa::ErrorResponse),
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %caller.user_id))]
pub async fn purchase(
    State(state): State<AppState>,
    caller: Caller,
    instance: InstanceHeaders,
    headers: HeaderMap,
    Body(body): Body<oa::PurchaseRequest>,
) -> ApiResult<Response> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str().ok().and_then(IdempotencyKey::parse) {
            Some(key) => Some(key),
            None => {
                return Err(ApiError::field(FieldError::new(
                    vec!["header".into(), "idempotency-key".into()],
                    "string_too_long",
                    "An Idempotency-Key is 1 to 255 visible characters",
                    Value::Null,
                )))
            }
        },
    };
    let record = |e| ApiError::from(e).recorded();
    let answer = purchase::buy(&state, caller, new_purchase(body), instance, key, record).await?;
    Ok(match answer {
        Answer::Bought(bought) => Json(bought.response()).into_response(),
        Answer::Recorded { response, replayed } => {
            let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
            let content_type = (header::CONTENT_TYPE, "application/json");
            let mut response = (status, [content_type], response.body).into_response();
            if replayed {
                response
                    .headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            response
        }
    })
}
