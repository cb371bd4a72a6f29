//! PostgreSQL's ledger batches.
//!
//! Every prepared statement binds whole columns as arrays (`= ANY($1)`,
//! `UNNEST($1, $2, ...)`), so its text is the same whatever the batch's
//! size: each connection prepares it once and plans it from its cache. All
//! of a batch's writes are one statement of data-modifying CTEs, so a
//! purchase batch costs the same three round trips at one command or two
//! hundred: `BEGIN` with the wallets' lock and the reads that spending
//! needs, the writes, `COMMIT`. (SQL built per batch size, as a multi-row
//! `VALUES` list is, made a new statement for nearly every batch and spent
//! more of the database's time parsing and planning than writing.) The
//! first round trip is the one exception: a simple query, so that `BEGIN`
//! and the reads can go out with the lock, whose text names the wallets,
//! budgets and windows; its statements are lookups by key, which plan in
//! microseconds. Sending the lock with `BEGIN` moved the 200-wallet purchase
//! from 3,469 and 3,327 a second to 3,633 and 4,220 in alternating short
//! runs; sending the reads with them too, from 5,380, 6,821 and 4,911 to
//! 5,883, 7,270 and 7,277. (Sending `COMMIT` with the writes, as a simple
//! query of `EXECUTE` with every column written as an array literal, made
//! no difference that three alternating runs could tell, so the writes keep
//! their binary parameters.) Captures, releases, keyed commands and revokes
//! read their holds, keys and grants in a round trip each.
//!
//! The CTEs of one statement see one snapshot, so no two of them touch the
//! same row: a batch's new grants and grant updates, new and finished orders,
//! new and deleted holds, and claimed and finished idempotency keys are
//! disjoint sets (`ledger::batch` folds a change to a row it creates into
//! the created row). Foreign keys are
//! checked at the end of the statement, after every CTE has run.

use crate::id::{BudgetId, GrantId, HoldId, UserId};
use std::sync::LazyLock;

use async_trait::async_trait;
use futures::TryStreamExt;
use sqlx::postgres::PgConnectOptions;
use std::fmt::Write as _;

use sqlx::{Connection, Executor, FromRow, PgConnection, Row};

use crate::money::Credits;
use crate::store::cols::{GRANT_COLS, HOLD_COLS, WALLET_COLS};
use crate::store::{
    BatchTx, BatchWriter, BatchWrites, BudgetCounterRow, GrantRow, HoldRow, IdempotencyRow,
    Spending, StoreResult, WalletRow,
};

mod writes;

/// One ledger writer's connection, of its own rather than the store's pool:
/// opened on the writer's thread (`ledger::engine`), its replies wake the
/// writer there, not through the request workers' queue, and it closes
/// with the writer. After a batch that did not commit, the next batch opens
/// a new connection, in case that one broke.
pub(crate) struct PgWriter {
    options: PgConnectOptions,
    conn: Option<PgConnection>,
    /// Set from a batch's start until it commits.
    unfinished: bool,
}

impl PgWriter {
    pub(crate) fn new(options: PgConnectOptions) -> PgWriter {
        PgWriter {
            // Every statement a writer runs, and every foreign key check its
            // writes make, finds rows by key. On small tables (a few hundred
            // wallets, users or open grants) the planner picks sequential
            // scans, which test every row, dead versions included, against
            // each key of the batch's array: most of the database's time in
            // the purchase benchmark went to that. Its own statements only
            // ever want the index.
            options: options.options([("enable_seqscan", "off")]),
            conn: None,
            unfinished: false,
        }
    }
}

#[async_trait]
impl BatchWriter for PgWriter {
    async fn begin(&mut self) -> StoreResult<Box<dyn BatchTx + '_>> {
        let PgWriter {
            options,
            conn,
            unfinished,
        } = self;
        if std::mem::replace(unfinished, true) {
            *conn = None;
        }
        let conn = match conn {
            Some(conn) => conn,
            empty => empty.insert(PgConnection::connect_with(options).await?),
        };
        Ok(Box::new(PgBatch {
            conn,
            began: false,
            unfinished,
        }))
    }
}

