//! The ledger's rows as history and the sweepers read them, outside the
//! engine's batches.

use crate::clock::Timestamp;
use crate::id::TransactionId;
use crate::id::{BudgetId, UserId};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::{Args, Conn, DbRow};
use crate::store::backend::Backend;
use crate::store::cols::{GRANT_COLS, HOLD_COLS};
use crate::store::{Allocation, GrantRow, HoldRow, LedgerHistory, StoreResult, TransactionRow};

const TXN_COLS: &str = "id, user_id, transaction_type, amount_credits, balance_after_credits, grant_id, reference, date_created, budget_id";

#[async_trait]
impl<S> LedgerHistory for S
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
    for<'r> GrantRow: FromRow<'r, DbRow<S>>,
    for<'r> HoldRow: FromRow<'r, DbRow<S>>,
    for<'r> TransactionRow: FromRow<'r, DbRow<S>>,
    for<'r> Allocation: FromRow<'r, DbRow<S>>,
    for<'r> (String,): FromRow<'r, DbRow<S>>,
{
    async fn grant_by_id(&self, id: &str) -> StoreResult<Option<GrantRow>> {
        Ok(
            sqlx::query_as(&format!("SELECT {GRANT_COLS} FROM grants WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    async fn hold_by_id(&self, id: &str) -> StoreResult<Option<HoldRow>> {
        Ok(
            sqlx::query_as(&format!("SELECT {HOLD_COLS} FROM holds WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    async fn grants_for_user(&self, user_id: UserId, limit: i64) -> StoreResult<Vec<GrantRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {GRANT_COLS} FROM grants WHERE user_id = $1 ORDER BY date_created DESC, id DESC LIMIT $2"
        ))
        .bind(user_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    async fn transactions_for_user(
        &self,
        user_id: UserId,
        limit: i64,
    ) -> StoreResult<Vec<TransactionRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {TXN_COLS} FROM credit_transactions WHERE user_id = $1 ORDER BY seq DESC LIMIT $2"
        ))
        .bind(user_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    async fn transactions_for_budget(
        &self,
        user_id: UserId,
        budget_id: BudgetId,
        limit: i64,
    ) -> StoreResult<Vec<TransactionRow>> {
        Ok(sqlx::query_as(
            "SELECT id, user_id, transaction_type, amount_credits, balance_after_credits, grant_id, reference, date_created, budget_id \
             FROM credit_transactions WHERE user_id = $1 AND (budget_id IS NULL OR budget_id = $2) ORDER BY seq DESC LIMIT $3",
        )
        .bind(user_id)
        .bind(budget_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    async fn allocations_for_transaction(
        &self,
        transaction_id: TransactionId,
    ) -> StoreResult<Vec<Allocation>> {
        Ok(sqlx::query_as(
            "SELECT grant_id, amount_credits FROM ledger_allocations WHERE transaction_id = $1",
        )
        .bind(transaction_id)
        .fetch_all(self.pool())
        .await?)
    }

    async fn users_with_due_expirations(
        &self,
        now: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<UserId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT user_id FROM grants WHERE closed_at IS NULL AND remaining_credits > 0 AND expires_at <= $1 LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(ids.iter().filter_map(|id| UserId::parse(id)).collect())
    }

    async fn overdue_holds(&self, now: Timestamp, limit: i64) -> StoreResult<Vec<HoldRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {HOLD_COLS} FROM holds WHERE deadline <= $1 ORDER BY deadline LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    async fn holds_created_before(
        &self,
        before: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<HoldRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {HOLD_COLS} FROM holds WHERE created_at < $1 ORDER BY created_at LIMIT $2"
        ))
        .bind(before)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}
