//! Store benchmark: what secmat's store costs over the bare database it runs on.
//!
//! ```text
//! cargo run --release -p secmat-store --example store_bench -- \
//!     --backend sqlite|postgres [--count 100000] [--url postgres://…] [--dir DIR] [--tsv]
//! ```
//!
//! At N credentials it measures (a) creates, one transactional `create_credential` per record as
//! the API does, (b) keyset list pages of 100 at random positions (`after`) and offset pages near
//! the end (`offset = N - 100`), (c) `count_credentials`. Each figure is compared with a baseline
//! measured in the same run on the same database and connection pool: a scratch table
//! `bench_baseline(name, data)` with the same N names, filled by bare single-row `INSERT`s and
//! read by `SELECT name, data … WHERE name > ? ORDER BY name LIMIT 100`. A ratio of 1.0 means
//! the store adds nothing over the database itself.
//!
//! PostgreSQL runs in a throwaway schema `secmat_bench_<pid>` of the database `--url` names
//! (dropped at the end); SQLite in a fresh file under `--dir` (default: the system temp
//! directory), deleted at the end.

use std::error::Error;
use std::future::Future;
use std::time::{Duration, Instant};

use secmat_core::{
    ClientAuthentication, CredentialSpec, CustomParameter, GrantType, ScopeContentType, Sealed,
    SendAsPartOf,
};
use secmat_store::postgres::PgStore;
use secmat_store::sqlite::SqliteStore;
use secmat_store::{CredentialRecord, ListQuery, STATUS_DEPLOYED, Store};
use sqlx::Connection;

type Res<T> = Result<T, Box<dyn Error>>;

/// How long each read measurement runs (at least), and its minimum number of operations.
const READ_BUDGET: Duration = Duration::from_secs(2);
const READ_MIN_OPS: u32 = 20;
/// Creates and baseline inserts alternate in blocks this size, so that both see the same disk
/// and cache conditions as the tables grow.
const BLOCK: usize = 1000;
const PAGE: u32 = 100;

struct Args {
    backend: String,
    count: usize,
    url: String,
    dir: std::path::PathBuf,
    tsv: bool,
}

