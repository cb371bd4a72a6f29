//! The catalog: products, and which a budget may buy at which prices.

use crate::clock::Timestamp;
use crate::id::ProductId;
use crate::id::{BudgetId, UserId};
use async_trait::async_trait;
use sqlx::query::Query;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};

use super::{log_invalidation, Args, Conn, DbRow};
use crate::store::backend::{Backend, RowsAffected};
use crate::store::cols::BUDGET_COLS;
use crate::store::invalidation;
use crate::store::{BudgetAccess, BudgetRow, CatalogStore, ProductRow, StoreError, StoreResult};

const PRODUCT_COLS: &str = "id, slug, name, display_name, description, category, vendor_id, kind, endpoint, required_credentials, actions, status, timeout_ms, created_at, updated_at";

/// A budget row and whether one product is enabled on it.
#[derive(sqlx::FromRow)]
struct BudgetAccessRow {
    #[sqlx(flatten)]
    budget: BudgetRow,
    enabled: bool,
}

/// Binds a product's columns as `$1`..`$15`, in `PRODUCT_COLS` order.
fn product_query<'q, DB: Database>(
    sql: &'q str,
    p: &'q ProductRow,
) -> Query<'q, DB, DB::Arguments<'q>>
where
    String: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB> + Type<DB>,
    UserId: Encode<'q, DB> + Type<DB>,
    Option<UserId>: Encode<'q, DB> + Type<DB>,
    BudgetId: Encode<'q, DB> + Type<DB>,
    Option<BudgetId>: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Timestamp: Encode<'q, DB> + Type<DB>,
    Option<Timestamp>: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(sql)
        .bind(p.id)
        .bind(&p.slug)
        .bind(&p.name)
        .bind(&p.display_name)
        .bind(&p.description)
        .bind(&p.category)
        .bind(p.vendor_id)
        .bind(p.kind.as_str())
        .bind(&p.endpoint)
        .bind(&p.required_credentials)
        .bind(&p.actions)
        .bind(p.status.as_str())
        .bind(p.timeout_ms)
        .bind(p.created_at)
        .bind(p.updated_at)
}

