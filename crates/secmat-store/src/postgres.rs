//! PostgreSQL, for clusters of secmat nodes sharing one database.
//!
//! Every node runs the migrations at start; an advisory lock inside each migration transaction
//! makes simultaneous starts safe (see `src/migrate.rs`). Names use `COLLATE "C"`, so listing
//! order and case-sensitivity match the SQLite backend whatever the database's locale.
//! Durability is PostgreSQL's own: a commit returns once its WAL record is flushed (with the
//! default `synchronous_commit=on`).
//!
//! A credential or channel write and the bump of its generation are one statement (a
//! data-modifying `WITH`, see [`bumping`]): one round trip, one implicit transaction. The write
//! runs first and the `meta` row is locked last, so a transaction holding a generation row is
//! only ever waiting for its own commit, and concurrent writers cannot deadlock on it.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::codec::{self, CHANNEL_COLUMNS, CREDENTIAL_COLUMNS, Generation};
use crate::{
    ChannelRecord, CredentialRecord, ListQuery, Store, StoreError, StoreFuture, UserRecord, migrate,
};

/// A statement with its arguments bound.
type Query<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;
/// A [`bumping`] statement with its arguments bound; it answers the rows written.
type Write<'q> = sqlx::query::QueryScalar<'q, Postgres, i64, PgArguments>;

/// Connections per node: enough for concurrent API requests, few enough for many nodes to share
/// one server's `max_connections`.
const POOL_SIZE: u32 = 8;
/// How long a request waits for a free connection (or for the server to answer at start).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Current time in milliseconds, computed by PostgreSQL (the store keeps no clock of its own).
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT";

