-- secmat schema, version 1 (PostgreSQL).
--
-- Names use COLLATE "C": byte order and case-sensitive, the same order SQLite's BINARY collation
-- gives, whatever the database's default locale. It also makes lower() fold ASCII letters only,
-- which is what `name_contains` promises.

CREATE TABLE credentials (
    name                  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    id                    TEXT   NOT NULL UNIQUE,
    version               BIGINT NOT NULL,
    description           TEXT,
    token_service_url     TEXT   NOT NULL,
    client_id             TEXT   NOT NULL,
    client_authentication TEXT   NOT NULL,
    scope                 TEXT,
    scope_content_type    TEXT   NOT NULL,
    resource              TEXT,
    audience              TEXT,
    grant_type            TEXT   NOT NULL,
    -- JSON array of {key, value, send_as_part_of}; TEXT (not JSONB) so both backends store the
    -- same bytes and the store alone decides the format.
    custom_parameters     TEXT   NOT NULL DEFAULT '[]',
    -- secmat envelope (never a clear secret).
    sealed_secret         BYTEA  NOT NULL,
    status                TEXT   NOT NULL,
    deployed_by           TEXT   NOT NULL,
    deployed_on           BIGINT NOT NULL
);

CREATE TABLE users (
    name          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    password_hash TEXT   NOT NULL,
    -- JSON array of role names.
    roles         TEXT   NOT NULL DEFAULT '[]',
    updated_on    BIGINT NOT NULL
);

-- Small counters. `users_generation` is bumped in the same transaction as every user write so
-- that every node sharing the database notices user changes. It starts at the creation time in
-- milliseconds so that a re-created database does not replay generations a cache has seen.
CREATE TABLE meta (
    key   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    value BIGINT NOT NULL
);

INSERT INTO meta (key, value)
VALUES ('users_generation', (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT);
