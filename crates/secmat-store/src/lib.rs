//! secmat's store: where security material, HTTP receiver channels and users live.
//!
//! One small [`Store`] trait, two implementations:
//! - [`sqlite::SqliteStore`] — the embedded default, one file in the data directory;
//! - [`postgres::PgStore`] — for clusters of secmat nodes sharing one database.
//!
//! Both run the same conformance suite (`tests/it/conformance.rs`). Schema migrations live in
//! `migrations/sqlite` and `migrations/postgres` and are applied at start (see [`Migration`]).
//!
//! The store never sees a secret in clear: client secrets arrive as
//! [`secmat_core::Sealed`] envelopes, passwords as Argon2 PHC strings.

use std::future::Future;
use std::pin::Pin;

use secmat_core::{CredentialSpec, Sealed, UnixMillis};

mod codec;
mod migrate;
pub mod postgres;
pub mod sqlite;

pub use migrate::Migration;

/// A boxed future, so that `dyn Store` works (native `async fn` in traits is not object-safe).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// What can go wrong in a store. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A credential, channel or user with that name exists already.
    #[error("an entry named '{0}' already exists")]
    Conflict(String),
    /// No such entry (or, for an update, the expected version is no longer current).
    #[error("no entry named '{0}'")]
    NotFound(String),
    /// The entry changed since it was read (optimistic concurrency on updates).
    #[error("'{0}' was changed by someone else in the meantime; read it again and retry")]
    Stale(String),
    /// A row could not be decoded (corrupted or written by a newer secmat).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// Deployment status, as `SecurityArtifactDescriptor.Status` spells it.
pub const STATUS_DEPLOYED: &str = "DEPLOYED";

/// A stored credential: its spec, its sealed secret and its deployment record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    /// Random id (32 hex characters) fixed for the credential's life; part of the secret's
    /// associated data and of token cache keys.
    pub id: String,
    /// 1 on create, incremented by every edit.
    pub version: i64,
    /// Everything but the secret.
    pub spec: CredentialSpec,
    /// The client secret, sealed with associated data naming `id` and `version`.
    pub sealed_secret: Sealed,
    /// `DEPLOYED` (more states arrive with runtimes).
    pub status: String,
    /// The user who last deployed it.
    pub deployed_by: String,
    /// When it was last deployed.
    pub deployed_on: UnixMillis,
}

/// A stored HTTP receiver channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRecord {
    /// The channel.
    pub spec: secmat_core::channel::ChannelSpec,
    /// 1 on create, incremented by every edit.
    pub version: i64,
    /// Who last created or edited it.
    pub modified_by: String,
    /// When.
    pub modified_on: UnixMillis,
}

/// Which page of credentials (or channels) to list, ordered by name (byte order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Keyset pagination: only names strictly greater than this one.
    pub after: Option<String>,
    /// Entries to skip (after `after`); OData `$skip`.
    pub offset: u64,
    /// Page size; callers cap it.
    pub limit: u32,
    /// Only names containing this text (case-insensitive for ASCII letters).
    pub name_contains: Option<String>,
}

/// A user of the API, the CLI and the web monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Login name; unique.
    pub name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Role names (`MonitoringDataRead`, `CredentialsEdit`, `CredentialsRead`, `AccessTokenRead`).
    pub roles: Vec<String>,
}

