-- Each service's own projection of who may see a project (templated:
-- {{schema}} is the owning daemon's schema). Filled from events: the client
-- of ProjectCreated is the owner; approved team members join later. Services
-- authorize project-scoped reads against it without asking tm-projects.
CREATE TABLE {{schema}}.project_members (
	project_id uuid NOT NULL,
	user_id    uuid NOT NULL,
	role       text NOT NULL CHECK (role IN ('owner', 'developer')),
	added_at   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user_idx ON {{schema}}.project_members (user_id);
