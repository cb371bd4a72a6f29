//! PostgreSQL's ledger batches.
//!
//! Every statement binds whole columns as arrays (`= ANY($1)`,
//! `UNNEST($1, $2, ...)`), so its text is the same whatever the batch's size:
//! each connection prepares it once and plans it from its cache. All of a
//! batch's writes are one statement of data-modifying CTEs, so a batch costs
//! the same few round trips at one command or two hundred: `BEGIN`, the
//! reads, the writes, `COMMIT`. (SQL built per batch size, as a multi-row
//! `VALUES` list is, made a new statement for nearly every batch and spent
//! more of the database's time parsing and planning than writing.)
//!
//! The CTEs of one statement see one snapshot, so no two of them touch the
//! same row: a batch's new grants and grant updates, new and finished orders,
//! and new and deleted holds are disjoint sets (`ledger::batch` folds a
//! change to a row it creates into the created row). Foreign keys are
//! checked at the end of the statement, after every CTE has run.

use crate::id::{BudgetId, GrantId, HoldId, UserId};
use std::sync::{LazyLock, OnceLock};

use async_trait::async_trait;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, FromRow, PgConnection, Postgres, Row, Transaction};

use crate::money::Credits;
use crate::store::cols::{GRANT_COLS, HOLD_COLS, ORDER_COLS, WALLET_COLS};
use crate::store::{
    BatchTx, BatchWriter, BatchWrites, BudgetCounterRow, GrantClosed, GrantRow, HoldRow, Spending,
    StoreError, StoreResult, WalletRow,
};

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
            tx: conn.begin().await?,
            unfinished,
        }))
    }
}

/// One batch's transaction.
struct PgBatch<'c> {
    tx: Transaction<'c, Postgres>,
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
static SPENDING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT 0 AS part, {GRANT_COLS}, NULL::int8 AS spent_total, \
             NULL::int8 AS held_credits, NULL::int8 AS last_minute \
         FROM grants WHERE user_id = ANY($1) AND closed_at IS NULL AND remaining_credits > 0 \
         UNION ALL \
         SELECT 1, budget_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
             spent_total, held_credits, last_minute \
         FROM budget_counters WHERE budget_id = ANY($2) \
         UNION ALL \
         SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, p.i, \
             (SELECT s.cumulative - s.amount FROM spend_buckets s \
              WHERE s.budget_id = p.budget_id AND s.minute >= p.minute ORDER BY s.minute LIMIT 1), \
             NULL \
         FROM UNNEST($3::text[], $4::int8[]) WITH ORDINALITY AS p(budget_id, minute, i)"
    )
});

