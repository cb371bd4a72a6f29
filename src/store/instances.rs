//! Rows and storage of connection instances and their memory.

use crate::clock::Timestamp;
use crate::id::{BudgetId, InstanceId, UserId};
use async_trait::async_trait;

use super::StoreResult;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct InstanceRow {
    pub id: InstanceId,
    pub user_id: UserId,
    pub budget_id: BudgetId,
    pub metadata: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
}

/// Connection instances and their key-value memory.
#[async_trait]
pub trait InstanceStore: Send + Sync {
    async fn insert_instance(&self, i: &InstanceRow) -> StoreResult<()>;
    /// The instance `owner` (an API key, or a signed-in user's budget) uses
    /// when it names none: the existing one, or `fresh`, made now.
    async fn default_instance(&self, owner: &str, fresh: &InstanceRow) -> StoreResult<InstanceId>;
    async fn instance_by_id(&self, id: InstanceId) -> StoreResult<Option<InstanceRow>>;
    async fn touch_instance(
        &self,
        id: InstanceId,
        metadata: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn memory_get(&self, instance_id: InstanceId, key: &str) -> StoreResult<Option<String>>;
    async fn memory_set(
        &self,
        instance_id: InstanceId,
        key: &str,
        value: &str,
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn memory_delete(&self, instance_id: InstanceId, key: &str) -> StoreResult<bool>;
    async fn memory_list(
        &self,
        instance_id: InstanceId,
        limit: i64,
    ) -> StoreResult<Vec<(String, String)>>;
    async fn memory_count(&self, instance_id: InstanceId) -> StoreResult<i64>;
}