/// Storage for credentials, channels and users.
///
/// Every write is one transaction and is durable when the future resolves: an acknowledged
/// write survives `kill -9` of the process.
///
/// Each kind of entry has a generation ([`Store::credentials_generation`],
/// [`Store::channels_generation`], [`Store::users_generation`]): a number bumped in the same
/// transaction as every write of that kind, so that any process sharing the database can notice
/// changes with one cheap read. A reader that reads the generation *before* the entries it caches
/// never keeps stale entries under a current generation.
pub trait Store: Send + Sync + 'static {
    /// A short name for logs and start-up messages (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;

    /// Checks that the database answers (for `/readyz`).
    fn ping(&self) -> StoreFuture<'_, ()>;

    /// Inserts a new credential; [`StoreError::Conflict`] if the name is taken.
    fn create_credential<'a>(&'a self, record: &'a CredentialRecord) -> StoreFuture<'a, ()>;

    /// Replaces the credential named `record.spec.name` whose id is `record.id` and whose
    /// version is `record.version - 1`. [`StoreError::NotFound`] if there is no such name,
    /// [`StoreError::Stale`] if its id or version differ.
    fn update_credential<'a>(&'a self, record: &'a CredentialRecord) -> StoreFuture<'a, ()>;

    /// The credential with this exact (case-sensitive) name.
    fn get_credential<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<CredentialRecord>>;

    /// One page of credentials ordered by name; uses the primary-key index, never a full scan
    /// for keyset pages.
    fn list_credentials<'a>(
        &'a self,
        query: &'a ListQuery,
    ) -> StoreFuture<'a, Vec<CredentialRecord>>;

    /// How many credentials match `name_contains` (all when `None`).
    fn count_credentials<'a>(&'a self, name_contains: Option<&'a str>) -> StoreFuture<'a, u64>;

    /// Deletes a credential; `false` if there was none.
    fn delete_credential<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool>;

    /// A number that changes whenever any credential is created, updated or deleted (bumped in
    /// the write's own transaction; other writes leave it alone).
    fn credentials_generation(&self) -> StoreFuture<'_, i64>;

    /// Inserts a new channel; [`StoreError::Conflict`] if the name is taken.
    fn create_channel<'a>(&'a self, record: &'a ChannelRecord) -> StoreFuture<'a, ()>;

    /// Replaces the channel named `record.spec.name` whose version is `record.version - 1`.
    /// [`StoreError::NotFound`] if there is no such name, [`StoreError::Stale`] if its version
    /// differs.
    fn update_channel<'a>(&'a self, record: &'a ChannelRecord) -> StoreFuture<'a, ()>;

    /// The channel with this exact (case-sensitive) name.
    fn get_channel<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<ChannelRecord>>;

    /// One page of channels ordered by name (same rules as [`Store::list_credentials`]).
    fn list_channels<'a>(&'a self, query: &'a ListQuery) -> StoreFuture<'a, Vec<ChannelRecord>>;

    /// How many channels match `name_contains` (all when `None`).
    fn count_channels<'a>(&'a self, name_contains: Option<&'a str>) -> StoreFuture<'a, u64>;

    /// Deletes a channel; `false` if there was none.
    fn delete_channel<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool>;

    /// A number that changes whenever any channel is created, updated or deleted (bumped in the
    /// write's own transaction; other writes leave it alone).
    fn channels_generation(&self) -> StoreFuture<'_, i64>;

    /// Inserts a user, or replaces the one with the same name.
    fn put_user<'a>(&'a self, user: &'a UserRecord) -> StoreFuture<'a, ()>;

    /// The user with this name.
    fn get_user<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<UserRecord>>;

    /// All users, ordered by name.
    fn list_users(&self) -> StoreFuture<'_, Vec<UserRecord>>;

    /// Deletes a user; `false` if there was none.
    fn delete_user<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool>;

    /// A number that changes whenever any user is added, changed or removed, so that servers can
    /// drop cached authentication results (even when another process changed the users).
    fn users_generation(&self) -> StoreFuture<'_, i64>;
}

/// Opens the store a database URL names: `sqlite://PATH` (created if missing) or
/// `postgres://…`, and applies pending migrations.
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(postgres::PgStore::connect(url).await?))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(std::sync::Arc::new(
            sqlite::SqliteStore::open(std::path::Path::new(path)).await?,
        ))
    } else {
        Err(StoreError::Database(format!(
            "unsupported database URL (expected sqlite://PATH or postgres://…): {}",
            url.split('@').next_back().unwrap_or_default()
        )))
    }
}
