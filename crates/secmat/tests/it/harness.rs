//! Starting and stopping real servers, and a small API client for tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The admin password every test server starts with.
pub const ADMIN_PASSWORD: &str = "admin-test-password";

/// The `secmat` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_secmat")
}

/// A running `secmat serve` with its own data directory.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The data directory (and log files) of this server.
    pub dir: tempfile::TempDir,
    extra_args: Vec<String>,
    extra_env: Vec<(String, String)>,
    starts: u32,
}

impl Server {
    /// A server on the embedded store with default settings.
    pub fn start() -> Self {
        Self::start_with(&[], &[])
    }

    /// A server with extra `serve` flags and environment variables.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut s = Server {
            child: None,
            base: String::new(),
            dir,
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            extra_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            starts: 0,
        };
        s.spawn();
        s
    }

    /// The data directory passed as `--data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self, n: u32, stream: &str) -> PathBuf {
        self.dir.path().join(format!("serve-{n}.{stream}"))
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let out = std::fs::File::create(self.log_path(self.starts, "stdout")).unwrap();
        let err = std::fs::File::create(self.log_path(self.starts, "stderr")).unwrap();
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(&self.extra_args)
            .env_remove("SECMAT_DATABASE_URL")
            .env_remove("SECMAT_CONFIG")
            .env("SECMAT_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("SECMAT_LOG_LEVEL", "debug")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn secmat serve"));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let log =
                std::fs::read_to_string(self.log_path(self.starts, "stdout")).unwrap_or_default();
            if let Some(addr) = log
                .split("secmat listening on ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
            {
                self.base = format!("http://{addr}");
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "secmat serve exited with {status} during start-up:\n{}\n{}",
                    log,
                    self.stderr()
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "secmat serve did not start within 30 s:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the server printed on standard output (its log) over all its starts.
    pub fn logs(&self) -> String {
        (1..=self.starts)
            .map(|n| std::fs::read_to_string(self.log_path(n, "stdout")).unwrap_or_default())
            .collect()
    }

    /// Everything it printed on standard error.
    pub fn stderr(&self) -> String {
        (1..=self.starts)
            .map(|n| std::fs::read_to_string(self.log_path(n, "stderr")).unwrap_or_default())
            .collect()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The server's peak resident memory so far, in KiB (Linux `VmHWM`).
    pub fn peak_rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// `kill -9`, no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for the exit code.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        c.wait().expect("wait")
    }

    /// Starts the server again on the same data directory (on a new port).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// A client authenticated as `admin`.
    pub fn admin(&self) -> Api {
        self.client("admin", ADMIN_PASSWORD)
    }

    /// A client authenticated as `user`.
    pub fn client(&self, user: &str, password: &str) -> Api {
        Api {
            base: self.base.clone(),
            auth: Some((user.into(), password.into())),
            http: reqwest::Client::new(),
        }
    }

    /// A client that sends no credentials.
    pub fn anonymous(&self) -> Api {
        Api {
            base: self.base.clone(),
            auth: None,
            http: reqwest::Client::new(),
        }
    }

    /// Runs the `secmat` CLI against this server's store/API with `stdin` as input.
    pub fn cli(&self, args: &[&str], stdin: &str) -> CliOutput {
        run_cli(
            args,
            stdin,
            &[
                ("SECMAT_DATA_DIR", self.data_dir().to_str().unwrap()),
                ("SECMAT_SERVER", &self.base),
                ("SECMAT_USER", "admin"),
                ("SECMAT_PASSWORD", ADMIN_PASSWORD),
            ],
        )
    }

    /// Adds a user with `roles` through the CLI; its password is `NAME-pw`.
    pub fn add_user(&self, name: &str, roles: &[&str]) -> Api {
        let mut args = vec!["user", "add", name, "--password-stdin"];
        for r in roles {
            args.push("--role");
            args.push(r);
        }
        let out = self.cli(&args, &format!("{name}-pw\n"));
        assert!(out.ok(), "user add failed: {}", out.stderr);
        self.client(name, &format!("{name}-pw"))
    }

    /// The files in the data directory.
    pub fn data_files(&self) -> Vec<PathBuf> {
        files_below(&self.data_dir())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_below(&p))
            } else {
                out.push(p)
            }
        }
    }
    out
}

/// What a CLI run printed.
pub struct CliOutput {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliOutput {
    /// Exit code 0.
    pub fn ok(&self) -> bool {
        self.code == 0
    }
}

/// Runs the CLI with only `env` (plus PATH) in its environment.
pub fn run_cli(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> CliOutput {
    use std::io::Write as _;
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cli");
    // The command may exit before reading its input (a usage error): a broken pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    CliOutput {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A response as tests look at it.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Raw body.
    pub text: String,
}

impl Resp {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The OData error message.
    pub fn error_message(&self) -> String {
        self.json()["error"]["message"]["value"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

/// A minimal HTTP client for the API.
pub struct Api {
    /// Server base URL.
    pub base: String,
    auth: Option<(String, String)>,
    http: reqwest::Client,
}

impl Api {
    /// Sends a request; `csrf` adds a freshly fetched token to modifying requests.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some((u, p)) = &self.auth {
            req = req.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("request");
        Resp {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            text: res.text().await.unwrap_or_default(),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None, &[]).await
    }

    /// A CSRF token fetched at the service root.
    pub async fn csrf(&self) -> String {
        let r = self
            .send("GET", "/api/v1/", None, &[("X-CSRF-Token", "Fetch")])
            .await;
        r.header("x-csrf-token").unwrap_or_default()
    }

    /// A modifying request with a fresh CSRF token.
    pub async fn write(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let token = self.csrf().await;
        self.send(method, path, body, &[("X-CSRF-Token", &token)])
            .await
    }

    /// `POST /api/v1/OAuth2ClientCredentials`.
    pub async fn create(&self, body: &Value) -> Resp {
        self.write("POST", "/api/v1/OAuth2ClientCredentials", Some(body))
            .await
    }
}

/// `/api/v1/OAuth2ClientCredentials('NAME')` with the key literal escaped.
pub fn entity(name: &str) -> String {
    let doubled = name.replace('\'', "''");
    let enc: String = percent_encode(&doubled);
    format!("/api/v1/OAuth2ClientCredentials('{enc}')")
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~'".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A valid credential body.
pub fn credential(name: &str, secret: &str) -> Value {
    serde_json::json!({
        "Name": name,
        "Description": "for tests",
        "TokenServiceUrl": "https://idp.example.test/oauth/token",
        "ClientId": "client-1",
        "ClientSecret": secret,
        "ClientAuthentication": "header",
        "Scope": "api:read",
        "ScopeContentType": "urlencoded",
        "Resource": "https://api.example.test/",
        "Audience": "aud-1",
        "CustomParameters": [
            {"Key": "tenant", "Value": "t1", "SendAsPartOf": "header"},
            {"Key": "realm", "Value": "r1", "SendAsPartOf": "URL"},
        ],
    })
}