/// One batch's transaction. `BEGIN` goes out with the batch's first
/// statement, the wallets' lock, as one simple query: a round trip fewer
/// per batch. A batch that does not commit leaves its connection in the
/// transaction, and the writer's next batch opens a new connection.
struct PgBatch<'c> {
    conn: &'c mut PgConnection,
    began: bool,
    unfinished: &'c mut bool,
}

/// One column of `rows`.
fn col<'a, T, V>(rows: &'a [T], f: impl FnMut(&'a T) -> V) -> Vec<V> {
    rows.iter().map(f).collect()
}

static LOCK_WALLETS: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {WALLET_COLS} FROM wallets WHERE user_id = ANY($1) ORDER BY user_id FOR UPDATE")
});
static OPEN_GRANTS: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {GRANT_COLS} FROM grants WHERE user_id = ANY($1) AND closed_at IS NULL AND remaining_credits > 0")
});
static GRANTS_BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {GRANT_COLS} FROM grants WHERE id = ANY($1)"));
static HOLDS_BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {HOLD_COLS} FROM holds WHERE id = ANY($1)"));

const IDEMPOTENCY_KEYS: &str = "SELECT k.user_id, k.key, k.request_hash, k.status, \
     k.response_status, k.response_body, k.created_at \
     FROM UNNEST($1::text[], $2::text[]) AS v(user_id, key) \
     JOIN idempotency_keys k ON k.user_id = v.user_id AND k.key = v.key";

const BUDGET_COUNTERS: &str = "SELECT budget_id, spent_total, held_credits, last_minute \
     FROM budget_counters WHERE budget_id = ANY($1)";

/// One indexed seek per probe, all in one statement; `i` counts from 1.
const SPEND_BEFORE: &str = "SELECT p.i, (SELECT s.cumulative - s.amount FROM spend_buckets s \
     WHERE s.budget_id = p.budget_id AND s.minute >= p.minute ORDER BY s.minute LIMIT 1) \
     FROM UNNEST($1::text[], $2::int8[]) WITH ORDINALITY AS p(budget_id, minute, i)";

/// [`BatchTx::spending`] in one statement: the open grants (part 0), the
/// budget counters (part 1) and each probe's spend before its window
/// (part 2, numbered from 1), padded to one row shape. It runs after the
/// wallets are locked, so it reads what the last batch on them committed.
/// Each part's rows are chosen by its argument, `None` leaving it out.
fn spending_sql(grants: Option<&str>, counters: Option<&str>, probes: Option<&str>) -> String {
    let mut parts = Vec::new();
    if let Some(users) = grants {
        parts.push(format!(
            "SELECT 0 AS part, {GRANT_COLS}, NULL::int8 AS spent_total, \
                 NULL::int8 AS held_credits, NULL::int8 AS last_minute \
             FROM grants WHERE user_id {users} AND closed_at IS NULL AND remaining_credits > 0"
        ));
    }
    if let Some(budgets) = counters {
        parts.push(format!(
            "SELECT 1, budget_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
                 spent_total, held_credits, last_minute \
             FROM budget_counters WHERE budget_id {budgets}"
        ));
    }
    if let Some(probes) = probes {
        parts.push(format!(
            "SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, p.i, \
                 (SELECT s.cumulative - s.amount FROM spend_buckets s \
                  WHERE s.budget_id = p.budget_id AND s.minute >= p.minute \
                  ORDER BY s.minute LIMIT 1), \
                 NULL \
             FROM {probes}"
        ));
    }
    parts.join(" UNION ALL ")
}

/// The spending read as a prepared statement: its text is the same for
/// every batch.
static SPENDING: LazyLock<String> = LazyLock::new(|| {
    spending_sql(
        Some("= ANY($1)"),
        Some("= ANY($2)"),
        Some("UNNEST($3::text[], $4::int8[]) WITH ORDINALITY AS p(budget_id, minute, i)"),
    )
});

