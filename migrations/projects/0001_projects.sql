-- Projects as clients post them. Analysis, tasks and proposals follow in later
-- migrations (see the project-analysis issue).
CREATE TABLE projects.projects (
	id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	client_id              uuid NOT NULL,
	title                  text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
	description            text NOT NULL CHECK (length(description) BETWEEN 1 AND 20000),
	status                 text NOT NULL DEFAULT 'analyzing' CHECK (status IN (
	                           'analyzing', 'analyzed', 'proposed', 'approved', 'in_progress',
	                           'completed', 'analysis_failed', 'cancelled')),
	status_reason          text NOT NULL DEFAULT '',
	budget_cap_cents       bigint CHECK (budget_cap_cents > 0),
	currency               char(3) NOT NULL DEFAULT 'USD',
	deadline               timestamptz,
	budget_estimate_cents  bigint NOT NULL DEFAULT 0,
	timeline_estimate_days integer NOT NULL DEFAULT 0,
	senior_developer_id    uuid,
	created_at             timestamptz NOT NULL DEFAULT now(),
	updated_at             timestamptz NOT NULL DEFAULT now()
);
-- a client's projects, newest first (keyset pagination)
CREATE INDEX projects_client_idx ON projects.projects (client_id, created_at DESC, id DESC);
CREATE INDEX projects_created_idx ON projects.projects (created_at DESC, id DESC);
