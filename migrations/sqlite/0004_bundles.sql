-- Bundles: named sets of products and workflows that their owners offer
-- together, mainly through the embed widget. Members are kept in order as
-- JSON arrays of ids.

CREATE TABLE bundles (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    visibility TEXT NOT NULL CHECK (visibility IN ('private', 'public')),
    product_ids TEXT NOT NULL DEFAULT '[]',
    workflow_ids TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX bundles_owner ON bundles (owner_id);
CREATE INDEX bundles_visibility ON bundles (visibility);
