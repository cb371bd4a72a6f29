//! Credentials stored for tools, sealed.

use crate::clock::Timestamp;
use crate::id::ProductId;
use crate::id::{BudgetId, UserId};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::{Args, Conn, DbRow};
use crate::store::backend::{Backend, RowsAffected};
use crate::store::{CredentialRow, CredentialStore, StoreResult};

#[async_trait]
impl<S> CredentialStore for S
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
    for<'r> CredentialRow: FromRow<'r, DbRow<S>>,
{
    async fn put_credential(&self, c: &CredentialRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO credentials (user_id, product_id, name, value_sealed, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (user_id, product_id, name) DO UPDATE SET value_sealed = excluded.value_sealed, updated_at = excluded.updated_at",
        )
        .bind(c.user_id)
        .bind(c.product_id)
        .bind(&c.name)
        .bind(&c.value_sealed)
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn credentials_for(
        &self,
        user_id: UserId,
        product_id: ProductId,
    ) -> StoreResult<Vec<CredentialRow>> {
        Ok(sqlx::query_as("SELECT user_id, product_id, name, value_sealed, created_at, updated_at FROM credentials WHERE user_id = $1 AND product_id = $2")
            .bind(user_id)
            .bind(product_id)
            .fetch_all(self.pool())
            .await?)
    }

    async fn credentials_of_user(&self, user_id: UserId) -> StoreResult<Vec<CredentialRow>> {
        Ok(sqlx::query_as("SELECT user_id, product_id, name, value_sealed, created_at, updated_at FROM credentials WHERE user_id = $1 ORDER BY product_id, name")
            .bind(user_id)
            .fetch_all(self.pool())
            .await?)
    }

    async fn delete_credential(
        &self,
        user_id: UserId,
        product_id: ProductId,
        name: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "DELETE FROM credentials WHERE user_id = $1 AND product_id = $2 AND name = $3",
        )
        .bind(user_id)
        .bind(product_id)
        .bind(name)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
