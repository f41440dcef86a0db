//! `secmat credential …` end to end: the real binary against a real server (or, for paging and
//! the CSRF retry, against a small scripted HTTP server), checking output, exit codes and that
//! secrets never show.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{ADMIN_PASSWORD, CliOutput, Server, credential, run_cli};

const SECRET: &str = "s3cr3t-that-must-never-be-printed";

/// Runs the CLI against `s` and fails the test unless it exits 0; checks the secret stays hidden.
fn ok(s: &Server, args: &[&str], stdin: &str) -> CliOutput {
    let out = s.cli(args, stdin);
    assert!(
        out.ok(),
        "{args:?} exited {}:\n{}\n{}",
        out.code,
        out.stdout,
        out.stderr
    );
    no_secret(&out);
    out
}

fn no_secret(out: &CliOutput) {
    assert!(
        !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
        "secret printed:\n{}\n{}",
        out.stdout,
        out.stderr
    );
}

fn secret_file(s: &Server, content: &str) -> PathBuf {
    let path = s.dir.path().join(format!("secret-{}", content.len()));
    std::fs::write(&path, content).unwrap();
    path
}

fn show_json(s: &Server, name: &str) -> Value {
    let out = ok(s, &["credential", "show", name, "--output", "json"], "");
    serde_json::from_str(&out.stdout).unwrap()
}

fn params(d: &Value) -> Vec<(String, String, String)> {
    d["CustomParameters"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let f = |k: &str| p[k].as_str().unwrap().to_owned();
            (f("Key"), f("Value"), f("SendAsPartOf"))
        })
        .collect()
}

fn create_full(s: &Server, name: &str) {
    let file = secret_file(s, &format!("{SECRET}\n"));
    let out = ok(
        s,
        &[
            "credential",
            "create",
            name,
            "--token-url",
            "https://idp.example.test/oauth/token",
            "--client-id",
            "client-1",
            "--client-secret-file",
            file.to_str().unwrap(),
            "--description",
            "S/4 production",
            "--auth",
            "header",
            "--scope",
            "read write",
            "--content-type",
            "json",
            "--resource",
            "https://api.example.test/",
            "--audience",
            "aud-1",
            "--grant-type",
            "url",
            "--param",
            "tenant=t1@header",
            "--param",
            "mail=a=b@c.example@URL",
        ],
        "",
    );
    assert!(out.stdout.contains("created"), "{}", out.stdout);
}

#[test]
fn create_with_every_flag_then_show_returns_every_field_but_the_secret() {
    let s = Server::start();
    create_full(&s, "S/4 it's prod ü");
    let d = show_json(&s, "S/4 it's prod ü");
    assert_eq!(d["Name"], "S/4 it's prod ü");
    assert_eq!(d["Description"], "S/4 production");
    assert_eq!(d["TokenServiceUrl"], "https://idp.example.test/oauth/token");
    assert_eq!(d["ClientId"], "client-1");
    assert_eq!(d["ClientSecret"], Value::Null);
    assert_eq!(d["ClientAuthentication"], "header");
    assert_eq!(d["Scope"], "read write");
    assert_eq!(d["ScopeContentType"], "json");
    assert_eq!(d["Resource"], "https://api.example.test/");
    assert_eq!(d["Audience"], "aud-1");
    assert_eq!(d["GrantType"], "url");
    assert_eq!(d["SecurityArtifactDescriptor"]["Status"], "DEPLOYED");
    assert_eq!(d["SecurityArtifactDescriptor"]["DeployedBy"], "admin");
    assert_eq!(
        params(&d),
        vec![
            ("tenant".into(), "t1".into(), "header".into()),
            ("mail".into(), "a=b@c.example".into(), "url".into())
        ]
    );

    let table = ok(&s, &["credential", "show", "S/4 it's prod ü"], "").stdout;
    for expected in [
        "S/4 it's prod ü",
        "OAuth2 Client Credentials",
        "S/4 production",
        "client-1",
        "(hidden)",
        "Send as Request Header",
        "application/json",
        "aud-1",
        "DEPLOYED",
        "tenant",
        "a=b@c.example",
    ] {
        assert!(
            table.contains(expected),
            "{expected} missing from:\n{table}"
        );
    }
}

