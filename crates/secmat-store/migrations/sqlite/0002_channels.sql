-- secmat schema, version 2 (SQLite): HTTP receiver channels, and write generations for
-- credentials and channels.
--
-- Channel names compare like credential names: BINARY collation (case-sensitive, byte order),
-- rows clustered by name (WITHOUT ROWID), plus a names-only index for OFFSET pages and count(*).

CREATE TABLE channels (
    name            TEXT    NOT NULL PRIMARY KEY,
    address         TEXT    NOT NULL,
    -- A credential name, or `${header.NAME}` (no foreign key: the credential may come later,
    -- and a header-named one is chosen per request).
    credential_name TEXT    NOT NULL,
    timeout_ms      INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    modified_by     TEXT    NOT NULL,
    modified_on     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX channels_by_name ON channels (name);

-- Bumped in the same transaction as every credential (resp. channel) write, like
-- `users_generation`, and started at the current time in milliseconds for the same reason.
INSERT INTO meta (key, value)
VALUES ('credentials_generation', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
       ('channels_generation', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
