-- Reliability tables every schema has (templated: {{schema}} is the owning
-- daemon's schema). See docs/architecture.md, "Reliability patterns".

-- Transactional outbox: events written in the same transaction as the change
-- they announce; the relay publishes them and sets sent_at after delivery.
CREATE TABLE {{schema}}.outbox (
	id          bigserial PRIMARY KEY,
	event_id    uuid NOT NULL,
	topic       text NOT NULL,
	subject     text NOT NULL,             -- aggregate id, the Kafka key
	type        text NOT NULL,             -- e.g. taskmesh.v1.ProjectCreated
	payload     bytea NOT NULL,            -- serialized taskmesh.v1.Event
	created_at  timestamptz NOT NULL DEFAULT now(),
	sent_at     timestamptz,
	dead_at     timestamptz,               -- set when the row can never be published
	attempts    integer NOT NULL DEFAULT 0,
	last_error  text
);
CREATE INDEX outbox_pending_idx ON {{schema}}.outbox (id) WHERE sent_at IS NULL AND dead_at IS NULL;

-- Idempotent consumer: one row per event applied (or given up on).
CREATE TABLE {{schema}}.inbox (
	event_id    uuid PRIMARY KEY,
	type        text NOT NULL,
	source      text NOT NULL,
	status      text NOT NULL DEFAULT 'applied' CHECK (status IN ('applied', 'dead')),
	error       text,
	received_at timestamptz NOT NULL DEFAULT now()
);

-- Idempotency keys of POSTs that create or pay: the first reply is kept and
-- replayed for the same key and body.
CREATE TABLE {{schema}}.idempotency_keys (
	caller_id    text NOT NULL,            -- user id, or '' for anonymous calls
	method       text NOT NULL,            -- RPC method
	key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
	request_hash text NOT NULL,            -- SHA-256 of method and request body
	state        text NOT NULL CHECK (state IN ('in_progress', 'done')),
	reply        bytea,                    -- serialized taskmesh.v1.RpcReply when done
	locked_until timestamptz,              -- an in_progress claim expires here
	created_at   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (caller_id, method, key)
);
CREATE INDEX idempotency_keys_created_idx ON {{schema}}.idempotency_keys (created_at);