#[test]
fn list_table_shows_type_status_deployer_and_utc_time() {
    let s = Server::start();
    let out = ok(&s, &["credential", "list"], "");
    assert!(out.stdout.contains("No credentials"), "{}", out.stdout);
    ok(
        &s,
        &[
            "credential",
            "create",
            "alpha",
            "--token-url",
            "https://idp.example.test/t",
            "--client-id",
            "c",
            "--client-secret-stdin",
        ],
        SECRET,
    );
    let out = ok(&s, &["credential", "list"], "");
    let mut lines = out.stdout.lines();
    let header = lines.next().unwrap();
    for col in ["NAME", "TYPE", "STATUS", "DEPLOYED BY", "DEPLOYED ON"] {
        assert!(header.contains(col), "{header}");
    }
    let row: Vec<&str> = lines
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        &row[..4],
        ["alpha", "OAuth2 Client Credentials", "DEPLOYED", "admin"],
        "{}",
        out.stdout
    );
    let when = row[4].as_bytes();
    assert_eq!(when.len(), 19, "{}", row[4]);
    for (i, b) in when.iter().enumerate() {
        match i {
            4 | 7 => assert_eq!(*b, b'-'),
            10 => assert_eq!(*b, b' '),
            13 | 16 => assert_eq!(*b, b':'),
            _ => assert!(b.is_ascii_digit(), "{}", row[4]),
        }
    }
}