fn parse_args() -> Res<Args> {
    let mut args = Args {
        backend: "sqlite".into(),
        count: 100_000,
        url: "postgres://postgres@127.0.0.1:5432/test".into(),
        dir: std::env::temp_dir(),
        tsv: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--backend" => args.backend = value()?,
            "--count" => args.count = value()?.parse()?,
            "--url" => args.url = value()?,
            "--dir" => args.dir = value()?.into(),
            "--tsv" => args.tsv = true,
            "-h" | "--help" => {
                println!(
                    "store_bench --backend sqlite|postgres [--count N] [--url URL] [--dir DIR] [--tsv]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if args.count < usize::try_from(PAGE)? {
        return Err(format!("--count must be at least {PAGE}").into());
    }
    Ok(args)
}

/// SplitMix64: deterministic, dependency-free pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A realistic credential: typical URL and ids, two custom parameters, an 80-byte envelope
/// (the size a ~29-character client secret seals to).
fn record(rng: &mut Rng, i: usize) -> CredentialRecord {
    const SYSTEMS: [&str; 6] = ["erp", "crm", "billing", "hr", "logistics", "Partner"];
    let system = SYSTEMS[i % SYSTEMS.len()];
    let name = format!("{system}-api-{:012x}", rng.next() >> 16);
    CredentialRecord {
        id: format!("{:016x}{:016x}", rng.next(), rng.next()),
        version: 1,
        spec: CredentialSpec {
            description: Some(format!(
                "Outbound OAuth client for the {system} integration"
            )),
            token_service_url: format!("https://{system}.auth.example.com/oauth/token"),
            client_id: format!(
                "sb-{:08x}-{:04x}!b{}",
                rng.next() as u32,
                rng.next() as u16,
                i % 97
            ),
            client_authentication: ClientAuthentication::Body,
            scope: Some(format!("{system}.read {system}.write")),
            scope_content_type: ScopeContentType::Urlencoded,
            resource: None,
            audience: Some(format!("https://{system}.example.com")),
            grant_type: GrantType::Body,
            custom_parameters: vec![
                CustomParameter {
                    key: "tenant".into(),
                    value: format!("t{}", i % 13),
                    send_as_part_of: SendAsPartOf::Body,
                },
                CustomParameter {
                    key: "X-Correlation".into(),
                    value: "secmat".into(),
                    send_as_part_of: SendAsPartOf::Header,
                },
            ],
            name,
        },
        sealed_secret: Sealed(rng.bytes(80)),
        status: STATUS_DEPLOYED.to_owned(),
        deployed_by: "bench".to_owned(),
        deployed_on: 1_760_000_000_000 + i as i64,
    }
}

/// Runs `op` until [`READ_BUDGET`] and [`READ_MIN_OPS`] are both reached; returns ops/s.
async fn rate<F, Fut>(mut op: F) -> Res<f64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Res<()>>,
{
    let start = Instant::now();
    let mut n = 0u32;
    while n < READ_MIN_OPS || start.elapsed() < READ_BUDGET {
        op().await?;
        n += 1;
    }
    Ok(f64::from(n) / start.elapsed().as_secs_f64())
}

/// The backend under test, with raw access to its pool for the baseline.
enum Db {
    Sqlite(SqliteStore, tempfile::TempDir),
    Pg(PgStore, String),
}

impl Db {
    fn store(&self) -> &dyn Store {
        match self {
            Db::Sqlite(s, _) => s,
            Db::Pg(s, _) => s,
        }
    }

    async fn baseline_insert(&self, name: &str, data: &[u8]) -> Res<()> {
        match self {
            Db::Sqlite(s, _) => {
                sqlx::query("INSERT INTO bench_baseline (name, data) VALUES (?, ?)")
                    .bind(name)
                    .bind(data)
                    .execute(s.pool())
                    .await?;
            }
            Db::Pg(s, _) => {
                sqlx::query("INSERT INTO bench_baseline (name, data) VALUES ($1, $2)")
                    .bind(name)
                    .bind(data)
                    .execute(s.pool())
                    .await?;
            }
        }
        Ok(())
    }

    /// One baseline page; `after` = None means "offset from the start".
    async fn baseline_page(&self, after: Option<&str>, offset: i64) -> Res<usize> {
        let (sqlite_sql, pg_sql) = match after {
            Some(_) => (
                "SELECT name, data FROM bench_baseline WHERE name > ? ORDER BY name LIMIT 100",
                "SELECT name, data FROM bench_baseline WHERE name > $1 ORDER BY name LIMIT 100",
            ),
            None => (
                "SELECT name, data FROM bench_baseline ORDER BY name LIMIT 100 OFFSET ?",
                "SELECT name, data FROM bench_baseline ORDER BY name LIMIT 100 OFFSET $1",
            ),
        };
        let rows = match self {
            Db::Sqlite(s, _) => {
                let q = sqlx::query_as::<_, (String, Vec<u8>)>(sqlite_sql);
                let q = match after {
                    Some(a) => q.bind(a.to_owned()),
                    None => q.bind(offset),
                };
                q.fetch_all(s.pool()).await?.len()
            }
            Db::Pg(s, _) => {
                let q = sqlx::query_as::<_, (String, Vec<u8>)>(pg_sql);
                let q = match after {
                    Some(a) => q.bind(a.to_owned()),
                    None => q.bind(offset),
                };
                q.fetch_all(s.pool()).await?.len()
            }
        };
        Ok(rows)
    }

    /// The store's own keyset query on `credentials`, rows fetched but not decoded into
    /// records: tells the cost of the wider row from the cost of decoding it.
    async fn raw_credentials_page(&self, after: &str) -> Res<usize> {
        const COLUMNS: &str = "name, id, version, description, token_service_url, client_id, \
            client_authentication, scope, scope_content_type, resource, audience, grant_type, \
            custom_parameters, sealed_secret, status, deployed_by, deployed_on";
        Ok(match self {
            Db::Sqlite(s, _) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM credentials WHERE name > ? ORDER BY name LIMIT 100"
                );
                sqlx::query(&sql)
                    .bind(after)
                    .fetch_all(s.pool())
                    .await?
                    .len()
            }
            Db::Pg(s, _) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM credentials WHERE name > $1 ORDER BY name LIMIT 100"
                );
                sqlx::query(&sql)
                    .bind(after)
                    .fetch_all(s.pool())
                    .await?
                    .len()
            }
        })
    }

    /// PostgreSQL: `VACUUM ANALYZE` both tables (SQLite needs nothing).
    async fn settle(&self) -> Res<()> {
        if let Db::Pg(s, _) = self {
            // One statement per call: several in one simple query would form an implicit
            // transaction, which VACUUM refuses.
            for table in ["credentials", "bench_baseline"] {
                sqlx::raw_sql(&format!("VACUUM (ANALYZE) {table}"))
                    .execute(s.pool())
                    .await?;
            }
        }
        Ok(())
    }

    async fn baseline_count(&self) -> Res<i64> {
        let sql = "SELECT count(*) FROM bench_baseline";
        Ok(match self {
            Db::Sqlite(s, _) => sqlx::query_scalar(sql).fetch_one(s.pool()).await?,
            Db::Pg(s, _) => sqlx::query_scalar(sql).fetch_one(s.pool()).await?,
        })
    }
}