/// A [`Store`] in a PostgreSQL database (in the schema the connection's `search_path` names).
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/db?…`) and applies pending
    /// migrations. Error messages show the URL without its credentials.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let secrets = url_secrets(url);
        let shown = redacted(url);
        let scrub = |context: &str, e: &dyn std::fmt::Display| {
            StoreError::Database(scrub(&format!("{context} {shown}: {e}"), &secrets))
        };
        let options =
            PgConnectOptions::from_str(url).map_err(|e| scrub("invalid PostgreSQL URL", &e))?;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| scrub("cannot connect to", &e))?;
        migrate::run_postgres(&pool, migrate::POSTGRES)
            .await
            .map_err(|e| scrub("cannot migrate", &e))?;
        Ok(Self { pool })
    }

    /// The connection pool, for tools that need raw SQL next to the store (benchmarks, checks).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn create(&self, r: &CredentialRecord) -> Result<(), StoreError> {
        let params = codec::custom_parameters_json(&r.spec.custom_parameters)?;
        // The primary key and the unique id decide conflicts.
        let sql = bumping(
            &format!(
                "INSERT INTO credentials ({CREDENTIAL_COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
            ),
            Generation::Credentials,
        );
        let insert = sqlx::query_scalar(&sql)
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
        self.write(insert)
            .await
            .map_err(|e| conflict(e, &r.spec.name))?;
        Ok(())
    }

    async fn update(&self, r: &CredentialRecord) -> Result<(), StoreError> {
        let params = codec::custom_parameters_json(&r.spec.custom_parameters)?;
        let sql = bumping(
            "UPDATE credentials SET version = $1, description = $2, token_service_url = $3, \
             client_id = $4, client_authentication = $5, scope = $6, scope_content_type = $7, \
             resource = $8, audience = $9, grant_type = $10, custom_parameters = $11, \
             sealed_secret = $12, status = $13, deployed_by = $14, deployed_on = $15 \
             WHERE name = $16 AND id = $17 AND version = $18",
            Generation::Credentials,
        );
        let update = sqlx::query_scalar(&sql)
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
        if self.write(update).await? == 1 {
            return Ok(());
        }
        Err(self.why_not_updated("credentials", &r.spec.name).await)
    }

    async fn get(&self, name: &str) -> Result<Option<CredentialRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE name = $1"
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
        let sql = bumping(&format!("DELETE FROM {table} WHERE name = $1"), g);
        Ok(self.write(sqlx::query_scalar(&sql).bind(name)).await? > 0)
    }

    /// Runs a [`bumping`] statement; returns the rows it wrote.
    async fn write(&self, query: Write<'_>) -> Result<u64, sqlx::Error> {
        let n = query.fetch_one(&self.pool).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Why an optimistic update matched no row (and wrote nothing): `Stale` if the name exists,
    /// else `NotFound`.
    async fn why_not_updated(&self, table: &str, name: &str) -> StoreError {
        let exists = sqlx::query(&format!("SELECT 1 FROM {table} WHERE name = $1"))
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
        let sql = bumping(
            &format!(
                "INSERT INTO channels ({CHANNEL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            Generation::Channels,
        );
        let insert = sqlx::query_scalar(&sql)
            .bind(&r.spec.name)
            .bind(&r.spec.address)
            .bind(&r.spec.credential_name)
            .bind(timeout)
            .bind(r.version)
            .bind(&r.modified_by)
            .bind(r.modified_on);
        self.write(insert)
            .await
            .map_err(|e| conflict(e, &r.spec.name))?;
        Ok(())
    }

    async fn update_channel_inner(&self, r: &ChannelRecord) -> Result<(), StoreError> {
        let timeout = codec::timeout_column(&r.spec)?;
        let sql = bumping(
            "UPDATE channels SET address = $1, credential_name = $2, timeout_ms = $3, \
             version = $4, modified_by = $5, modified_on = $6 WHERE name = $7 AND version = $8",
            Generation::Channels,
        );
        let update = sqlx::query_scalar(&sql)
            .bind(&r.spec.address)
            .bind(&r.spec.credential_name)
            .bind(timeout)
            .bind(r.version)
            .bind(&r.modified_by)
            .bind(r.modified_on)
            .bind(&r.spec.name)
            .bind(r.version.wrapping_sub(1));
        if self.write(update).await? == 1 {
            return Ok(());
        }
        Err(self.why_not_updated("channels", &r.spec.name).await)
    }

    async fn get_channel_inner(&self, name: &str) -> Result<Option<ChannelRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM channels WHERE name = $1"
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
        let mut tx = self.pool.begin().await?;
        bump_generation(&mut tx, Generation::Users).await?;
        sqlx::query(&format!(
            "INSERT INTO users (name, password_hash, roles, updated_on) VALUES ($1, $2, $3, {NOW_MS}) \
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
        let row = sqlx::query("SELECT name, password_hash, roles FROM users WHERE name = $1")
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
        let done = sqlx::query("DELETE FROM users WHERE name = $1")
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
    // strpos(lower(…)) rather than ILIKE: no wildcard escaping. lower() under COLLATE "C" folds
    // ASCII letters only, which is what `name_contains` promises (and what SQLite does).
    format!("strpos(lower(name), lower(${n} COLLATE \"C\")) > 0")
}

/// Increments a generation inside the caller's transaction (its row lock also orders
/// concurrent user writes).
async fn bump_generation(
    tx: &mut sqlx::PgConnection,
    generation: Generation,
) -> Result<(), sqlx::Error> {
    sqlx::query(generation.bump_sql()).execute(tx).await?;
    Ok(())
}

/// `write` (one `INSERT`, `UPDATE` or `DELETE` without `RETURNING`) as a single statement that
/// also bumps `generation` if the write changed a row, and answers the number of rows written.
///
/// `w` runs first: the main query reads it, and `g`'s condition is an uncorrelated `EXISTS`
/// evaluated once before `g` touches `meta`. So the entry's row (or unique-index entry) is
/// locked before the generation row, and the generation row is held only until commit. A failed
/// write (a duplicate name) fails the whole statement: nothing is written, nothing bumped.
fn bumping(write: &str, generation: Generation) -> String {
    format!(
        "WITH w AS ({write} RETURNING 1), \
         g AS (UPDATE meta SET value = value + 1 WHERE key = '{}' AND EXISTS (SELECT 1 FROM w)) \
         SELECT count(*) FROM w",
        generation.key()
    )
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

/// The URL as it may be shown: scheme, host, port and database, without user, password or
/// query parameters (which may carry a password too).
fn redacted(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let host_and_path = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
    format!("{scheme}://{host_and_path}")
}

/// Every form in which the URL's password could appear in a driver's message: the userinfo
/// password and any `password=` query parameter, raw and percent-decoded.
fn url_secrets(url: &str) -> Vec<String> {
    let mut raw = Vec::new();
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if let Some((userinfo, _)) = authority.rsplit_once('@')
        && let Some((_, password)) = userinfo.split_once(':')
    {
        raw.push(password.to_owned());
    }
    if let Some((_, query)) = url.split_once('?') {
        for pair in query.split(['&', '#']) {
            if let Some(("password", value)) = pair.split_once('=') {
                raw.push(value.to_owned());
            }
        }
    }
    let decoded: Vec<String> = raw.iter().map(|s| percent_decode(s)).collect();
    let mut all: Vec<String> = raw
        .into_iter()
        .chain(decoded)
        .filter(|s| !s.is_empty())
        .collect();
    // Longest first, so that a secret containing another is replaced whole.
    all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    all.dedup();
    all
}

/// Replaces every occurrence of every secret with `***`.
fn scrub(message: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(message.to_owned(), |m, s| m.replace(s.as_str(), "***"))
}

/// `%XX` decoding (and `+` left alone), lossy for invalid UTF-8.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_url_shows_no_credentials() {
        let url = "postgres://app:s%40cr3t@db.example:5432/secmat?sslmode=require&password=q";
        assert_eq!(redacted(url), "postgres://db.example:5432/secmat");
        assert_eq!(redacted("postgres://localhost/x"), "postgres://localhost/x");
    }

    #[test]
    fn scrub_removes_raw_and_decoded_passwords() {
        let url = "postgres://app:s%40cr3t@db/secmat?password=other";
        let secrets = url_secrets(url);
        let msg = scrub("failed for s@cr3t, s%40cr3t and other", &secrets);
        assert_eq!(msg, "failed for ***, *** and ***");
        assert!(url_secrets("postgres://app@db/x").is_empty());
    }

    #[tokio::test]
    async fn connection_errors_do_not_show_the_password() {
        // A "server" that hangs up at once: the driver fails during the handshake (a refused
        // connection would instead be retried until the acquire timeout).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                drop(socket);
            }
        });
        let err = PgStore::connect(&format!("postgres://app:hunter2@127.0.0.1:{port}/x"))
            .await
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
        let err = PgStore::connect("postgres://app:hunter2@[::1/x")
            .await
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
