//! The embedded default: one SQLite file in the data directory.
//!
//! Settings, and why:
//! - WAL journal: readers never block the writer and vice versa, and a commit is one append;
//! - `synchronous=FULL`: every commit fsyncs the WAL, so an acknowledged write survives `kill -9`
//!   and power loss (`NORMAL` in WAL mode may lose the last commits on power loss);
//! - `busy_timeout` 5 s: a second process (the CLI next to a running server) waits for the write
//!   lock instead of failing at once;
//! - the file is created with mode 0600: it holds sealed secrets and password hashes.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqlitePool};

use crate::codec::{self, CHANNEL_COLUMNS, CREDENTIAL_COLUMNS, Generation};
use crate::{
    ChannelRecord, CredentialRecord, ListQuery, Store, StoreError, StoreFuture, UserRecord, migrate,
};

/// A statement with its arguments bound.
type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

/// How long a connection waits for another one's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `e` is SQLite's `SQLITE_BUSY` (any of its extended codes).
fn is_busy(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| c & 0xff == 5)
}
/// Connections in the pool: SQLite has one writer at a time; a few readers run beside it.
const POOL_SIZE: u32 = 4;
/// Current time in milliseconds, computed by SQLite (the store keeps no clock of its own).
const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

/// A [`Store`] in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it and its parent directory if missing) the database at `path` and applies
    /// pending migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let shown = path.display();
        // Blocking file-system calls, once at start-up: not worth a blocking-pool round trip.
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Database(format!("cannot create directory {}: {e}", parent.display()))
            })?;
        }
        create_private(path)
            .map_err(|e| StoreError::Database(format!("cannot create {shown}: {e}")))?;

        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|e| StoreError::Database(e.to_string()))?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        // Turning a new database to WAL needs it to itself, and SQLite answers "database is
        // locked" at once rather than waiting when another process is opening it at the same
        // moment (two first starts): try again for as long as a write would wait.
        let deadline = tokio::time::Instant::now() + BUSY_TIMEOUT;
        let pool = loop {
            let opened = SqlitePoolOptions::new()
                .max_connections(POOL_SIZE)
                .connect_with(options.clone())
                .await;
            match opened {
                Ok(pool) => break pool,
                Err(e) if is_busy(&e) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => {
                    return Err(StoreError::Database(format!("cannot open {shown}: {e}")));
                }
            }
        };
        migrate::run_sqlite(&pool, migrate::SQLITE).await?;
        Ok(Self { pool })
    }

    /// The connection pool, for tools that need raw SQL next to the store (benchmarks, checks).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes every connection, checkpointing the WAL into the main file (graceful shutdown;
    /// not needed for durability).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn create(&self, r: &CredentialRecord) -> Result<(), StoreError> {
        let params = codec::custom_parameters_json(&r.spec.custom_parameters)?;
        // The primary key and the unique id decide conflicts, so two concurrent creates of one
        // name cannot both succeed.
        let sql = format!(
            "INSERT INTO credentials ({CREDENTIAL_COLUMNS}) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        let insert = sqlx::query(&sql)
            .bind(&r.spec.name)
            .bind(&r.id)
            .bind(r.version)
            .bind(&r.spec.description)
            .bind(&r.spec.token_service_url)
            .bind(&r.spec.client_id)
            .bind(r.spec.client_authentication.as_str())
            .bind(&r.spec.scope)
            .bind(r.spec.scope_content_type.as_str())
            .bind(&r.spec.resource)
            .bind(&r.spec.audience)
            .bind(r.spec.grant_type.as_str())
            .bind(params)
            .bind(&r.sealed_secret.0)
            .bind(&r.status)
            .bind(&r.deployed_by)
            .bind(r.deployed_on);
        self.write(insert, Generation::Credentials)
            .await
            .map_err(|e| conflict(e, &r.spec.name))?;
        Ok(())
    }

    async fn update(&self, r: &CredentialRecord) -> Result<(), StoreError> {
        let params = codec::custom_parameters_json(&r.spec.custom_parameters)?;
        let update = sqlx::query(
            "UPDATE credentials SET version = ?, description = ?, token_service_url = ?, \
             client_id = ?, client_authentication = ?, scope = ?, scope_content_type = ?, \
             resource = ?, audience = ?, grant_type = ?, custom_parameters = ?, \
             sealed_secret = ?, status = ?, deployed_by = ?, deployed_on = ? \
             WHERE name = ? AND id = ? AND version = ?",
        )
        .bind(r.version)
        .bind(&r.spec.description)
        .bind(&r.spec.token_service_url)
        .bind(&r.spec.client_id)
        .bind(r.spec.client_authentication.as_str())
        .bind(&r.spec.scope)
        .bind(r.spec.scope_content_type.as_str())
        .bind(&r.spec.resource)
        .bind(&r.spec.audience)
        .bind(r.spec.grant_type.as_str())
        .bind(params)
        .bind(&r.sealed_secret.0)
        .bind(&r.status)
        .bind(&r.deployed_by)
        .bind(r.deployed_on)
        .bind(&r.spec.name)
        .bind(&r.id)
        .bind(r.version.wrapping_sub(1));
        if self.write(update, Generation::Credentials).await? == 1 {
            return Ok(());
        }
        Err(self.why_not_updated("credentials", &r.spec.name).await)
    }

    async fn get(&self, name: &str) -> Result<Option<CredentialRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(codec::credential_from_row).transpose()
    }

    async fn list(&self, q: &ListQuery) -> Result<Vec<CredentialRecord>, StoreError> {
        let sql = codec::list_sql(codec::CREDENTIALS, q, contains);
        let rows = bind_list(sqlx::query(&sql), q)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(codec::credential_from_row).collect()
    }

    async fn count(&self, table: &str, name_contains: Option<&str>) -> Result<u64, StoreError> {
        let n: i64 = match name_contains {
            None => {
                sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                    .fetch_one(&self.pool)
                    .await?
            }
            Some(text) => {
                sqlx::query_scalar(&format!(
                    "SELECT count(*) FROM {table} WHERE {}",
                    contains(1)
                ))
                .bind(text)
                .fetch_one(&self.pool)
                .await?
            }
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn delete(&self, table: &str, name: &str, g: Generation) -> Result<bool, StoreError> {
        let sql = format!("DELETE FROM {table} WHERE name = ?");
        Ok(self.write(sqlx::query(&sql).bind(name), g).await? > 0)
    }

    /// Runs one write statement in its own transaction and, if it changed any row, bumps
    /// `generation` in the same transaction. Returns the rows changed; an unchanged or failed
    /// write commits nothing (and bumps nothing).
    async fn write(&self, query: Query<'_>, generation: Generation) -> Result<u64, sqlx::Error> {
        // BEGIN IMMEDIATE takes the write lock up front (waiting up to busy_timeout for it): a
        // deferred transaction could fail at once with SQLITE_BUSY when upgrading a read lock.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let changed = query.execute(&mut *tx).await?.rows_affected();
        if changed == 0 {
            tx.rollback().await?;
        } else {
            bump_generation(&mut tx, generation).await?;
            tx.commit().await?;
        }
        Ok(changed)
    }

    /// Why an optimistic update matched no row: `Stale` if the name exists, else `NotFound`.
    /// Reading after the failed update is race-free for the answer that matters: no write
    /// happened either way.
    async fn why_not_updated(&self, table: &str, name: &str) -> StoreError {
        let exists = sqlx::query(&format!("SELECT 1 FROM {table} WHERE name = ?"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await;
        match exists {
            Ok(Some(_)) => StoreError::Stale(name.to_owned()),
            Ok(None) => StoreError::NotFound(name.to_owned()),
            Err(e) => e.into(),
        }
    }

    async fn create_channel_inner(&self, r: &ChannelRecord) -> Result<(), StoreError> {
        let timeout = codec::timeout_column(&r.spec)?;
        let sql = format!("INSERT INTO channels ({CHANNEL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)");
        let insert = sqlx::query(&sql)
            .bind(&r.spec.name)
            .bind(&r.spec.address)
            .bind(&r.spec.credential_name)
            .bind(timeout)
            .bind(r.version)
            .bind(&r.modified_by)
            .bind(r.modified_on);
        self.write(insert, Generation::Channels)
            .await
            .map_err(|e| conflict(e, &r.spec.name))?;
        Ok(())
    }

    async fn update_channel_inner(&self, r: &ChannelRecord) -> Result<(), StoreError> {
        let timeout = codec::timeout_column(&r.spec)?;
        let update = sqlx::query(
            "UPDATE channels SET address = ?, credential_name = ?, timeout_ms = ?, version = ?, \
             modified_by = ?, modified_on = ? WHERE name = ? AND version = ?",
        )
        .bind(&r.spec.address)
        .bind(&r.spec.credential_name)
        .bind(timeout)
        .bind(r.version)
        .bind(&r.modified_by)
        .bind(r.modified_on)
        .bind(&r.spec.name)
        .bind(r.version.wrapping_sub(1));
        if self.write(update, Generation::Channels).await? == 1 {
            return Ok(());
        }
        Err(self.why_not_updated("channels", &r.spec.name).await)
    }

    async fn get_channel_inner(&self, name: &str) -> Result<Option<ChannelRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM channels WHERE name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(codec::channel_from_row).transpose()
    }

    async fn list_channels_inner(&self, q: &ListQuery) -> Result<Vec<ChannelRecord>, StoreError> {
        let sql = codec::list_sql(codec::CHANNELS, q, contains);
        let rows = bind_list(sqlx::query(&sql), q)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(codec::channel_from_row).collect()
    }

    async fn put_user_inner(&self, u: &UserRecord) -> Result<(), StoreError> {
        let roles = codec::roles_json(&u.roles)?;
        // The first statement writes, so the transaction holds the write lock from its start
        // (no read-then-upgrade that could fail with SQLITE_BUSY).
        let mut tx = self.pool.begin().await?;
        bump_generation(&mut tx, Generation::Users).await?;
        sqlx::query(&format!(
            "INSERT INTO users (name, password_hash, roles, updated_on) VALUES (?, ?, ?, {NOW_MS}) \
             ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, \
             roles = excluded.roles, updated_on = excluded.updated_on"
        ))
        .bind(&u.name)
        .bind(&u.password_hash)
        .bind(roles)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_user_inner(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query("SELECT name, password_hash, roles FROM users WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(codec::user_from_row).transpose()
    }

    async fn list_users_inner(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query("SELECT name, password_hash, roles FROM users ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(codec::user_from_row).collect()
    }

    async fn delete_user_inner(&self, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM users WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false); // nothing changed; dropping `tx` rolls back
        }
        bump_generation(&mut tx, Generation::Users).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn generation(&self, generation: Generation) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(generation.read_sql())
            .fetch_one(&self.pool)
            .await?)
    }
}

/// The condition "name contains the text bound to `$n`", case-insensitive for ASCII letters.
fn contains(n: usize) -> String {
    // instr(lower(…)) rather than LIKE: no wildcard escaping, and SQLite's lower() folds ASCII
    // letters only, which is what `name_contains` promises.
    format!("instr(lower(name), lower(${n})) > 0")
}

/// Binds a [`codec::list_sql`] statement's arguments, in the order it expects them.
fn bind_list<'q>(mut query: Query<'q>, q: &'q ListQuery) -> Query<'q> {
    if let Some(after) = &q.after {
        query = query.bind(after);
    }
    if let Some(text) = &q.name_contains {
        query = query.bind(text);
    }
    query = query.bind(i64::from(q.limit));
    if q.offset > 0 {
        query = query.bind(codec::sql_offset(q.offset));
    }
    query
}

/// A failed insert as the caller sees it: a duplicate name is a conflict.
fn conflict(e: sqlx::Error, name: &str) -> StoreError {
    if codec::is_unique_violation(&e) {
        StoreError::Conflict(name.to_owned())
    } else {
        e.into()
    }
}

/// Increments a generation inside the caller's transaction.
async fn bump_generation(
    tx: &mut sqlx::SqliteConnection,
    generation: Generation,
) -> Result<(), sqlx::Error> {
    sqlx::query(generation.bump_sql()).execute(tx).await?;
    Ok(())
}

/// Creates the database file with mode 0600 if it does not exist, so that it is never readable
/// by others, not even for the moment between creation and a later chmod. SQLite gives its
/// `-wal` and `-shm` files the same mode as the database file.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.mode(0o600);
    }
    match open.open(path) {
        Ok(_) => {
            #[cfg(unix)]
            {
                // The umask may have narrowed the mode further, never widened it; set it
                // explicitly anyway so the result does not depend on the umask.
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path)?.permissions().mode();
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        path = %path.display(),
                        mode = format!("{:o}", mode & 0o777),
                        "database file is readable by other users; consider chmod 600"
                    );
                }
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
    }

    fn create_credential<'a>(&'a self, record: &'a CredentialRecord) -> StoreFuture<'a, ()> {
        Box::pin(self.create(record))
    }

    fn update_credential<'a>(&'a self, record: &'a CredentialRecord) -> StoreFuture<'a, ()> {
        Box::pin(self.update(record))
    }

    fn get_credential<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<CredentialRecord>> {
        Box::pin(self.get(name))
    }

    fn list_credentials<'a>(
        &'a self,
        query: &'a ListQuery,
    ) -> StoreFuture<'a, Vec<CredentialRecord>> {
        Box::pin(self.list(query))
    }

    fn count_credentials<'a>(&'a self, name_contains: Option<&'a str>) -> StoreFuture<'a, u64> {
        Box::pin(self.count("credentials", name_contains))
    }

    fn delete_credential<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(self.delete("credentials", name, Generation::Credentials))
    }

    fn credentials_generation(&self) -> StoreFuture<'_, i64> {
        Box::pin(self.generation(Generation::Credentials))
    }

    fn create_channel<'a>(&'a self, record: &'a ChannelRecord) -> StoreFuture<'a, ()> {
        Box::pin(self.create_channel_inner(record))
    }

    fn update_channel<'a>(&'a self, record: &'a ChannelRecord) -> StoreFuture<'a, ()> {
        Box::pin(self.update_channel_inner(record))
    }

    fn get_channel<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<ChannelRecord>> {
        Box::pin(self.get_channel_inner(name))
    }

    fn list_channels<'a>(&'a self, query: &'a ListQuery) -> StoreFuture<'a, Vec<ChannelRecord>> {
        Box::pin(self.list_channels_inner(query))
    }

    fn count_channels<'a>(&'a self, name_contains: Option<&'a str>) -> StoreFuture<'a, u64> {
        Box::pin(self.count("channels", name_contains))
    }

    fn delete_channel<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(self.delete("channels", name, Generation::Channels))
    }

    fn channels_generation(&self) -> StoreFuture<'_, i64> {
        Box::pin(self.generation(Generation::Channels))
    }

    fn put_user<'a>(&'a self, user: &'a UserRecord) -> StoreFuture<'a, ()> {
        Box::pin(self.put_user_inner(user))
    }

    fn get_user<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<UserRecord>> {
        Box::pin(self.get_user_inner(name))
    }

    fn list_users(&self) -> StoreFuture<'_, Vec<UserRecord>> {
        Box::pin(self.list_users_inner())
    }

    fn delete_user<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(self.delete_user_inner(name))
    }

    fn users_generation(&self) -> StoreFuture<'_, i64> {
        Box::pin(self.generation(Generation::Users))
    }
}
