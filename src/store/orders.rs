//! Rows and storage of orders.

use crate::clock::Timestamp;
use crate::id::RunId;
use crate::id::{BudgetId, UserId};
use crate::id::{InstanceId, OrderId, TransactionId};
use async_trait::async_trait;

use crate::money::Credits;

use super::StoreResult;

/// Where an order stands, stored as the strings of [`OrderStatus::as_str`]
/// (the `orders.status` column's check allows exactly these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Its price is held while the tool runs.
    Pending,
    /// The tool answered and the call was charged (or was free).
    Succeeded,
    /// The tool failed, timed out, or the charge was refused: nothing was
    /// charged.
    Failed,
}

super::names::stored_names!(OrderStatus, "order status", {
    Pending => "pending",
    Succeeded => "succeeded",
    Failed => "failed",
});

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OrderRow {
    pub id: OrderId,
    pub user_id: UserId,
    pub budget_id: BudgetId,
    /// The tool's id, or `llm` for a workflow's model call.
    pub product_id: String,
    pub action: String,
    pub price_credits: Credits,
    pub status: OrderStatus,
    pub error_code: Option<String>,
    pub instance_id: Option<InstanceId>,
    pub run_id: Option<RunId>,
    pub transaction_id: Option<TransactionId>,
    pub created_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    pub duration_ms: Option<i64>,
}

/// Orders, as the ledger engine wrote them.
#[async_trait]
pub trait OrderStore: Send + Sync {
    async fn order_by_id(&self, id: &str) -> StoreResult<Option<OrderRow>>;
    /// A user's newest orders. No index serves it (the purchase path would
    /// pay for one on every call): it reads the whole table, for tests and
    /// operators' tools, never for a request.
    async fn orders_for_user(&self, user_id: UserId, limit: i64) -> StoreResult<Vec<OrderRow>>;
}
