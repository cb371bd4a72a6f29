//! Rows and storage of the catalog side: products, budgets' policies,
//! instances, orders, idempotency keys, credentials, approvals, issue reports.

use async_trait::async_trait;

use super::{BudgetRow, StoreResult, TransactionRow};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ProductRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub category: String,
    pub vendor_id: Option<String>,
    pub kind: String,
    pub endpoint: Option<String>,
    /// JSON array of `{name, location, field}`.
    pub required_credentials: String,
    /// JSON array of `{name, description, parameters, price_credits}`.
    pub actions: String,
    pub status: String,
    pub timeout_ms: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct InstanceRow {
    pub id: String,
    pub user_id: String,
    pub budget_id: String,
    pub metadata: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OrderRow {
    pub id: String,
    pub user_id: String,
    pub budget_id: String,
    pub product_id: String,
    pub action: String,
    pub price_credits: i64,
    pub status: String,
    pub error_code: Option<String>,
    pub instance_id: Option<String>,
    pub run_id: Option<String>,
    pub transaction_id: Option<String>,
    pub created_at: i64,
    pub completed_at: Option<i64>,
    pub duration_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct IdempotencyRow {
    pub user_id: String,
    pub key: String,
    pub request_hash: String,
    pub status: String,
    pub response_status: Option<i64>,
    pub response_body: Option<String>,
    pub created_at: i64,
}

/// The outcome of claiming an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyClaim {
    /// The caller owns the key now and must finish it.
    Claimed,
    /// Another request with this key exists.
    Existing(IdempotencyRow),
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CredentialRow {
    pub user_id: String,
    pub product_id: String,
    pub name: String,
    pub value_sealed: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What an approval request asks a budget's owner for, stored as the
/// strings of [`ApprovalKind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApprovalKind {
    /// Enable a tool on the budget (`subject_id`: the product id).
    EnableProduct,
    /// Agree to a tool's dearer price (`subject_id`: the product id).
    PriceIncrease,
    /// Store a credential a tool needs (`subject_id`: `product_id:name`).
    Credential,
    /// Enable a workflow on the budget (`subject_id`: the workflow id).
    EnableWorkflow,
    /// Run a workflow's newer version (`subject_id`: `workflow_id:version`).
    WorkflowUpdate,
    /// A workflow's `notify_human` step (`subject_id`: `run_id:step`).
    WorkflowHuman,
}

impl ApprovalKind {
    pub const ALL: [ApprovalKind; 6] = [
        ApprovalKind::EnableProduct,
        ApprovalKind::PriceIncrease,
        ApprovalKind::Credential,
        ApprovalKind::EnableWorkflow,
        ApprovalKind::WorkflowUpdate,
        ApprovalKind::WorkflowHuman,
    ];

    /// The stored and answered name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalKind::EnableProduct => "enable_product",
            ApprovalKind::PriceIncrease => "price_increase",
            ApprovalKind::Credential => "credential",
            ApprovalKind::EnableWorkflow => "enable_workflow",
            ApprovalKind::WorkflowUpdate => "workflow_update",
            ApprovalKind::WorkflowHuman => "workflow_human",
        }
    }
}

impl std::fmt::Display for ApprovalKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored kind this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown approval kind {0:?}")]
pub struct UnknownApprovalKind(pub String);

impl std::str::FromStr for ApprovalKind {
    type Err = UnknownApprovalKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ApprovalKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownApprovalKind(s.to_string()))
    }
}