/// `IN (...)` of `ids`, inlined: each is 24 hex digits by its type, so it
/// needs no quoting beyond the quotes.
fn in_list<I: std::fmt::Display>(ids: &[I]) -> String {
    let mut sql = String::from("IN (");
    for (i, id) in ids.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        write!(sql, "{sep}'{id}'").expect("writing to a String");
    }
    sql.push(')');
    sql
}

/// The spending read with its ids inlined, for a simple query.
fn inline_spending(
    grant_users: &[UserId],
    budget_ids: &[BudgetId],
    probes: &[(BudgetId, i64)],
) -> String {
    let probes = (!probes.is_empty()).then(|| {
        let mut rows = String::from("(VALUES ");
        for (i, (budget, minute)) in probes.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let n = i + 1;
            write!(rows, "{sep}('{budget}',{minute}::int8,{n}::int8)")
                .expect("writing to a String");
        }
        rows.push_str(") AS p(budget_id, minute, i)");
        rows
    });
    let grants = (!grant_users.is_empty()).then(|| in_list(grant_users));
    let counters = (!budget_ids.is_empty()).then(|| in_list(budget_ids));
    spending_sql(grants.as_deref(), counters.as_deref(), probes.as_deref())
}

/// Sorts one spending row into `out`.
fn spending_row(row: &sqlx::postgres::PgRow, out: &mut Spending) -> StoreResult<()> {
    match row.try_get::<i32, _>(0)? {
        0 => out.grants.push(GrantRow::from_row(row)?),
        1 => out.counters.push(BudgetCounterRow {
            budget_id: row.try_get(1)?,
            spent_total: row.try_get(12)?,
            held_credits: row.try_get(13)?,
            last_minute: row.try_get(14)?,
        }),
        _ => {
            let i: i64 = row.try_get(12)?;
            out.spend_before[(i - 1) as usize] = row.try_get(13)?;
        }
    }
    Ok(())
}

impl PgBatch<'_> {
    /// The batch's connection, in its transaction.
    async fn tx(&mut self) -> StoreResult<&mut PgConnection> {
        if !self.began {
            self.conn.execute("BEGIN").await?;
            self.began = true;
        }
        Ok(&mut *self.conn)
    }

    /// The rows `sql` finds for the ids bound as its one array, `$1`.
    async fn rows_for<R, I>(&mut self, sql: &str, ids: &[I]) -> StoreResult<Vec<R>>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
        I: for<'q> sqlx::Encode<'q, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + sqlx::postgres::PgHasArrayType
            + Sync,
    {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_as(sql)
            .bind(ids)
            .fetch_all(self.tx().await?)
            .await?)
    }
}

