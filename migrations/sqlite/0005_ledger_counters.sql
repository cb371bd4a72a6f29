-- Counters kept as rows change, so the purchase path never sums history:
-- held credits and the soonest expiry per wallet, spend per budget (a running
-- total plus one bucket per budget per minute for the rolling caps), an
-- index over open grants only, and the log nodes read to drop cached rows.

ALTER TABLE wallets ADD COLUMN held_credits INTEGER NOT NULL DEFAULT 0;
-- The soonest expiry among the wallet's grants with credits left.
ALTER TABLE wallets ADD COLUMN next_expiry INTEGER;
UPDATE wallets SET
    held_credits = COALESCE((SELECT SUM(h.amount_credits) FROM holds h WHERE h.user_id = wallets.user_id), 0),
    next_expiry = (SELECT MIN(g.expires_at) FROM grants g WHERE g.user_id = wallets.user_id AND g.remaining_credits > 0);

CREATE TABLE budget_counters (
    budget_id TEXT PRIMARY KEY,
    spent_total INTEGER NOT NULL DEFAULT 0,
    held_credits INTEGER NOT NULL DEFAULT 0,
    -- The newest bucket's minute: buckets only move forward, whatever the clocks.
    last_minute INTEGER NOT NULL DEFAULT 0
);
INSERT INTO budget_counters (budget_id, spent_total, held_credits, last_minute)
SELECT b.id,
       COALESCE((SELECT SUM(-t.amount_credits) FROM credit_transactions t WHERE t.budget_id = b.id AND t.transaction_type = 'purchase'), 0),
       COALESCE((SELECT SUM(h.amount_credits) FROM holds h WHERE h.budget_id = b.id), 0),
       COALESCE((SELECT MAX(t.date_created) / 60000 FROM credit_transactions t WHERE t.budget_id = b.id AND t.transaction_type = 'purchase'), 0)
FROM budgets b;

-- `cumulative` is the budget's whole spend up to the end of `minute`, so the
-- spend since any minute is one indexed read away.
CREATE TABLE spend_buckets (
    budget_id TEXT NOT NULL,
    minute INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    cumulative INTEGER NOT NULL,
    PRIMARY KEY (budget_id, minute)
);
INSERT INTO spend_buckets (budget_id, minute, amount, cumulative)
SELECT budget_id, minute, amount, SUM(amount) OVER (PARTITION BY budget_id ORDER BY minute)
FROM (
    SELECT budget_id, date_created / 60000 AS minute, SUM(-amount_credits) AS amount
    FROM credit_transactions
    WHERE transaction_type = 'purchase' AND budget_id IS NOT NULL
    GROUP BY budget_id, date_created / 60000
) s;

CREATE INDEX grants_open ON grants (user_id) WHERE remaining_credits > 0;

CREATE TABLE cache_invalidations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- The instance a key (or a signed-in user) uses when it names none.
ALTER TABLE instances ADD COLUMN default_for TEXT;
CREATE UNIQUE INDEX instances_default_for ON instances (default_for) WHERE default_for IS NOT NULL;
