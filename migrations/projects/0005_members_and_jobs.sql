-- tm-projects keeps the membership facts (project_members, project_offers) in the
-- same transactions as the changes they follow; this fills them for the projects
-- that existed before. And the analysis queue is taken by due time through an index.
INSERT INTO projects.project_members (project_id, user_id, role)
	SELECT id, client_id, 'owner' FROM projects.projects
	ON CONFLICT DO NOTHING;
INSERT INTO projects.project_members (project_id, user_id, role)
	SELECT project_id, senior_developer_id, 'developer' FROM projects.proposals
	WHERE status = 'approved'
	ON CONFLICT DO NOTHING;
INSERT INTO projects.project_members (project_id, user_id, role)
	SELECT a.project_id, a.developer_id, 'developer'
	FROM projects.proposal_assignments a JOIN projects.proposals p USING (project_id)
	WHERE p.status = 'approved'
	ON CONFLICT DO NOTHING;
INSERT INTO projects.project_members (project_id, user_id, role)
	SELECT DISTINCT project_id, assigned_developer_id, 'developer' FROM projects.tasks
	WHERE assigned_developer_id IS NOT NULL AND status NOT IN ('pending', 'offered')
	ON CONFLICT DO NOTHING;
INSERT INTO projects.project_offers (project_id, task_id, developer_id)
	SELECT project_id, id, assigned_developer_id FROM projects.tasks
	WHERE status = 'offered' AND assigned_developer_id IS NOT NULL
	ON CONFLICT DO NOTHING;

CREATE INDEX analysis_jobs_due_idx ON projects.analysis_jobs (run_after, created_at);
