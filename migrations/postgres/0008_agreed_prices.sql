-- The prices (by action, a JSON object) a budget's owner agreed to when they
-- enabled a product; a dearer price needs their approval. NULL on rows made
-- before this: the prices of the first purchase are recorded then.
ALTER TABLE budget_products ADD COLUMN agreed_prices TEXT;
