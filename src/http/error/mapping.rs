//! Each service's error enum as the answer a client gets: the one place
//! where HTTP maps the application layer's refusals to statuses and codes.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{ApiError, FieldError};
use crate::ledger::LedgerError;
use crate::purchase::PurchaseError;
use crate::services::admin::AdminError;
use crate::services::approvals::ApprovalError;
use crate::services::bearer::AuthError;
use crate::services::budgets::BudgetError;
use crate::services::bundles::BundleError;
use crate::services::credentials::CredentialError;
use crate::services::idempotency::IdempotencyError;
use crate::services::instances::InstanceUseError;
use crate::services::issues::{IssueUpdateError, ReportError};
use crate::services::products::ProductError;
use crate::services::purchase::BuyError;
use crate::services::quotas::QuotaExceeded;
use crate::services::sessions::SessionError;
use crate::services::trigger::{RunError, TriggerError};
use crate::services::workflows::WorkflowError;
use crate::store::StoreError;
use crate::tools::ToolError;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.into())
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::InsufficientCredits { available, requested } => ApiError::coded(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_credits",
                format!("This call costs {requested} credits but only {available} are available. Ask the account owner to add credits."),
            )
            .with_data(json!({"balance": available, "price": requested})),
            LedgerError::CapReached { window, cap, spent, requested } => ApiError::coded(
                StatusCode::TOO_MANY_REQUESTS,
                "budget_cap_reached",
                format!("This call costs {requested} credits, which would take the budget past its {window} cap of {cap} credits ({spent} already committed). Wait for the window to pass or ask the owner to raise the cap."),
            )
            .with_data(json!({"window": window, "cap": cap, "spent": spent, "price": requested})),
            LedgerError::InvalidAmount => ApiError::field(
                FieldError::new(vec!["body".into(), "amount_credits".into()], "greater_than", "Input should be greater than 0", Value::Null)
                    .with_ctx(json!({"gt": 0})),
            ),
            LedgerError::ExpiryInPast => ApiError::field(FieldError::new(
                vec!["body".into(), "expires_at".into()],
                "datetime_future",
                "Input should be in the future",
                Value::Null,
            )),
            LedgerError::UnknownWallet => ApiError::not_found("user_not_found", "No such user."),
            LedgerError::UnknownGrant => ApiError::not_found("grant_not_found", "No such grant."),
            LedgerError::UnknownHold => ApiError::not_found("hold_not_found", "No such hold."),
            LedgerError::NothingToRevoke => {
                ApiError::conflict("nothing_to_revoke", "The grant has no credits left to revoke.")
            }
            LedgerError::ClaimLost => ApiError::conflict(
                "idempotency_key_taken_over",
                "This request ran past its time limit and a retry with the same Idempotency-Key took the key over; this run was not charged. Retry with the same key for the answer recorded under it.",
            ),
            LedgerError::Stopped => ApiError::coded(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "The server is shutting down; retry on another node or in a moment.",
            ),
            LedgerError::Store(e) => ApiError::Internal(e.into()),
        }
    }
}

impl From<InstanceUseError> for ApiError {
    fn from(e: InstanceUseError) -> Self {
        let header = || vec!["header".into(), "x-instance-metadata".into()];
        match e {
            InstanceUseError::MetadataNotObject(input) => ApiError::field(FieldError::new(
                header(),
                "dict_type",
                "Input should be a valid dictionary",
                input,
            )),
            InstanceUseError::MetadataNotJson { text, error } => ApiError::field(
                FieldError::new(header(), "json_invalid", "Invalid JSON", text.into())
                    .with_ctx(json!({ "error": error })),
            ),
            InstanceUseError::NotFound => ApiError::not_found(
                "instance_not_found",
                "No connection instance with this id belongs to you; omit x-instance-id to use your own default instance.",
            ),
            InstanceUseError::Store(e) => e.into(),
        }
    }
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::RateLimited { per_hour } => ApiError::coded(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("At most {per_hour} issue reports an hour are accepted per account; try again later."),
            ),
            ReportError::Store(e) => e.into(),
        }
    }
}

impl From<IssueUpdateError> for ApiError {
    fn from(e: IssueUpdateError) -> Self {
        match e {
            IssueUpdateError::NotFound => ApiError::not_found(
                "issue_not_found",
                "No report with this id about your tools.",
            ),
            IssueUpdateError::Store(e) => e.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Store(e) => e.into(),
            e => ApiError::unauthorized(e.code(), e.to_string()),
        }
    }
}

