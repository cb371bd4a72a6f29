//! A ledger batch's writes on PostgreSQL: one statement of data-modifying
//! CTEs, holding only the kinds of write the batch has.

use std::sync::{LazyLock, OnceLock};

use sqlx::PgConnection;

use super::col;
use crate::store::cols::{GRANT_COLS, HOLD_COLS, ORDER_COLS};
use crate::store::{BatchWrites, GrantClosed, StoreError, StoreResult};

/// The CTEs of a batch's write statement, in order, each with its
/// parameters counted from `$1` ([`write_sql`] numbers them in the
/// statement). Each is left out when the batch has nothing of its kind.
static PARTS: LazyLock<[String; 13]> = LazyLock::new(|| {
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
            "claimed_requests AS (
            INSERT INTO idempotency_keys (user_id, key, request_hash, status, response_status,
                response_body, created_at)
            SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[],
                $6::text[], $7::int8[])
            ON CONFLICT (user_id, key) DO UPDATE SET request_hash = excluded.request_hash,
                status = excluded.status, response_status = excluded.response_status,
                response_body = excluded.response_body, created_at = excluded.created_at
                WHERE idempotency_keys.status = 'in_progress'
        )",
        ),
        String::from(
            "finished_requests AS (
            UPDATE idempotency_keys SET status = 'done', response_status = v.status,
                response_body = v.body
            FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::int8[])
                AS v(user_id, key, status, body, claimed_at)
            WHERE idempotency_keys.user_id = v.user_id AND idempotency_keys.key = v.key
                AND idempotency_keys.status = 'in_progress'
                AND idempotency_keys.created_at = v.claimed_at
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
/// built once per shape. A purchase batch fills six of the thirteen, and an
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

/// Runs every write of `w` as one statement.
pub(super) async fn write(conn: &mut PgConnection, w: &BatchWrites) -> StoreResult<()> {
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
    let (k, i) = (&w.claims, &w.idempotency);
    let (wl, b, s) = (&w.wallets, &w.budgets, &w.buckets);
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
        !k.is_empty(),
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
            .bind(col(k, |k| k.user_id))
            .bind(col(k, |k| k.key.as_str()))
            .bind(col(k, |k| k.request_hash.as_str()))
            .bind(col(k, |k| k.status.as_str()))
            .bind(col(k, |k| k.response_status))
            .bind(col(k, |k| k.response_body.as_deref()))
            .bind(col(k, |k| k.created_at));
    }
    if filled[9] {
        q = q
            .bind(col(i, |i| i.user_id))
            .bind(col(i, |i| i.key.as_str()))
            .bind(col(i, |i| i.status))
            .bind(col(i, |i| i.body.as_str()))
            .bind(col(i, |i| i.claimed_at));
    }
    if filled[10] {
        q = q
            .bind(col(wl, |r| r.user_id))
            .bind(col(wl, |r| r.balance_credits))
            .bind(col(wl, |r| r.entry_count))
            .bind(col(wl, |r| r.held_credits))
            .bind(col(wl, |r| r.next_expiry))
            .bind(w.now);
    }
    if filled[11] {
        q = q
            .bind(col(b, |c| c.budget_id))
            .bind(col(b, |c| c.spent_total))
            .bind(col(b, |c| c.held_credits))
            .bind(col(b, |c| c.last_minute));
    }
    if filled[12] {
        q = q
            .bind(col(s, |s| s.budget_id))
            .bind(col(s, |s| s.minute))
            .bind(col(s, |s| s.amount))
            .bind(col(s, |s| s.cumulative));
    }
    q.execute(conn)
        .await
        .map_err(|e| StoreError::on_unique(e, "ledger entry"))?;
    Ok(())
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
        let binds = [11, 4, 10, 3, 1, 7, 14, 6, 7, 5, 6, 4, 4];
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
