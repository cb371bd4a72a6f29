//! What ends sessions (logged-out tokens, per-user cut-offs) and the
//! signing keys.

use crate::clock::Timestamp;
use crate::id::{BudgetId, UserId};
use crate::store::Role;
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::{log_invalidation, Args, Conn, DbRow};
use crate::store::backend::{Backend, RowsAffected};
use crate::store::invalidation;
use crate::store::{RetireOutcome, SessionState, SessionStore, SigningKeyRow, StoreResult};

const KEY_COLS: &str =
    "kid, algorithm, private_key_sealed, public_pem, (slot IS NOT NULL) AS current, created_at";

#[async_trait]
impl<S> SessionStore for S
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
    for<'r> SigningKeyRow: FromRow<'r, DbRow<S>>,
    for<'r> (i64, i64): FromRow<'r, DbRow<S>>,
    for<'r> (String, Option<String>): FromRow<'r, DbRow<S>>,
    for<'r> (Option<String>,): FromRow<'r, DbRow<S>>,
    for<'r> (String,): FromRow<'r, DbRow<S>>,
{
    async fn revoke_token(&self, jti: &str, expires_at: Timestamp) -> StoreResult<()> {
        sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(expires_at)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn session_state(&self, user_id: UserId, jti: &str) -> StoreResult<Option<SessionState>> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT u.sessions_valid_after, (SELECT COUNT(*) FROM revoked_tokens r WHERE r.jti = $2) AS revoked FROM users u WHERE u.id = $1",
        )
        .bind(user_id)
        .bind(jti)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(sessions_valid_after, revoked)| SessionState {
            sessions_valid_after,
            revoked: revoked > 0,
        }))
    }

    async fn purge_revoked_tokens(&self, now: Timestamp) -> StoreResult<u64> {
        Ok(
            sqlx::query("DELETE FROM revoked_tokens WHERE expires_at <= $1")
                .bind(now)
                .execute(self.writer())
                .await?
                .rows_affected(),
        )
    }

    async fn set_user_role(
        &self,
        user_id: UserId,
        role: Role,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let changed =
            sqlx::query("UPDATE users SET role = $2, sessions_valid_after = $3 WHERE id = $1")
                .bind(user_id)
                .bind(role.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
        // Nodes cache API keys with their owner's role.
        log_invalidation(&mut tx, invalidation::USER, &user_id.to_string(), now).await?;
        tx.commit().await?;
        Ok(changed)
    }

    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {KEY_COLS} FROM signing_keys ORDER BY created_at DESC, kid"
        ))
        .fetch_all(self.pool())
        .await?)
    }

    async fn ensure_current_signing_key(&self, key: &SigningKeyRow) -> StoreResult<SigningKeyRow> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, private_key_sealed, public_pem, slot, created_at) VALUES ($1, $2, $3, $4, 'current', $5) ON CONFLICT (slot) DO NOTHING",
        )
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(&key.private_key_sealed)
        .bind(&key.public_pem)
        .bind(key.created_at)
        .execute(self.writer())
        .await?;
        Ok(sqlx::query_as(&format!(
            "SELECT {KEY_COLS} FROM signing_keys WHERE slot = 'current'"
        ))
        .fetch_one(self.pool())
        .await?)
    }

    async fn rotate_signing_key(&self, key: &SigningKeyRow) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE signing_keys SET slot = NULL WHERE slot = 'current'")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, private_key_sealed, public_pem, slot, created_at) VALUES ($1, $2, $3, $4, 'current', $5)",
        )
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(&key.private_key_sealed)
        .bind(&key.public_pem)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn signing_key_ids(&self) -> StoreResult<Vec<(String, bool)>> {
        let rows: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT kid, slot FROM signing_keys ORDER BY kid")
                .fetch_all(self.pool())
                .await?;
        Ok(rows
            .into_iter()
            .map(|(kid, slot)| (kid, slot.as_deref() == Some("current")))
            .collect())
    }

    async fn retire_signing_key(&self, kid: &str, now: Timestamp) -> StoreResult<RetireOutcome> {
        let mut tx = self.begin_write().await?;
        let slot: Option<Option<String>> =
            sqlx::query_scalar("SELECT slot FROM signing_keys WHERE kid = $1")
                .bind(kid)
                .fetch_optional(&mut *tx)
                .await?;
        let outcome = match slot {
            Some(Some(_)) => RetireOutcome::Current,
            Some(None) => {
                sqlx::query("DELETE FROM signing_keys WHERE kid = $1 AND slot IS NULL")
                    .bind(kid)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO retired_signing_keys (kid, retired_at) VALUES ($1, $2)")
                    .bind(kid)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                RetireOutcome::Retired
            }
            None => {
                let retired: Option<String> =
                    sqlx::query_scalar("SELECT kid FROM retired_signing_keys WHERE kid = $1")
                        .bind(kid)
                        .fetch_optional(&mut *tx)
                        .await?;
                if retired.is_some() {
                    RetireOutcome::AlreadyRetired
                } else {
                    RetireOutcome::NotFound
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }
}
