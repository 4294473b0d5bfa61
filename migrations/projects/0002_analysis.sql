-- The analysis of a project (from Gemini or the local analyzer), its tasks,
-- the queue of analyses to run, and the progress milestones already announced.

CREATE TABLE projects.analyses (
	project_id      uuid PRIMARY KEY REFERENCES projects.projects (id) ON DELETE CASCADE,
	summary         text NOT NULL,
	project_type    text NOT NULL,
	complexity      text NOT NULL CHECK (complexity IN ('low', 'medium', 'high')),
	required_skills text[] NOT NULL,
	features        text[] NOT NULL,
	risks           text[] NOT NULL,
	source          text NOT NULL CHECK (source IN ('gemini', 'local')),
	model           text NOT NULL,
	fallback_reason text NOT NULL DEFAULT '',
	analyzed_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects.tasks (
	id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	project_id            uuid NOT NULL REFERENCES projects.projects (id) ON DELETE CASCADE,
	key                   text NOT NULL,
	position              integer NOT NULL,
	title                 text NOT NULL,
	description           text NOT NULL,
	required_skills       text[] NOT NULL,
	estimated_hours       integer NOT NULL CHECK (estimated_hours BETWEEN 1 AND 400),
	priority              text NOT NULL CHECK (priority IN ('high', 'medium', 'low')),
	level                 text NOT NULL CHECK (level IN ('junior', 'mid', 'senior')),
	depends_on            text[] NOT NULL,
	status                text NOT NULL DEFAULT 'pending' CHECK (status IN (
	                          'pending', 'offered', 'assigned', 'in_progress', 'review', 'done')),
	completion_percentage integer NOT NULL DEFAULT 0 CHECK (completion_percentage BETWEEN 0 AND 100),
	assigned_developer_id uuid,
	created_at            timestamptz NOT NULL DEFAULT now(),
	updated_at            timestamptz NOT NULL DEFAULT now(),
	UNIQUE (project_id, key)
);
CREATE INDEX tasks_project_idx ON projects.tasks (project_id, position);

-- Analyses to run: one row per project, leased by the analysis worker.
CREATE TABLE projects.analysis_jobs (
	project_id uuid PRIMARY KEY REFERENCES projects.projects (id) ON DELETE CASCADE,
	attempts   integer NOT NULL DEFAULT 0,
	run_after  timestamptz NOT NULL DEFAULT now(),
	last_error text,
	created_at timestamptz NOT NULL DEFAULT now()
);

-- MilestoneReached is announced exactly once per project and percentage.
CREATE TABLE projects.milestones_reached (
	project_id uuid NOT NULL REFERENCES projects.projects (id) ON DELETE CASCADE,
	percentage integer NOT NULL CHECK (percentage IN (25, 50, 75, 100)),
	reached_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (project_id, percentage)
);
