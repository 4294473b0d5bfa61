-- The ranked developers a task may be offered to: the proposed developer
-- (rank 0) and matching's alternates, then fresh candidates (TaskCandidates).
-- A decline is kept (declined_at) so the task never goes back to that developer.
CREATE TABLE projects.task_candidates (
	task_id      uuid NOT NULL REFERENCES projects.tasks (id) ON DELETE CASCADE,
	developer_id uuid NOT NULL,
	rank         integer NOT NULL,
	match_score  double precision NOT NULL CHECK (match_score BETWEEN 0 AND 1),
	declined_at  timestamptz,
	PRIMARY KEY (task_id, developer_id)
);
CREATE INDEX task_candidates_next_idx ON projects.task_candidates (task_id, rank)
	WHERE declined_at IS NULL;
