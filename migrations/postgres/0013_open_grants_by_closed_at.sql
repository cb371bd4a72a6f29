-- A purchase lowers a grant's `remaining_credits`, and the two partial
-- indexes over open grants named that column in their conditions, so no
-- purchase could update a grant in place (a HOT update): each wrote a new
-- entry in all four of the table's indexes. A grant is now closed
-- (`closed_at`, `closed_reason` 'spent') when its last credit is spent, as
-- it already was when it expired or was revoked, so "open" is
-- `closed_at IS NULL` and a purchase that leaves credits on the grant
-- changes no indexed column. Room is left on each page for those updates.
UPDATE grants
SET closed_at = (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT, closed_reason = 'spent'
WHERE remaining_credits = 0 AND closed_at IS NULL;

DROP INDEX grants_due;
CREATE INDEX grants_due ON grants (expires_at) WHERE closed_at IS NULL;
DROP INDEX grants_open;
CREATE INDEX grants_open ON grants (user_id) WHERE closed_at IS NULL;
ALTER TABLE grants SET (fillfactor = 80);
