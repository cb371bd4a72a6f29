//! Orders, as the ledger engine wrote them.

use crate::clock::Timestamp;
use crate::id::{BudgetId, UserId};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::{Args, Conn, DbRow};
use crate::store::backend::Backend;
use crate::store::cols::ORDER_COLS;
use crate::store::{OrderRow, OrderStore, StoreResult};

#[async_trait]
impl<S> OrderStore for S
where
    S: Backend,
    for<'c> &'c mut Conn<S>: Executor<'c, Database = S::Db>,
    for<'q> Args<'q, S>: IntoArguments<'q, S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<&'q str>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<String>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> UserId: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<UserId>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> BudgetId: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<BudgetId>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<i64>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Timestamp: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<Timestamp>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> bool: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> OrderRow: FromRow<'r, DbRow<S>>,
{
    async fn order_by_id(&self, id: &str) -> StoreResult<Option<OrderRow>> {
        Ok(
            sqlx::query_as(&format!("SELECT {ORDER_COLS} FROM orders WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    async fn orders_for_user(&self, user_id: UserId, limit: i64) -> StoreResult<Vec<OrderRow>> {
        Ok(sqlx::query_as(&format!("SELECT {ORDER_COLS} FROM orders WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"))
            .bind(user_id)
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }
}
