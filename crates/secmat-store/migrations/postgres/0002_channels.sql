-- secmat schema, version 2 (PostgreSQL): HTTP receiver channels, and write generations for
-- credentials and channels.
--
-- Channel names use COLLATE "C" like credential names: byte order, case-sensitive, and lower()
-- folding ASCII letters only.

CREATE TABLE channels (
    name            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    address         TEXT   NOT NULL,
    -- A credential name, or `${header.NAME}` (no foreign key: the credential may come later,
    -- and a header-named one is chosen per request).
    credential_name TEXT   NOT NULL,
    timeout_ms      BIGINT NOT NULL,
    version         BIGINT NOT NULL,
    modified_by     TEXT   NOT NULL,
    modified_on     BIGINT NOT NULL
);

-- Bumped in the same transaction as every credential (resp. channel) write, like
-- `users_generation`, and started at the current time in milliseconds for the same reason.
INSERT INTO meta (key, value)
VALUES ('credentials_generation', (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT),
       ('channels_generation', (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT);