async fn open(args: &Args) -> Res<Db> {
    match args.backend.as_str() {
        "sqlite" => {
            let dir = tempfile::Builder::new()
                .prefix("secmat-bench-")
                .tempdir_in(&args.dir)?;
            let store = SqliteStore::open(&dir.path().join("bench.db")).await?;
            create_sqlite_baseline(&store).await?;
            Ok(Db::Sqlite(store, dir))
        }
        "postgres" => {
            let schema = format!("secmat_bench_{}", std::process::id());
            let mut admin = sqlx::PgConnection::connect(&args.url).await?;
            sqlx::raw_sql(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .execute(&mut admin)
            .await?;
            admin.close().await?;
            let sep = if args.url.contains('?') { '&' } else { '?' };
            let url = format!("{}{sep}options=-c%20search_path%3D{schema}", args.url);
            let store = PgStore::connect(&url).await?;
            sqlx::raw_sql(
                "CREATE TABLE bench_baseline (name TEXT COLLATE \"C\" PRIMARY KEY, data BYTEA NOT NULL)",
            )
            .execute(store.pool())
            .await?;
            Ok(Db::Pg(store, schema))
        }
        other => Err(format!("unknown backend {other} (sqlite or postgres)").into()),
    }
}

/// The scratch table, shaped like `credentials` (clustered by name).
async fn create_sqlite_baseline(store: &SqliteStore) -> Res<()> {
    sqlx::raw_sql(
        "CREATE TABLE bench_baseline (name TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID",
    )
    .execute(store.pool())
    .await?;
    Ok(())
}

async fn close(db: Db, args: &Args) -> Res<()> {
    match db {
        Db::Sqlite(store, dir) => {
            store.close().await;
            dir.close()?;
        }
        Db::Pg(store, schema) => {
            store.close().await;
            let mut admin = sqlx::PgConnection::connect(&args.url).await?;
            sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut admin)
                .await?;
            admin.close().await?;
        }
    }
    Ok(())
}

/// One line of the result table.
struct Row {
    operation: &'static str,
    ops: f64,
    baseline: &'static str,
    baseline_ops: f64,
}

