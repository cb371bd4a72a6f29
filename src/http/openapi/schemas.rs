//! The request and response bodies the handlers send and accept, as schema
//! types for the OpenAPI document. The handlers build their bodies with
//! `json!`; these types mirror those bodies field for field. For the spec's
//! endpoints the names, types, required-ness and descriptions are the
//! spec's.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A free-form JSON object.
pub type Object = HashMap<String, Value>;

// ---------------------------------------------------------------- errors

/// One item of `loc`: a field name or an array index.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LocItem {
    Name(String),
    Index(i64),
}

/// One validation problem, in FastAPI's (pydantic v2's) shape.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct ValidationError {
    /// Where the problem is: `body`, `query` or `header`, then the field path.
    pub loc: Vec<LocItem>,
    /// What is wrong, for a person.
    pub msg: String,
    /// The pydantic error type, such as `missing`, `int_parsing` or `json_invalid`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The offending input.
    #[serde(default)]
    pub input: Value,
    /// Extra context for the error type (limits, expected values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Object>,
}

/// The 422 body of request validation errors.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
#[allow(clippy::upper_case_acronyms)]
pub struct HTTPValidationError {
    #[serde(default)]
    pub detail: Vec<ValidationError>,
}

/// A refusal: a stable code and a message saying what to do.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// Always `false`.
    #[schema(value_type = bool, example = false)]
    pub success: bool,
    /// Stable machine-readable error code.
    pub error: String,
    /// Human-readable error message.
    pub message: String,
    /// The same message, for clients written against FastAPI's error shape.
    pub detail: String,
    /// Facts about the refusal, for some codes (for example the balance and
    /// price of `insufficient_credits`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Object>,
    /// The request id, on internal errors (500), to quote when reporting them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

// ---------------------------------------------------------------- public

/// Response shape for the API health probe.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct HealthResponse {
    /// Always `ok` when the API process is accepting requests.
    pub status: String,
}

/// Readiness: the process and its database answer.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct ReadyResponse {
    /// `ok`, or `unavailable` when the database does not answer.
    pub status: String,
    /// The database backend: `sqlite` or `postgres`.
    pub database: String,
}

/// Response shape for the public JWT verification key endpoint.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct JwtPublicKeyResponse {
    /// `true` when the key was returned.
    #[serde(default)]
    pub success: bool,
    /// PEM-encoded public key callers can use to verify access tokens issued by this API.
    pub public_key: String,
    /// JWT signing algorithm paired with `public_key`.
    pub algorithm: String,
    /// Key id of the key, as in the tokens' `kid` header.
    pub kid: String,
    /// The tokens' `iss` claim.
    pub issuer: String,
    /// Human-readable explanation of the payload.
    pub message: String,
}

/// One Ed25519 public key.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct Jwk {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    pub kid: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub use_: String,
}

/// Every key that may still verify a token.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct JwksResponse {
    pub keys: Vec<Jwk>,
}

// ---------------------------------------------------------------- auth

/// An email and password.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct CredentialsRequest {
    /// A valid email address.
    pub email: String,
    /// 1 to 1024 characters.
    #[schema(min_length = 1, max_length = 1024)]
    pub password: String,
}

/// A user's new role.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct RoleRequest {
    /// `admin`, `vendor` or `customer`.
    #[schema(pattern = "^(admin|vendor|customer)$")]
    pub role: String,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct RoleChangedData {
    pub user_id: String,
    pub role: String,
}

/// The answer to `PUT /admin/users/{user_id}/role`.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct RoleChangedResponse {
    pub success: bool,
    pub data: RoleChangedData,
}

/// The answer to `POST /auth/logout`.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct LogoutResponse {
    pub success: bool,
    pub message: String,
}

/// An email and a new password.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct NewCredentialsRequest {
    /// A valid email address.
    pub email: String,
    /// 12 to 1024 characters, not one of the most common passwords
    /// (compared case-insensitively, also with digits or punctuation appended).
    #[schema(min_length = 12, max_length = 1024)]
    pub password: String,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct SignupData {
    pub user_id: String,
    /// The new user's default budget.
    pub budget_id: String,
}

