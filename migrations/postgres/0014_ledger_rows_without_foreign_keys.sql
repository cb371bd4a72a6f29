-- The rows every purchase appends (ledger entries, their allocations,
-- orders, holds) are written by the ledger engine alone, from the wallet
-- and grants it has just locked and read in the same transaction, and none
-- is ever deleted, nor is anything they name: their foreign keys could
-- never refuse a row. But each key of each row written ran a trigger with
-- a lookup and a row lock on the row it names, about a sixth of the
-- database's time in a purchase batch; without them, alternating runs of
-- the 200-wallet purchase went from 0.092 and 0.099 x `/health` to 0.108
-- and 0.112. SQLite keeps these keys, and the ledger tests check the same
-- references over every row on both backends.
ALTER TABLE credit_transactions DROP CONSTRAINT IF EXISTS credit_transactions_user_id_fkey;
ALTER TABLE credit_transactions DROP CONSTRAINT IF EXISTS credit_transactions_grant_id_fkey;
ALTER TABLE ledger_allocations DROP CONSTRAINT IF EXISTS ledger_allocations_transaction_id_fkey;
ALTER TABLE ledger_allocations DROP CONSTRAINT IF EXISTS ledger_allocations_grant_id_fkey;
ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_user_id_fkey;
ALTER TABLE holds DROP CONSTRAINT IF EXISTS holds_user_id_fkey;
