//! How each refusal of a use case reaches an MCP client: a tool result with
//! `isError`, the code and message as text, and the REST API's error body
//! (the same stable codes) as structured content.

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{json, Value};

use crate::ledger::LedgerError;
use crate::purchase::PurchaseError;
use crate::services::instances::InstanceUseError;
use crate::services::issues::ReportError;
use crate::store::StoreError;
use crate::tools::ToolError;

/// A failed call: `isError`, the code and message as text, and the REST
/// API's error body as structured content.
pub(super) fn failure(
    code: &str,
    message: impl Into<String>,
    data: Option<Value>,
) -> CallToolResult {
    let message = message.into();
    let mut body = json!({"success": false, "error": code, "message": message});
    if let Some(data) = data {
        body["data"] = data;
    }
    let mut result = CallToolResult::structured_error(body);
    result.content = vec![ContentBlock::text(format!("{code}: {message}"))];
    result
}

fn loc(path: &[Value]) -> String {
    if path.is_empty() {
        return "arguments".into();
    }
    path.iter()
        .map(|p| match p {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The REST API's refusal for each purchase outcome, with the same codes.
pub(super) fn purchase_failure(e: PurchaseError) -> CallToolResult {
    match e {
        PurchaseError::ProductNotFound(p) => failure(
            "product_not_found",
            format!("No tool matches {p:?}. List the tools you can use with tools/list."),
            None,
        ),
        PurchaseError::ProductDisabled => failure(
            "product_disabled",
            "This tool is disabled by its vendor and cannot be called now.",
            None,
        ),
        PurchaseError::BudgetPaused => failure(
            "budget_paused",
            "This budget is paused; its owner must resume it before tools can be called.",
            None,
        ),
        PurchaseError::NotOnBudget {
            product_id,
            approval_request_id,
        } => failure(
            "product_not_on_budget",
            "This tool is not enabled on your budget. An approval request was sent to the budget's owner.",
            Some(json!({"product_id": product_id, "approval_request_id": approval_request_id})),
        ),
        PurchaseError::UnknownAction { given, available } => {
            let expected = available
                .iter()
                .map(|a| format!("'{a}'"))
                .collect::<Vec<_>>()
                .join(", ");
            failure(
                "invalid_parameters",
                format!("'action' must be one of {expected}; got {given}."),
                Some(json!({"actions": available})),
            )
        }
        PurchaseError::InvalidParameters(errors) => {
            let summary = errors
                .iter()
                .map(|e| format!("{}: {}", loc(&e.path), e.message))
                .collect::<Vec<_>>()
                .join("; ");
            let detail: Vec<Value> = errors
                .iter()
                .map(|e| json!({"loc": e.path, "type": e.kind, "msg": e.message, "input": e.input}))
                .collect();
            failure(
                "invalid_parameters",
                format!("The arguments do not match the tool's input schema: {summary}."),
                Some(json!({"detail": detail})),
            )
        }
        PurchaseError::MissingCredentials { missing, request_ids } => failure(
            "missing_credentials",
            "This tool needs credentials you have not stored. Store them with PUT /credentials/{product_id}/{name}; an approval request was sent to the owner.",
            Some(json!({"missing_credentials": missing, "credential_request_ids": request_ids})),
        ),
        PurchaseError::PriceNotApproved { product_id, action, agreed, price, approval_request_id } => failure(
            "price_not_approved",
            format!("This tool now costs {price} credits, more than the budget's owner agreed to; an approval request was sent to them. Nothing was charged."),
            Some(json!({"product_id": product_id, "action": action, "agreed_price_credits": agreed, "price_credits": price, "approval_request_id": approval_request_id})),
        ),
        PurchaseError::PriceAboveMax { price, max } => failure(
            "price_above_max",
            format!("This call costs {price} credits, more than your max_price_credits of {max}. Nothing was charged."),
            Some(json!({"price_credits": price, "max_price_credits": max})),
        ),
        PurchaseError::Ledger(e) => ledger_failure(e),
        PurchaseError::Tool {
            error,
            order_id,
            vendor,
        } => match error {
            ToolError::InvalidInput { field, message } => failure(
                "tool_input_error",
                format!(
                    "The tool refused the input{}; nothing was charged: {message}",
                    field.map(|f| format!(" ({f})")).unwrap_or_default()
                ),
                Some(json!({"order_id": order_id})),
            ),
            ToolError::Failed(message) => failure(
                if vendor { "vendor_error" } else { "tool_failed" },
                format!("The tool failed and nothing was charged: {message}"),
                Some(json!({"order_id": order_id})),
            ),
            ToolError::Timeout => failure(
                "tool_timeout",
                "The tool did not answer in time; nothing was charged.",
                Some(json!({"order_id": order_id})),
            ),
        },
        PurchaseError::Internal(e) => internal_failure(e),
    }
}

/// The header a refused `x-instance-metadata` came in, as a FastAPI-style
/// validation detail.
pub(super) fn instance_failure(e: InstanceUseError) -> CallToolResult {
    let (kind, msg, input, ctx) = match e {
        InstanceUseError::MetadataNotObject(input) => {
            ("dict_type", "Input should be a valid dictionary", input, None)
        }
        InstanceUseError::MetadataNotJson { text, error } => {
            ("json_invalid", "Invalid JSON", Value::String(text), Some(json!({ "error": error })))
        }
        InstanceUseError::NotFound => {
            return failure(
                "instance_not_found",
                "No connection instance with this id belongs to you; omit x-instance-id to use your own default instance.",
                None,
            )
        }
        InstanceUseError::Store(e) => return store_failure(e),
    };
    let mut detail =
        json!({"loc": ["header", "x-instance-metadata"], "msg": msg, "type": kind, "input": input});
    if let Some(ctx) = ctx {
        detail["ctx"] = ctx;
    }
    failure(
        "invalid_parameters",
        format!("The arguments are not valid: header.x-instance-metadata: {msg}."),
        Some(json!({ "detail": [detail] })),
    )
}

pub(super) fn report_failure(e: ReportError) -> CallToolResult {
    match e {
        ReportError::RateLimited { per_hour } => failure(
            "rate_limited",
            format!("At most {per_hour} issue reports an hour are accepted per account; try again later."),
            None,
        ),
        ReportError::Store(e) => store_failure(e),
    }
}

/// The ledger's refusals, with the REST API's codes and advice.
fn ledger_failure(e: LedgerError) -> CallToolResult {
    match e {
        LedgerError::InsufficientCredits { available, requested } => failure(
            "insufficient_credits",
            format!("This call costs {requested} credits but only {available} are available. Ask the account owner to add credits."),
            Some(json!({"balance": available, "price": requested})),
        ),
        LedgerError::CapReached { window, cap, spent, requested } => failure(
            "budget_cap_reached",
            format!("This call costs {requested} credits, which would take the budget past its {window} cap of {cap} credits ({spent} already committed). Wait for the window to pass or ask the owner to raise the cap."),
            Some(json!({"window": window, "cap": cap, "spent": spent, "price": requested})),
        ),
        LedgerError::ClaimLost => failure(
            "idempotency_key_taken_over",
            "A retry with the same Idempotency-Key took this request's key over; this run was not charged.",
            None,
        ),
        LedgerError::Stopped => failure(
            "shutting_down",
            "The server is shutting down; retry on another node or in a moment.",
            None,
        ),
        // A purchase makes no grants, revocations or wallets: anything
        // else is a fault, not the caller's to act on.
        other => internal_failure(other.into()),
    }
}

pub(super) fn store_failure(e: StoreError) -> CallToolResult {
    internal_failure(e.into())
}

fn internal_failure(cause: anyhow::Error) -> CallToolResult {
    tracing::error!(
        error = format!("{cause:#}"),
        "internal error in an MCP tool call"
    );
    failure(
        "internal_error",
        "Internal server error; nothing was charged. Try again later.",
        None,
    )
}