impl From<QuotaExceeded> for ApiError {
    fn from(e: QuotaExceeded) -> Self {
        ApiError::conflict("quota_exceeded", e.message()).with_data(e.data())
    }
}

impl From<BuyError> for ApiError {
    fn from(e: BuyError) -> Self {
        match e {
            BuyError::Instance(e) => e.into(),
            BuyError::Purchase(e) => e.into(),
        }
    }
}

impl From<PurchaseError> for ApiError {
    fn from(e: PurchaseError) -> Self {
        match e {
        PurchaseError::ProductNotFound(p) => ApiError::not_found("product_not_found", format!("No tool matches {p:?}. List the tools you can use with GET /products/fetch.")),
        PurchaseError::ProductDisabled => ApiError::forbidden("product_disabled", "This tool is disabled by its vendor and cannot be called now."),
        PurchaseError::BudgetPaused => ApiError::forbidden("budget_paused", "This budget is paused; its owner must resume it before tools can be called."),
        PurchaseError::NotOnBudget { product_id, approval_request_id } => ApiError::forbidden(
            "product_not_on_budget",
            "This tool is not enabled on your budget. An approval request was sent to the budget's owner.",
        )
        .with_data(json!({"product_id": product_id, "approval_request_id": approval_request_id})),
        PurchaseError::UnknownAction { given, available } => {
            let expected = available.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", ");
            ApiError::field(
                FieldError::new(vec!["body".into(), "parameters".into(), "action".into()], "enum", format!("Input should be {expected}"), given)
                    .with_ctx(json!({"expected": expected})),
            )
        }
        PurchaseError::InvalidParameters(errors) => ApiError::Validation(
            errors
                .into_iter()
                .map(|e| {
                    let mut loc: Vec<Value> = vec!["body".into(), "parameters".into()];
                    loc.extend(e.path);
                    FieldError::new(loc, e.kind, e.message, e.input)
                })
                .collect(),
        ),
        PurchaseError::MissingCredentials { missing, request_ids } => ApiError::conflict(
            "missing_credentials",
            "This tool needs credentials you have not stored. Store them with PUT /credentials/{product_id}/{name}; an approval request was sent to the owner.",
        )
        .with_data(json!({"missing_credentials": missing, "credential_request_ids": request_ids})),
        PurchaseError::PriceNotApproved { product_id, action, agreed, price, approval_request_id } => ApiError::conflict(
            "price_not_approved",
            format!("This tool now costs {price} credits, more than the budget's owner agreed to; an approval request was sent to them. Nothing was charged."),
        )
        .with_data(json!({"product_id": product_id, "action": action, "agreed_price_credits": agreed, "price_credits": price, "approval_request_id": approval_request_id})),
        PurchaseError::PriceAboveMax { price, max } => ApiError::conflict(
            "price_above_max",
            format!("This call costs {price} credits, more than your max_price_credits of {max}. Nothing was charged."),
        )
        .with_data(json!({"price_credits": price, "max_price_credits": max})),
        PurchaseError::Ledger(e) => e.into(),
        PurchaseError::Tool { error, order_id, vendor } => match error {
            ToolError::InvalidInput { field, message } => {
                let mut loc: Vec<Value> = vec!["body".into(), "parameters".into()];
                if let Some(f) = field {
                    loc.push(f.into());
                }
                ApiError::field(FieldError::new(loc, "value_error", format!("Value error, {message}"), Value::Null).with_ctx(json!({"error": message, "order_id": order_id})))
            }
            ToolError::Failed(message) => ApiError::coded(
                StatusCode::BAD_GATEWAY,
                if vendor { "vendor_error" } else { "tool_failed" },
                format!("The tool failed and nothing was charged: {message}"),
            )
            .with_data(json!({"order_id": order_id})),
            ToolError::Timeout => ApiError::coded(StatusCode::GATEWAY_TIMEOUT, "tool_timeout", "The tool did not answer in time; nothing was charged.")
                .with_data(json!({"order_id": order_id})),
        },
        PurchaseError::Internal(e) => ApiError::Internal(e),
    }
    }
}

impl From<IdempotencyError> for ApiError {
    fn from(e: IdempotencyError) -> Self {
        match e {
            IdempotencyError::KeyReused => ApiError::coded(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "This Idempotency-Key was used with a different request; use a new key for a new request.",
            ),
            IdempotencyError::InProgress => ApiError::conflict(
                "idempotency_key_in_progress",
                "A request with this Idempotency-Key is still running; retry after it finishes to get its result.",
            ),
            IdempotencyError::Task(e) => ApiError::internal(e),
            IdempotencyError::Store(e) => e.into(),
            IdempotencyError::Ledger(e) => e.into(),
        }
    }
}