async fn run(db: &Db, args: &Args) -> Res<Vec<Row>> {
    let store = db.store();
    let n = args.count;
    let mut rng = Rng(0x5ec_3a7);
    let records: Vec<CredentialRecord> = (0..n).map(|i| record(&mut rng, i)).collect();

    // (a) creates, alternating blocks with baseline inserts of the same names.
    let (mut t_create, mut t_insert) = (Duration::ZERO, Duration::ZERO);
    for (b, block) in records.chunks(BLOCK).enumerate() {
        let start = Instant::now();
        for r in block {
            store.create_credential(r).await?;
        }
        t_create += start.elapsed();
        let start = Instant::now();
        for r in block {
            db.baseline_insert(&r.spec.name, &r.sealed_secret.0).await?;
        }
        t_insert += start.elapsed();
        if (b + 1) % 10 == 0 {
            eprint!("\r{}: {} / {n} created", args.backend, (b + 1) * BLOCK);
        }
    }
    eprintln!("\r{}: {n} / {n} created", args.backend);
    let mut rows = vec![Row {
        operation: "create (1 tx each)",
        ops: n as f64 / t_create.as_secs_f64(),
        baseline: "bare INSERT",
        baseline_ops: n as f64 / t_insert.as_secs_f64(),
    }];

    // Steady state before reading: on PostgreSQL, autovacuum would by now have set the
    // visibility map that index-only scans (count, offset skipping) rely on; do it now, for both
    // tables alike, rather than measure whether the daemon happened to run during the inserts.
    db.settle().await?;

    // (b) keyset pages at random positions (never the last 100, so every page is full).
    let mut sorted: Vec<&str> = records.iter().map(|r| r.spec.name.as_str()).collect();
    sorted.sort_unstable();
    let last_start = n - PAGE as usize;
    let mut prng = Rng(42);
    let keyset = rate(|| {
        let q = ListQuery {
            after: Some(sorted[prng.below(last_start)].to_owned()),
            limit: PAGE,
            ..ListQuery::default()
        };
        async move { full(store.list_credentials(&q).await?.len()) }
    })
    .await?;
    let mut prng = Rng(42);
    let keyset_base = rate(|| {
        let after = sorted[prng.below(last_start)];
        async move { full(db.baseline_page(Some(after), 0).await?) }
    })
    .await?;
    rows.push(Row {
        operation: "keyset page of 100",
        ops: keyset,
        baseline: "bare keyset SELECT",
        baseline_ops: keyset_base,
    });
    let mut prng = Rng(42);
    let raw_wide = rate(|| {
        let after = sorted[prng.below(last_start)];
        async move { full(db.raw_credentials_page(after).await?) }
    })
    .await?;
    rows.push(Row {
        operation: "(same page, not decoded)",
        ops: raw_wide,
        baseline: "bare keyset SELECT",
        baseline_ops: keyset_base,
    });

    // Offset pages near the end: the cost grows with N on both backends.
    let offset = u64::try_from(last_start)?;
    let q = ListQuery {
        offset,
        limit: PAGE,
        ..ListQuery::default()
    };
    let offset_ops = rate(|| async { full(store.list_credentials(&q).await?.len()) }).await?;
    let offset_base =
        rate(|| async { full(db.baseline_page(None, i64::try_from(offset)?).await?) }).await?;
    rows.push(Row {
        operation: "offset page (N-100)",
        ops: offset_ops,
        baseline: "bare keyset SELECT",
        baseline_ops: keyset_base,
    });
    rows.push(Row {
        operation: "offset page (N-100)",
        ops: offset_ops,
        baseline: "bare OFFSET SELECT",
        baseline_ops: offset_base,
    });

    // (c) count.
    let expected = u64::try_from(n)?;
    let count = rate(|| async {
        let c = store.count_credentials(None).await?;
        if c == expected {
            Ok(())
        } else {
            Err(format!("count {c} != {expected}").into())
        }
    })
    .await?;
    let count_base = rate(|| async { db.baseline_count().await.map(drop) }).await?;
    rows.push(Row {
        operation: "count",
        ops: count,
        baseline: "bare count(*)",
        baseline_ops: count_base,
    });
    Ok(rows)
}

/// Checks that a page was full, so that no measurement silently measures empty pages.
fn full(len: usize) -> Res<()> {
    if len == PAGE as usize {
        Ok(())
    } else {
        Err(format!("page of {len} rows, expected {PAGE}").into())
    }
}

#[tokio::main]
async fn main() -> Res<()> {
    let args = parse_args()?;
    let db = open(&args).await?;
    let result = run(&db, &args).await;
    close(db, &args).await?;
    let rows = result?;
    if !args.tsv {
        println!("backend\tN\toperation\tops/s\tbaseline\tbaseline ops/s\tratio");
    }
    for r in rows {
        println!(
            "{}\t{}\t{}\t{:.0}\t{}\t{:.0}\t{:.2}",
            args.backend,
            args.count,
            r.operation,
            r.ops,
            r.baseline,
            r.baseline_ops,
            r.ops / r.baseline_ops
        );
    }
    Ok(())
}
