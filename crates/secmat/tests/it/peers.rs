//! Third-party OAuth2 test peers (`testpeers/`, see its README): real authorization servers
//! from npm (`oidc-provider`, `oauth2-mock-server`) and a small protected resource server, each
//! started as `node testpeers/X.mjs 0` on a free port of 127.0.0.1 and stopped when its [`Peer`]
//! is dropped.
//!
//! Needs Node.js >= 20 on `PATH` and `npm ci --prefix testpeers --no-audit --no-fund` once.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// How long a peer may take to print its `listening on` line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Variables the peers read; cleared so the caller's environment cannot leak into a test.
const PEER_VARS: &[&str] = &[
    "TOKEN_TTL",
    "SHORT_TTL",
    "PEER_STRICT_AUTH",
    "OIDC_DEFAULT_RESOURCE",
    "RS_JWKS",
    "PORT",
    "TLS_KEY",
    "TLS_CERT",
];

/// The `testpeers` directory at the workspace root.
pub fn dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testpeers"))
}

/// A running test peer. Dropping it kills the process.
pub struct Peer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    child: Child,
    /// Kept open: the peer runs with `PEER_STDIN_LIFELINE=1` and exits when this pipe closes,
    /// so it cannot outlive a test binary that died without running `Drop`.
    _lifeline: Option<ChildStdin>,
    log: Arc<Mutex<String>>,
}

/// `testpeers/oidc.mjs`: oidc-provider, client_credentials only (clients `basic-client`,
/// `post-client`, `short-client`, `special-client`, `special-post-client`).
pub fn oidc(env: &[(&str, &str)]) -> Peer {
    Peer::spawn("oidc.mjs", env)
}

/// `testpeers/mock.mjs`: oauth2-mock-server (any client, form or JSON bodies).
pub fn mock(env: &[(&str, &str)]) -> Peer {
    Peer::spawn("mock.mjs", env)
}

/// `testpeers/resource.mjs`: the protected resource server. Pass `RS_JWKS` (comma-separated
/// JWKS URLs) or use [`resource_trusting`].
pub fn resource(env: &[(&str, &str)]) -> Peer {
    Peer::spawn("resource.mjs", env)
}

/// `testpeers/h2echo.mjs`: an HTTPS receiver speaking HTTP/2 (pass `TLS_KEY` and `TLS_CERT`).
pub fn h2echo(env: &[(&str, &str)]) -> Peer {
    Peer::spawn("h2echo.mjs", env)
}

/// A resource server that accepts the JWTs of the given authorization-server peers.
pub fn resource_trusting(issuers: &[&Peer]) -> Peer {
    let jwks: Vec<String> = issuers.iter().map(|p| p.jwks_url()).collect();
    resource(&[("RS_JWKS", &jwks.join(","))])
}

impl Peer {
    fn spawn(script: &str, env: &[(&str, &str)]) -> Peer {
        let dir = dir();
        if !dir.join("node_modules").is_dir() {
            panic!("test peers not installed: run npm ci --prefix testpeers");
        }
        let mut cmd = Command::new("node");
        cmd.arg(dir.join(script))
            .arg("0")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for var in PEER_VARS {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied())
            .env("PEER_STDIN_LIFELINE", "1");
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start `node {script}` (Node.js >= 20 on PATH?): {e}")
        });

        // Everything the peer prints besides the `listening on` line, for failure messages.
        let log = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel::<u16>();
        let out_log = Arc::clone(&log);
        std::thread::spawn(move || {
            // keeps draining stdout for the peer's whole life so it never blocks on a full pipe
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match line
                    .strip_prefix("listening on 127.0.0.1:")
                    .and_then(|p| p.parse().ok())
                {
                    Some(port) => {
                        let _ = tx.send(port);
                    }
                    None => append(&out_log, &line),
                }
            }
        });
        let err_log = Arc::clone(&log);
        let err_thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut stderr = stderr;
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                append(&err_log, String::from_utf8_lossy(&buf[..n]).trim_end());
            }
        });

        let lifeline = child.stdin.take();
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(port) => Peer {
                base: format!("http://127.0.0.1:{port}"),
                child,
                _lifeline: lifeline,
                log,
            },
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                let _ = err_thread.join();
                let log = log.lock().map(|l| l.clone()).unwrap_or_default();
                panic!("test peer {script} did not start ({e}; exit {status:?}):\n{log}");
            }
        }
    }

    /// `base + path`
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The token endpoint (`/token` on both authorization servers).
    pub fn token_url(&self) -> String {
        self.url("/token")
    }

    /// The JWKS of an authorization server (`/jwks`).
    pub fn jwks_url(&self) -> String {
        self.url("/jwks")
    }

    /// What the peer printed besides its `listening on` line (stderr included).
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// `GET /__peer/stats`: `token_requests`, `token_success`, `token_errors`, `by_client`,
    /// `by_auth` (the resource server: `resource_requests`, `resource_success`, `resource_errors`).
    pub async fn stats(&self) -> Value {
        let r = reqwest::get(self.url("/__peer/stats"))
            .await
            .expect("GET /__peer/stats");
        r.json().await.expect("stats JSON")
    }

    /// `GET /__peer/requests`: the recorded requests, oldest first.
    pub async fn requests(&self) -> Vec<Value> {
        let r = reqwest::get(self.url("/__peer/requests"))
            .await
            .expect("GET /__peer/requests");
        let mut v: Value = r.json().await.expect("requests JSON");
        match v["requests"].take() {
            Value::Array(a) => a,
            other => panic!("unexpected /__peer/requests answer: {other}"),
        }
    }

    /// `POST /__peer/reset`: zero the counters, forget the recorded requests.
    pub async fn reset(&self) {
        let r = reqwest::Client::new()
            .post(self.url("/__peer/reset"))
            .send()
            .await
            .expect("POST /__peer/reset");
        assert!(r.status().is_success(), "reset: {}", r.status());
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn append(log: &Mutex<String>, text: &str) {
    if let Ok(mut l) = log.lock()
        && l.len() < 64 * 1024
    {
        l.push_str(text);
        l.push('\n');
    }
}

/// Self-test of this harness (not of secmat): the peers start, issue and accept tokens, count.
#[tokio::test]
async fn peers_harness_self_test() {
    let idp = oidc(&[("TOKEN_TTL", "600")]);
    let http = reqwest::Client::new();
    let r = http
        .post(idp.token_url())
        .basic_auth("basic-client", Some("basic-secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "api:read"),
            ("resource", "https://api.example.test/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", idp.log());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "api:read");
    let token = body["access_token"].as_str().unwrap().to_owned();

    let stats = idp.stats().await;
    assert_eq!(stats["token_requests"], 1, "{stats}");
    assert_eq!(stats["by_auth"]["basic"], 1, "{stats}");
    let reqs = idp.requests().await;
    assert_eq!(reqs[0]["client_id"], "basic-client");
    assert_eq!(reqs[0]["params"]["resource"], "https://api.example.test/");
    idp.reset().await;
    assert_eq!(idp.stats().await["token_requests"], 0);

    let mock = mock(&[]);
    let r = http
        .post(mock.token_url())
        .json(&serde_json::json!({"grant_type": "client_credentials", "client_id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(mock.requests().await[0]["content_type"], "application/json");

    let rs = resource_trusting(&[&idp, &mock]);
    let r = http
        .get(rs.url("/api/items?page=2"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["token"]["aud"], "https://api.example.test/");
    assert_eq!(echo["query"]["page"], "2");
    let r = http
        .get(rs.url("/api"))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(rs.stats().await["resource_requests"], 2);
}