#[tokio::test]
async fn list_json_has_every_credential_with_its_parameters() {
    let s = Server::start();
    let api = s.admin();
    for name in ["c", "a", "b"] {
        assert_eq!(api.create(&credential(name, SECRET)).await.status, 202);
    }
    let out = ok(&s, &["credential", "list", "--output", "json"], "");
    let list: Value = serde_json::from_str(&out.stdout).unwrap();
    let list = list.as_array().unwrap();
    let mut names: Vec<&str> = list.iter().map(|e| e["Name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["a", "b", "c"]);
    assert!(list.iter().all(|e| e["ClientSecret"].is_null()
        && e["CustomParameters"]["results"].as_array().unwrap().len() == 2));
}

#[test]
fn edit_requires_the_secret_again_and_keeps_what_is_not_given() {
    let s = Server::start();
    create_full(&s, "edited");

    let out = s.cli(&["credential", "edit", "edited", "--scope", "x"], "");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--client-secret"), "{}", out.stderr);

    ok(
        &s,
        &[
            "credential",
            "edit",
            "edited",
            "--client-secret-stdin",
            "--scope",
            "only read",
        ],
        &format!("{SECRET}-2\n"),
    );
    let d = show_json(&s, "edited");
    assert_eq!(d["Scope"], "only read");
    assert_eq!(d["Description"], "S/4 production");
    assert_eq!(d["ClientId"], "client-1");
    assert_eq!(d["ClientAuthentication"], "header");
    assert_eq!(d["ScopeContentType"], "json");
    assert_eq!(d["Resource"], "https://api.example.test/");
    assert_eq!(d["Audience"], "aud-1");
    assert_eq!(d["GrantType"], "url");
    assert_eq!(params(&d).len(), 2);

    ok(
        &s,
        &[
            "credential",
            "edit",
            "edited",
            "--client-secret-stdin",
            "--param",
            "realm=r9@body",
            "--description",
            "",
        ],
        SECRET,
    );
    let d = show_json(&s, "edited");
    assert_eq!(
        params(&d),
        vec![("realm".into(), "r9".into(), "body".into())]
    );
    assert_eq!(d["Description"], Value::Null);
    assert_eq!(d["Scope"], "only read");

    ok(
        &s,
        &[
            "credential",
            "edit",
            "edited",
            "--client-secret-stdin",
            "--clear-params",
        ],
        SECRET,
    );
    assert!(params(&show_json(&s, "edited")).is_empty());

    let out = s.cli(
        &["credential", "edit", "missing", "--client-secret-stdin"],
        SECRET,
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    no_secret(&out);
}

#[test]
fn delete_then_show_is_not_found() {
    let s = Server::start();
    let name = "it's a/b c?d#e%20 ü";
    ok(
        &s,
        &[
            "credential",
            "create",
            name,
            "--token-url",
            "https://idp.example.test/t",
            "--client-id",
            "c",
            "--client-secret-stdin",
        ],
        SECRET,
    );
    assert_eq!(show_json(&s, name)["Name"], name);
    let out = ok(&s, &["credential", "delete", name], "");
    assert!(out.stdout.contains("deleted"), "{}", out.stdout);
    for args in [
        &["credential", "show", name][..],
        &["credential", "delete", name][..],
    ] {
        let out = s.cli(args, "");
        assert_eq!(out.code, 3, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.starts_with("error: ") && out.stderr.contains("no credential named"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn duplicate_create_is_a_conflict_that_points_to_edit() {
    let s = Server::start();
    let args = [
        "credential",
        "create",
        "dup",
        "--token-url",
        "https://idp.example.test/t",
        "--client-id",
        "c",
        "--client-secret-stdin",
    ];
    ok(&s, &args, SECRET);
    let out = s.cli(&args, SECRET);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("already exists") && out.stderr.contains("secmat credential edit"),
        "{}",
        out.stderr
    );
    no_secret(&out);
}

#[test]
fn rejected_input_names_each_field_and_bad_flags_are_usage_errors() {
    let s = Server::start();
    let out = s.cli(
        &[
            "credential",
            "create",
            "bad",
            "--token-url",
            "ftp://idp.example.test/t",
            "--client-id",
            "c",
            "--client-secret-stdin",
            "--param",
            "client_id=x@body",
        ],
        SECRET,
    );
    assert_eq!(out.code, 6, "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines.iter().all(|l| l.starts_with("error: ")),
        "{}",
        out.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("CustomParameters[0].Key") && l.contains("client_id")),
        "{}",
        out.stderr
    );
    assert!(
        lines.iter().any(|l| l.contains("TokenServiceUrl")),
        "{}",
        out.stderr
    );
    no_secret(&out);

    for param in ["novalue", "k=v", "kv@body", "k=v@query"] {
        let out = s.cli(
            &[
                "credential",
                "create",
                "bad",
                "--token-url",
                "https://t.example",
                "--client-id",
                "c",
                "--client-secret-stdin",
                "--param",
                param,
            ],
            SECRET,
        );
        assert_eq!(out.code, 2, "{param}: {}", out.stderr);
        assert!(out.stderr.contains("KEY=VALUE@PART"), "{}", out.stderr);
    }
    let out = s.cli(
        &[
            "credential",
            "create",
            "bad",
            "--token-url",
            "https://t.example",
            "--client-id",
            "c",
            "--client-secret-stdin",
            "--auth",
            "basic",
        ],
        SECRET,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = s.cli(
        &[
            "credential",
            "create",
            "bad",
            "--token-url",
            "https://t.example",
            "--client-id",
            "c",
            "--client-secret-stdin",
        ],
        "\n",
    );
    assert_eq!(out.code, 6, "an empty secret: {}", out.stderr);
}

#[test]
fn wrong_password_missing_role_and_no_password_exit_4() {
    let s = Server::start();
    let env = |pw: &'static str| {
        vec![
            ("SECMAT_SERVER", s.base.clone()),
            ("SECMAT_PASSWORD", pw.to_owned()),
        ]
    };
    let run = |args: &[&str], env: Vec<(&str, String)>| {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_cli(args, "", &env)
    };
    let out = run(&["credential", "list"], env("wrong"));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("SECMAT_PASSWORD"), "{}", out.stderr);

    let out = run(
        &["credential", "list"],
        vec![("SECMAT_SERVER", s.base.clone())],
    );
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("SECMAT_PASSWORD") && out.stderr.contains("--password-file"),
        "{}",
        out.stderr
    );

    s.add_user("viewer", &["MonitoringDataRead"]);
    let out = run_cli(
        &[
            "credential",
            "create",
            "x",
            "--token-url",
            "https://t.example",
            "--client-id",
            "c",
            "--client-secret-stdin",
            "--user",
            "viewer",
        ],
        SECRET,
        &[("SECMAT_SERVER", &s.base), ("SECMAT_PASSWORD", "viewer-pw")],
    );
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("viewer") && out.stderr.contains("CredentialsEdit"),
        "{}",
        out.stderr
    );
    no_secret(&out);
}

#[test]
fn unreachable_server_exits_7() {
    let out = run_cli(
        &["credential", "list", "--server", "http://127.0.0.1:9"],
        "",
        &[("SECMAT_PASSWORD", "x")],
    );
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("error: cannot reach secmat at http://127.0.0.1:9"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("SECMAT_SERVER"), "{}", out.stderr);
}

#[test]
fn connection_flags_work_before_and_after_the_subcommand_with_a_password_file() {
    let s = Server::start();
    let pw = s.dir.path().join("admin-password");
    std::fs::write(&pw, format!("{ADMIN_PASSWORD}\n")).unwrap();
    let pw = pw.to_str().unwrap();
    let secret = secret_file(&s, SECRET);
    let out = run_cli(
        &[
            "credential",
            "--server",
            &s.base,
            "--user",
            "admin",
            "--password-file",
            pw,
            "create",
            "f",
            "--token-url",
            "https://t.example",
            "--client-id",
            "c",
            "--client-secret-file",
            secret.to_str().unwrap(),
        ],
        "",
        &[],
    );
    assert!(out.ok(), "{}", out.stderr);
    no_secret(&out);
    let out = run_cli(
        &[
            "credential",
            "list",
            "--server",
            &s.base,
            "--password-file",
            pw,
        ],
        "",
        &[],
    );
    assert!(
        out.ok() && out.stdout.contains("DEPLOYED"),
        "{}",
        out.stderr
    );

    let out = run_cli(
        &["credential", "list", "--password-file", "/nonexistent/pw"],
        "",
        &[("SECMAT_SERVER", &s.base)],
    );
    assert_eq!(out.code, 4, "{}", out.stderr);
    let out = run_cli(
        &[
            "credential",
            "create",
            "g",
            "--token-url",
            "https://t.example",
            "--client-id",
            "c",
            "--client-secret-file",
            "/nonexistent/secret",
        ],
        "",
        &[
            ("SECMAT_SERVER", &s.base),
            ("SECMAT_PASSWORD", ADMIN_PASSWORD),
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("/nonexistent/secret"), "{}", out.stderr);
}

#[test]
fn help_teaches_exit_codes_and_examples() {
    let out = run_cli(&["credential", "--help"], "", &[]);
    assert!(out.ok());
    for s in [
        "Exit codes",
        "7  the server is unreachable",
        "SECMAT_PASSWORD",
        "--server",
    ] {
        assert!(out.stdout.contains(s), "{s}: {}", out.stdout);
    }
    let out = run_cli(&["credential", "edit", "--help"], "", &[]);
    assert!(
        out.stdout.contains("keeping every field") && out.stdout.contains("--clear-params"),
        "{}",
        out.stdout
    );
    let out = run_cli(&["credential", "create", "--help"], "", &[]);
    assert!(
        out.stdout.contains("Examples:") && out.stdout.contains("KEY=VALUE@PART"),
        "{}",
        out.stdout
    );
}

// ---- A scripted HTTP server, for what a real one does not easily show ----

/// An HTTP/1.1 response that closes the connection.
fn response(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if !body.is_empty() {
        r += "Content-Type: application/json\r\n";
    }
    for (k, v) in headers {
        r += &format!("{k}: {v}\r\n");
    }
    r + "\r\n" + body
}

/// Serves the responses `script(base_url)` returns, one connection each, in order; the receiver
/// gets the requests (head and body, lower-cased) once all were answered.
fn scripted_server(
    script: impl FnOnce(&str) -> Vec<String>,
) -> (String, mpsc::Receiver<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let responses = script(&base);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for answer in responses {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let body_len = loop {
                let n = stream.read(&mut chunk).unwrap();
                assert!(n > 0, "connection closed mid-request");
                buf.extend_from_slice(&chunk[..n]);
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                    break end + 4 + len;
                }
            };
            while buf.len() < body_len {
                let n = stream.read(&mut chunk).unwrap();
                assert!(n > 0, "connection closed mid-body");
                buf.extend_from_slice(&chunk[..n]);
            }
            seen.push(String::from_utf8_lossy(&buf).to_ascii_lowercase());
            stream.write_all(answer.as_bytes()).unwrap();
        }
        let _ = tx.send(seen);
    });
    (base, rx)
}