impl From<ApprovalError> for ApiError {
    fn from(e: ApprovalError) -> Self {
        match e {
            ApprovalError::NotFound => ApiError::not_found(
                "approval_not_found",
                "No approval request with this id belongs to you.",
            ),
            ApprovalError::UserTokenRequired => ApiError::forbidden(
                "user_token_required",
                "Approve requests with an access token from POST /auth/login.",
            ),
            ApprovalError::Closed => {
                ApiError::conflict("approval_closed", "This request was already resolved.")
            }
            ApprovalError::ProductGone => {
                ApiError::not_found("product_not_found", "The tool no longer exists.")
            }
            ApprovalError::Store(e) => e.into(),
        }
    }
}

impl From<TriggerError> for ApiError {
    fn from(e: TriggerError) -> Self {
        match e {
            TriggerError::CallbackUrl(why) => ApiError::bad_request(
                "invalid_callback_url",
                format!("The callback URL is not allowed: {why}."),
            ),
            TriggerError::WorkflowNotFound => ApiError::not_found(
                "workflow_not_found",
                "No workflow with this id is available to you.",
            ),
            TriggerError::RequestIdInUse => ApiError::conflict(
                "request_id_in_use",
                "This request_id was already used for this workflow outside this API key's budget; send a new one.",
            ),
            TriggerError::NotOnBudget { workflow_request_id, add_workflow } => ApiError::conflict(
                "workflow_not_on_budget",
                "This workflow is not enabled on your budget. An approval request was sent to the budget's owner.",
            )
            .with_data(json!({"workflow_request_id": workflow_request_id, "credential_request_ids": [], "add_workflow": add_workflow, "missing_credentials": []})),
            TriggerError::MissingCredentials { credential_request_ids, missing_credentials, product_request_ids, missing_products } => ApiError::conflict(
                "missing_credentials",
                "The workflow's tools need credentials you have not stored. Store them with PUT /credentials/{product_id}/{name}.",
            )
            .with_data(json!({"workflow_request_id": null, "credential_request_ids": credential_request_ids, "add_workflow": null,
                              "missing_credentials": missing_credentials, "product_request_ids": product_request_ids, "missing_products": missing_products})),
            TriggerError::SetupRequired { product_request_ids, missing_products } => ApiError::conflict(
                "setup_required",
                "The workflow uses tools that are not enabled on your budget. Approval requests were sent to the budget's owner.",
            )
            .with_data(json!({"workflow_request_id": null, "credential_request_ids": [], "add_workflow": null, "missing_credentials": [],
                              "product_request_ids": product_request_ids, "missing_products": missing_products})),
            TriggerError::TooManyQueuedRuns { max } => ApiError::coded(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_queued_runs",
                format!(
                    "You already have {max} runs waiting in the queue, the most this server allows. \
                     Wait for some to start or cancel them, then trigger again."
                ),
            ),
            TriggerError::Store(e) => e.into(),
            TriggerError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::NotFound => {
                ApiError::not_found("run_not_found", "No run with this id belongs to you.")
            }
            RunError::Finished { status } => {
                ApiError::conflict("run_finished", format!("The run already ended ({status})."))
            }
            RunError::Store(e) => e.into(),
        }
    }
}

impl From<BudgetError> for ApiError {
    fn from(e: BudgetError) -> Self {
        match e {
            BudgetError::NotFound => {
                ApiError::not_found("budget_not_found", "No budget with this id belongs to you.")
            }
            BudgetError::UserTokenRequired => ApiError::forbidden(
                "user_token_required",
                "Manage budgets and API keys with an access token from POST /auth/login, not with an API key.",
            ),
            BudgetError::ProductNotFound => ApiError::not_found("product_not_found", "No such tool."),
            BudgetError::ProductNotOnBudget => ApiError::not_found(
                "product_not_on_budget",
                "This tool is not enabled on the budget.",
            ),
            BudgetError::ApiKeyNotFound => ApiError::not_found(
                "api_key_not_found",
                "No live API key with this id on this budget.",
            ),
            BudgetError::Quota(e) => e.into(),
            BudgetError::Store(e) => e.into(),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::UserNotFound => {
                ApiError::not_found("user_not_found", "No user with this id or email.")
            }
            AdminError::Ledger(e) => e.into(),
            AdminError::Store(e) => e.into(),
        }
    }
}