#[async_trait]
impl<S> CatalogStore for S
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
    for<'r> ProductRow: FromRow<'r, DbRow<S>>,
    for<'r> (String,): FromRow<'r, DbRow<S>>,
    for<'r> (i64, i64): FromRow<'r, DbRow<S>>,
    for<'r> (String, Option<String>): FromRow<'r, DbRow<S>>,
    for<'r> BudgetAccessRow: FromRow<'r, DbRow<S>>,
{
    async fn upsert_builtin_product(&self, p: &ProductRow) -> StoreResult<String> {
        // Several nodes may seed at once: an insert that loses the
        // race on any unique column does nothing, and the update
        // below refreshes the row only when its definition changed.
        let sql = format!(
            "INSERT INTO products ({PRODUCT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT DO NOTHING"
        );
        product_query(&sql, p).execute(self.writer()).await?;
        sqlx::query(
            "UPDATE products SET name = $2, display_name = $3, description = $4, category = $5, actions = $6, updated_at = $7 \
             WHERE slug = $1 AND kind = 'builtin' AND (name <> $2 OR display_name <> $3 OR description <> $4 OR category <> $5 OR actions <> $6)",
        )
        .bind(&p.slug)
        .bind(&p.name)
        .bind(&p.display_name)
        .bind(&p.description)
        .bind(&p.category)
        .bind(&p.actions)
        .bind(p.updated_at)
        .execute(self.writer())
        .await
        .map_err(|e| StoreError::on_unique(e, "product name"))?;
        Ok(
            sqlx::query_scalar("SELECT id FROM products WHERE slug = $1")
                .bind(&p.slug)
                .fetch_one(self.writer())
                .await?,
        )
    }

    async fn insert_product(&self, p: &ProductRow) -> StoreResult<()> {
        let sql = format!("INSERT INTO products ({PRODUCT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)");
        product_query(&sql, p)
            .execute(self.writer())
            .await
            .map_err(|e| StoreError::on_unique(e, "product slug or name"))?;
        Ok(())
    }

    async fn update_product(&self, p: &ProductRow) -> StoreResult<()> {
        let sql = "UPDATE products SET slug = $2, name = $3, display_name = $4, description = $5, category = $6, \
                   vendor_id = $7, kind = $8, endpoint = $9, required_credentials = $10, actions = $11, status = $12, \
                   timeout_ms = $13, created_at = $14, updated_at = $15 WHERE id = $1";
        product_query(sql, p)
            .execute(self.writer())
            .await
            .map_err(|e| StoreError::on_unique(e, "product slug or name"))?;
        Ok(())
    }

    async fn products(&self) -> StoreResult<Vec<ProductRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {PRODUCT_COLS} FROM products ORDER BY name, id"
        ))
        .fetch_all(self.pool())
        .await?)
    }

    async fn catalog_version(&self) -> StoreResult<(i64, i64)> {
        Ok(sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(MAX(updated_at), 0) AS BIGINT) FROM products",
        )
        .fetch_one(self.pool())
        .await?)
    }

    async fn budget_product_ids(&self, budget_id: BudgetId) -> StoreResult<Vec<ProductId>> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT product_id FROM budget_products WHERE budget_id = $1")
                .bind(budget_id)
                .fetch_all(self.pool())
                .await?;
        Ok(ids.iter().filter_map(|id| ProductId::parse(id)).collect())
    }

    async fn enable_product(
        &self,
        budget_id: BudgetId,
        product_id: ProductId,
        agreed_prices: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        // Enabling again agrees to the prices of now.
        sqlx::query("INSERT INTO budget_products (budget_id, product_id, created_at, agreed_prices) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (budget_id, product_id) DO UPDATE SET agreed_prices = excluded.agreed_prices")
            .bind(budget_id)
            .bind(product_id)
            .bind(now)
            .bind(agreed_prices)
            .execute(&mut *tx)
            .await?;
        log_invalidation(&mut tx, invalidation::BUDGET, &budget_id.to_string(), now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn budget_products_with_prices(
        &self,
        budget_id: BudgetId,
    ) -> StoreResult<Vec<(ProductId, Option<String>)>> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT product_id, agreed_prices FROM budget_products WHERE budget_id = $1",
        )
        .bind(budget_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, prices)| Some((ProductId::parse(&id)?, prices)))
            .collect())
    }

    async fn record_agreed_prices(
        &self,
        budget_id: BudgetId,
        product_id: ProductId,
        agreed_prices: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE budget_products SET agreed_prices = $3 WHERE budget_id = $1 AND product_id = $2 AND agreed_prices IS NULL")
            .bind(budget_id)
            .bind(product_id)
            .bind(agreed_prices)
            .execute(&mut *tx)
            .await?;
        log_invalidation(&mut tx, invalidation::BUDGET, &budget_id.to_string(), now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn disable_product(
        &self,
        budget_id: BudgetId,
        product_id: ProductId,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("DELETE FROM budget_products WHERE budget_id = $1 AND product_id = $2")
                .bind(budget_id)
                .bind(product_id)
                .execute(&mut *tx)
                .await?;
        log_invalidation(
            &mut tx,
            invalidation::BUDGET,
            &budget_id.to_string(),
            Timestamp::from(chrono::Utc::now()),
        )
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn budget_access(
        &self,
        budget_id: BudgetId,
        product_id: ProductId,
    ) -> StoreResult<Option<BudgetAccess>> {
        let row: Option<BudgetAccessRow> = sqlx::query_as(&format!(
            "SELECT {BUDGET_COLS}, EXISTS (SELECT 1 FROM budget_products WHERE budget_id = $1 AND product_id = $2) AS enabled FROM budgets WHERE id = $1"
        ))
        .bind(budget_id)
        .bind(product_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| BudgetAccess {
            budget: r.budget,
            enabled: r.enabled,
        }))
    }
}
