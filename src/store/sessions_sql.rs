//! The session SQL both backends share; see `common.rs`.

macro_rules! impl_session_store {
    ($store:ident) => {
        mod session_impl {
            use async_trait::async_trait;
            use sqlx::Row;

            use super::$store;
            use crate::store::{RetireOutcome, SessionState, SessionStore, StoreResult};

            #[async_trait]
            impl SessionStore for $store {
                async fn revoke_token(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
                    sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
                        .bind(jti)
                        .bind(expires_at)
                        .execute(&self.writer)
                        .await?;
                    Ok(())
                }

                async fn session_state(&self, user_id: &str, jti: &str) -> StoreResult<Option<SessionState>> {
                    let row = sqlx::query(
                        "SELECT u.sessions_valid_after, (SELECT COUNT(*) FROM revoked_tokens r WHERE r.jti = $2) AS revoked FROM users u WHERE u.id = $1",
                    )
                    .bind(user_id)
                    .bind(jti)
                    .fetch_optional(&self.pool)
                    .await?;
                    match row {
                        None => Ok(None),
                        Some(r) => Ok(Some(SessionState {
                            sessions_valid_after: r.try_get(0)?,
                            revoked: r.try_get::<i64, _>(1)? > 0,
                        })),
                    }
                }

                async fn purge_revoked_tokens(&self, now: i64) -> StoreResult<u64> {
                    Ok(sqlx::query("DELETE FROM revoked_tokens WHERE expires_at <= $1")
                        .bind(now)
                        .execute(&self.writer)
                        .await?
                        .rows_affected())
                }

                async fn set_user_role(&self, user_id: &str, role: &str, now: i64) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let changed = sqlx::query("UPDATE users SET role = $2, sessions_valid_after = $3 WHERE id = $1")
                        .bind(user_id)
                        .bind(role)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        > 0;
                    // Nodes cache API keys with their owner's role.
                    self.log_invalidation(&mut tx, crate::store::invalidation::USER, user_id, now).await?;
                    tx.commit().await?;
                    Ok(changed)
                }

                async fn signing_key_ids(&self) -> StoreResult<Vec<(String, bool)>> {
                    let rows = sqlx::query("SELECT kid, slot FROM signing_keys ORDER BY kid")
                        .fetch_all(&self.pool)
                        .await?;
                    rows.iter()
                        .map(|r| {
                            let slot: Option<String> = r.try_get(1)?;
                            Ok((r.try_get(0)?, slot.as_deref() == Some("current")))
                        })
                        .collect()
                }

                async fn retire_signing_key(&self, kid: &str, now: i64) -> StoreResult<RetireOutcome> {
                    let mut tx = self.begin_write().await?;
                    let slot: Option<Option<String>> = sqlx::query("SELECT slot FROM signing_keys WHERE kid = $1")
                        .bind(kid)
                        .fetch_optional(&mut *tx)
                        .await?
                        .map(|r| r.try_get(0))
                        .transpose()?;
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
                            let retired = sqlx::query("SELECT kid FROM retired_signing_keys WHERE kid = $1")
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
        }
    };
}

pub(crate) use impl_session_store;