impl TryFrom<String> for ApprovalKind {
    type Error = UnknownApprovalKind;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ApprovalRow {
    pub id: String,
    pub user_id: String,
    pub budget_id: String,
    #[sqlx(try_from = "String")]
    pub kind: ApprovalKind,
    pub subject_id: String,
    pub detail: String,
    pub status: String,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct IssueRow {
    pub id: String,
    pub user_id: String,
    pub product_id: Option<String>,
    pub product_ref: String,
    pub product_name: Option<String>,
    pub lookup_method: String,
    pub error_message: String,
    pub recommended_improvements: Option<String>,
    pub instance_id: Option<String>,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A budget and whether one product is enabled on it, in one read.
#[derive(Debug, Clone)]
pub struct BudgetAccess {
    pub budget: BudgetRow,
    pub enabled: bool,
}

#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// Inserts a builtin product or refreshes it by slug; returns its id.
    async fn upsert_builtin_product(&self, p: &ProductRow) -> StoreResult<String>;
    async fn insert_product(&self, p: &ProductRow) -> StoreResult<()>;
    async fn update_product(&self, p: &ProductRow) -> StoreResult<()>;
    async fn products(&self) -> StoreResult<Vec<ProductRow>>;
    /// Changes whenever any product does; cheap to poll.
    async fn catalog_version(&self) -> StoreResult<(i64, i64)>;

    async fn budgets_for_user(&self, user_id: &str) -> StoreResult<Vec<BudgetRow>>;
    async fn insert_budget(&self, b: &BudgetRow) -> StoreResult<()>;
    async fn update_budget(&self, b: &BudgetRow) -> StoreResult<()>;
    async fn budget_product_ids(&self, budget_id: &str) -> StoreResult<Vec<String>>;
    /// Enables a product, recording the prices (a JSON object by action) the
    /// owner agreed to.
    async fn enable_product(
        &self,
        budget_id: &str,
        product_id: &str,
        agreed_prices: &str,
        now: i64,
    ) -> StoreResult<()>;
    /// Enabled products with the prices agreed to (`None` on older rows).
    async fn budget_products_with_prices(
        &self,
        budget_id: &str,
    ) -> StoreResult<Vec<(String, Option<String>)>>;
    /// Records the prices agreed to where none are yet.
    async fn record_agreed_prices(
        &self,
        budget_id: &str,
        product_id: &str,
        agreed_prices: &str,
        now: i64,
    ) -> StoreResult<()>;
    async fn disable_product(&self, budget_id: &str, product_id: &str) -> StoreResult<bool>;
    async fn budget_access(
        &self,
        budget_id: &str,
        product_id: &str,
    ) -> StoreResult<Option<BudgetAccess>>;

    async fn insert_instance(&self, i: &InstanceRow) -> StoreResult<()>;
    /// The instance `owner` (an API key, or a signed-in user's budget) uses
    /// when it names none: the existing one, or `fresh`, made now.
    async fn default_instance(&self, owner: &str, fresh: &InstanceRow) -> StoreResult<String>;
    async fn instance_by_id(&self, id: &str) -> StoreResult<Option<InstanceRow>>;
    async fn touch_instance(&self, id: &str, metadata: Option<&str>, now: i64) -> StoreResult<()>;
    async fn memory_get(&self, instance_id: &str, key: &str) -> StoreResult<Option<String>>;
    async fn memory_set(
        &self,
        instance_id: &str,
        key: &str,
        value: &str,
        now: i64,
    ) -> StoreResult<()>;
    async fn memory_delete(&self, instance_id: &str, key: &str) -> StoreResult<bool>;
    async fn memory_list(
        &self,
        instance_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<(String, String)>>;
    async fn memory_count(&self, instance_id: &str) -> StoreResult<i64>;

    async fn order_by_id(&self, id: &str) -> StoreResult<Option<OrderRow>>;
    async fn orders_for_user(&self, user_id: &str, limit: i64) -> StoreResult<Vec<OrderRow>>;
    /// A wallet's transactions, newest first, less the purchases made under
    /// budgets other than `budget_id`.
    async fn transactions_for_budget(
        &self,
        user_id: &str,
        budget_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<TransactionRow>>;

    /// Claims `key` for this request; a stale in-progress claim older than
    /// `stale_before` is taken over (its request died).
    async fn claim_idempotency_key(
        &self,
        user_id: &str,
        key: &str,
        request_hash: &str,
        now: i64,
        stale_before: i64,
    ) -> StoreResult<IdempotencyClaim>;
    async fn finish_idempotency_key(
        &self,
        user_id: &str,
        key: &str,
        status: i64,
        body: &str,
    ) -> StoreResult<()>;
    async fn release_idempotency_key(&self, user_id: &str, key: &str) -> StoreResult<()>;
    async fn purge_idempotency_keys(&self, before: i64) -> StoreResult<u64>;

    async fn put_credential(&self, c: &CredentialRow) -> StoreResult<()>;
    async fn credentials_for(
        &self,
        user_id: &str,
        product_id: &str,
    ) -> StoreResult<Vec<CredentialRow>>;
    async fn credentials_of_user(&self, user_id: &str) -> StoreResult<Vec<CredentialRow>>;
    async fn delete_credential(
        &self,
        user_id: &str,
        product_id: &str,
        name: &str,
    ) -> StoreResult<bool>;

    /// Opens a request unless an open one for the same budget, kind and
    /// subject exists; returns the open request's id either way.
    async fn open_approval(&self, a: &ApprovalRow) -> StoreResult<String>;
    /// A user's requests, newest first; only one budget's when `budget_id`
    /// is given.
    async fn approvals_for_user(
        &self,
        user_id: &str,
        budget_id: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<ApprovalRow>>;
    async fn approval_by_id(&self, id: &str) -> StoreResult<Option<ApprovalRow>>;
    /// Whether the budget's owner denied a request of this kind and subject.
    async fn approval_denied(
        &self,
        budget_id: &str,
        kind: ApprovalKind,
        subject_id: &str,
    ) -> StoreResult<bool>;
    async fn resolve_approval(&self, id: &str, status: &str, now: i64) -> StoreResult<bool>;
    /// Closes a user's open requests of one kind and subject, on any budget.
    async fn resolve_approvals_for(
        &self,
        user_id: &str,
        kind: &str,
        subject_id: &str,
        status: &str,
        now: i64,
    ) -> StoreResult<u64>;

    async fn insert_issue(&self, i: &IssueRow) -> StoreResult<()>;
    async fn issues_by_user_since(&self, user_id: &str, since: i64) -> StoreResult<i64>;
    async fn issues_for_vendor(
        &self,
        vendor_id: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<IssueRow>>;
    async fn issue_by_id(&self, id: &str) -> StoreResult<Option<IssueRow>>;
    async fn update_issue_status(&self, id: &str, status: &str, now: i64) -> StoreResult<()>;
}
