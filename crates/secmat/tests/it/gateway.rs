//! The HTTP receiver adapter, end to end, against the real oidc-provider and a protected
//! resource server that verifies the tokens it receives.

use serde_json::{Value, json};

use crate::harness::{Api, Server};
use crate::peers::{self, Peer};

fn credential(name: &str, idp: &Peer, id: &str, secret: &str, auth: &str) -> Value {
    json!({"Name": name, "TokenServiceUrl": idp.token_url(), "ClientId": id, "ClientSecret": secret, "ClientAuthentication": auth})
}

async fn channel(api: &Api, name: &str, address: &str, credential: &str, timeout: Option<u64>) {
    let mut body = json!({"Name": name, "Address": address, "CredentialName": credential});
    if let Some(t) = timeout {
        body["Timeout"] = json!(t);
    }
    let r = api
        .write("POST", "/api/v1/HttpReceiverChannels", Some(&body))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
}

/// oidc-provider, a resource server trusting it, a secmat with credential `api` and channel `ch`.
async fn setup() -> (Peer, Peer, Server, Api) {
    let idp = peers::oidc(&[]);
    let rs = peers::resource_trusting(&[&idp]);
    let s = Server::start();
    let api = s.admin();
    assert_eq!(
        api.create(&credential(
            "api",
            &idp,
            "basic-client",
            "basic-secret",
            "header"
        ))
        .await
        .status,
        202
    );
    channel(&api, "ch", &rs.base, "api", None).await;
    (idp, rs, s, api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_goes_through_with_a_valid_token_and_without_the_callers_credentials() {
    let (idp, rs, s, api) = setup().await;
    let r = api
        .send(
            "POST",
            "/gateway/ch/api/items%20x?page=2&q=a%26b",
            Some(&json!({"a": 1})),
            &[
                ("Connection", "X-Hop"),
                ("X-Hop", "must not pass"),
                ("Proxy-Authorization", "Basic c2VjcmV0"),
                ("X-Custom", "passes"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let echo = r.json();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/api/items%20x");
    assert_eq!(echo["query"], json!({"page": "2", "q": "a&b"}));
    assert_eq!(echo["body_bytes"], 7);
    assert_eq!(
        echo["token"]["client_id"], "basic-client",
        "the resource server verified a real token"
    );
    let h = &echo["headers"];
    assert!(
        h["authorization"].as_str().unwrap().starts_with("Bearer "),
        "{h}"
    );
    assert!(h.get("proxy-authorization").is_none());
    assert!(
        h.get("x-hop").is_none(),
        "headers named in Connection are hop-by-hop"
    );
    assert_eq!(h["x-custom"], "passes");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(
        h["x-forwarded-host"].as_str().unwrap(),
        s.base.trim_start_matches("http://")
    );
    let seen = rs.requests().await;
    assert!(seen.iter().all(|r| {
        !r["headers"]["authorization"]
            .as_str()
            .unwrap_or("")
            .starts_with("Basic")
    }));
    // Many requests, one token.
    for _ in 0..20 {
        assert_eq!(api.get("/gateway/ch/x").await.status, 200);
    }
    assert_eq!(idp.stats().await["token_requests"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_renewed_after_the_receivers_401_and_the_request_replayed() {
    let (idp, rs, s, api) = setup().await;
    let token = api.get("/runtime/v1/tokens/api").await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    reqwest::Client::new()
        .post(rs.url("/__peer/revoke"))
        .body(token.clone())
        .send()
        .await
        .unwrap();
    let r = api
        .send(
            "PUT",
            "/gateway/ch/items/1",
            Some(&json!({"replayed": true})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["body_bytes"], 17, "the body was sent again");
    assert_ne!(
        api.get("/runtime/v1/tokens/api").await.json()["access_token"],
        token.as_str()
    );
    assert_eq!(idp.stats().await["token_requests"], 2);
    let metrics = s.anonymous().get("/metrics").await.text;
    assert!(
        metrics.contains("secmat_gateway_retries_total{channel=\"ch\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("secmat_gateway_requests_total{channel=\"ch\",class=\"2xx\"} 1"));
    // Both exchanges with the receiver (the 401 and the replay) are in the latency histogram.
    assert!(
        metrics.contains("secmat_gateway_upstream_duration_seconds_count{channel=\"ch\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "secmat_gateway_upstream_duration_seconds_bucket{channel=\"ch\",le=\"+Inf\"} 2"
        )
    );
    // Neither token reached the (debug-level) log, nor the caller's password, nor the metrics.
    let logs = s.logs();
    assert!(logs.contains("evicted"), "the 401 handling was logged");
    assert!(!logs.contains(&token) && !logs.contains(crate::harness::ADMIN_PASSWORD));
    assert!(!metrics.contains(&token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_401s_cause_one_new_token_request() {
    let (idp, rs, s, api) = setup().await;
    let token = api.get("/runtime/v1/tokens/api").await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    reqwest::Client::new()
        .post(rs.url("/__peer/revoke"))
        .body(token)
        .send()
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (client, url) = (client.clone(), format!("{}/gateway/ch/items", s.base));
        tasks.push(tokio::spawn(async move {
            client
                .get(url)
                .basic_auth("admin", Some(crate::harness::ADMIN_PASSWORD))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(idp.stats().await["token_requests"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_401_goes_back_to_the_caller_unchanged() {
    let (idp, _rs, _s, api) = setup().await;
    let r = api.get("/gateway/ch/status/401").await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json()["path"],
        "/status/401",
        "the receiver's answer, unchanged"
    );
    assert_eq!(
        idp.stats().await["token_requests"],
        2,
        "one retry with a new token, no more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_credential_name_picks_the_right_token_and_is_not_forwarded() {
    let (_idp, rs, _s, api) = setup().await;
    let idp2 = peers::oidc(&[]);
    let rs2 = peers::resource_trusting(&[&_idp, &idp2]);
    drop(rs);
    api.create(&credential(
        "other",
        &idp2,
        "post-client",
        "post-secret",
        "body",
    ))
    .await;
    channel(&api, "dyn", &rs2.base, "${header.X-Credential}", None).await;
    for (cred, client) in [("api", "basic-client"), ("other", "post-client")] {
        let r = api
            .send("GET", "/gateway/dyn/who", None, &[("X-Credential", cred)])
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["token"]["client_id"], client);
        assert!(r.json()["headers"].get("x-credential").is_none());
    }
    let r = api.get("/gateway/dyn/who").await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("credential_header_missing"))
    );
    let r = api
        .send(
            "GET",
            "/gateway/dyn/who",
            None,
            &[("X-Credential", "missing")],
        )
        .await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (404, json!("credential_not_found"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_uploads_and_downloads_stream_through_without_being_buffered() {
    let (_idp, _rs, s, api) = setup().await;
    api.get("/gateway/ch/warm").await;
    let before = s.peak_rss_kib();
    let upload = vec![b'x'; 96 * 1024 * 1024];
    let r = reqwest::Client::new()
        .post(format!("{}/gateway/ch/upload", s.base))
        .basic_auth("admin", Some(crate::harness::ADMIN_PASSWORD))
        .body(upload)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["body_bytes"],
        96 * 1024 * 1024
    );
    let bytes: u64 = 256 * 1024 * 1024;
    let mut res = reqwest::Client::new()
        .get(format!("{}/gateway/ch/download?bytes={bytes}", s.base))
        .basic_auth("admin", Some(crate::harness::ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut received = 0u64;
    while let Some(chunk) = res.chunk().await.unwrap() {
        received += chunk.len() as u64;
    }
    assert_eq!(received, bytes);
    let grown = s.peak_rss_kib().saturating_sub(before);
    assert!(
        grown < 48 * 1024,
        "secmat's peak memory grew by {grown} KiB for 96 MiB up and 256 MiB down"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_that_hang_or_are_down_get_their_own_status() {
    let (_idp, rs, _s, api) = setup().await;
    channel(&api, "slow", &rs.base, "api", Some(1000)).await;
    channel(&api, "down", "http://127.0.0.1:9", "api", Some(5000)).await;
    let started = std::time::Instant::now();
    let r = api.get("/gateway/slow/hang").await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (504, json!("receiver_timeout"))
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // A slow receiver does not block other channels.
    let (slow, fast) = tokio::join!(api.get("/gateway/slow/hang"), async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        api.get("/gateway/ch/fast").await
    });
    assert_eq!((slow.status, fast.status), (504, 200));
    let r = api.get("/gateway/down/x").await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (502, json!("receiver_unreachable"))
    );
    let r = api.get("/gateway/nope/x").await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (404, json!("channel_not_found"))
    );
    assert!(!r.text.contains("secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_or_unreachable_token_provider_is_reported_as_such() {
    let idp = peers::oidc(&[]);
    let rs = peers::resource_trusting(&[&idp]);
    let s = Server::start();
    let api = s.admin();
    api.create(&credential(
        "wrong",
        &idp,
        "basic-client",
        "WRONG",
        "header",
    ))
    .await;
    api.create(&json!({"Name": "nowhere", "TokenServiceUrl": "http://127.0.0.1:9/token", "ClientId": "c", "ClientSecret": "s"})).await;
    channel(&api, "wrong", &rs.base, "wrong", None).await;
    channel(&api, "nowhere", &rs.base, "nowhere", None).await;
    let r = api.get("/gateway/wrong/x").await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (502, json!("token_refused"))
    );
    assert!(
        r.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("invalid_client")
    );
    let r = api.get("/gateway/nowhere/x").await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (503, json!("token_provider_unreachable"))
    );
    assert_eq!(
        rs.stats().await["resource_requests"],
        0,
        "nothing reached the receiver"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_needs_authentication_and_access_token_read() {
    let (_idp, _rs, s, _api) = setup().await;
    let r = s.anonymous().get("/gateway/ch/x").await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    let reader = s.add_user(
        "reader",
        &["MonitoringDataRead", "CredentialsEdit", "CredentialsRead"],
    );
    assert_eq!(reader.get("/gateway/ch/x").await.status, 403);
    let robot = s.add_user("robot", &["AccessTokenRead"]);
    assert_eq!(robot.get("/gateway/ch/x").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_are_managed_through_the_api_and_the_cli() {
    let (_idp, rs, s, api) = setup().await;
    let r = api.get("/api/v1/HttpReceiverChannels('ch')").await;
    assert_eq!(r.status, 200);
    let d = &r.json()["d"];
    assert_eq!(
        (
            d["Name"].clone(),
            d["CredentialName"].clone(),
            d["Timeout"].clone()
        ),
        (json!("ch"), json!("api"), json!(60000))
    );
    assert_eq!(d["Address"], rs.base.as_str());
    // Validation: the fixed credential must exist; the address must be absolute http(s).
    let r = api
        .write(
            "POST",
            "/api/v1/HttpReceiverChannels",
            Some(&json!({"Name": "x", "Address": "ftp://h", "CredentialName": "missing"})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = api
        .write(
            "POST",
            "/api/v1/HttpReceiverChannels",
            Some(&json!({"Name": "x", "Address": "http://h", "CredentialName": "missing"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["innererror"]["errordetails"][0]["target"],
        "CredentialName"
    );
    let r = api
        .write(
            "POST",
            "/api/v1/HttpReceiverChannels",
            Some(&json!({"Name": "ch", "Address": "http://h", "CredentialName": "api"})),
        )
        .await;
    assert_eq!(r.status, 409);
    // Roles.
    let reader = s.add_user("reader", &["MonitoringDataRead"]);
    assert_eq!(reader.get("/api/v1/HttpReceiverChannels").await.status, 200);
    assert_eq!(
        reader
            .write("DELETE", "/api/v1/HttpReceiverChannels('ch')", None)
            .await
            .status,
        403
    );
    let nobody = s.add_user("nobody", &["AccessTokenRead"]);
    assert_eq!(nobody.get("/api/v1/HttpReceiverChannels").await.status, 403);
    assert_eq!(
        s.anonymous()
            .get("/api/v1/HttpReceiverChannels")
            .await
            .status,
        401
    );

    // The CLI: create, list, show, edit, delete.
    let out = s.cli(
        &[
            "channel",
            "create",
            "cli-ch",
            "--address",
            &rs.base,
            "--credential",
            "api",
            "--timeout",
            "5000",
        ],
        "",
    );
    assert!(out.ok(), "{}", out.stderr);
    let out = s.cli(&["channel", "list"], "");
    assert!(
        out.stdout.contains("cli-ch") && out.stdout.contains("5000"),
        "{}",
        out.stdout
    );
    let out = s.cli(
        &[
            "channel",
            "edit",
            "cli-ch",
            "--address",
            &format!("{}/base", rs.base),
            "--credential",
            "${header.X-Cred}",
        ],
        "",
    );
    assert!(out.ok(), "{}", out.stderr);
    let out = s.cli(&["channel", "show", "cli-ch", "--output", "json"], "");
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (v["CredentialName"].clone(), v["Timeout"].clone()),
        (json!("${header.X-Cred}"), json!(60000))
    );
    // The edit took effect at once on this node.
    let r = api
        .send("GET", "/gateway/cli-ch/x", None, &[("X-Cred", "api")])
        .await;
    assert_eq!(r.json()["path"], "/base/x");
    let out = s.cli(
        &[
            "channel",
            "create",
            "bad",
            "--address",
            "http://h",
            "--credential",
            "missing",
        ],
        "",
    );
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(out.stderr.contains("CredentialName"));
    assert!(s.cli(&["channel", "delete", "cli-ch"], "").ok());
    assert_eq!(s.cli(&["channel", "show", "cli-ch"], "").code, 3);
    assert_eq!(api.get("/gateway/cli-ch/x").await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_receivers_behind_a_private_ca_are_reached_over_http2() {
    // A throwaway private CA and a certificate it signed for 127.0.0.1; secmat trusts the CA
    // through --ca-file.
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).to_str().unwrap().to_owned();
    std::fs::write(
        p("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    for args in [
        [
            &["req", "-x509"][..],
            &ec,
            &[
                "-days",
                "1",
                "-subj",
                "/CN=secmat test CA",
                "-keyout",
                &p("ca.key"),
                "-out",
                &p("ca.pem"),
            ],
        ]
        .concat(),
        [
            &["req"][..],
            &ec,
            &[
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                &p("key.pem"),
                "-out",
                &p("leaf.csr"),
            ],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            &p("leaf.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &p("leaf.ext"),
            "-out",
            &p("cert.pem"),
        ],
    ] {
        let ok = std::process::Command::new("openssl")
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl is needed for this test")
            .success();
        assert!(ok, "openssl {args:?} failed");
    }
    let (key, cert, ca) = (p("key.pem"), p("cert.pem"), p("ca.pem"));
    let receiver = peers::h2echo(&[("TLS_KEY", key.as_str()), ("TLS_CERT", cert.as_str())]);
    let idp = peers::oidc(&[]);
    let s = Server::start_with(&["--ca-file", &ca], &[]);
    let api = s.admin();
    api.create(&credential(
        "api",
        &idp,
        "basic-client",
        "basic-secret",
        "header",
    ))
    .await;
    let https = receiver.base.replace("http://", "https://");
    channel(&api, "tls", &https, "api", None).await;
    let r = api.get("/gateway/tls/over/h2?x=1").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"http_version": "2.0", "method": "GET", "path": "/over/h2?x=1", "authorization": "bearer"})
    );

    // Without the CA the same receiver is refused (certificate unknown): 502, not a hang.
    let plain = Server::start();
    let api = plain.admin();
    api.create(&credential(
        "api",
        &idp,
        "basic-client",
        "basic-secret",
        "header",
    ))
    .await;
    channel(&api, "tls", &https, "api", None).await;
    let r = api.get("/gateway/tls/x").await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (502, json!("receiver_unreachable"))
    );
}

/// A receiver that answers each request on a connection with the next of `answers`, verbatim
/// (and closes after an answer that has no length).
async fn scripted(answers: Vec<&'static [u8]>) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answers = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from(
        answers,
    )));
    tokio::spawn(async move {
        while let Ok((mut io, _)) = listener.accept().await {
            let answers = answers.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let Some(answer) = answers.lock().unwrap().pop_front() else {
                            return;
                        };
                        io.write_all(answer).await.unwrap();
                        let head = String::from_utf8_lossy(answer).to_lowercase();
                        if !head.contains("content-length") && !head.contains("chunked") {
                            return; // the end of the connection ends the body
                        }
                    }
                    match io.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// Sends `raw` on one connection to `base` and reads until the server closes it.
async fn raw_exchange(base: &str, raw: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut io = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    io.write_all(raw.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(20), io.read_to_end(&mut out))
        .await
        .expect("the server closes the connection after `Connection: close`")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_framed_for_the_caller_on_a_keep_alive_connection() {
    let idp = crate::fake_idp::FakeIdp::tokens(3600).await;
    let receiver = scripted(vec![
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: X-Gone\r\nX-Gone: 1\r\nX-Kept: 2\r\n\r\n3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: t\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\n\r\n",
        b"HTTP/1.1 203 Whatever\r\nKeep-Alive: timeout=5\r\n\r\nto the end",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: X-Gone\r\nX-Gone: 1\r\n\r\nhyper",
    ])
    .await;
    let s = Server::start();
    let api = s.admin();
    let cred = json!({"Name": "raw", "TokenServiceUrl": idp.token_url, "ClientId": "c", "ClientSecret": "s"});
    assert_eq!(api.create(&cred).await.status, 202);
    channel(&api, "raw", &receiver, "raw", None).await;
    let auth = format!(
        "Authorization: Basic {}\r\n",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("admin:{}", crate::harness::ADMIN_PASSWORD)
        )
    );
    // Pipelined: a chunked answer, a HEAD answer, an answer that runs to the end of the
    // receiver's connection, two token requests, then a request for the rest of secmat (which
    // hyper serves from then on) and two gateway requests after it, the last closing the
    // connection.
    let raw = format!(
        "GET /gateway/raw/a HTTP/1.1\r\nHost: x\r\n{auth}\r\n\
         HEAD /gateway/raw/b HTTP/1.1\r\nHost: x\r\n{auth}\r\n\
         DELETE /gateway/raw/c HTTP/1.1\r\nHost: x\r\n{auth}\r\n\
         GET /runtime/v1/tokens/raw?x=1 HTTP/1.1\r\nHost: x\r\n{auth}\r\n\
         GET /runtime/v1/tokens/raw HTTP/1.1\r\nHost: x\r\nAuthorization: Basic eDp5\r\n\r\n\
         GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /gateway/raw/d?q=1 HTTP/1.1\r\nHost: x\r\n{auth}\r\n\
         GET /gateway/nosuch/x HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
    );
    let out = raw_exchange(&s.base, &raw).await;
    let answers: Vec<&str> = out.split("HTTP/1.1 ").skip(1).collect();
    assert_eq!(answers.len(), 8, "{out}");
    let lower: Vec<String> = answers.iter().map(|a| a.to_lowercase()).collect();
    // 1: chunked anew (the receiver's chunk extensions and trailers stay behind), hop-by-hop
    // headers and those named in Connection removed, a Date added.
    assert!(lower[0].starts_with("200 ok\r\n"), "{}", answers[0]);
    assert!(lower[0].contains("transfer-encoding: chunked\r\n"));
    assert!(lower[0].contains("x-kept: 2\r\n"));
    assert!(!lower[0].contains("x-gone"));
    assert!(lower[0].contains("\r\ndate: "));
    assert!(
        lower[0].ends_with("\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"),
        "{}",
        answers[0]
    );
    // 2: HEAD keeps the receiver's length and Date, and has no body.
    assert!(lower[1].contains("content-length: 5\r\n"), "{}", answers[1]);
    assert!(lower[1].contains("date: mon, 02 jan 2006 15:04:05 gmt\r\n"));
    assert!(lower[1].ends_with("\r\n\r\n"));
    // 3: a body to the end of the receiver's connection, chunked for the caller.
    assert!(lower[2].starts_with("203 "), "{}", answers[2]);
    assert!(!lower[2].contains("keep-alive"));
    assert!(
        lower[2].ends_with("\r\n\r\na\r\nto the end\r\n0\r\n\r\n"),
        "{}",
        answers[2]
    );
    // 4, 5: the token API, on the same connection: a token, then a refusal.
    assert!(lower[3].starts_with("200 ok\r\n"), "{}", answers[3]);
    assert!(lower[3].contains("cache-control: no-store\r\n"));
    assert!(lower[3].contains("content-length: "));
    assert!(
        answers[3].contains("\"access_token\":\"tok-1\""),
        "{}",
        answers[3]
    );
    assert!(lower[4].starts_with("401 "), "{}", answers[4]);
    assert!(lower[4].contains("www-authenticate: basic"));
    // 6: the rest of secmat, on the same connection.
    assert!(
        lower[5].starts_with("200 ok\r\n") && lower[5].ends_with("ok\n"),
        "{}",
        answers[5]
    );
    // 7: the gateway through hyper's server (the same rules, the lean client's answer).
    assert!(lower[6].starts_with("200 ok\r\n"), "{}", answers[6]);
    assert!(lower[6].contains("content-length: 5\r\n") && !lower[6].contains("x-gone"));
    assert!(lower[6].ends_with("\r\n\r\nhyper"), "{}", answers[6]);
    // 8: still the gateway's errors, and the connection closed as asked.
    assert!(lower[7].starts_with("404 "), "{}", answers[7]);
    assert!(lower[7].contains("connection: close"));
    assert!(lower[7].contains("channel_not_found"));
    // The gateway's own answers close the connection when asked, too.
    let out = raw_exchange(
        &s.base,
        &format!("GET /gateway/nosuch/x HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"),
    )
    .await
    .to_lowercase();
    assert!(out.starts_with("http/1.1 404 not found\r\n"), "{out}");
    assert!(out.contains("connection: close\r\n") && out.contains("content-length: "));
    assert!(out.contains("channel_not_found"));
    // A length that is not just digits is refused, not guessed at.
    let out = raw_exchange(
        &s.base,
        &format!("POST /gateway/raw/x HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: +2\r\n\r\nok"),
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
}
