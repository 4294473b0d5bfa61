-- Team proposals from matching (TeamProposed) and their assignments.
CREATE TABLE projects.proposals (
	project_id          uuid PRIMARY KEY REFERENCES projects.projects (id) ON DELETE CASCADE,
	proposal_id         uuid NOT NULL,
	senior_developer_id uuid NOT NULL,
	total_cost_cents    bigint NOT NULL CHECK (total_cost_cents >= 0),
	currency            char(3) NOT NULL,
	timeline_days       integer NOT NULL CHECK (timeline_days >= 0),
	roles               text[] NOT NULL,
	status              text NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'approved')),
	received_at         timestamptz NOT NULL DEFAULT now(),
	approved_at         timestamptz
);

CREATE TABLE projects.proposal_assignments (
	project_id   uuid NOT NULL REFERENCES projects.proposals (project_id) ON DELETE CASCADE,
	task_id      uuid NOT NULL REFERENCES projects.tasks (id) ON DELETE CASCADE,
	developer_id uuid NOT NULL,
	match_score  double precision NOT NULL CHECK (match_score BETWEEN 0 AND 1),
	PRIMARY KEY (project_id, task_id)
);
CREATE INDEX tasks_developer_idx ON projects.tasks (assigned_developer_id);
