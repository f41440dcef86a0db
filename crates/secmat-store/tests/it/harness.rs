//! Where a test's database lives, and how to open stores on it.

use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;

use secmat_store::Store;
use secmat_store::postgres::PgStore;
use secmat_store::sqlite::SqliteStore;
use sqlx::Connection;

/// The environment variable naming the PostgreSQL database tests may create schemas in.
pub const PG_ENV: &str = "SECMAT_TEST_POSTGRES_URL";

/// One test's private database: a SQLite file in a temporary directory, or a fresh PostgreSQL
/// schema. Opening it again reaches the same data.
pub enum Harness {
    /// A file in a directory deleted at the end of the test.
    Sqlite {
        /// Kept alive for the test's duration.
        _dir: tempfile::TempDir,
        /// The database file (created by the first open).
        path: PathBuf,
    },
    /// A schema created for this test and dropped at its end.
    Pg {
        /// The URL the schema was created through.
        admin_url: String,
        /// The schema's name.
        schema: String,
        /// `admin_url` with the schema as `search_path`.
        url: String,
    },
}

impl Harness {
    /// A new SQLite location (nothing is created until [`Harness::open`]).
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // A sub-directory that does not exist yet: open() must create it.
        let path = dir.path().join("data").join("secmat.db");
        Harness::Sqlite { _dir: dir, path }
    }

    /// A new, empty PostgreSQL schema, or `None` (after saying so) when no server is configured.
    pub async fn pg() -> Option<Self> {
        let Ok(admin_url) = std::env::var(PG_ENV) else {
            println!("skipped: {PG_ENV} not set");
            return None;
        };
        let schema = format!("t_{:016x}", random_u64());
        let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::raw_sql(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let url = with_search_path(&admin_url, &schema);
        Some(Harness::Pg {
            admin_url,
            schema,
            url,
        })
    }

    /// Opens a new store on this test's database (running migrations, as a server start does).
    pub async fn open(&self) -> Box<dyn Store> {
        match self {
            Harness::Sqlite { path, .. } => Box::new(SqliteStore::open(path).await.unwrap()),
            Harness::Pg { url, .. } => Box::new(PgStore::connect(url).await.unwrap()),
        }
    }

    /// Runs raw SQL (several statements allowed) on this test's database without opening a
    /// store: `sqlite` on SQLite (creating the file if needed), `pg` on PostgreSQL.
    pub async fn raw_sql(&self, sqlite: &str, pg: &str) {
        match self {
            Harness::Sqlite { path, .. } => {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true);
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .unwrap();
                sqlx::raw_sql(sqlite).execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
            Harness::Pg { url, .. } => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::raw_sql(pg).execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
        }
    }

    /// Removes the database (the temporary directory goes when dropped).
    pub async fn finish(self) {
        if let Harness::Pg {
            admin_url, schema, ..
        } = self
        {
            let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
            sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
    }
}

/// `url` with a libpq `options` parameter that makes `schema` the only `search_path` entry.
pub fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// A random number from the standard library's randomly keyed hasher (no extra dependency).
pub fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}
