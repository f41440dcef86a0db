-- secmat schema, version 1 (SQLite).
--
-- Names compare with SQLite's default BINARY collation: case-sensitive, byte order, which is the
-- order the API lists in. WITHOUT ROWID clusters rows by name, so a keyset page (`name > ?
-- ORDER BY name LIMIT n`) reads one contiguous range of the primary-key B-tree.

CREATE TABLE credentials (
    name                  TEXT    NOT NULL PRIMARY KEY,
    id                    TEXT    NOT NULL UNIQUE,
    version               INTEGER NOT NULL,
    description           TEXT,
    token_service_url     TEXT    NOT NULL,
    client_id             TEXT    NOT NULL,
    client_authentication TEXT    NOT NULL,
    scope                 TEXT,
    scope_content_type    TEXT    NOT NULL,
    resource              TEXT,
    audience              TEXT,
    grant_type            TEXT    NOT NULL,
    -- JSON array of {key, value, send_as_part_of}.
    custom_parameters     TEXT    NOT NULL DEFAULT '[]',
    -- secmat envelope (never a clear secret).
    sealed_secret         BLOB    NOT NULL,
    status                TEXT    NOT NULL,
    deployed_by           TEXT    NOT NULL,
    deployed_on           INTEGER NOT NULL
) WITHOUT ROWID;

-- Names only, in name order. It duplicates the primary key's order but not its width: OFFSET
-- pages skip through this narrow index (a few bytes per entry) instead of the full rows, and
-- count(*) reads it instead of the table.
CREATE INDEX credentials_by_name ON credentials (name);

CREATE TABLE users (
    name          TEXT    NOT NULL PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    -- JSON array of role names.
    roles         TEXT    NOT NULL DEFAULT '[]',
    updated_on    INTEGER NOT NULL
) WITHOUT ROWID;

-- Small counters. `users_generation` is bumped in the same transaction as every user write so
-- that every process sharing the database notices user changes. It starts at the creation time
-- in milliseconds so that a re-created database does not replay generations a cache has seen.
CREATE TABLE meta (
    key   TEXT    NOT NULL PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO meta (key, value)
VALUES ('users_generation', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
