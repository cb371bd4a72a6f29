-- Workflow versions: every change of a workflow's engine or definition makes
-- a new version, kept here, so a budget that enabled another account's
-- workflow keeps running the version its owner enabled until the owner
-- accepts a newer one.

ALTER TABLE workflows ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

CREATE TABLE workflow_versions (
    workflow_id TEXT NOT NULL REFERENCES workflows (id),
    version BIGINT NOT NULL,
    engine TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, version)
);

-- Each existing workflow's current definition becomes its version 1.
INSERT INTO workflow_versions (workflow_id, version, engine, definition, created_at)
SELECT id, 1, engine, definition, updated_at FROM workflows;

-- Existing enablements are pinned to that version 1.
ALTER TABLE budget_workflows ADD COLUMN pinned_version BIGINT NOT NULL DEFAULT 1;

-- The version a run executes; NULL for runs queued before versions existed,
-- which run the workflow's current definition.
ALTER TABLE runs ADD COLUMN workflow_version BIGINT;

-- A denied workflow_update request is not asked again: the trigger looks
-- requests up by budget, kind and subject whatever their status.
CREATE INDEX approval_requests_subject ON approval_requests (budget_id, kind, subject_id);
