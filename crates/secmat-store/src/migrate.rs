//! A tiny schema migration runner shared by both backends.
//!
//! Migrations are plain SQL files embedded in the binary (`migrations/sqlite`,
//! `migrations/postgres`), numbered from 1. Applied versions are recorded in
//! `secmat_migrations(version, name, applied_on)`. At start every pending migration is applied
//! in version order, each in its own transaction together with its bookkeeping row, so that a
//! crash mid-way leaves the schema at a known version and the next start resumes there.
//!
//! Several processes may start at once against one database (secmat nodes sharing PostgreSQL, or
//! two CLI invocations on one SQLite file). Each migration transaction therefore first takes an
//! exclusive lock (`BEGIN IMMEDIATE` on SQLite, a transaction-scoped advisory lock on
//! PostgreSQL), then re-reads whether its version is still pending: the loser of the race finds
//! the work done and skips it.

use sqlx::{PgPool, Row, SqlitePool};

use crate::StoreError;

/// One schema change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Position in the sequence, starting at 1; applied in increasing order.
    pub version: i64,
    /// A short description, recorded beside the version.
    pub name: &'static str,
    /// The SQL to run; may hold several statements separated by `;`.
    pub sql: &'static str,
}

/// The SQLite migrations, in order.
pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "channels",
        sql: include_str!("../migrations/sqlite/0002_channels.sql"),
    },
];

/// The PostgreSQL migrations, in order.
pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "channels",
        sql: include_str!("../migrations/postgres/0002_channels.sql"),
    },
];

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS secmat_migrations (
    version BIGINT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    applied_on BIGINT NOT NULL
)";

/// Current time in milliseconds, computed by SQLite (time is the database's here so that the
/// store needs no clock of its own).
const SQLITE_NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";
/// Current time in milliseconds, computed by PostgreSQL.
const PG_NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT";

/// Serialises migration runs on one PostgreSQL schema: a constant class id (ASCII "smig") and a
/// hash of the schema, so that runners on different schemas of one database do not wait for
/// each other.
const PG_LOCK: &str =
    "SELECT pg_advisory_xact_lock(1936550247, hashtext(coalesce(current_schema(), '')))";

/// Warns when the database has versions this build does not know (a newer secmat migrated it).
fn warn_if_newer(latest_applied: Option<i64>, known: &[Migration]) {
    let latest_known = known.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(v) = latest_applied.filter(|v| *v > latest_known) {
        tracing::warn!(
            database_version = v,
            known_version = latest_known,
            "database schema is newer than this secmat; running anyway"
        );
    }
}

/// Applies pending SQLite migrations.
pub(crate) async fn run_sqlite(
    pool: &SqlitePool,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    // BEGIN IMMEDIATE takes the write lock up front (waiting up to busy_timeout for it). A
    // deferred transaction that reads first and writes later could instead fail at once with
    // SQLITE_BUSY when another process wrote in between.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::raw_sql(CREATE_TABLE).execute(&mut *tx).await?;
    let latest: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM secmat_migrations")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    warn_if_newer(latest, migrations);

    for m in migrations.iter().filter(|m| Some(m.version) > latest) {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query("SELECT 1 FROM secmat_migrations WHERE version = ?")
            .bind(m.version)
            .fetch_optional(&mut *tx)
            .await?;
        if done.is_some() {
            continue; // another process applied it while we waited; dropping `tx` rolls back
        }
        sqlx::raw_sql(m.sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| failed(m, &e))?;
        sqlx::query(&format!(
            "INSERT INTO secmat_migrations (version, name, applied_on) VALUES (?, ?, {SQLITE_NOW_MS})"
        ))
        .bind(m.version)
        .bind(m.name)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied SQLite migration"
        );
    }
    Ok(())
}

/// Applies pending PostgreSQL migrations.
pub(crate) async fn run_postgres(
    pool: &PgPool,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    // Even CREATE TABLE IF NOT EXISTS races between sessions (both see no table, one fails on
    // the catalog's unique index), so it runs under the lock too.
    let mut tx = pool.begin().await?;
    sqlx::query(PG_LOCK).execute(&mut *tx).await?;
    sqlx::raw_sql(CREATE_TABLE).execute(&mut *tx).await?;
    let row = sqlx::query("SELECT max(version) AS v FROM secmat_migrations")
        .fetch_one(&mut *tx)
        .await?;
    let latest: Option<i64> = row.try_get("v")?;
    tx.commit().await?;
    warn_if_newer(latest, migrations);

    for m in migrations.iter().filter(|m| Some(m.version) > latest) {
        let mut tx = pool.begin().await?;
        sqlx::query(PG_LOCK).execute(&mut *tx).await?;
        let done = sqlx::query("SELECT 1 FROM secmat_migrations WHERE version = $1")
            .bind(m.version)
            .fetch_optional(&mut *tx)
            .await?;
        if done.is_some() {
            continue; // another node applied it while we waited; dropping `tx` rolls back
        }
        sqlx::raw_sql(m.sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| failed(m, &e))?;
        sqlx::query(&format!(
            "INSERT INTO secmat_migrations (version, name, applied_on) VALUES ($1, $2, {PG_NOW_MS})"
        ))
        .bind(m.version)
        .bind(m.name)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied PostgreSQL migration"
        );
    }
    Ok(())
}

/// Names the migration that failed, so that the operator knows where the schema stands.
fn failed(m: &Migration, e: &sqlx::Error) -> StoreError {
    StoreError::Database(format!(
        "schema migration {} ({}) failed: {e}",
        m.version, m.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_migrations_are_numbered_from_one_without_gaps() {
        for set in [SQLITE, POSTGRES] {
            for (i, m) in set.iter().enumerate() {
                assert_eq!(m.version, i as i64 + 1, "{}", m.name);
                assert!(!m.sql.trim().is_empty());
            }
        }
        assert_eq!(
            SQLITE.len(),
            POSTGRES.len(),
            "both backends must be at the same version"
        );
    }
}
