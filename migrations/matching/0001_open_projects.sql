-- Projects matching has heard of (from ProjectCreated on tm.projects.v1): the
-- demand side of matching. Developer profiles and scores come later.
CREATE TABLE matching.open_projects (
	project_id  uuid PRIMARY KEY,
	client_id   uuid NOT NULL,
	title       text NOT NULL,
	created_at  timestamptz NOT NULL,
	received_at timestamptz NOT NULL DEFAULT now()
);