/// The CTEs of a batch's write statement, in order, each with its
/// parameters counted from `$1` ([`write_sql`] numbers them in the
/// statement). Each is left out when the batch has nothing of its kind.
static PARTS: LazyLock<[String; 12]> = LazyLock::new(|| {
    [
        format!(
            "new_grants AS (
            INSERT INTO grants ({GRANT_COLS})
            SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[],
                $6::text[], $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::text[])
        )"
        ),
        String::from(
            "grant_updates AS (
            UPDATE grants SET remaining_credits = v.remaining, closed_at = v.closed_at,
                closed_reason = v.closed_reason
            FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::text[])
                AS v(id, remaining, closed_at, closed_reason)
            WHERE grants.id = v.id
        )",
        ),
        String::from(
            "new_transactions AS (
            INSERT INTO credit_transactions (id, user_id, transaction_type, amount_credits,
                balance_after_credits, grant_id, reference, date_created, budget_id, seq)
            SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[],
                $6::text[], $7::text[], $8::int8[], $9::text[], $10::int8[])
        )",
        ),
        String::from(
            "new_allocations AS (
            INSERT INTO ledger_allocations (transaction_id, grant_id, amount_credits)
            SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[])
        )",
        ),
        String::from(
            "deleted_holds AS (
            DELETE FROM holds WHERE id = ANY($1::text[])
        )",
        ),
        format!(
            "new_holds AS (
            INSERT INTO holds ({HOLD_COLS})
            SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[],
                $6::int8[], $7::int8[])
        )"
        ),
        format!(
            "new_orders AS (
            INSERT INTO orders ({ORDER_COLS})
            SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                $6::int8[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                $12::int8[], $13::int8[], $14::int8[])
        )"
        ),
        String::from(
            "finished_orders AS (
            UPDATE orders SET status = v.status, error_code = v.error_code,
                transaction_id = v.transaction_id, completed_at = v.completed_at,
                duration_ms = v.duration_ms
            FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[])
                AS v(id, status, error_code, transaction_id, completed_at, duration_ms)
            WHERE orders.id = v.id
        )",
        ),
        String::from(
            "finished_requests AS (
            UPDATE idempotency_keys SET status = 'done', response_status = v.status,
                response_body = v.body
            FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[])
                AS v(user_id, key, status, body)
            WHERE idempotency_keys.user_id = v.user_id AND idempotency_keys.key = v.key
        )",
        ),
        String::from(
            "wallet_counters AS (
            UPDATE wallets SET balance_credits = v.balance, entry_count = v.entries,
                held_credits = v.held, next_expiry = v.next_expiry, updated_at = $6
            FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[])
                AS v(user_id, balance, entries, held, next_expiry)
            WHERE wallets.user_id = v.user_id
        )",
        ),
        String::from(
            "budget_spend AS (
            INSERT INTO budget_counters (budget_id, spent_total, held_credits, last_minute)
            SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::int8[])
            ON CONFLICT (budget_id) DO UPDATE SET spent_total = excluded.spent_total,
                held_credits = excluded.held_credits, last_minute = excluded.last_minute
        )",
        ),
        String::from(
            "spend_minutes AS (
            INSERT INTO spend_buckets (budget_id, minute, amount, cumulative)
            SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::int8[])
            ON CONFLICT (budget_id, minute) DO UPDATE
                SET amount = spend_buckets.amount + excluded.amount,
                    cumulative = excluded.cumulative
        )",
        ),
    ]
});

/// The write statement of the CTEs `shape` names (bit `n` for `PARTS[n]`),
/// built once per shape. A purchase batch fills six of the twelve, and an
/// empty CTE is not free: PostgreSQL plans, starts and finishes each one
/// at every execution (about a tenth of the statement's time was starting
/// nodes, many of them for CTEs with nothing to do).
fn write_sql(shape: usize) -> &'static str {
    static SHAPES: LazyLock<Vec<OnceLock<String>>> =
        LazyLock::new(|| (0..1 << PARTS.len()).map(|_| OnceLock::new()).collect());
    SHAPES[shape].get_or_init(|| {
        let mut sql = String::from("WITH ");
        let mut next = 1;
        for (n, part) in PARTS.iter().enumerate() {
            if shape & (1 << n) != 0 {
                if next > 1 {
                    sql.push_str(", ");
                }
                next = append_numbered(&mut sql, part, next);
            }
        }
        sql.push_str(" SELECT 1");
        sql
    })
}

/// Appends `part` to `sql` with each of its parameters `$k` as
/// `$(k - 1 + first)`, and returns the number after its last one.
fn append_numbered(sql: &mut String, part: &str, first: usize) -> usize {
    let mut highest = 0;
    let mut rest = part;
    while let Some(at) = rest.find('$') {
        sql.push_str(&rest[..=at]);
        let digits = rest[at + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let k: usize = rest[at + 1..at + 1 + digits]
            .parse()
            .expect("each `$` in a part starts a parameter number");
        highest = highest.max(k);
        sql.push_str(&(k - 1 + first).to_string());
        rest = &rest[at + 1 + digits..];
    }
    sql.push_str(rest);
    first + highest
}

impl PgBatch<'_> {
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
            .fetch_all(&mut *self.tx)
            .await?)
    }
}

