//! The catalog SQL both backends share; see `common.rs`.

macro_rules! impl_catalog_store {
    ($store:ident) => {
        mod catalog_impl {
            use async_trait::async_trait;
            use sqlx::Row;

            use super::$store;
            use crate::store::cols::ORDER_COLS;
            use crate::store::{
                ApprovalKind, ApprovalRow, BudgetAccess, BudgetRow, CatalogStore, CredentialRow, IdempotencyClaim, IdempotencyRow,
                InstanceRow, IssueRow, OrderRow, ProductRow, StoreError, StoreResult, TransactionRow,
            };

            const PRODUCT_COLS: &str = "id, slug, name, display_name, description, category, vendor_id, kind, endpoint, required_credentials, actions, status, timeout_ms, created_at, updated_at";
            const BUDGET_COLS: &str = "id, user_id, name, status, is_default, created_at, cap_per_call, cap_hourly, cap_daily, cap_weekly, cap_monthly, cap_total";
            const ISSUE_COLS: &str = "id, user_id, product_id, product_ref, product_name, lookup_method, error_message, recommended_improvements, instance_id, status, created_at, updated_at";
            const APPROVAL_COLS: &str = "id, user_id, budget_id, kind, subject_id, detail, status, created_at, resolved_at";

            fn product_query<'q>(sql: &'q str, p: &'q ProductRow) -> sqlx::query::Query<'q, <$store as HasDb>::Db, <<$store as HasDb>::Db as sqlx::Database>::Arguments<'q>> {
                sqlx::query(sql)
                    .bind(&p.id)
                    .bind(&p.slug)
                    .bind(&p.name)
                    .bind(&p.display_name)
                    .bind(&p.description)
                    .bind(&p.category)
                    .bind(&p.vendor_id)
                    .bind(&p.kind)
                    .bind(&p.endpoint)
                    .bind(&p.required_credentials)
                    .bind(&p.actions)
                    .bind(&p.status)
                    .bind(p.timeout_ms)
                    .bind(p.created_at)
                    .bind(p.updated_at)
            }

            use super::HasDb;

            #[async_trait]
            impl CatalogStore for $store {
                async fn upsert_builtin_product(&self, p: &ProductRow) -> StoreResult<String> {
                    // Several nodes may seed at once: an insert that loses the
                    // race on any unique column does nothing, and the update
                    // below refreshes the row only when its definition changed.
                    let sql = format!(
                        "INSERT INTO products ({PRODUCT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT DO NOTHING"
                    );
                    product_query(&sql, p).execute(&self.writer).await?;
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
                    .execute(&self.writer)
                    .await
                    .map_err(|e| StoreError::on_unique(e, "product name"))?;
                    Ok(sqlx::query_scalar("SELECT id FROM products WHERE slug = $1").bind(&p.slug).fetch_one(&self.writer).await?)
                }

                async fn insert_product(&self, p: &ProductRow) -> StoreResult<()> {
                    let sql = format!("INSERT INTO products ({PRODUCT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)");
                    product_query(&sql, p).execute(&self.writer).await.map_err(|e| StoreError::on_unique(e, "product slug or name"))?;
                    Ok(())
                }

                async fn update_product(&self, p: &ProductRow) -> StoreResult<()> {
                    let sql = "UPDATE products SET slug = $2, name = $3, display_name = $4, description = $5, category = $6, \
                               vendor_id = $7, kind = $8, endpoint = $9, required_credentials = $10, actions = $11, status = $12, \
                               timeout_ms = $13, created_at = $14, updated_at = $15 WHERE id = $1";
                    product_query(sql, p).execute(&self.writer).await.map_err(|e| StoreError::on_unique(e, "product slug or name"))?;
                    Ok(())
                }

                async fn products(&self) -> StoreResult<Vec<ProductRow>> {
                    Ok(sqlx::query_as(&format!("SELECT {PRODUCT_COLS} FROM products ORDER BY name, id")).fetch_all(&self.pool).await?)
                }

                async fn catalog_version(&self) -> StoreResult<(i64, i64)> {
                    let row = sqlx::query("SELECT COUNT(*), CAST(COALESCE(MAX(updated_at), 0) AS BIGINT) FROM products")
                        .fetch_one(&self.pool)
                        .await?;
                    Ok((row.try_get(0)?, row.try_get(1)?))
                }

                async fn budgets_for_user(&self, user_id: &str) -> StoreResult<Vec<BudgetRow>> {
                    Ok(sqlx::query_as(&format!("SELECT {BUDGET_COLS} FROM budgets WHERE user_id = $1 ORDER BY created_at, id"))
                        .bind(user_id)
                        .fetch_all(&self.pool)
                        .await?)
                }

                async fn insert_budget(&self, b: &BudgetRow) -> StoreResult<()> {
                    sqlx::query(&format!("INSERT INTO budgets ({BUDGET_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
                        .bind(&b.id)
                        .bind(&b.user_id)
                        .bind(&b.name)
                        .bind(&b.status)
                        .bind(b.is_default)
                        .bind(b.created_at)
                        .bind(b.cap_per_call)
                        .bind(b.cap_hourly)
                        .bind(b.cap_daily)
                        .bind(b.cap_weekly)
                        .bind(b.cap_monthly)
                        .bind(b.cap_total)
                        .execute(&self.writer)
                        .await?;
                    Ok(())
                }

                async fn update_budget(&self, b: &BudgetRow) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "UPDATE budgets SET name = $2, status = $3, cap_per_call = $4, cap_hourly = $5, cap_daily = $6, \
                         cap_weekly = $7, cap_monthly = $8, cap_total = $9 WHERE id = $1",
                    )
                    .bind(&b.id)
                    .bind(&b.name)
                    .bind(&b.status)
                    .bind(b.cap_per_call)
                    .bind(b.cap_hourly)
                    .bind(b.cap_daily)
                    .bind(b.cap_weekly)
                    .bind(b.cap_monthly)
                    .bind(b.cap_total)
                    .execute(&mut *tx)
                    .await?;
                    self.log_invalidation(&mut tx, crate::store::invalidation::BUDGET, &b.id, crate::clock::to_millis(chrono::Utc::now())).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn budget_product_ids(&self, budget_id: &str) -> StoreResult<Vec<String>> {
                    Ok(sqlx::query_scalar("SELECT product_id FROM budget_products WHERE budget_id = $1")
                        .bind(budget_id)
                        .fetch_all(&self.pool)
                        .await?)
                }

                async fn enable_product(&self, budget_id: &str, product_id: &str, agreed_prices: &str, now: i64) -> StoreResult<()> {
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
                    self.log_invalidation(&mut tx, crate::store::invalidation::BUDGET, budget_id, now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn budget_products_with_prices(&self, budget_id: &str) -> StoreResult<Vec<(String, Option<String>)>> {
                    Ok(sqlx::query_as("SELECT product_id, agreed_prices FROM budget_products WHERE budget_id = $1")
                        .bind(budget_id)
                        .fetch_all(&self.pool)
                        .await?)
                }

                async fn record_agreed_prices(&self, budget_id: &str, product_id: &str, agreed_prices: &str, now: i64) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query("UPDATE budget_products SET agreed_prices = $3 WHERE budget_id = $1 AND product_id = $2 AND agreed_prices IS NULL")
                        .bind(budget_id)
                        .bind(product_id)
                        .bind(agreed_prices)
                        .execute(&mut *tx)
                        .await?;
                    self.log_invalidation(&mut tx, crate::store::invalidation::BUDGET, budget_id, now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn disable_product(&self, budget_id: &str, product_id: &str) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let done = sqlx::query("DELETE FROM budget_products WHERE budget_id = $1 AND product_id = $2")
                        .bind(budget_id)
                        .bind(product_id)
                        .execute(&mut *tx)
                        .await?;
                    self.log_invalidation(&mut tx, crate::store::invalidation::BUDGET, budget_id, crate::clock::to_millis(chrono::Utc::now())).await?;
                    tx.commit().await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn budget_access(&self, budget_id: &str, product_id: &str) -> StoreResult<Option<BudgetAccess>> {
                    let row = sqlx::query(&format!(
                        "SELECT {BUDGET_COLS}, EXISTS (SELECT 1 FROM budget_products WHERE budget_id = $1 AND product_id = $2) AS enabled FROM budgets WHERE id = $1"
                    ))
                    .bind(budget_id)
                    .bind(product_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    let Some(row) = row else { return Ok(None) };
                    let budget = <BudgetRow as sqlx::FromRow<_>>::from_row(&row)?;
                    Ok(Some(BudgetAccess { budget, enabled: row.try_get("enabled")? }))
                }

                async fn insert_instance(&self, i: &InstanceRow) -> StoreResult<()> {
                    sqlx::query("INSERT INTO instances (id, user_id, budget_id, metadata, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(&i.id)
                        .bind(&i.user_id)
                        .bind(&i.budget_id)
                        .bind(&i.metadata)
                        .bind(i.created_at)
                        .bind(i.last_seen_at)
                        .execute(&self.writer)
                        .await?;
                    Ok(())
                }

                async fn default_instance(&self, owner: &str, fresh: &InstanceRow) -> StoreResult<String> {
                    // Several requests (or nodes) may make it at once: one insert wins.
                    sqlx::query("INSERT INTO instances (id, user_id, budget_id, metadata, created_at, last_seen_at, default_for) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING")
                        .bind(&fresh.id)
                        .bind(&fresh.user_id)
                        .bind(&fresh.budget_id)
                        .bind(&fresh.metadata)
                        .bind(fresh.created_at)
                        .bind(fresh.last_seen_at)
                        .bind(owner)
                        .execute(&self.writer)
                        .await?;
                    Ok(sqlx::query_scalar("SELECT id FROM instances WHERE default_for = $1")
                        .bind(owner)
                        .fetch_one(&self.writer)
                        .await?)
                }

                async fn instance_by_id(&self, id: &str) -> StoreResult<Option<InstanceRow>> {
                    Ok(sqlx::query_as("SELECT id, user_id, budget_id, metadata, created_at, last_seen_at FROM instances WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?)
                }

                async fn touch_instance(&self, id: &str, metadata: Option<&str>, now: i64) -> StoreResult<()> {
                    sqlx::query("UPDATE instances SET last_seen_at = $2, metadata = COALESCE($3, metadata) WHERE id = $1")
                        .bind(id)
                        .bind(now)
                        .bind(metadata)
                        .execute(&self.writer)
                        .await?;
                    Ok(())
                }

                async fn memory_get(&self, instance_id: &str, key: &str) -> StoreResult<Option<String>> {
                    Ok(sqlx::query_scalar("SELECT value FROM instance_memory WHERE instance_id = $1 AND key = $2")
                        .bind(instance_id)
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await?)
                }

                async fn memory_set(&self, instance_id: &str, key: &str, value: &str, now: i64) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO instance_memory (instance_id, key, value, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (instance_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    )
                    .bind(instance_id)
                    .bind(key)
                    .bind(value)
                    .bind(now)
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }

                async fn memory_delete(&self, instance_id: &str, key: &str) -> StoreResult<bool> {
                    let done = sqlx::query("DELETE FROM instance_memory WHERE instance_id = $1 AND key = $2")
                        .bind(instance_id)
                        .bind(key)
                        .execute(&self.writer)
                        .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn memory_list(&self, instance_id: &str, limit: i64) -> StoreResult<Vec<(String, String)>> {
                    Ok(sqlx::query_as("SELECT key, value FROM instance_memory WHERE instance_id = $1 ORDER BY key LIMIT $2")
                        .bind(instance_id)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?)
                }

                async fn memory_count(&self, instance_id: &str) -> StoreResult<i64> {
                    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM instance_memory WHERE instance_id = $1")
                        .bind(instance_id)
                        .fetch_one(&self.pool)
                        .await?)
                }

                async fn order_by_id(&self, id: &str) -> StoreResult<Option<OrderRow>> {
                    Ok(sqlx::query_as(&format!("SELECT {ORDER_COLS} FROM orders WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?)
                }

                async fn orders_for_user(&self, user_id: &str, limit: i64) -> StoreResult<Vec<OrderRow>> {
                    Ok(sqlx::query_as(&format!("SELECT {ORDER_COLS} FROM orders WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"))
                        .bind(user_id)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?)
                }

                async fn transactions_for_budget(&self, user_id: &str, budget_id: &str, limit: i64) -> StoreResult<Vec<TransactionRow>> {
                    Ok(sqlx::query_as(
                        "SELECT id, user_id, transaction_type, amount_credits, balance_after_credits, grant_id, reference, date_created, budget_id \
                         FROM credit_transactions WHERE user_id = $1 AND (budget_id IS NULL OR budget_id = $2) ORDER BY seq DESC LIMIT $3",
                    )
                    .bind(user_id)
                    .bind(budget_id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
                }

                async fn claim_idempotency_key(&self, user_id: &str, key: &str, request_hash: &str, now: i64, stale_before: i64) -> StoreResult<IdempotencyClaim> {
                    let inserted = sqlx::query(
                        "INSERT INTO idempotency_keys (user_id, key, request_hash, status, created_at) VALUES ($1, $2, $3, 'in_progress', $4) \
                         ON CONFLICT (user_id, key) DO NOTHING",
                    )
                    .bind(user_id)
                    .bind(key)
                    .bind(request_hash)
                    .bind(now)
                    .execute(&self.writer)
                    .await?;
                    if inserted.rows_affected() == 1 {
                        return Ok(IdempotencyClaim::Claimed);
                    }
                    // Take over a claim whose request died, atomically.
                    let taken = sqlx::query(
                        "UPDATE idempotency_keys SET created_at = $4 WHERE user_id = $1 AND key = $2 AND request_hash = $3 \
                         AND status = 'in_progress' AND created_at < $5",
                    )
                    .bind(user_id)
                    .bind(key)
                    .bind(request_hash)
                    .bind(now)
                    .bind(stale_before)
                    .execute(&self.writer)
                    .await?;
                    if taken.rows_affected() == 1 {
                        return Ok(IdempotencyClaim::Claimed);
                    }
                    let row: IdempotencyRow = sqlx::query_as(
                        "SELECT user_id, key, request_hash, status, response_status, response_body, created_at FROM idempotency_keys WHERE user_id = $1 AND key = $2",
                    )
                    .bind(user_id)
                    .bind(key)
                    .fetch_one(&self.pool)
                    .await?;
                    Ok(IdempotencyClaim::Existing(row))
                }

                async fn finish_idempotency_key(&self, user_id: &str, key: &str, status: i64, body: &str) -> StoreResult<()> {
                    sqlx::query("UPDATE idempotency_keys SET status = 'done', response_status = $3, response_body = $4 WHERE user_id = $1 AND key = $2")
                        .bind(user_id)
                        .bind(key)
                        .bind(status)
                        .bind(body)
                        .execute(&self.writer)
                        .await?;
                    Ok(())
                }

                async fn release_idempotency_key(&self, user_id: &str, key: &str) -> StoreResult<()> {
                    sqlx::query("DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND status = 'in_progress'")
                        .bind(user_id)
                        .bind(key)
                        .execute(&self.writer)
                        .await?;
                    Ok(())
                }

                async fn purge_idempotency_keys(&self, before: i64) -> StoreResult<u64> {
                    let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                        .bind(before)
                        .execute(&self.writer)
                        .await?;
                    Ok(done.rows_affected())
                }

                async fn put_credential(&self, c: &CredentialRow) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO credentials (user_id, product_id, name, value_sealed, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (user_id, product_id, name) DO UPDATE SET value_sealed = excluded.value_sealed, updated_at = excluded.updated_at",
                    )
                    .bind(&c.user_id)
                    .bind(&c.product_id)
                    .bind(&c.name)
                    .bind(&c.value_sealed)
                    .bind(c.created_at)
                    .bind(c.updated_at)
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }

                async fn credentials_for(&self, user_id: &str, product_id: &str) -> StoreResult<Vec<CredentialRow>> {
                    Ok(sqlx::query_as("SELECT user_id, product_id, name, value_sealed, created_at, updated_at FROM credentials WHERE user_id = $1 AND product_id = $2")
                        .bind(user_id)
                        .bind(product_id)
                        .fetch_all(&self.pool)
                        .await?)
                }

                async fn credentials_of_user(&self, user_id: &str) -> StoreResult<Vec<CredentialRow>> {
                    Ok(sqlx::query_as("SELECT user_id, product_id, name, value_sealed, created_at, updated_at FROM credentials WHERE user_id = $1 ORDER BY product_id, name")
                        .bind(user_id)
                        .fetch_all(&self.pool)
                        .await?)
                }

                async fn delete_credential(&self, user_id: &str, product_id: &str, name: &str) -> StoreResult<bool> {
                    let done = sqlx::query("DELETE FROM credentials WHERE user_id = $1 AND product_id = $2 AND name = $3")
                        .bind(user_id)
                        .bind(product_id)
                        .bind(name)
                        .execute(&self.writer)
                        .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn open_approval(&self, a: &ApprovalRow) -> StoreResult<String> {
                    sqlx::query(&format!(
                        "INSERT INTO approval_requests ({APPROVAL_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                         ON CONFLICT (budget_id, kind, subject_id) WHERE status = 'open' DO NOTHING"
                    ))
                    .bind(&a.id)
                    .bind(&a.user_id)
                    .bind(&a.budget_id)
                    .bind(a.kind.as_str())
                    .bind(&a.subject_id)
                    .bind(&a.detail)
                    .bind(&a.status)
                    .bind(a.created_at)
                    .bind(a.resolved_at)
                    .execute(&self.writer)
                    .await?;
                    Ok(sqlx::query_scalar("SELECT id FROM approval_requests WHERE budget_id = $1 AND kind = $2 AND subject_id = $3 AND status = 'open'")
                        .bind(&a.budget_id)
                        .bind(a.kind.as_str())
                        .bind(&a.subject_id)
                        .fetch_one(&self.pool)
                        .await?)
                }

                async fn approvals_for_user(&self, user_id: &str, budget_id: Option<&str>, limit: i64) -> StoreResult<Vec<ApprovalRow>> {
                    let rows = match budget_id {
                        None => sqlx::query_as(&format!("SELECT {APPROVAL_COLS} FROM approval_requests WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"))
                            .bind(user_id)
                            .bind(limit)
                            .fetch_all(&self.pool)
                            .await?,
                        Some(budget_id) => sqlx::query_as(&format!("SELECT {APPROVAL_COLS} FROM approval_requests WHERE user_id = $1 AND budget_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3"))
                            .bind(user_id)
                            .bind(budget_id)
                            .bind(limit)
                            .fetch_all(&self.pool)
                            .await?,
                    };
                    Ok(rows)
                }

                async fn approval_by_id(&self, id: &str) -> StoreResult<Option<ApprovalRow>> {
                    Ok(sqlx::query_as(&format!("SELECT {APPROVAL_COLS} FROM approval_requests WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?)
                }

                async fn approval_denied(&self, budget_id: &str, kind: ApprovalKind, subject_id: &str) -> StoreResult<bool> {
                    let denied: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM approval_requests WHERE budget_id = $1 AND kind = $2 AND subject_id = $3 AND status = 'denied'",
                    )
                    .bind(budget_id)
                    .bind(kind.as_str())
                    .bind(subject_id)
                    .fetch_one(&self.pool)
                    .await?;
                    Ok(denied > 0)
                }

                async fn resolve_approval(&self, id: &str, status: &str, now: i64) -> StoreResult<bool> {
                    let done = sqlx::query("UPDATE approval_requests SET status = $2, resolved_at = $3 WHERE id = $1 AND status = 'open'")
                        .bind(id)
                        .bind(status)
                        .bind(now)
                        .execute(&self.writer)
                        .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn resolve_approvals_for(&self, user_id: &str, kind: &str, subject_id: &str, status: &str, now: i64) -> StoreResult<u64> {
                    let done = sqlx::query(
                        "UPDATE approval_requests SET status = $4, resolved_at = $5 WHERE user_id = $1 AND kind = $2 AND subject_id = $3 AND status = 'open'",
                    )
                    .bind(user_id)
                    .bind(kind)
                    .bind(subject_id)
                    .bind(status)
                    .bind(now)
                    .execute(&self.writer)
                    .await?;
                    Ok(done.rows_affected())
                }

                async fn insert_issue(&self, i: &IssueRow) -> StoreResult<()> {
                    sqlx::query(&format!("INSERT INTO issue_reports ({ISSUE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
                        .bind(&i.id)
                        .bind(&i.user_id)
                        .bind(&i.product_id)
                        .bind(&i.product_ref)
                        .bind(&i.product_name)
                        .bind(&i.lookup_method)
                        .bind(&i.error_message)
                        .bind(&i.recommended_improvements)
                        .bind(&i.instance_id)
                        .bind(&i.status)
                        .bind(i.created_at)
                        .bind(i.updated_at)
                        .execute(&self.writer)
                        .await?;
                    Ok(())
                }

                async fn issues_by_user_since(&self, user_id: &str, since: i64) -> StoreResult<i64> {
                    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM issue_reports WHERE user_id = $1 AND created_at > $2")
                        .bind(user_id)
                        .bind(since)
                        .fetch_one(&self.pool)
                        .await?)
                }

                async fn issues_for_vendor(&self, vendor_id: Option<&str>, limit: i64) -> StoreResult<Vec<IssueRow>> {
                    let cols = ISSUE_COLS.split(", ").map(|c| format!("i.{c}")).collect::<Vec<_>>().join(", ");
                    Ok(sqlx::query_as(&format!(
                        "SELECT {cols} FROM issue_reports i JOIN products p ON p.id = i.product_id \
                         WHERE ($1 IS NULL OR p.vendor_id = $1) ORDER BY i.created_at DESC, i.id DESC LIMIT $2"
                    ))
                    .bind(vendor_id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
                }

                async fn issue_by_id(&self, id: &str) -> StoreResult<Option<IssueRow>> {
                    Ok(sqlx::query_as(&format!("SELECT {ISSUE_COLS} FROM issue_reports WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?)
                }

                async fn update_issue_status(&self, id: &str, status: &str, now: i64) -> StoreResult<()> {
                    sqlx::query("UPDATE issue_reports SET status = $2, updated_at = $3 WHERE id = $1")
                        .bind(id)
                        .bind(status)
                        .bind(now)
                        .execute(&self.writer)
                        .await?;
                    Ok(())
                }
            }
        }
    };
}

pub(crate) use impl_catalog_store;
