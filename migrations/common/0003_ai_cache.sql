-- Results of the AI layer (analyses, embeddings) by the SHA-256 of
-- (provider, model, prompt), so a repeated request costs nothing (templated:
-- {{schema}} is the owning daemon's schema).
CREATE TABLE {{schema}}.ai_cache (
	key        text PRIMARY KEY,           -- hex SHA-256 of provider, model and prompt
	provider   text NOT NULL,              -- gemini | local
	model      text NOT NULL,
	result     text NOT NULL,              -- JSON
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_cache_created_idx ON {{schema}}.ai_cache (created_at);
