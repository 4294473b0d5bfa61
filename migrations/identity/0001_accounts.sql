-- Accounts, refresh tokens, revoked access tokens, login throttling and
-- GitHub OAuth state: the identity schema, owned by tm-gateway.

CREATE TABLE identity.users (
	id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	email           text NOT NULL UNIQUE CHECK (email = lower(btrim(email)) AND length(email) BETWEEN 3 AND 254),
	password_hash   text,              -- Argon2id encoded form; NULL for GitHub-only accounts
	role            text NOT NULL CHECK (role IN ('client', 'developer', 'admin')),
	display_name    text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
	github_id       bigint UNIQUE,
	github_username text NOT NULL DEFAULT '',
	is_verified     boolean NOT NULL DEFAULT false,
	created_at      timestamptz NOT NULL DEFAULT now(),
	updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Refresh tokens, stored only as SHA-256 hashes. A login starts a family; each
-- refresh rotates within it; presenting a used token revokes the family.
CREATE TABLE identity.refresh_tokens (
	id          bigserial PRIMARY KEY,
	family_id   uuid NOT NULL,
	user_id     uuid NOT NULL REFERENCES identity.users (id) ON DELETE CASCADE,
	token_hash  text NOT NULL UNIQUE,
	access_jti  text NOT NULL,          -- the access token issued with it
	created_at  timestamptz NOT NULL DEFAULT now(),
	expires_at  timestamptz NOT NULL,
	used_at     timestamptz,            -- rotated: presenting it again is reuse
	revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON identity.refresh_tokens (family_id);

-- Access tokens revoked before they expire (logout, family revocation). The
-- gateway keeps them in memory too; rows past expires_at are pruned.
CREATE TABLE identity.revoked_tokens (
	jti        text PRIMARY KEY,
	expires_at timestamptz NOT NULL
);

-- Failed logins per account ("email:<email>") and per client ("ip:<address>").
CREATE TABLE identity.login_failures (
	key               text PRIMARY KEY,
	failures          integer NOT NULL,
	window_started_at timestamptz NOT NULL,
	blocked_until     timestamptz
);

-- GitHub OAuth states: single use, short-lived, bound to the client that asked.
CREATE TABLE identity.oauth_states (
	state_hash  text PRIMARY KEY,
	binding     text NOT NULL,          -- SHA-256 of the client's address and User-Agent
	created_at  timestamptz NOT NULL DEFAULT now(),
	expires_at  timestamptz NOT NULL,
	consumed_at timestamptz
);
