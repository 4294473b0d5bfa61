-- The live task offers of each project, the second half of who may see it
-- (templated: {{schema}} is the owning daemon's schema; see common/tm/members.h).
-- One live offer per task: a new offer replaces it, a decline, an acceptance or
-- a withdrawal ends it.
CREATE TABLE {{schema}}.project_offers (
	project_id   uuid NOT NULL,
	task_id      uuid NOT NULL,
	developer_id uuid NOT NULL,
	offered_at   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (project_id, task_id)
);
CREATE INDEX project_offers_developer_idx ON {{schema}}.project_offers (developer_id);