impl From<ProductError> for ApiError {
    fn from(e: ProductError) -> Self {
        match e {
            ProductError::NotFound => ApiError::not_found(
                "product_not_found",
                "No product with this id belongs to you.",
            ),
            ProductError::Invalid(refusals) => ApiError::Validation(
                refusals
                    .into_iter()
                    .map(|r| {
                        let mut loc = vec![Value::from("body")];
                        loc.extend(r.loc);
                        FieldError::new(
                            loc,
                            "value_error",
                            format!("Value error, {}", r.message),
                            r.input,
                        )
                        .with_ctx(json!({"error": r.message}))
                    })
                    .collect(),
            ),
            ProductError::Exists(message) => ApiError::conflict("product_exists", message),
            ProductError::Store(e) => e.into(),
        }
    }
}

impl From<WorkflowError> for ApiError {
    fn from(e: WorkflowError) -> Self {
        match e {
            WorkflowError::NotFound => ApiError::not_found(
                "workflow_not_found",
                "No workflow with this id is visible to you.",
            ),
            WorkflowError::NotOwned => ApiError::not_found(
                "workflow_not_found",
                "No workflow with this id belongs to you.",
            ),
            WorkflowError::Definition(errors) => ApiError::Validation(
                errors
                    .into_iter()
                    .map(|(loc, msg)| {
                        let mut full: Vec<Value> = vec!["body".into(), "definition".into()];
                        full.extend(loc);
                        FieldError::value_error(full, &msg, Value::Null)
                    })
                    .collect(),
            ),
            WorkflowError::Changed => ApiError::conflict(
                "workflow_changed",
                "The workflow was changed by another request at the same time; read it again and retry.",
            ),
            WorkflowError::NotOnBudget => ApiError::not_found(
                "workflow_not_on_budget",
                "This workflow is not enabled on the budget.",
            ),
            WorkflowError::Budget(e) => e.into(),
            WorkflowError::Quota(e) => e.into(),
            WorkflowError::Store(e) => e.into(),
        }
    }
}

impl From<BundleError> for ApiError {
    fn from(e: BundleError) -> Self {
        match e {
            BundleError::NotFound => ApiError::not_found(
                "bundle_not_found",
                "No bundle with this id is visible to you.",
            ),
            BundleError::NotOwned => {
                ApiError::not_found("bundle_not_found", "No bundle with this id belongs to you.")
            }
            BundleError::Invalid(members) => ApiError::Validation(
                members
                    .into_iter()
                    .map(|m| {
                        FieldError::value_error(
                            vec!["body".into(), m.field.into(), m.index.into()],
                            &m.message,
                            Value::String(m.input),
                        )
                    })
                    .collect(),
            ),
            BundleError::Quota(e) => e.into(),
            BundleError::Store(e) => e.into(),
        }
    }
}

impl From<CredentialError> for ApiError {
    fn from(e: CredentialError) -> Self {
        match e {
            CredentialError::ProductNotFound => {
                ApiError::not_found("product_not_found", "No such tool.")
            }
            CredentialError::NotDeclared(name) => ApiError::not_found(
                "credential_not_declared",
                format!("The tool declares no credential named {name:?}."),
            ),
            // The secret is not echoed back.
            CredentialError::NotHeaderSafe => ApiError::field(FieldError::value_error(
                vec!["body".into(), "value".into()],
                "a credential sent in a header cannot contain control characters such as line breaks",
                Value::Null,
            )),
            CredentialError::NotFound => ApiError::not_found(
                "credential_not_found",
                "No stored credential with this name for this tool.",
            ),
            CredentialError::Store(e) => e.into(),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::SignupClosed => ApiError::forbidden(
                "signup_disabled",
                "Sign-up is closed on this server; ask an administrator for an account.",
            ),
            SessionError::EmailTaken => ApiError::conflict(
                "email_taken",
                "An account with this email already exists; sign in instead.",
            ),
            SessionError::InvalidCredentials => {
                ApiError::unauthorized("invalid_credentials", "The email or password is incorrect.")
            }
            SessionError::Throttled(wait) => {
                let secs = super::retry_after_secs(wait);
                ApiError::coded(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    format!("Too many attempts; try again in {secs} seconds."),
                )
                .with_data(json!({ "retry_after": secs }))
            }
            SessionError::InvalidToken => ApiError::unauthorized(
                "invalid_token",
                "The bearer token is invalid, expired or revoked.",
            ),
            SessionError::Internal(e) => ApiError::Internal(e),
            SessionError::Store(e) => e.into(),
        }
    }
}
