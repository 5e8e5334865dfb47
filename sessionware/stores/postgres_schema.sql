-- sessionware's PostgreSQL schema, for the default prefix "sessionware_".
--
-- PostgresStore creates these itself on first use (create_tables=True, the
-- default) or on PostgresStore.create_schema(); run this file instead when the
-- application's database user may not create tables (create_tables=False).
-- For another prefix, replace "sessionware_" throughout. Every statement is
-- idempotent (IF NOT EXISTS). Times are Unix seconds (double precision).
--
-- sessionware_sessions: one row per session (its metadata). status is
--   'active', 'expired' or 'revoked'; an ended session stays as a tombstone
--   (no data) until due. due: when the sweep next needs the row (an active
--   row's expires_at, a tombstone's ended_at + retention).
-- sessionware_data: one row per session key, so that concurrent requests
--   changing different keys never overwrite each other; value is what the
--   codec wrote (msgpack, or AES-GCM sealed with a Keyring).
-- sessionware_audit: the operators' audit log, newest by seq, bounded.
-- sessionware_marks: why a live session left in the last 15 seconds (see the end).
--
-- Migrations: create_schema() and this file only create what is missing; they
-- never alter or drop an existing table. A release that changes this layout
-- says so in its notes, with the ALTER statements to run.

CREATE TABLE IF NOT EXISTS sessionware_sessions (
    id TEXT PRIMARY KEY,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    last_activity_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION,
    deadline DOUBLE PRECISION,
    sliding INTEGER NOT NULL,
    app TEXT NOT NULL,
    user_name TEXT,
    email TEXT,
    size_bytes BIGINT NOT NULL,
    max_size_bytes BIGINT NOT NULL,
    attribute_count INTEGER NOT NULL,
    status TEXT NOT NULL,
    ended_at DOUBLE PRECISION,
    revoked_by TEXT,
    device TEXT,
    due DOUBLE PRECISION
);

CREATE INDEX IF NOT EXISTS sessionware_sessions_due ON sessionware_sessions (due);

CREATE INDEX IF NOT EXISTS sessionware_sessions_activity ON sessionware_sessions (last_activity_at, id);

CREATE INDEX IF NOT EXISTS sessionware_sessions_user ON sessionware_sessions (user_name);

CREATE TABLE IF NOT EXISTS sessionware_data (
    session_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (session_id, name)
);

CREATE TABLE IF NOT EXISTS sessionware_audit (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    session_id TEXT,
    reason TEXT
);

-- Small named documents the store keeps for sessionware itself: the session types
-- registry (kind 'session-type', one row per tag; see sessionware/session_types).
CREATE TABLE IF NOT EXISTS sessionware_registry (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    document BYTEA NOT NULL,
    PRIMARY KEY (kind, name)
);

-- Why a live session left moments ago (a login gave it a new id: 'moved'; a logout:
-- 'logged out'), kept until `until` (15 seconds): a request sent beside that login
-- with the old cookie then answers 409 instead of signing the user out. Added after
-- the tables above: a database made from an earlier version of this file runs on
-- without marks (one warning) until this part is run.
CREATE TABLE IF NOT EXISTS sessionware_marks (
    id TEXT PRIMARY KEY,
    why TEXT NOT NULL,
    until DOUBLE PRECISION NOT NULL
);

CREATE INDEX IF NOT EXISTS sessionware_marks_until ON sessionware_marks (until);
