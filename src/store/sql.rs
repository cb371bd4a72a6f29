//! The SQL both backends share, one file per area, each implementing its
//! area's trait for every [`Backend`].
//!
//! Rust does not carry a trait's `where` clauses to the places that use the
//! trait, so each area's `impl` states what it needs of the database: the
//! same executor, argument and binding bounds everywhere, then the rows the
//! area reads.

mod accounts;
mod approvals;
mod bundles;
mod catalog;
mod credentials;
mod deliveries;
mod history;
mod idempotency;
mod instances;
mod issues;
mod ledger;
mod orders;
mod runs;
mod sessions;
mod workflows;

use crate::clock::Timestamp;
use async_trait::async_trait;
use sqlx::{Database, Encode, Executor, IntoArguments, Transaction, Type};

use super::backend::{Backend, Dialect};
use super::{
    AccountStore, ApprovalStore, BundleStore, CatalogStore, CredentialStore, DeliveryStore,
    IdempotencyStore, InstanceStore, IssueStore, LedgerHistory, LedgerStore, OrderStore, RunStore,
    SessionStore, Store, StoreResult, WorkflowStore,
};

/// A backend's connection type.
pub(crate) type Conn<S> = <<S as Backend>::Db as Database>::Connection;
/// A backend's query arguments.
pub(crate) type Args<'q, S> = <<S as Backend>::Db as Database>::Arguments<'q>;
/// A backend's result row.
pub(crate) type DbRow<S> = <<S as Backend>::Db as Database>::Row;

/// Adds a row to the cache invalidation log inside `tx`.
pub(crate) async fn log_invalidation<DB: Database>(
    tx: &mut Transaction<'static, DB>,
    kind: &str,
    key: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    sqlx::query("INSERT INTO cache_invalidations (kind, key, created_at) VALUES ($1, $2, $3)")
        .bind(kind)
        .bind(key)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[async_trait]
impl<S> Store for S
where
    S: Backend
        + AccountStore
        + CredentialStore
        + CatalogStore
        + InstanceStore
        + OrderStore
        + IdempotencyStore
        + ApprovalStore
        + IssueStore
        + LedgerStore
        + LedgerHistory
        + WorkflowStore
        + RunStore
        + DeliveryStore
        + BundleStore
        + SessionStore
        + 'static,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    for<'q> <S::Db as Database>::Arguments<'q>: IntoArguments<'q, S::Db>,
{
    fn backend(&self) -> &'static str {
        <S::Db as Dialect>::NAME
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(self.writer()).await?;
        Ok(())
    }
}
