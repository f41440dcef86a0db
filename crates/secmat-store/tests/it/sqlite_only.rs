//! Behaviours only the SQLite backend has: the file's mode, `sqlite://` URLs, and surviving an
//! abrupt end of the process.

use secmat_store::sqlite::SqliteStore;

use crate::conformance::full_record;

/// Tells the child test which database to write to before it aborts.
const CHILD_ENV: &str = "SECMAT_STORE_CRASH_CHILD_DB";

#[cfg(unix)]
#[tokio::test]
async fn database_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dirs/secmat.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.create_credential_for_test().await;
    for file in [path.clone(), path.with_extension("db-wal")] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
}

/// Small helper so the test above writes something (creating the `-wal` file).
trait WriteOne {
    async fn create_credential_for_test(&self);
}

impl WriteOne for SqliteStore {
    async fn create_credential_for_test(&self) {
        use secmat_store::Store;
        self.create_credential(&full_record("x")).await.unwrap();
    }
}

#[tokio::test]
async fn open_by_url_creates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("by-url.db");
    let store = secmat_store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert_eq!(store.backend(), "sqlite");
    store.ping().await.unwrap();
    assert!(path.exists());
    assert!(secmat_store::open("mysql://x").await.is_err());
}

/// Runs [`crash_child`] in a child process, which acknowledges a write and aborts at once (no
/// destructors, no pool shutdown, no WAL checkpoint, like `kill -9`); the write must be there.
#[cfg(unix)]
#[test]
fn acknowledged_write_survives_abort() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sqlite_only::crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(
        status.signal(),
        Some(6),
        "the child should have aborted after its writes: {status:?}"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use secmat_store::Store;
        let store = SqliteStore::open(&path).await.unwrap();
        for i in 0..20 {
            let name = format!("crash-{i}");
            let got = store.get_credential(&name).await.unwrap();
            assert_eq!(got.map(|r| r.spec.name), Some(name));
        }
    });
}

/// The child half of [`acknowledged_write_survives_abort`]; does nothing when run on its own.
#[tokio::test]
#[ignore = "child process of acknowledged_write_survives_abort"]
async fn crash_child() {
    use secmat_store::Store;
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = SqliteStore::open(std::path::Path::new(&path))
        .await
        .unwrap();
    for i in 0..20 {
        store
            .create_credential(&full_record(&format!("crash-{i}")))
            .await
            .unwrap();
    }
    std::process::abort();
}
