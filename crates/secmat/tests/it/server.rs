//! The server as a process: secrets stay secret, writes survive `kill -9`, configuration and
//! shutdown behave.

use serde_json::json;

use crate::harness::{Server, credential, entity};

const SECRETS: [&str; 3] = [
    "Sup3r-S3cret-Alpha-7d1f",
    "s3c:r%t+/=&?-Beta-91ab",
    "Gamma-Edit-Secret-4c2e",
];

#[tokio::test]
async fn known_secrets_never_appear_in_responses_logs_or_database_files() {
    let s = Server::start();
    let api = s.admin();
    let mut responses = String::new();
    let r = api.create(&credential("alpha", SECRETS[0])).await;
    responses += &r.text;
    let r = api.create(&credential("beta", SECRETS[1])).await;
    responses += &r.text;
    let r = api
        .write(
            "PUT",
            &entity("alpha"),
            Some(&credential("alpha", SECRETS[2])),
        )
        .await;
    responses += &r.text;
    // Error paths: validation errors, conflicts, key mismatch — with the secret in the body.
    let mut bad = credential("gamma", SECRETS[0]);
    bad["TokenServiceUrl"] = json!("not a url");
    responses += &api.create(&bad).await.text;
    responses += &api.create(&credential("beta", SECRETS[1])).await.text;
    responses += &api
        .write(
            "PUT",
            &entity("alpha"),
            Some(&credential("other", SECRETS[2])),
        )
        .await
        .text;
    let mut huge = credential("h", SECRETS[0]);
    huge["ClientSecret"] = json!(format!("{}{}", SECRETS[0], "x".repeat(2000)));
    responses += &api.create(&huge).await.text;
    for path in [
        "/api/v1/OAuth2ClientCredentials?$expand=CustomParameters",
        &entity("alpha"),
        &entity("beta"),
    ] {
        let r = api.get(path).await;
        assert_eq!(r.status, 200);
        responses += &r.text;
    }
    // CLI reads too.
    let out = s.cli(&["credential", "show", "alpha", "--output", "json"], "");
    responses += &out.stdout;
    responses += &out.stderr;
    let mut s = s;
    s.terminate();

    let logs = s.logs() + &s.stderr();
    assert!(
        logs.contains("credential created"),
        "debug logs were captured:\n{logs}"
    );
    let files = s.data_files();
    assert!(files.iter().any(|f| f.ends_with("secmat.db")), "{files:?}");
    for secret in SECRETS {
        assert!(!responses.contains(secret), "secret in a response");
        assert!(!logs.contains(secret), "secret in the logs");
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "secret in clear in {}",
                f.display()
            );
        }
    }
}

#[tokio::test]
async fn an_acknowledged_write_survives_kill_9() {
    let mut s = Server::start();
    let api = s.admin();
    for i in 0..20 {
        assert_eq!(
            api.create(&credential(&format!("c{i}"), "s")).await.status,
            202
        );
    }
    let mut edited = credential("c19", "s2");
    edited["Description"] = json!("last write before the crash");
    assert_eq!(
        api.write("PUT", &entity("c19"), Some(&edited)).await.status,
        202
    );
    s.kill9();
    s.restart();
    let api = s.admin();
    let r = api
        .get("/api/v1/OAuth2ClientCredentials?$inlinecount=allpages")
        .await;
    assert_eq!(r.json()["d"]["__count"], "20");
    assert_eq!(
        api.get(&entity("c19")).await.json()["d"]["Description"],
        "last write before the crash"
    );
}

#[tokio::test]
async fn master_key_is_generated_once_private_and_reused() {
    let mut s = Server::start();
    let key = s.data_dir().join("master.key");
    let first = std::fs::read_to_string(&key).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    s.admin().create(&credential("a", "s")).await;
    s.restart();
    assert_eq!(std::fs::read_to_string(&key).unwrap(), first);
    assert!(
        !s.logs().contains(first.trim()),
        "the key itself is never logged"
    );
}

#[tokio::test]
async fn refuses_to_start_with_a_missing_key_when_secrets_exist() {
    let mut s = Server::start();
    s.admin().create(&credential("a", "s")).await;
    s.kill9();
    std::fs::remove_file(s.data_dir().join("master.key")).unwrap();
    let out = crate::harness::run_cli(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            s.data_dir().to_str().unwrap(),
        ],
        "",
        &[],
    );
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("master key file") && out.stderr.contains("missing"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn first_start_prints_a_generated_admin_password_once_and_it_works() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let mut child = std::process::Command::new(crate::harness::bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .env_remove("SECMAT_ADMIN_PASSWORD")
        .stdout(std::fs::File::create(dir.path().join("out")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("err")).unwrap())
        .spawn()
        .unwrap();
    let (addr, password) = loop {
        let out = std::fs::read_to_string(dir.path().join("out")).unwrap();
        let err = std::fs::read_to_string(dir.path().join("err")).unwrap();
        if let Some(addr) = out
            .split("secmat listening on ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
        {
            let pw = err
                .split("shown only this once:")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .unwrap()
                .to_owned();
            assert!(!out.contains(&pw), "the password is not in the log stream");
            break (addr.to_owned(), pw);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let r = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/OAuth2ClientCredentials"))
        .basic_auth("admin", Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let mut s = Server::start();
    let status = s.terminate();
    assert!(status.success(), "{status}");
    assert!(s.logs().contains("secmat stopped"));
}

#[tokio::test]
async fn config_file_sets_options_and_rejects_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "log_format = \"json\"\n").unwrap();
    let mut s = Server::start_with(&["--config", good.to_str().unwrap()], &[]);
    let line = s
        .logs()
        .lines()
        .find(|l| l.contains("secmat listening"))
        .unwrap()
        .to_owned();
    let parsed: serde_json::Value = serde_json::from_str(&line).expect("json log line");
    assert_eq!(parsed["level"], "INFO");
    s.terminate();

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "listen_address = \"127.0.0.1:1\"\n").unwrap();
    let out = crate::harness::run_cli(&["serve", "--config", bad.to_str().unwrap()], "", &[]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("listen_address") && out.stderr.contains("bad.toml"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn user_changes_take_effect_on_a_running_server() {
    let s = Server::start();
    let reader = s.add_user("reader", &["MonitoringDataRead"]);
    assert_eq!(
        reader.get("/api/v1/OAuth2ClientCredentials").await.status,
        200
    );
    // Cached verification is dropped when the user's roles change (another process changed them).
    let out = s.cli(
        &[
            "user",
            "add",
            "reader",
            "--role",
            "AccessTokenRead",
            "--password-stdin",
        ],
        "reader-pw\n",
    );
    assert!(out.ok(), "{}", out.stderr);
    let mut status = 0;
    for _ in 0..100 {
        status = reader.get("/api/v1/OAuth2ClientCredentials").await.status;
        if status == 403 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 403, "role removal took effect");
    let out = s.cli(&["user", "remove", "reader"], "");
    assert!(out.ok());
    let mut status = 0;
    for _ in 0..100 {
        status = reader.get("/api/v1/OAuth2ClientCredentials").await.status;
        if status == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 401, "removed user is refused");
    let list = s.cli(&["user", "list", "--output", "json"], "");
    assert!(
        list.stdout.contains("admin") && !list.stdout.contains("reader"),
        "{}",
        list.stdout
    );
}