/// A new account.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct SignupResponse {
    pub success: bool,
    pub data: SignupData,
}

/// An access token acting in the user's default budget.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct LoginResponse {
    /// A JWT to send as `Authorization: Bearer <token>`.
    pub access_token: String,
    /// `bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: i64,
}

// ---------------------------------------------------------------- credits

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct CustomerCreditBalanceData {
    /// Current available credit balance, in whole credits (100 credits = $1).
    pub balance: i64,
    /// ISO-8601 timestamp of the next credit expiration, or null when the balance is zero.
    #[serde(default)]
    pub expiration: Option<String>,
    /// Whole days until the next expiration, or null when the balance is zero.
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct CustomerCreditBalanceResponse {
    /// `true` when the balance lookup succeeded.
    #[serde(default)]
    pub success: bool,
    /// Human-readable status message.
    #[serde(default)]
    pub message: String,
    pub data: CustomerCreditBalanceData,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct CustomerCreditGrant {
    /// Grant document ID (serialized as `_id` in the response).
    #[serde(rename = "_id")]
    pub id: String,
    /// Owning user ID.
    pub user_id: String,
    /// Credits originally granted (positive integer).
    pub amount_credits: i64,
    /// USD equivalent of the grant at issuance.
    pub amount_usd: f64,
    /// Credits still available from this grant.
    pub remaining_credits: i64,
    /// Grant source classification (for example `admin_grant`, `referral_signup`, `x402_purchase`).
    pub credit_type: String,
    /// Free-form metadata supplied when the grant was created.
    #[serde(default)]
    pub source_metadata: Object,
    /// ISO-8601 timestamp the grant was issued.
    pub date_created: String,
    /// ISO-8601 timestamp the grant was added to the pool.
    #[serde(default)]
    pub pooled_at: Option<String>,
    /// ISO-8601 timestamp the grant expires.
    #[serde(default)]
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct CustomerCreditTransaction {
    /// Transaction document ID (serialized as `_id` in the response).
    #[serde(rename = "_id")]
    pub id: String,
    /// Owning user ID.
    pub user_id: String,
    /// One of `grant`, `expiration`, `revocation`, or `purchase` (tool deduction).
    pub transaction_type: String,
    /// Credits applied by this transaction. Negative for debits (expiration/revocation/purchase), positive for grants.
    pub amount_credits: i64,
    /// USD equivalent of the transaction.
    pub amount_usd: f64,
    /// Balance in credits after applying the transaction.
    pub balance_after_credits: i64,
    /// Balance in USD after applying the transaction.
    pub balance_after_usd: f64,
    /// ISO-8601 timestamp of the transaction.
    pub date_created: String,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct CustomerCreditHistoryData {
    /// Credit grants owned by the caller, newest first.
    pub grants: Vec<CustomerCreditGrant>,
    /// Transaction audit trail, newest first.
    pub transactions: Vec<CustomerCreditTransaction>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct CustomerCreditHistoryResponse {
    /// `true` when the history lookup succeeded.
    #[serde(default)]
    pub success: bool,
    /// Human-readable status message.
    #[serde(default)]
    pub message: String,
    pub data: CustomerCreditHistoryData,
}

// ---------------------------------------------------------------- issues

/// Request model for reporting tool usage errors
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct IssueReportRequest {
    /// The tool: its id, slug or name (up to 200 characters).
    pub product_id: String,
    /// What went wrong (up to 10,000 characters).
    pub error_message: String,
    /// What would make the tool better (up to 10,000 characters).
    #[serde(default)]
    pub recommended_improvements: Option<String>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct IssueReportData {
    /// ID of the issue document that was created.
    pub issue_id: String,
    /// True when the reported product identifier resolved to a known product; false when the issue was still recorded against the raw identifier the caller supplied.
    pub product_found: bool,
    /// How the product identifier was resolved (for example `object_id`, `slug`, `exact_name`, or `not_found`).
    pub lookup_method: String,
    /// Original product identifier the caller supplied.
    pub product_id: String,
    /// Canonical product name, when the identifier resolved.
    #[serde(default)]
    pub product_name: Option<String>,
    /// Issue status after creation. Reports are always opened in `open`.
    pub status: String,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct IssueReportResponse {
    /// `true` when the issue report was accepted.
    #[serde(default)]
    pub success: bool,
    /// Human-readable status message.
    #[serde(default)]
    pub message: String,
    pub data: IssueReportData,
}

/// A report as its tool's vendor sees it.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct Issue {
    pub issue_id: String,
    /// The resolved product id, or null when the reference did not resolve.
    pub product_id: Option<String>,
    /// The identifier the reporter supplied.
    pub product_ref: String,
    pub product_name: Option<String>,
    pub lookup_method: String,
    pub error_message: String,
    pub recommended_improvements: Option<String>,
    /// `open`, `acknowledged`, `resolved` or `wont_fix`.
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct IssueListData {
    pub issues: Vec<Issue>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct IssueListResponse {
    pub success: bool,
    pub data: IssueListData,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueStatus {
    Open,
    Acknowledged,
    Resolved,
    WontFix,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct IssueUpdateRequest {
    pub status: IssueStatus,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct IssueResponse {
    pub success: bool,
    pub data: Issue,
}

// ---------------------------------------------------------------- products

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct ProductsFetchDetails {
    /// Number of tools included in this page of results.
    pub tools_on_this_page: i64,
    /// Total number of tools accessible to the caller (across all pages).
    pub total_qualified_tools: i64,
    /// Page index returned (1-based).
    pub page_returned: i64,
    /// Requested page size.
    pub page_size_requested: i64,
    /// `header` when the caller supplied `X-Page`; `query` otherwise.
    pub page_source: String,
    /// `header` when the caller supplied `X-Page-Size`; `query` otherwise.
    pub page_size_source: String,
    /// Total number of pages available.
    pub total_pages: i64,
    /// True when another page exists after this one.
    pub has_next_page: bool,
    /// True when a page exists before this one.
    pub has_previous_page: bool,
}

/// One action of a tool.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct ToolAction {
    /// The value of `parameters.action` that selects it.
    pub name: String,
    pub description: String,
    /// A JSON Schema of the action's parameters.
    #[schema(value_type = Object)]
    pub parameters: Value,
    /// What a successful call costs, in credits.
    pub price_credits: i64,
}

/// Loose representation of a tool/product entry returned by /products/fetch.
///
/// The full tool schema is product-specific; only the identifier, display
/// label, and action metadata are stable across the catalog. Additional
/// product-declared fields are passed through unchanged.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct ProductsFetchTool {
    /// Tool ObjectId as a string.
    #[serde(default)]
    pub product_id: String,
    /// Tool function name used when invoking the tool.
    #[serde(default)]
    pub name: String,
    /// Human-readable product name.
    #[serde(default)]
    pub display_name: String,
    /// Short description of what the tool does.
    #[serde(default)]
    pub description: String,
    /// URL-safe identifier, also accepted as `product_id`.
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub category: String,
    /// `builtin` or `http`.
    #[serde(default)]
    pub kind: String,
    /// The price of the cheapest action, in credits.
    #[serde(default)]
    pub price_credits: i64,
    #[serde(default)]
    pub actions: Vec<ToolAction>,
    /// Names of the credentials the caller must store before calling it.
    #[serde(default)]
    pub required_credentials: Vec<String>,
    /// An OpenAI-style function definition of the tool, with an `action` selector.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub function: Value,
}

/// Canonical pagination descriptor (matches the `details` block).
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct ProductsFetchPagination {
    /// Page index returned (1-based).
    pub page: i64,
    /// Page size used to compute this response.
    pub page_size: i64,
    /// Total number of items across all pages.
    pub total_count: i64,
    /// Total number of pages available.
    pub total_pages: i64,
    /// True when another page exists after this one.
    pub has_next: bool,
    /// True when a page exists before this one.
    pub has_prev: bool,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct ProductsFetchResponse {
    /// `true` when the catalog was fetched successfully.
    #[serde(default)]
    pub success: bool,
    /// Connection instance ID the caller can persist and echo back via the `x-instance-id` header on subsequent calls to keep per-session context.
    #[serde(default)]
    pub instance_id: String,
    pub details: ProductsFetchDetails,
    /// Human-readable preamble generated for downstream LLM callers. Changes based on whether any tools matched.
    pub preprompt: String,
    /// Tools available to the caller on this page.
    pub tools: Vec<ProductsFetchTool>,
    pub pagination: ProductsFetchPagination,
    /// Illustrative curl command showing how to invoke one of the returned tools (null when the page has none).
    #[serde(default)]
    pub example_tool_call: Option<String>,
}

/// Purchase-and-invoke request envelope. The `parameters` field is tool-specific; retrieve the declared action schema from `GET /products/fetch` or the product's marketplace page.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct PurchaseRequest {
    /// The ID of the tool (product) to purchase and invoke. Its slug or name is accepted too, and `name` may be sent in place of `product_id`.
    pub product_id: String,
    /// Action-specific parameters. The shape depends on the product's declared action schema; `action` selects the action.
    #[serde(default)]
    pub parameters: Option<Object>,
    /// Refuse the call (409 `price_above_max`, nothing charged) if it costs more credits than this.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub max_price_credits: Option<i64>,
}

/// The result of a charged tool call.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct PurchaseResponse {
    #[serde(default)]
    pub success: bool,
    /// Tool-specific response payload returned by the product.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Value,
    /// Identifier for the purchase/order that was created.
    #[serde(default)]
    pub order_id: String,
    /// Connection instance the caller can pass back via `x-instance-id` to persist state across calls.
    #[serde(default)]
    pub instance_id: String,
    /// The id of the tool that was called.
    pub product_id: String,
    /// The action that was called.
    pub action: String,
    /// What the call cost, in credits.
    pub price_credits: i64,
}

// ---------------------------------------------------------------- budgets

/// Spending caps, in credits; null means no cap.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct BudgetCaps {
    pub per_call: Option<i64>,
    pub hourly: Option<i64>,
    pub daily: Option<i64>,
    pub weekly: Option<i64>,
    pub monthly: Option<i64>,
    pub total: Option<i64>,
}

/// A budget (agent group): its policy and enabled tools.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct Budget {
    pub id: String,
    pub name: String,
    /// `active` or `paused`.
    pub status: String,
    pub is_default: bool,
    pub caps: BudgetCaps,
    /// Tools enabled on the budget.
    pub product_ids: Vec<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetStatus {
    Active,
    Paused,
}

/// A budget's settings; absent fields are left as they are. In `caps`, a
/// whole number of credits (0 or more) sets a cap and null clears it.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct BudgetRequest {
    /// 1 to 100 characters.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<BudgetStatus>,
    /// Any of `per_call`, `hourly`, `daily`, `weekly`, `monthly`, `total`.
    #[serde(default)]
    pub caps: Option<HashMap<String, Option<i64>>>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct BudgetResponse {
    pub success: bool,
    pub data: Budget,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct BudgetList {
    pub budgets: Vec<Budget>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct BudgetListResponse {
    pub success: bool,
    pub data: BudgetList,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct BudgetProduct {
    pub budget_id: String,
    pub product_id: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct BudgetProductResponse {
    pub success: bool,
    pub data: BudgetProduct,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct BudgetWorkflow {
    pub budget_id: String,
    pub workflow_id: String,
    pub enabled: bool,
    /// When enabled: the workflow version the budget runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_version: Option<i64>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct BudgetWorkflowResponse {
    pub success: bool,
    pub data: BudgetWorkflow,
}

/// A budget API key, without its secret.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub budget_id: String,
    pub name: String,
    /// The key's visible prefix, to recognise it.
    pub prefix: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// A new API key, with its secret, shown once.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct CreatedApiKey {
    pub id: String,
    pub budget_id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// The key (`tg_...`): send it as `Authorization: Bearer <key>`.
    pub key: String,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct ApiKeyRequest {
    /// 1 to 100 characters; `default` when absent.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct ApiKeyCreatedResponse {
    pub success: bool,
    pub message: String,
    pub data: CreatedApiKey,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKey>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct ApiKeyListResponse {
    pub success: bool,
    pub data: ApiKeyList,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct ApiKeyRevoked {
    pub id: String,
    pub revoked_at: String,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct ApiKeyRevokedResponse {
    pub success: bool,
    pub data: ApiKeyRevoked,
}

// ---------------------------------------------------------------- credentials

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct CredentialValueRequest {
    /// The secret, 1 to 8192 characters. It is sealed at rest and never shown again.
    pub value: String,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct StoredCredential {
    pub product_id: String,
    pub name: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct StoredCredentialResponse {
    pub success: bool,
    pub data: StoredCredential,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct CredentialList {
    pub credentials: Vec<StoredCredential>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct CredentialListResponse {
    pub success: bool,
    pub data: CredentialList,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct DeletedCredential {
    pub product_id: String,
    pub name: String,
    pub deleted: bool,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct DeletedCredentialResponse {
    pub success: bool,
    pub data: DeletedCredential,
}

// ---------------------------------------------------------------- approvals

/// A request a blocked agent sent its owner.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct Approval {
    pub id: String,
    pub budget_id: String,
    /// `enable_product`, `enable_workflow`, `credential`, `workflow_update` (a shared workflow changed; approving moves the budget to its new version) or `price_increase` (a tool now costs more than the owner agreed to; approving agrees to its current prices).
    pub kind: String,
    /// The product, workflow, `product_id:name` of the credential, or
    /// `workflow_id:version` of a workflow's newer version.
    pub subject_id: String,
    /// What was asked, for a person.
    pub detail: Value,
    /// `open`, `approved` or `denied`.
    pub status: String,
    pub created_at: String,
    pub resolved_at: Option<String>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct ApprovalResponse {
    pub success: bool,
    pub data: Approval,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct ApprovalList {
    pub approvals: Vec<Approval>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct ApprovalListResponse {
    pub success: bool,
    pub data: ApprovalList,
}

// ---------------------------------------------------------------- vendor

/// A published tool, as its vendor sees it.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct VendorProduct {
    pub product_id: String,
    pub slug: String,
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub category: String,
    /// `http` or `builtin`.
    pub kind: String,
    /// The HTTPS endpoint an `http` tool is called at.
    pub endpoint: Option<String>,
    /// Credentials callers must store: `{name, location, field}` objects.
    pub required_credentials: Vec<Object>,
    /// Actions: `{name, description, parameters, price_credits}` objects.
    pub actions: Vec<Object>,
    /// `active` or `disabled`.
    pub status: String,
    pub timeout_ms: Option<i64>,
    pub vendor_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A tool's definition. On create `slug`, `name`, `display_name`, `endpoint`
/// and `actions` are required; on update every field is optional, and only
/// `status` of a builtin tool may change.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct VendorProductRequest {
    /// Lower-case letters, digits and single hyphens; 1 to 64 characters.
    #[serde(default)]
    pub slug: Option<String>,
    /// 1 to 64 characters of a-z, A-Z, 0-9, `_` or `-`.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    /// Only `http`.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    /// `active` or `disabled`.
    #[serde(default)]
    pub status: Option<String>,
    /// 100 to 120000.
    #[serde(default)]
    pub timeout_ms: Option<i64>,
    #[serde(default)]
    pub required_credentials: Option<Vec<Object>>,
    #[serde(default)]
    pub actions: Option<Vec<Object>>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct VendorProductResponse {
    pub success: bool,
    pub data: VendorProduct,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct VendorProductList {
    pub products: Vec<VendorProduct>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct VendorProductListResponse {
    pub success: bool,
    pub data: VendorProductList,
}

// ---------------------------------------------------------------- runs

/// Lifecycle status of the run.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// Delivery status of the callback.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackStatus {
    Pending,
    Delivered,
    Failed,
    Skipped,
}

/// A workflow trigger.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct TriggerRequest {
    /// Prompt forwarded to the workflow for execution.
    pub prompt: String,
    /// Caller-supplied idempotency key. Retrying with the same key returns the existing run.
    #[serde(default)]
    pub request_id: Option<String>,
    /// HTTPS URL that will receive a POST with the final run status.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Free-form metadata persisted alongside the run for caller-side tracing.
    #[serde(default)]
    pub request_metadata: Option<Object>,
}

/// The short form of a run the trigger answers with.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct RunSummary {
    /// MongoDB ObjectId of the run document.
    pub run_id: String,
    /// ObjectId of the workflow being executed.
    pub workflow_id: String,
    pub status: RunStatus,
    /// ISO-8601 timestamp when the run was created.
    pub created_at: String,
    /// ISO-8601 timestamp of the most recent state change.
    pub updated_at: String,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct TriggerData {
    pub run: RunSummary,
    /// Absolute URL the caller can poll for run status.
    pub status_url: String,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct TriggerResponse {
    /// `true` when the trigger was accepted.
    pub success: bool,
    pub data: TriggerData,
    /// `Workflow trigger accepted`.
    pub message: String,
}

/// The codes of a blocked trigger.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerConflictCode {
    WorkflowNotOnBudget,
    MissingCredentials,
    SetupRequired,
    /// The `request_id` names a run of another budget than the API key's.
    RequestIdInUse,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct TriggerConflictData {
    /// Approval request ID when the workflow is not yet enabled on the budget.
    #[serde(default)]
    pub workflow_request_id: Option<String>,
    /// Approval request IDs opened for the missing credentials.
    #[serde(default)]
    pub credential_request_ids: Vec<String>,
    /// Card payload describing the workflow that needs to be added.
    #[serde(default)]
    pub add_workflow: Option<Object>,
    /// Requirement descriptors for credentials that still need to be configured.
    #[serde(default)]
    pub missing_credentials: Vec<Object>,
    /// Approval request IDs opened to enable the workflow's tools on the budget.
    #[serde(default)]
    pub product_request_ids: Option<Vec<String>>,
    /// The workflow's tools not enabled on the budget.
    #[serde(default)]
    pub missing_products: Option<Vec<Object>>,
}

/// Workflow is not enabled on the caller's budget and/or required credentials are missing.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct TriggerConflict {
    #[schema(value_type = bool, example = false)]
    pub success: bool,
    /// Stable machine-readable error code.
    pub error: TriggerConflictCode,
    pub message: String,
    /// The same message.
    pub detail: String,
    #[serde(default)]
    pub data: Option<TriggerConflictData>,
}

/// A workflow run.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct Run {
    /// MongoDB ObjectId of the run document.
    pub run_id: String,
    /// ObjectId of the workflow being executed.
    pub workflow_id: String,
    pub status: RunStatus,
    /// Original prompt supplied when the run was triggered.
    pub prompt: String,
    /// Final model response text once the run completes.
    #[serde(default)]
    pub response_text: Option<String>,
    /// Chat session ID bound to this run, when available.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Model used to execute the run, when known.
    #[serde(default)]
    pub model: Option<String>,
    /// Stable error code when the run failed.
    #[serde(default)]
    pub error_code: Option<String>,
    /// Human-readable error message when the run failed.
    #[serde(default)]
    pub error_message: Option<String>,
    /// Registered callback URL, if the caller supplied one.
    #[serde(default)]
    pub callback_url: Option<String>,
    pub callback_status: CallbackStatus,
    /// HTTP status code from the most recent callback attempt.
    #[serde(default)]
    pub callback_last_status: Option<i64>,
    /// Error message from the most recent failed callback attempt.
    #[serde(default)]
    pub callback_last_error: Option<String>,
    /// ISO-8601 timestamp of the most recent callback attempt.
    #[serde(default)]
    pub callback_attempted_at: Option<String>,
    /// ISO-8601 timestamp when the callback was delivered successfully.
    #[serde(default)]
    pub callback_delivered_at: Option<String>,
    /// Metadata supplied with the original trigger request.
    #[serde(default)]
    pub request_metadata: Object,
    /// Internal per-run metadata captured during execution.
    #[serde(default)]
    pub run_metadata: Object,
    /// ISO-8601 timestamp when the run was created.
    pub created_at: String,
    /// ISO-8601 timestamp of the most recent state change.
    pub updated_at: String,
    /// ISO-8601 timestamp when execution began.
    #[serde(default)]
    pub started_at: Option<String>,
    /// ISO-8601 timestamp when execution finished, if completed.
    #[serde(default)]
    pub completed_at: Option<String>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct RunData {
    pub run: Run,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct RunResponse {
    /// `true` when the run was located.
    pub success: bool,
    pub data: RunData,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct RunCancelResponse {
    pub success: bool,
    pub data: RunData,
    /// `Run cancelled`, or that the run stops at its next step.
    pub message: String,
}

// ---------------------------------------------------------------- workflows

/// A workflow.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct Workflow {
    pub workflow_id: String,
    pub owner_id: String,
    pub name: String,
    pub description: String,
    /// `private` or `public`.
    pub visibility: String,
    /// `graph` or `llm`.
    pub engine: String,
    /// The engine's definition.
    #[schema(value_type = Object)]
    pub definition: Value,
    /// `active` or `disabled`.
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    /// Where to trigger it.
    pub trigger_url: Option<String>,
    /// In lists: whether it is enabled on the caller's budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_on_budget: Option<bool>,
    /// Counts changes of `engine` and `definition`, from 1.
    pub version: i64,
    /// In lists, when enabled on the caller's budget: the version the budget
    /// runs. The workflow's owner always runs the newest one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_version: Option<i64>,
}

/// A workflow's settings. On create `name`, `engine` and `definition` are
/// required; on update every field is optional.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct WorkflowRequest {
    /// 1 to 200 characters.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `private` (default) or `public`.
    #[serde(default)]
    pub visibility: Option<String>,
    /// `active` or `disabled`.
    #[serde(default)]
    pub status: Option<String>,
    /// `graph` or `llm`.
    #[serde(default)]
    pub engine: Option<String>,
    /// The engine's definition.
    #[serde(default)]
    pub definition: Option<Object>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct WorkflowResponse {
    pub success: bool,
    pub data: Workflow,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct WorkflowList {
    pub workflows: Vec<Workflow>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct WorkflowListResponse {
    pub success: bool,
    pub data: WorkflowList,
}

// ---------------------------------------------------------------- bundles

/// A named set of tools and workflows, embeddable as one widget.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct Bundle {
    pub bundle_id: String,
    pub owner_id: String,
    pub name: String,
    pub description: String,
    /// `private` or `public`.
    pub visibility: String,
    pub product_ids: Vec<String>,
    pub workflow_ids: Vec<String>,
    /// The widget page of the bundle.
    pub embed_url: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A bundle's settings. On create `name` is required; on update every field
/// is optional.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct BundleRequest {
    /// 1 to 200 characters.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `private` (default) or `public`.
    #[serde(default)]
    pub visibility: Option<String>,
    /// Tool ids, slugs or names.
    #[serde(default)]
    pub product_ids: Option<Vec<String>>,
    #[serde(default)]
    pub workflow_ids: Option<Vec<String>>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct BundleResponse {
    pub success: bool,
    pub data: Bundle,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct BundleList {
    pub bundles: Vec<Bundle>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct BundleListResponse {
    pub success: bool,
    pub data: BundleList,
}

// ---------------------------------------------------------------- webhooks

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct WebhookSecret {
    /// The signing secret.
    pub secret: String,
    /// `HMAC-SHA256`.
    pub algorithm: String,
    /// `Standard Webhooks`.
    pub scheme: String,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct WebhookSecretResponse {
    pub success: bool,
    pub message: String,
    pub data: WebhookSecret,
}

// ---------------------------------------------------------------- admin

/// A credit grant: name the user by `user_id` or `email`.
#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct GrantRequest {
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Credits to grant, more than 0.
    pub amount_credits: i64,
    /// 1 to 64 characters; `admin_grant` when absent.
    #[serde(default)]
    pub credit_type: Option<String>,
    /// When the credits expire (ISO-8601, in the future).
    #[serde(default)]
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub source_metadata: Option<Object>,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct GrantCreated {
    pub grant: CustomerCreditGrant,
    pub transaction: CustomerCreditTransaction,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct GrantCreatedResponse {
    pub success: bool,
    pub data: GrantCreated,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct GrantRevoked {
    pub transaction: CustomerCreditTransaction,
}

#[derive(Debug, Clone, ToSchema, Serialize, Deserialize)]
pub struct GrantRevokedResponse {
    pub success: bool,
    pub data: GrantRevoked,
}