fn page(names: &[&str], next: Option<&str>) -> String {
    let results: Vec<Value> = names
        .iter()
        .map(|n| serde_json::json!({
            "Name": n, "ClientSecret": null,
            "SecurityArtifactDescriptor": {"Type": "CREDENTIALS", "DeployedBy": "robot", "DeployedOn": "/Date(1700000000000)/", "Status": "DEPLOYED"},
            "CustomParameters": {"results": []},
        }))
        .collect();
    let mut d = serde_json::json!({ "results": results });
    if let Some(n) = next {
        d["__next"] = Value::String(n.to_owned());
    }
    serde_json::json!({ "d": d }).to_string()
}

#[test]
fn list_follows_next_links_but_never_sends_the_password_elsewhere() {
    let (base, requests) = scripted_server(|base| {
        vec![
            // A foreign origin: only its query is used, on the server we were told to use.
            response(
                "200 OK",
                &[],
                &page(
                    &["a", "b"],
                    Some("http://elsewhere.invalid:1/api/v1/OAuth2ClientCredentials?$skiptoken=b"),
                ),
            ),
            response(
                "200 OK",
                &[],
                &page(
                    &["c"],
                    Some(&format!(
                        "{base}/api/v1/OAuth2ClientCredentials?$expand=CustomParameters&$skiptoken=c"
                    )),
                ),
            ),
            response("200 OK", &[], &page(&["d"], None)),
        ]
    });
    let out = run_cli(
        &["credential", "list", "--output", "json", "--server", &base],
        "",
        &[("SECMAT_PASSWORD", "pw")],
    );
    assert!(out.ok(), "{}", out.stderr);
    let list: Value = serde_json::from_str(&out.stdout).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    let seen = requests.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        seen[0].starts_with("get /api/v1/oauth2clientcredentials?"),
        "{}",
        seen[0]
    );
    assert!(
        seen[1].starts_with("get /api/v1/oauth2clientcredentials?$skiptoken=b "),
        "{}",
        seen[1]
    );
    assert!(seen[2].contains("$skiptoken=c "), "{}", seen[2]);
    assert!(seen.iter().all(|r| r.contains("authorization: basic")));

    let (base, _requests) = scripted_server(|_| vec![response("200 OK", &[], &page(&["z"], None))]);
    let out = run_cli(
        &["credential", "list", "--server", &base],
        "",
        &[("SECMAT_PASSWORD", "pw")],
    );
    assert!(out.ok(), "{}", out.stderr);
    assert!(
        out.stdout.contains("robot") && out.stdout.contains("2023-11-14 22:13:20"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_rejected_csrf_token_is_fetched_again_once() {
    let (base, requests) = scripted_server(|_| {
        let required = r#"{"error":{"code":"CSRF Token Required","message":{"lang":"en","value":"CSRF token validation failed."}}}"#;
        vec![
            response("200 OK", &[("X-CSRF-Token", "token-1")], "{}"),
            response("403 Forbidden", &[("X-CSRF-Token", "Required")], required),
            response("200 OK", &[("X-CSRF-Token", "token-2")], "{}"),
            response("202 Accepted", &[], ""),
        ]
    });
    let out = run_cli(
        &["credential", "delete", "x y", "--server", &base],
        "",
        &[("SECMAT_PASSWORD", "pw")],
    );
    assert!(out.ok(), "{}", out.stderr);
    let seen = requests.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        seen[0].starts_with("get /api/v1/ ") && seen[0].contains("x-csrf-token: fetch"),
        "{}",
        seen[0]
    );
    assert!(
        seen[1].starts_with("delete /api/v1/oauth2clientcredentials('x%20y') ")
            && seen[1].contains("x-csrf-token: token-1"),
        "{}",
        seen[1]
    );
    assert!(seen[2].contains("x-csrf-token: fetch"), "{}", seen[2]);
    assert!(
        seen[3].starts_with("delete ") && seen[3].contains("x-csrf-token: token-2"),
        "{}",
        seen[3]
    );
}
