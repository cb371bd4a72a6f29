-- Spend is kept in counters and buckets now; nothing reads purchases by
-- budget and date, and every purchase paid for this index.
DROP INDEX IF EXISTS credit_transactions_budget;
