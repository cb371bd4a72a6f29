-- Nothing on the request path lists a user's orders, and every purchase
-- paid for this index: one more page of a B-tree written per wallet per
-- commit.
DROP INDEX IF EXISTS orders_user;