#[async_trait]
impl BatchTx for PgBatch<'_> {
    async fn lock_wallets(&mut self, user_ids: &[UserId]) -> StoreResult<Vec<WalletRow>> {
        Ok(self.lock_and_spend(user_ids, &[], &[], &[]).await?.0)
    }

    async fn lock_and_spend(
        &mut self,
        user_ids: &[UserId],
        grant_users: &[UserId],
        budget_ids: &[BudgetId],
        probes: &[(BudgetId, i64)],
    ) -> StoreResult<(Vec<WalletRow>, Spending)> {
        if self.began || user_ids.is_empty() {
            let wallets = self.rows_for(&LOCK_WALLETS, user_ids).await?;
            let spending = self.spending(grant_users, budget_ids, probes).await?;
            return Ok((wallets, spending));
        }
        // `BEGIN`, the lock and the reads that need it go out as one simple
        // query, which takes no parameters, so the ids are inlined. Its
        // statements run in turn, each reading what was committed when it
        // began: the reads see what the last batch on these wallets wrote.
        let mut sql = format!(
            "BEGIN; SELECT {WALLET_COLS} FROM wallets WHERE user_id {} ORDER BY user_id FOR UPDATE",
            in_list(user_ids)
        );
        let spend = inline_spending(grant_users, budget_ids, probes);
        if !spend.is_empty() {
            sql.push_str("; ");
            sql.push_str(&spend);
        }
        self.began = true;
        let mut wallets = Vec::new();
        let mut spending = Spending {
            spend_before: vec![None; probes.len()],
            ..Spending::default()
        };
        // Each statement's end comes as a result: `BEGIN`'s, the lock's,
        // then the reads'.
        let mut ended = 0;
        let mut results = self.conn.fetch_many(sqlx::raw_sql(&sql));
        while let Some(item) = results.try_next().await? {
            match item {
                sqlx::Either::Left(_) => ended += 1,
                sqlx::Either::Right(row) if ended == 1 => wallets.push(WalletRow::from_row(&row)?),
                sqlx::Either::Right(row) => spending_row(&row, &mut spending)?,
            }
        }
        Ok((wallets, spending))
    }

    async fn open_grants(&mut self, user_ids: &[UserId]) -> StoreResult<Vec<GrantRow>> {
        self.rows_for(&OPEN_GRANTS, user_ids).await
    }

    async fn grants_by_id(&mut self, ids: &[GrantId]) -> StoreResult<Vec<GrantRow>> {
        self.rows_for(&GRANTS_BY_ID, ids).await
    }

    async fn holds_by_id(&mut self, ids: &[HoldId]) -> StoreResult<Vec<HoldRow>> {
        self.rows_for(&HOLDS_BY_ID, ids).await
    }

    async fn idempotency_keys(
        &mut self,
        keys: &[(UserId, String)],
    ) -> StoreResult<Vec<IdempotencyRow>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_as(IDEMPOTENCY_KEYS)
            .bind(col(keys, |k| k.0))
            .bind(col(keys, |k| k.1.as_str()))
            .fetch_all(self.tx().await?)
            .await?)
    }

    async fn budget_counters(
        &mut self,
        budget_ids: &[BudgetId],
    ) -> StoreResult<Vec<BudgetCounterRow>> {
        self.rows_for(BUDGET_COUNTERS, budget_ids).await
    }

    async fn spend_before(
        &mut self,
        probes: &[(BudgetId, i64)],
    ) -> StoreResult<Vec<Option<Credits>>> {
        if probes.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, Option<Credits>)> = sqlx::query_as(SPEND_BEFORE)
            .bind(col(probes, |p| p.0))
            .bind(col(probes, |p| p.1))
            .fetch_all(self.tx().await?)
            .await?;
        let mut out = vec![None; probes.len()];
        for (i, base) in rows {
            out[(i - 1) as usize] = base;
        }
        Ok(out)
    }

    async fn spending(
        &mut self,
        grant_users: &[UserId],
        budget_ids: &[BudgetId],
        probes: &[(BudgetId, i64)],
    ) -> StoreResult<Spending> {
        let mut out = Spending {
            spend_before: vec![None; probes.len()],
            ..Spending::default()
        };
        if grant_users.is_empty() && budget_ids.is_empty() && probes.is_empty() {
            return Ok(out);
        }
        let rows = sqlx::query(&SPENDING)
            .bind(grant_users)
            .bind(budget_ids)
            .bind(col(probes, |p| p.0))
            .bind(col(probes, |p| p.1))
            .fetch_all(self.tx().await?)
            .await?;
        for row in rows {
            spending_row(&row, &mut out)?;
        }
        Ok(out)
    }

    async fn write(&mut self, w: &BatchWrites) -> StoreResult<()> {
        writes::write(self.tx().await?, w).await
    }

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        let PgBatch {
            conn,
            began,
            unfinished,
        } = *self;
        if began {
            conn.execute("COMMIT").await?;
        }
        *unfinished = false;
        Ok(())
    }
}