#[async_trait]
impl BatchTx for PgBatch<'_> {
    async fn lock_wallets(&mut self, user_ids: &[UserId]) -> StoreResult<Vec<WalletRow>> {
        self.rows_for(&LOCK_WALLETS, user_ids).await
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
            .fetch_all(&mut *self.tx)
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
            .fetch_all(&mut *self.tx)
            .await?;
        for row in rows {
            match row.try_get::<i32, _>(0)? {
                0 => out.grants.push(GrantRow::from_row(&row)?),
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
        }
        Ok(out)
    }

    async fn write(&mut self, w: &BatchWrites) -> StoreResult<()> {
        let (g, u, t, a) = (
            &w.new_grants,
            &w.grant_updates,
            &w.transactions,
            &w.allocations,
        );
        let (d, h, o, f) = (
            &w.deleted_holds,
            &w.new_holds,
            &w.new_orders,
            &w.finished_orders,
        );
        let (i, wl, b, s) = (&w.idempotency, &w.wallets, &w.budgets, &w.buckets);
        // In the order of `PARTS`.
        let filled = [
            !g.is_empty(),
            !u.is_empty(),
            !t.is_empty(),
            !a.is_empty(),
            !d.is_empty(),
            !h.is_empty(),
            !o.is_empty(),
            !f.is_empty(),
            !i.is_empty(),
            !wl.is_empty(),
            !b.is_empty(),
            !s.is_empty(),
        ];
        let shape = filled
            .iter()
            .enumerate()
            .fold(0, |shape, (n, &on)| shape | (usize::from(on) << n));
        if shape == 0 {
            return Ok(());
        }
        let mut q = sqlx::query(write_sql(shape));
        if filled[0] {
            q = q
                .bind(col(g, |g| g.id))
                .bind(col(g, |g| g.user_id))
                .bind(col(g, |g| g.amount_credits))
                .bind(col(g, |g| g.remaining_credits))
                .bind(col(g, |g| g.credit_type.as_str()))
                .bind(col(g, |g| g.source_metadata.as_deref()))
                .bind(col(g, |g| g.date_created))
                .bind(col(g, |g| g.pooled_at))
                .bind(col(g, |g| g.expires_at))
                .bind(col(g, |g| g.closed_at))
                .bind(col(g, |g| g.closed_reason.map(GrantClosed::as_str)));
        }
        if filled[1] {
            q = q
                .bind(col(u, |g| g.id))
                .bind(col(u, |g| g.remaining_credits))
                .bind(col(u, |g| g.closed_at))
                .bind(col(u, |g| g.closed_reason.map(GrantClosed::as_str)));
        }
        if filled[2] {
            q = q
                .bind(col(t, |(t, _)| t.id))
                .bind(col(t, |(t, _)| t.user_id))
                .bind(col(t, |(t, _)| t.transaction_type.as_str()))
                .bind(col(t, |(t, _)| t.amount_credits))
                .bind(col(t, |(t, _)| t.balance_after_credits))
                .bind(col(t, |(t, _)| t.grant_id))
                .bind(col(t, |(t, _)| t.reference.as_deref()))
                .bind(col(t, |(t, _)| t.date_created))
                .bind(col(t, |(t, _)| t.budget_id))
                .bind(col(t, |(_, seq)| *seq));
        }
        if filled[3] {
            q = q
                .bind(col(a, |(txn, _)| *txn))
                .bind(col(a, |(_, a)| a.grant_id))
                .bind(col(a, |(_, a)| a.amount_credits));
        }
        if filled[4] {
            q = q.bind(d);
        }
        if filled[5] {
            q = q
                .bind(col(h, |h| h.id))
                .bind(col(h, |h| h.user_id))
                .bind(col(h, |h| h.budget_id))
                .bind(col(h, |h| h.amount_credits))
                .bind(col(h, |h| h.reference.as_deref()))
                .bind(col(h, |h| h.created_at))
                .bind(col(h, |h| h.deadline));
        }
        if filled[6] {
            q = q
                .bind(col(o, |o| o.id))
                .bind(col(o, |o| o.user_id))
                .bind(col(o, |o| o.budget_id))
                .bind(col(o, |o| o.product_id.as_str()))
                .bind(col(o, |o| o.action.as_str()))
                .bind(col(o, |o| o.price_credits))
                .bind(col(o, |o| o.status.as_str()))
                .bind(col(o, |o| o.error_code.as_deref()))
                .bind(col(o, |o| o.instance_id))
                .bind(col(o, |o| o.run_id))
                .bind(col(o, |o| o.transaction_id))
                .bind(col(o, |o| o.created_at))
                .bind(col(o, |o| o.completed_at))
                .bind(col(o, |o| o.duration_ms));
        }
        if filled[7] {
            q = q
                .bind(col(f, |o| o.id))
                .bind(col(f, |o| o.status.as_str()))
                .bind(col(f, |o| o.error_code.as_deref()))
                .bind(col(f, |o| o.transaction_id))
                .bind(col(f, |o| o.completed_at))
                .bind(col(f, |o| o.duration_ms));
        }
        if filled[8] {
            q = q
                .bind(col(i, |i| i.user_id))
                .bind(col(i, |i| i.key.as_str()))
                .bind(col(i, |i| i.status))
                .bind(col(i, |i| i.body.as_str()));
        }
        if filled[9] {
            q = q
                .bind(col(wl, |r| r.user_id))
                .bind(col(wl, |r| r.balance_credits))
                .bind(col(wl, |r| r.entry_count))
                .bind(col(wl, |r| r.held_credits))
                .bind(col(wl, |r| r.next_expiry))
                .bind(w.now);
        }
        if filled[10] {
            q = q
                .bind(col(b, |c| c.budget_id))
                .bind(col(b, |c| c.spent_total))
                .bind(col(b, |c| c.held_credits))
                .bind(col(b, |c| c.last_minute));
        }
        if filled[11] {
            q = q
                .bind(col(s, |s| s.budget_id))
                .bind(col(s, |s| s.minute))
                .bind(col(s, |s| s.amount))
                .bind(col(s, |s| s.cumulative));
        }
        q.execute(&mut *self.tx)
            .await
            .map_err(|e| StoreError::on_unique(e, "ledger entry"))?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        let PgBatch { tx, unfinished } = *self;
        tx.commit().await?;
        *unfinished = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parameter numbers `sql` uses, each once, in order.
    fn params(sql: &str) -> Vec<usize> {
        let mut seen: Vec<usize> = sql
            .split('$')
            .skip(1)
            .map(|piece| {
                let digits: String = piece.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().expect("a parameter number")
            })
            .collect();
        seen.sort_unstable();
        seen.dedup();
        seen
    }

    #[test]
    fn every_shape_numbers_its_parameters_from_one_without_gaps() {
        // What each part binds, in the order `write` binds them.
        let binds = [11, 4, 10, 3, 1, 7, 14, 6, 4, 6, 4, 4];
        for shape in 1..1usize << PARTS.len() {
            let expected: usize = (0..PARTS.len())
                .filter(|n| shape & (1 << n) != 0)
                .map(|n| binds[n])
                .sum();
            let sql = write_sql(shape);
            assert_eq!(params(sql), (1..=expected).collect::<Vec<_>>(), "{sql}");
            assert_eq!(sql.matches(" AS (").count(), shape.count_ones() as usize);
        }
    }

    #[test]
    fn the_full_shape_is_every_part_in_order() {
        let sql = write_sql((1 << PARTS.len()) - 1);
        let names: Vec<&str> = PARTS
            .iter()
            .map(|p| p.split(" AS (").next().expect("a name"))
            .collect();
        let mut at = 0;
        for name in names {
            at += sql[at..]
                .find(name)
                .expect("each part appears after the last");
        }
        assert!(sql.ends_with(" SELECT 1"));
    }
}
